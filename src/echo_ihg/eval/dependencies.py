"""Dependency-specific metrics on generated motion: the synthetic corpus's planted-dependency detectors
(`echo_ihg.synth.detectors`, docs/synth.md) applied to the avatar's *generated* face instead of its recorded one.

Each item is one (session, avatar) pair; the avatar's facial attributes are measured from landmarks decoded
from the motion being scored (generated, or the ground-truth codes for the reference row), the user's from its
recorded landmarks decoded the same way. Only sessions of the synthetic corpus carry what the detectors need
(meta "utterances"); other sessions are skipped.

Reported (means over items; `dependency_metrics`):

    lip_audio_corr        corr(mouth_open, own audio envelope)                        self-audio lips  ↑
    overlap_lip_corr      the same on frames where the user's backchannels overlap    SDCM             ↑
    overlap_lip_leak      corr(mouth_open, the *user's* envelope) on those frames     SDCM             ↓
    nod_response          head-pitch dip after user phrase ends − after random times  short range      ↑
    brow_question         brow raise at user question ends − at statement ends        short range      ↑
    smile_mirror          d-smile correlation at 0.3–0.7 s lag − control (20 s away)  short range      ↑
    affect_follow         corr(concern face, −mood of the dialogue history)           LAU              ↑
    affect_follow_text    the same, only sessions where the user's face is masked     LAU              ↑
                          (only the transcript carries the mood)
    long_range_partial    partial corr(listening engagement, user's social signal over the last 60 s |
                          last 2 s), pooled over items (needs sessions > 70 s)       LPE / HBCU       ↑
    long_range_control    the same with the 60-s signal of another session (chance level)
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from echo_ihg.constants import FPS
from echo_ihg.data.session import Session

log = logging.getLogger(__name__)

# metric -> True if higher is better (extends the report's arrows)
DEPENDENCY_HIGHER = {"lip_audio_corr": True, "overlap_lip_corr": True, "overlap_lip_leak": False,
                     "nod_response": True, "brow_question": True, "smile_mirror": True, "affect_follow": True,
                     "affect_follow_text": True, "long_range_partial": True, "long_range_control": False}


@dataclass
class DependencyItem:
    """session: the recorded session (audio, VAD, utterances); who: the avatar; avatar_landmarks (T, 478, 3)
    of the motion being scored; user_landmarks (T, 478, 3) of the user (recorded motion, decoded)."""

    session: Session
    who: str
    avatar_landmarks: np.ndarray
    user_landmarks: np.ndarray


def applicable(session: Session) -> bool:
    """The detectors need the synthetic corpus's utterance list (speaker, times, kind, mood, phrase ends)."""
    return isinstance(session.meta.get("utterances"), list) and bool(session.meta["utterances"])


def _attributes(item: DependencyItem) -> dict[str, dict[str, np.ndarray]]:
    """Detector signals of both participants from the given landmarks (`detectors.attributes` on a copy of
    the session whose landmarks are replaced, so the measurement is exactly the detectors' own)."""
    from echo_ihg.synth.detectors import attributes

    s = item.session
    user = "B" if item.who == "A" else "A"
    parts = {item.who: dataclasses.replace(s.participant(item.who), landmarks=item.avatar_landmarks),
             user: dataclasses.replace(s.participant(user), landmarks=item.user_landmarks)}
    return attributes(dataclasses.replace(s, A=parts["A"], B=parts["B"]))


def _item_metrics(item: DependencyItem, att) -> dict[str, float]:
    from echo_ihg.synth import detectors as D

    s, who = item.session, item.who
    user = "B" if who == "A" else "A"
    out = {"lip_audio_corr": D.lips_follow_own_audio(s, att, who)[0]}
    own, leak, frac = D.overlap_lip_sync(s, att, who)
    if frac > 0:
        out["overlap_lip_corr"], out["overlap_lip_leak"] = own, leak
    real, ctl = D.nods_at_phrase_ends(s, att, who)
    out["nod_response"] = real - ctl
    q, st = D.brows_at_questions(s, att, who)
    out["brow_question"] = q - st
    _, corr, ctl = D.smile_mirroring(s, att, who)
    out["smile_mirror"] = corr - ctl
    masked = set(s.meta.get("affect_masked", []))
    hist, _ = D.mood_frames(s)
    if who not in masked and np.std(hist) > 0:
        out["affect_follow"] = D.linguistic_affect(s, att, who)[0]
        if user in masked:
            out["affect_follow_text"] = out["affect_follow"]
    return out


def dependency_metrics(items: Sequence[DependencyItem], long_s: int = 60) -> dict[str, float]:
    """Means over items of the per-item detector metrics (module docstring) + the pooled long-range one.
    Items whose session is not synthetic are skipped; returns {} when none is left."""
    from echo_ihg.synth.detectors import long_range_engagement

    rows, pooled = [], []
    for it in items:
        if not applicable(it.session):
            continue
        att = _attributes(it)
        with warnings.catch_warnings():       # a session without questions: an empty mean (NaN, dropped below)
            warnings.simplefilter("ignore", RuntimeWarning)
            rows.append(_item_metrics(it, att))
        user = "B" if it.who == "A" else "A"
        if it.session.T / FPS > long_s + 10:
            pooled.append({"A": att[it.who], "B": att[user]})   # relabelled: the avatar is always "A"
    if not rows:
        return {}
    out: dict[str, float] = {}
    for key in DEPENDENCY_HIGHER:
        vals = [r[key] for r in rows if key in r and np.isfinite(r[key])]
        if vals:
            out[key] = float(np.mean(vals))
    out["dependency_items"] = float(len(rows))
    if len(pooled) >= 2:
        _, _, partial, control = long_range_engagement(pooled, "A", long_s=long_s)
        out["long_range_partial"], out["long_range_control"] = float(partial), float(control)
    else:
        log.info("long-range metric skipped: it needs ≥ 2 items of sessions longer than %d s", long_s + 10)
    return out
