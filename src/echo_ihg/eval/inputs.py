"""The evaluation's inputs: every (session, avatar) pair of a split with what the generator may read, and the
participants' recorded motion in a codec's space (the ground truth). Read by `eval.runner` and `eval.example`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from echo_ihg.data.session import Session, list_sessions, read_session
from echo_ihg.errors import InputError
from echo_ihg.eval.config import EvalConfig
from echo_ihg.utils.progress import progress

log = logging.getLogger(__name__)


@dataclass
class AvatarInput:
    """One (session, avatar) pair: everything the generator may read, plus the ground truth (all per frame)."""

    name: str
    session_dir: Path
    session: Session
    who: str
    group: str
    neutral: np.ndarray          # (478, 3) avatar neutral face
    user_neutral: np.ndarray     # (478, 3)
    avatar_mel: np.ndarray       # (T, 320)
    user_mel: np.ndarray         # (T, 320)
    avatar_vad: np.ndarray       # (T,)
    user_vad: np.ndarray         # (T,)
    user_attributes: dict[str, np.ndarray]   # name -> (T,), NaN on untracked frames
    aspect: float = 1.0          # frame width / height of the avatar's landmarks (`data.session.session_aspect`)
    user_aspect: float = 1.0
    user_source: "AvatarInput | None" = None   # whose user conditions the generation (shuffle_user control)

    @property
    def T(self) -> int:
        return len(self.avatar_vad)

    @property
    def user(self) -> str:
        return "B" if self.who == "A" else "A"



def load_inputs(data: Path, cfg: EvalConfig) -> list[AvatarInput]:
    """The (session, avatar) pairs of the split; sessions whose avatar is tracked on < min_valid are skipped."""
    if not Path(data).is_dir():
        raise InputError(data, "data folder not found")
    sessions = list_sessions(data, cfg.split)
    if not sessions:
        raise InputError(Path(data) / cfg.split, f"no sessions in split {cfg.split!r}")
    if cfg.sessions:
        by_id = {d.name: d for d in sessions}
        missing = [i for i in cfg.sessions if i not in by_id]
        if missing:
            raise InputError(Path(data) / cfg.split, f"no session {', '.join(missing)} in split {cfg.split!r}")
        sessions = [by_id[i] for i in cfg.sessions]
    if cfg.max_sessions:
        sessions = sessions[:cfg.max_sessions]
    out = []
    for d in progress(sessions, desc="features", unit="session"):
        out.extend(session_inputs(d, cfg))
    if not out:
        raise InputError(Path(data) / cfg.split, f"no participant of the {len(sessions)} session(s) is tracked "
                                                 f"on ≥ {cfg.min_valid:.0%} of its frames")
    return out


def session_inputs(session_dir: Path, cfg: EvalConfig) -> list[AvatarInput]:
    """The (session, avatar) pairs of one session: one per participant in cfg.participants tracked on
    ≥ min_valid of its frames (the others are skipped with a warning)."""
    from echo_ihg.data.train_features import (participant_aspect, participant_attributes, participant_mel,
                                              participant_neutral)
    from echo_ihg.motion.attributes import ATTRIBUTE_NAMES

    d = Path(session_dir)
    s = read_session(d, mmap=True)
    out = []
    for who in cfg.participants:
        user = "B" if who == "A" else "A"
        valid = float(np.mean(np.asarray(s.participant(who).valid, bool)))
        if valid < cfg.min_valid:
            log.warning("%s: participant %s tracked on %.0f%% of frames (< %.0f%%): not evaluated as the "
                        "avatar", d, who, 100 * valid, 100 * cfg.min_valid)
            continue
        attrs = participant_attributes(d, user)
        out.append(AvatarInput(
            name=f"{s.session_id}:{who}", session_dir=d, session=s, who=who,
            group=str(s.meta.get("appropriate_group", "")), neutral=participant_neutral(d, who),
            user_neutral=participant_neutral(d, user), avatar_mel=np.asarray(participant_mel(d, who)),
            user_mel=np.asarray(participant_mel(d, user)),
            avatar_vad=np.asarray(s.participant(who).vad, np.float32),
            user_vad=np.asarray(s.participant(user).vad, np.float32),
            user_attributes={k: np.asarray(attrs[:, i]) for i, k in enumerate(ATTRIBUTE_NAMES)},
            aspect=participant_aspect(d, who), user_aspect=participant_aspect(d, user)))
    return out


def shuffle_users(inputs: Sequence[AvatarInput]) -> None:
    """Pair every input with the user of the next input from another session (`EvalConfig.shuffle_user`)."""
    n = len(inputs)
    for i, inp in enumerate(inputs):
        donor = next((inputs[(i + k) % n] for k in range(1, n)
                      if inputs[(i + k) % n].session_dir != inp.session_dir), None)
        if donor is None:
            raise InputError(inp.session_dir, "shuffle_user needs inputs from at least two sessions")
        inp.user_source = donor


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    """The first n frames of a per-frame array, its last frame repeated when it is shorter."""
    x = np.asarray(x)[:n]
    return np.concatenate([x, np.repeat(x[-1:], n - len(x), axis=0)]) if len(x) < n else x


def user_conditions(inp: AvatarInput, codec) -> tuple:
    """What the generator reads of the user: (mel, motion, attributes, vad, transcript), from the input's own
    session or, under the shuffle control, from `user_source` (cut or held to the avatar's length; the
    source's user words relabelled as this user's)."""
    src = inp.user_source or inp
    words = [e for e in inp.session.transcript if e.get("speaker") == inp.who]
    words += [{**e, "speaker": inp.user} for e in src.session.transcript if e.get("speaker") == src.user]
    t = inp.T
    return (_fit(src.user_mel, t), _fit(motion_of(src, src.user, codec), t),
            {k: _fit(v, t) for k, v in src.user_attributes.items()}, _fit(src.user_vad, t),
            sorted(words, key=lambda e: float(e["start"])))


def motion_of(inp: AvatarInput, who: str, codec) -> np.ndarray:
    """(T, Dm) normalised codec motion of a participant (cached per codec next to the session)."""
    from echo_ihg.data.train_features import participant_motion

    return np.asarray(participant_motion(inp.session_dir, who, codec))
