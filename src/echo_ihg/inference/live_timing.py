"""A live session's timing: its counters (`Stats`) and its pace (hop, user lag) adapted to the machine.

Chunk t0 emits the hop [t0, t0 + hop), reads the user up to t0 − L and must be rendered by tick t0, so L
frames (minus the user side's hand-on delay) is the time a chunk may take, and a chunk's time over the hop's
(hop / 25 s) is the share of a core the model needs to keep up. Fixed values either waste reaction time on a
fast machine or make nearly every frame late on a loaded one: with a browser on the same 2 cores, chunks took
543–627 ms against a 320 ms lag and a 640 ms hop, and 94 % of the frames repeated the last image. The model is
trained for every horizon down to `user_lag_max` frames before its window, so any L up to the window's overlap
+ `user_lag_max` is a condition it knows, at any hop.

After each chunk (`PaceController.update`):
- hop: when the chunk time (smoothed) passes `busy_up` of the hop's time, the hop grows by `hop_step` (the
  model falls behind otherwise); when it would stay under `busy_down` of a hop one step smaller for
  `hop_calm_chunks` chunks in a row, the hop shrinks (the reaction comes half a step sooner);
- lag: slack = ticks between the chunk being ready and its first new frame being due. Below `margin` (the
  render needs a tick or two) L grows at once by the shortfall; with ≥ `margin + 1` to spare for
  `calm_chunks` chunks in a row, L shrinks by one.
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from echo_ihg.constants import FPS


@dataclass
class PaceController:
    """hop, lag: the current hop and user lag L (frames); *_range: (lowest, highest). See the module docstring."""

    hop: int
    lag: int
    hop_range: tuple[int, int]
    lag_range: tuple[int, int]
    hop_step: int = 8
    margin: int = 2
    calm_chunks: int = 6
    hop_calm_chunks: int = 24
    busy_up: float = 0.8
    busy_down: float = 0.5
    _chunk_s: float | None = None
    _calm: int = 0
    _hop_calm: int = 0

    def __post_init__(self) -> None:
        (hlo, hhi), (llo, lhi) = self.hop_range, self.lag_range
        if not (1 <= hlo <= self.hop <= hhi and 1 <= llo <= self.lag <= lhi):
            raise ValueError(f"hop {self.hop} or user lag {self.lag} outside {self.hop_range}, {self.lag_range}")

    def update(self, slack: int, chunk_s: float) -> tuple[int, int]:
        """slack: the finished chunk's first new frame minus the clock's tick; chunk_s: its wall time (s)
        -> the (hop, lag) for the next chunks."""
        self._chunk_s = chunk_s if self._chunk_s is None else 0.7 * self._chunk_s + 0.3 * chunk_s
        self._update_hop()
        self._update_lag(slack)
        return self.hop, self.lag

    def _update_hop(self) -> None:
        lo, hi = self.hop_range
        if self._chunk_s > self.busy_up * self.hop / FPS and self.hop < hi:
            self.hop, self._hop_calm = min(hi, self.hop + self.hop_step), 0
        elif self.hop > lo and self._chunk_s < self.busy_down * (self.hop - self.hop_step) / FPS:
            self._hop_calm += 1
            if self._hop_calm >= self.hop_calm_chunks:
                self.hop, self._hop_calm = max(lo, self.hop - self.hop_step), 0
        else:
            self._hop_calm = 0

    def _update_lag(self, slack: int) -> None:
        lo, hi = self.lag_range
        if slack < self.margin:
            self.lag, self._calm = min(hi, self.lag + self.margin - slack), 0
        elif slack > self.margin:
            self._calm += 1
            if self._calm >= self.calm_chunks:
                self.lag, self._calm = max(lo, self.lag - 1), 0
        else:
            self._calm = 0


@dataclass
class Stats:
    """Counters and rolling windows of one session (read by `snapshot`)."""

    started: float = field(default_factory=time.perf_counter)
    clock_started: float | None = None
    frames_sent: int = 0
    user_frames: int = 0            # received
    user_dropped: int = 0           # replaced by a newer one before a tick took them
    user_tracked: int = 0           # with a face
    rendered: int = 0               # frames rendered (the rest repeat the last image)
    late: int = 0                   # motion not ready in time (last image repeated)
    skipped: int = 0                # ticks without tracking / rendering (clock behind)
    audio_dropped: int = 0          # user audio frames dropped (too far ahead of the clock)
    out_dropped: int = 0            # frames the client did not take in time
    latency_ms: collections.deque = field(default_factory=lambda: collections.deque(maxlen=500))
    reaction_ms: collections.deque = field(default_factory=lambda: collections.deque(maxlen=500))
    sent_times: collections.deque = field(default_factory=lambda: collections.deque(maxlen=100))
    chunk_ms: collections.deque = field(default_factory=lambda: collections.deque(maxlen=20))
    user_lag: int = 0               # the current user lag L (frames)
    hop: int = 0                    # the current hop (frames)

    def snapshot(self) -> dict[str, Any]:
        def pct(d, q):
            return round(float(np.percentile(np.asarray(d), q)), 1) if d else None
        t = list(self.sent_times)
        fps = (len(t) - 1) / (t[-1] - t[0]) if len(t) > 2 and t[-1] > t[0] else 0.0
        return {"type": "stats", "frames_sent": self.frames_sent, "fps": round(fps, 2),
                "latency_ms": {"p50": pct(self.latency_ms, 50), "p95": pct(self.latency_ms, 95)},
                "reaction_ms": {"p50": pct(self.reaction_ms, 50), "p95": pct(self.reaction_ms, 95)},
                "chunk_ms": pct(self.chunk_ms, 50), "user_lag_frames": self.user_lag, "hop_frames": self.hop,
                "rendered": self.rendered, "user_frames": self.user_frames,
                "user_dropped": self.user_dropped, "user_tracked": self.user_tracked, "late": self.late,
                "skipped": self.skipped, "audio_dropped": self.audio_dropped, "out_dropped": self.out_dropped,
                "uptime_s": round(time.perf_counter() - self.started, 2),
                "clock_s": round(time.perf_counter() - self.clock_started, 2) if self.clock_started else 0.0}
