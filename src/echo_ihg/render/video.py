"""Side-by-side composer: user video | avatar video | scrolling attribute plots + speaking/listening state.

    frames = compose_side_by_side(avatar_frames, avatar_series, speaking, user_frames, user_series)
    write_mp4("paper_figure.mp4", frames, audio=avatar_audio)

Everything is drawn with cv2 (one small canvas copy and a few polylines per frame), so composing costs
well under a millisecond per frame. Lanes plot the avatar (solid) and the user (thin, grey) over the last
`window_s` seconds, current time at the right edge. The bottom lane shows the avatar's speech
probability; the avatar panel is labelled SPEAKING / LISTENING.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

import cv2
import numpy as np

from echo_ihg.constants import FPS
from echo_ihg.errors import InputError

# attribute name -> lane label (the key attributes researchers look at first)
DEFAULT_LANES: tuple[tuple[str, str], ...] = (("mouth_open", "mouth opening"), ("smile", "smile"),
                                              ("head_pitch", "head nod (pitch)"))
_BG, _GRID, _TEXT = (24, 24, 28), (60, 60, 66), (220, 220, 220)
_AVATAR, _USER = (80, 200, 255), (150, 150, 150)
_SPEAK, _LISTEN = (90, 210, 120), (120, 120, 130)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass(frozen=True)
class ComposerConfig:
    panel: int = 320             # px, height (and width) of the user and avatar panels
    plot_width: int = 360        # px
    window_s: float = 6.0        # seconds shown in the plots
    speaking_threshold: float = 0.5


def attribute_series(landmarks: np.ndarray, aspect: float = 1.0) -> dict[str, np.ndarray]:
    """Key attributes of landmarks (T, 478, 3) for the lanes. -> {name: (T,) float32}."""
    from echo_ihg.motion.attributes import facial_attributes

    return facial_attributes(landmarks, aspect)


def _fit(frame: np.ndarray, side: int) -> np.ndarray:
    """Letterbox an RGB frame into a side×side square."""
    h, w = frame.shape[:2]
    s = side / max(h, w)
    small = cv2.resize(frame, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    out = np.zeros((side, side, 3), np.uint8)
    y, x = (side - small.shape[0]) // 2, (side - small.shape[1]) // 2
    out[y:y + small.shape[0], x:x + small.shape[1]] = small
    return out


class SideBySide:
    """Composes one output frame per time step from precomputed series (see the module docstring).

    avatar: {name: (T,)}; speaking: (T,) speech probability of the avatar; user: {name: (T,)} or None.
    """

    def __init__(self, avatar: dict[str, np.ndarray], speaking: np.ndarray,
                 user: dict[str, np.ndarray] | None = None, config: ComposerConfig | None = None,
                 lanes: tuple[tuple[str, str], ...] = DEFAULT_LANES):
        self.cfg = config or ComposerConfig()
        self.T = len(speaking)
        self.lanes = lanes
        for name, _ in lanes:
            if name not in avatar or len(avatar[name]) != self.T:
                raise InputError(None, f"attribute {name!r} missing or not {self.T} frames long")
            if user is not None and (name not in user or len(user[name]) != self.T):
                raise InputError(None, f"user attribute {name!r} missing or not {self.T} frames long")
        self.avatar, self.user = avatar, user
        self.speaking = np.clip(np.nan_to_num(np.asarray(speaking, np.float32)), 0, 1)
        self.height = self.cfg.panel
        self.width = 2 * self.cfg.panel + self.cfg.plot_width
        n = len(lanes) + 1
        self._lane_h = (self.height - 8) // n
        self._ranges = {name: self._range(name) for name, _ in lanes}
        self._plot_bg = self._background()

    def _range(self, name: str) -> tuple[float, float]:
        vals = [self.avatar[name]] + ([self.user[name]] if self.user is not None else [])
        v = np.concatenate([np.asarray(x, np.float32) for x in vals])
        v = v[np.isfinite(v)]
        lo, hi = (np.percentile(v, 1), np.percentile(v, 99)) if len(v) else (0.0, 1.0)
        pad = max(0.1 * (hi - lo), 1e-3)
        return float(lo - pad), float(hi + pad)

    def _background(self) -> np.ndarray:
        img = np.full((self.height, self.cfg.plot_width, 3), _BG, np.uint8)
        for k, (_, label) in enumerate(self.lanes + (("", "avatar speech"),)):
            y0 = 4 + k * self._lane_h
            cv2.rectangle(img, (4, y0), (self.cfg.plot_width - 5, y0 + self._lane_h - 4), _GRID, 1)
            cv2.putText(img, label, (10, y0 + 16), _FONT, 0.45, _TEXT, 1, cv2.LINE_AA)
        return img

    def _trace(self, img: np.ndarray, values: np.ndarray, t: int, lane: int, lo: float, hi: float,
               colour: tuple[int, int, int], thick: int) -> None:
        n = int(self.cfg.window_s * FPS)
        start = max(0, t - n + 1)
        seg = np.nan_to_num(np.asarray(values[start:t + 1], np.float32), nan=lo)
        x1 = self.cfg.plot_width - 6
        xs = x1 - (t - np.arange(start, t + 1)) * (x1 - 6) / max(n - 1, 1)
        y0 = 4 + lane * self._lane_h + 22
        y1 = 4 + (lane + 1) * self._lane_h - 8
        ys = y1 - (np.clip(seg, lo, hi) - lo) / (hi - lo) * (y1 - y0)
        pts = np.round(np.column_stack([xs, ys]) * 16).astype(np.int32)
        cv2.polylines(img, [pts], False, colour, thick, cv2.LINE_AA, 4)

    def plots(self, t: int) -> np.ndarray:
        img = self._plot_bg.copy()
        for k, (name, _) in enumerate(self.lanes):
            lo, hi = self._ranges[name]
            if self.user is not None:
                self._trace(img, self.user[name], t, k, lo, hi, _USER, 1)
            self._trace(img, self.avatar[name], t, k, lo, hi, _AVATAR, 2)
            cv2.putText(img, f"{self.avatar[name][t]:+.2f}", (self.cfg.plot_width - 70, 4 + k * self._lane_h + 16),
                        _FONT, 0.42, _AVATAR, 1, cv2.LINE_AA)
        # speech lane: bars, green while speaking
        lane = len(self.lanes)
        n = int(self.cfg.window_s * FPS)
        start = max(0, t - n + 1)
        x1 = self.cfg.plot_width - 6
        y1 = 4 + (lane + 1) * self._lane_h - 8
        y0 = 4 + lane * self._lane_h + 22
        step = (x1 - 6) / max(n - 1, 1)
        for i in range(start, t + 1):
            p = float(self.speaking[i])
            x = int(round(x1 - (t - i) * step))
            top = int(round(y1 - p * (y1 - y0)))
            cv2.line(img, (x, y1), (x, top), _SPEAK if p >= self.cfg.speaking_threshold else _LISTEN,
                     max(1, int(step)))
        return img

    def frame(self, t: int, avatar_frame: np.ndarray, user_frame: np.ndarray | None = None) -> np.ndarray:
        """The composed RGB frame for time step t. -> (panel, 2·panel + plot_width, 3) uint8."""
        p = self.cfg.panel
        out = np.empty((self.height, self.width, 3), np.uint8)
        if user_frame is None:
            out[:, :p] = _BG
            cv2.putText(out, "no user video", (p // 2 - 60, p // 2), _FONT, 0.5, _TEXT, 1, cv2.LINE_AA)
        else:
            out[:, :p] = _fit(user_frame, p)
        out[:, p:2 * p] = _fit(avatar_frame, p)
        out[:, 2 * p:] = self.plots(t)
        speaking = self.speaking[t] >= self.cfg.speaking_threshold
        label, colour = ("SPEAKING", _SPEAK) if speaking else ("LISTENING", _LISTEN)
        cv2.rectangle(out, (p + 6, 6), (p + 112, 28), (0, 0, 0), -1)
        cv2.putText(out, label, (p + 12, 23), _FONT, 0.5, colour, 1, cv2.LINE_AA)
        cv2.rectangle(out, (0, p - 26), (52, p), (0, 0, 0), -1)
        cv2.putText(out, "user", (8, p - 9), _FONT, 0.5, _TEXT, 1, cv2.LINE_AA)
        cv2.rectangle(out, (p, p - 26), (p + 150, p), (0, 0, 0), -1)
        cv2.putText(out, f"avatar {t / FPS:6.2f} s", (p + 8, p - 9), _FONT, 0.5, _TEXT, 1, cv2.LINE_AA)
        return out


def compose_side_by_side(avatar_frames: Iterable[np.ndarray], avatar: dict[str, np.ndarray],
                         speaking: np.ndarray, user_frames: Iterable[np.ndarray] | None = None,
                         user: dict[str, np.ndarray] | None = None,
                         config: ComposerConfig | None = None) -> Iterator[np.ndarray]:
    """Lazily compose T frames. A user video shorter than T repeats its last frame."""
    comp = SideBySide(avatar, speaking, user, config)
    user_it = iter(user_frames) if user_frames is not None else None
    last_user = None
    for t, frame in enumerate(avatar_frames):
        if t >= comp.T:
            break
        if user_it is not None:
            last_user = next(user_it, last_user)
        yield comp.frame(t, frame, last_user)
