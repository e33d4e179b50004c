"""HBCU's understanding model Φ: the user's recent behaviour → a short text description.

    describer.describe(user_attributes, user_vad, avatar_vad, window) -> str

user_attributes: name -> (T,) series from `echo_ihg.motion.attributes.facial_attributes` (units there: face
measures in inter-ocular distances, head angles in degrees, gaze in eye widths); user_vad, avatar_vad: (T,)
speech probabilities; all ending at "now". `window` is the number of most recent frames considered.

`BehaviourDescriber` (default) is deterministic: it reads the last `recent_frames` (2 s) against the user's own
baseline over the window (median / low percentile, so a person's resting face is not read as a smile) and
writes e.g. "the user is smiling and nodding while the avatar speaks; over the last minute the user has been
increasingly engaged". Missing attributes are skipped. `LLMDescriber` asks any multimodal LLM behind a local
OpenAI-compatible endpoint (optionally with face crops).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Protocol, Sequence

import numpy as np

from echo_ihg.constants import FPS
from echo_ihg.model.llm import OpenAICompatClient


class Describer(Protocol):
    def describe(self, user_attributes: Mapping[str, np.ndarray], user_vad: np.ndarray, avatar_vad: np.ndarray,
                 window: int) -> str: ...


@dataclass(frozen=True)
class DescriberConfig:
    recent_frames: int = 2 * FPS
    speak_threshold: float = 0.5          # mean VAD over the recent frames
    smile_delta: float = 0.02             # corners raised above the user's baseline, in IOD
    brow_delta: float = 0.03              # brows raised above baseline, in IOD
    furrow_delta: float = 0.02
    nod_range_deg: float = 3.0            # pitch peak-to-peak within the recent frames
    axis_ratio: float = 1.5               # pitch-velocity RMS / yaw-velocity RMS that makes a nod (inverse: shake)
    gaze_away: float = 0.15               # |gaze_yaw| or |gaze_pitch| off baseline, in eye widths
    head_away_deg: float = 20.0
    trend_delta: float = 0.12             # engagement change (0..1 scale) that counts as a trend


def _tail(x: np.ndarray | None, n: int) -> np.ndarray | None:
    if x is None:
        return None
    a = np.nan_to_num(np.asarray(x, dtype=np.float64).reshape(-1))
    return a[-n:] if n > 0 else a[:0]


def _span_words(frames: int) -> str:
    sec = frames / FPS
    if 50 <= sec <= 75:
        return "the last minute"
    if sec >= 90:
        return f"the last {sec / 60:.0f} minutes"
    return f"the last {sec:.0f} seconds"


class BehaviourDescriber:
    """Deterministic rule-based Φ (see the module docstring)."""

    def __init__(self, config: DescriberConfig = DescriberConfig()):
        self.cfg = config

    # --- per-cue detectors over a span, relative to the window's baseline -------------------------
    def _smile(self, a: Mapping[str, np.ndarray], span: slice, base: slice) -> float:
        s = a.get("smile")
        if s is None or s[span].size == 0:
            return 0.0
        return float(np.mean(s[span] - np.percentile(s[base], 20) > self.cfg.smile_delta))

    def _nod(self, a: Mapping[str, np.ndarray], span: slice) -> tuple[bool, bool]:
        """(nodding, shaking) from head pitch/yaw velocity within the span."""
        p, y = a.get("head_pitch"), a.get("head_yaw")
        if p is None or p[span].size < 3:
            return False, False
        pv = np.diff(p[span])
        yv = np.diff(y[span]) if y is not None else np.zeros_like(pv)
        p_rms, y_rms = float(np.sqrt(np.mean(pv ** 2))), float(np.sqrt(np.mean(yv ** 2)))
        reversals = int(np.sum(np.diff(np.sign(pv[np.abs(pv) > 1e-3])) != 0))
        nod = np.ptp(p[span]) >= self.cfg.nod_range_deg and p_rms > self.cfg.axis_ratio * y_rms and reversals >= 1
        y_rev = int(np.sum(np.diff(np.sign(yv[np.abs(yv) > 1e-3])) != 0))
        shake = (y is not None and np.ptp(y[span]) >= self.cfg.nod_range_deg
                 and y_rms > self.cfg.axis_ratio * p_rms and y_rev >= 2)
        return bool(nod), bool(shake)

    def _away(self, a: Mapping[str, np.ndarray], span: slice, base: slice) -> float:
        """Fraction of frames with gaze or head turned away from the user's own baseline direction."""
        away = None
        for name, thr in (("gaze_yaw", self.cfg.gaze_away), ("gaze_pitch", self.cfg.gaze_away),
                          ("head_yaw", self.cfg.head_away_deg)):
            s = a.get(name)
            if s is None or s[span].size == 0:
                continue
            off = np.abs(s[span] - np.median(s[base])) > thr
            away = off if away is None else (away | off)
        return 0.0 if away is None else float(np.mean(away))

    def _engagement(self, a: Mapping[str, np.ndarray], vad: np.ndarray, span: slice, base: slice) -> float:
        """0..1: smiling, head activity (nods), looking at the avatar, speaking — averaged."""
        parts = [self._smile(a, span, base), 1.0 - self._away(a, span, base)]
        p = a.get("head_pitch")
        if p is not None and p[span].size > 2:
            parts.append(min(1.0, float(np.ptp(p[span])) / (2 * self.cfg.nod_range_deg)))
        if vad[span].size:
            parts.append(float(np.mean(vad[span] > self.cfg.speak_threshold)))
        return float(np.mean(parts))

    # --- the sentence -------------------------------------------------------------------------------
    def describe(self, user_attributes: Mapping[str, np.ndarray], user_vad: np.ndarray, avatar_vad: np.ndarray,
                 window: int) -> str:
        n = int(max(1, window))
        uv, av = _tail(user_vad, n), _tail(avatar_vad, n)
        a = {k: _tail(v, n) for k, v in user_attributes.items()}
        t_len = len(uv)
        if t_len == 0:
            return "the user has not been observed yet"
        r = min(self.cfg.recent_frames, t_len)
        recent, base = slice(t_len - r, t_len), slice(0, t_len)
        user_speaks = np.mean(uv[recent]) > self.cfg.speak_threshold
        avatar_speaks = av.size and np.mean(av[-r:]) > self.cfg.speak_threshold

        acts = ["speaking"] if user_speaks else []
        if self._smile(a, recent, base) > 0.5:
            acts.append("smiling")
        nod, shake = self._nod(a, recent)
        acts += ["nodding"] if nod else []
        acts += ["shaking their head"] if shake else []
        if "brow_raise_l" in a and "brow_raise_r" in a:
            brow = 0.5 * (a["brow_raise_l"] + a["brow_raise_r"])
            if np.mean(brow[recent] - np.median(brow)) > self.cfg.brow_delta:
                acts.append("raising their eyebrows")
        if "brow_furrow" in a and np.mean(a["brow_furrow"][recent] - np.median(a["brow_furrow"])) \
                > self.cfg.furrow_delta:
            acts.append("frowning")
        away = self._away(a, recent, base) > 0.5
        acts.append("looking away" if away else "looking at the avatar")
        body = acts[0] if len(acts) == 1 else ", ".join(acts[:-1]) + " and " + acts[-1]
        when = ("while both talk at once" if user_speaks and avatar_speaks else
                "while the avatar speaks" if avatar_speaks else
                "" if user_speaks else "during a pause")
        text = f"the user is {body}" + (f" {when}" if when else "")
        return text + "; " + self._trend(a, uv, t_len)

    def _trend(self, a: Mapping[str, np.ndarray], uv: np.ndarray, t_len: int) -> str:
        span = _span_words(t_len)
        if t_len < 3 * self.cfg.recent_frames:
            return f"over {span} the user has just started to interact"
        third = t_len // 3
        base = slice(0, t_len)
        first = self._engagement(a, uv, slice(0, third), base)
        last = self._engagement(a, uv, slice(t_len - third, t_len), base)
        level = 0.5 * (first + last)
        if last - first > self.cfg.trend_delta:
            return f"over {span} the user has been increasingly engaged"
        if first - last > self.cfg.trend_delta:
            return f"over {span} the user has become less engaged"
        state = "engaged" if level > 0.5 else "calm and attentive" if level > 0.3 else "reserved"
        return f"over {span} the user has been steadily {state}"


def _series_table(a: Mapping[str, np.ndarray], uv: np.ndarray, av: np.ndarray, step: int) -> str:
    names = sorted(a)
    rows = ["t_s," + ",".join(names) + ",user_vad,avatar_vad"]
    for i in range(0, len(uv), step):
        vals = [f"{a[k][i]:.3g}" if i < len(a[k]) else "" for k in names]
        rows.append(f"{i / FPS:.1f}," + ",".join(vals) + f",{uv[i]:.2f},{av[i] if i < len(av) else 0:.2f}")
    return "\n".join(rows)


class LLMDescriber:
    """Φ through a (multimodal) LLM behind a local OpenAI-compatible endpoint.

    Sends the attribute and VAD series (downsampled to `rows_per_second`) as CSV and, if given through
    `describe(..., frames=...)`, a few face crops. Failures raise `echo_ihg.model.llm.LLMError`.
    """

    SYSTEM = ("You watch the USER in a two-person video conversation with an AVATAR. From the measurements "
              "(head angles in degrees, face measures in inter-ocular distances, gaze in eye widths, voice "
              "activity 0..1) write ONE short sentence describing the user's current non-verbal behaviour "
              "and how their engagement developed over the window. No preamble.")

    def __init__(self, client: OpenAICompatClient, rows_per_second: float = 2.0):
        self.client, self.rows_per_second = client, rows_per_second

    def describe(self, user_attributes: Mapping[str, np.ndarray], user_vad: np.ndarray, avatar_vad: np.ndarray,
                 window: int, frames: Sequence[np.ndarray] = ()) -> str:
        n = int(max(1, window))
        a = {k: _tail(v, n) for k, v in user_attributes.items()}
        uv, av = _tail(user_vad, n), _tail(avatar_vad, n)
        step = max(1, int(round(FPS / self.rows_per_second)))
        prompt = (f"Window: last {len(uv) / FPS:.1f} s, one row every {step / FPS:.2f} s.\n"
                  + _series_table(a, uv, av, step))
        return self.client.chat(self.SYSTEM, prompt, images=frames)
