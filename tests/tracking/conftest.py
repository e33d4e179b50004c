"""Synthetic clips built from the real astronaut face: moving, blanked, two faces, no face."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import pytest

from echo_ihg.io.media import write_mp4

SIZE = 256          # clip frames are SIZE × SIZE
BLANK = 200         # grey level of a frame without a face


def moving_frames(astronaut: np.ndarray, n: int = 50, blank: range = range(0)
                  ) -> tuple[list[np.ndarray], np.ndarray]:
    """The 512 px astronaut at half size, drifting and zooming slightly. -> (frames, affine (n, 2, 3)).

    affine[k] maps astronaut pixel coordinates to frame-k pixel coordinates; frames in `blank` are grey.
    """
    frames, mats = [], []
    for k in range(n):
        s = 0.5 * (1.0 + 0.08 * np.sin(k / 9.0))
        dx, dy = 14.0 * np.sin(k / 6.0), 8.0 * np.cos(k / 8.0)
        # zoom about the face (≈ (220, 130) in the source); borders are replicated: a reflected border
        # would add a second, upside-down face
        m = np.float32([[s, 0, SIZE / 2 + dx - s * 220], [0, s, SIZE / 2 + dy - s * 150]])
        mats.append(m)
        if k in blank:
            frames.append(np.full((SIZE, SIZE, 3), BLANK, np.uint8))
        else:
            frames.append(cv2.warpAffine(astronaut, m, (SIZE, SIZE), flags=cv2.INTER_AREA,
                                         borderMode=cv2.BORDER_REPLICATE))
    return frames, np.stack(mats)


def two_face_frames(astronaut: np.ndarray, scales: list[tuple[float, float]], width: int = 512,
                    height: int = 256) -> list[np.ndarray]:
    """Frames with the astronaut's head left (centre x = width/4) and right (3·width/4) at the given
    scales (relative to a 220 px head crop; 0 = absent) on a grey background."""
    head = astronaut[20:240, 110:330]
    out = []
    for left, right in scales:
        canvas = np.full((height, width, 3), BLANK, np.uint8)
        for s, cx in ((left, width // 4), (right, 3 * width // 4)):
            if s <= 0:
                continue
            f = cv2.resize(head, (int(220 * s), int(220 * s)), interpolation=cv2.INTER_AREA)
            y0, x0 = (height - f.shape[0]) // 2, cx - f.shape[1] // 2
            canvas[y0:y0 + f.shape[0], x0:x0 + f.shape[1]] = f
        out.append(canvas)
    return out


def expected_points(astronaut_landmarks: np.ndarray, index: int, mats: np.ndarray) -> np.ndarray:
    """Where landmark `index` of the still portrait lands in each frame, in frame pixels. -> (n, 2)."""
    p = np.append(astronaut_landmarks[index, :2] * 512, 1.0)
    return mats @ p


@pytest.fixture(scope="session")
def astronaut_landmarks(astronaut) -> np.ndarray:
    from echo_ihg.tracking.face_mesh import track_image

    return track_image(astronaut)


@pytest.fixture
def make_clip(tmp_path, astronaut) -> Callable[..., tuple[Path, np.ndarray]]:
    """make_clip(name, n=50, blank=range(...)) -> (mp4 path, affine (n, 2, 3)) of a moving-face clip."""

    def make(name: str = "clip.mp4", n: int = 50, blank: range = range(0)) -> tuple[Path, np.ndarray]:
        frames, mats = moving_frames(astronaut, n, blank)
        path = tmp_path / name
        write_mp4(path, frames)
        return path, mats

    return make


def placed(astronaut: np.ndarray, scale: float, width: int, height: int, cx: float, cy: float
           ) -> tuple[np.ndarray, np.ndarray]:
    """The whole astronaut image scaled by `scale`, centred at (cx, cy) on a grey width×height canvas.
    -> (frame, affine (2, 3) from astronaut pixels to frame pixels)."""
    img = cv2.resize(astronaut, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full((height, width, 3), BLANK, np.uint8)
    h, w = img.shape[:2]
    x0, y0 = int(round(cx - w / 2)), int(round(cy - h / 2))
    xa, ya, xb, yb = max(0, x0), max(0, y0), min(width, x0 + w), min(height, y0 + h)
    canvas[ya:yb, xa:xb] = img[ya - y0:yb - y0, xa - x0:xb - x0]
    return canvas, np.array([[scale, 0, x0], [0, scale, y0]], np.float64)
