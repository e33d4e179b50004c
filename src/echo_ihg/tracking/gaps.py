"""Gaps in a landmark track: find runs of frames without a face, interpolate short ones, mask long ones.

A *gap* is a maximal run of frames where the tracker found no face. Policy (see `fill_gaps`):

- an interior gap of at most `max_gap` frames is linearly interpolated between the valid frames on both
  sides and its frames become valid (a blink of the detector, a hand passing the face);
- a longer interior gap, or any gap touching the start or end of the clip (nothing to interpolate from
  on one side), stays masked: `valid` is False there and the landmarks hold the nearest valid frame, so
  that the array stays finite and smooth for code that ignores the mask.

Shapes: landmarks (T, 478, 3) float32, valid (T,) bool.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Gap(NamedTuple):
    """Frames [start, end) had no tracked face. `interpolated`: filled and marked valid (else masked)."""

    start: int
    end: int
    interpolated: bool

    @property
    def length(self) -> int:
        return self.end - self.start

    def to_dict(self, fps: float) -> dict:
        return {"start": self.start, "end": self.end, "start_s": round(self.start / fps, 3),
                "end_s": round(self.end / fps, 3), "interpolated": self.interpolated}


def find_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs of True in a 1-D bool array as [start, end) pairs."""
    mask = np.asarray(mask, dtype=bool).reshape(-1)
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def fill_gaps(landmarks: np.ndarray, found: np.ndarray, max_gap: int
              ) -> tuple[np.ndarray, np.ndarray, list[Gap]]:
    """Interpolate short interior gaps, hold-fill the others. -> (landmarks, valid, gaps).

    landmarks (T, N, 3): values at frames where `found` is False are ignored (may be anything, even NaN).
    found (T,) bool: the tracker saw the face. At least one frame must be found.
    """
    landmarks = np.array(landmarks, dtype=np.float32, copy=True)
    found = np.asarray(found, dtype=bool).reshape(-1)
    n = len(found)
    assert landmarks.shape[0] == n, (landmarks.shape, n)
    assert found.any(), "fill_gaps needs at least one frame with a face"
    valid = found.copy()
    gaps: list[Gap] = []
    for start, end in find_runs(~found):
        interior = start > 0 and end < n
        if interior and end - start <= max_gap:
            a, b = landmarks[start - 1], landmarks[end]
            w = (np.arange(start, end, dtype=np.float32) - (start - 1)) / (end - (start - 1))
            landmarks[start:end] = a[None] + w[:, None, None] * (b - a)[None]
            valid[start:end] = True
            gaps.append(Gap(start, end, True))
            continue
        gaps.append(Gap(start, end, False))
        if start == 0:
            landmarks[start:end] = landmarks[end]
        elif end == n:
            landmarks[start:end] = landmarks[start - 1]
        else:  # hold each side up to the middle: no jump larger than the true one
            mid = (start + end) // 2
            landmarks[start:mid] = landmarks[start - 1]
            landmarks[mid:end] = landmarks[end]
    return landmarks, valid, gaps


def format_time_ranges(gaps: list[Gap], fps: float) -> str:
    """'1.20–3.40 s, 5.00–5.60 s' for reports and warnings."""
    return ", ".join(f"{g.start / fps:.2f}–{g.end / fps:.2f} s" for g in gaps)
