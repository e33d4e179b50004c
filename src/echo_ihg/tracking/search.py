"""Finding and following faces that are small in a large frame.

MediaPipe's face detector (short-range BlazeFace) sees the whole image at 128×128 and misses faces
narrower than about 15 % of the image's longer side: in a 1280×720 frame a face must be ~190 px wide.
Two helpers get around it without changing the models:

- `square_tiles`: overlapping square tiles at a few scales, searched one by one when nothing is found in
  the whole image (a 360-px tile finds faces from ~55 px);
- `cut_square` / `square_to_frame`: once found, tracking runs on a square crop around the face (about
  `CROP_FACES` face widths wide) that moves with it, and the landmarks are mapped back to the frame.

Coordinates: landmarks (N, 3) normalised by the image they were found in (x by width, y by height,
z on the scale of x); squares are (x0, y0, side) in frame pixels and may reach outside the frame
(the outside is filled by repeating the edge pixels).
"""

from __future__ import annotations

import cv2
import numpy as np

MIN_TILE = 256     # px; smaller tiles would find faces too small for useful landmarks
CROP_FACES = 3.0   # crop side in face widths: the face fills ~1/3 of it, well inside the detector's range


def square_tiles(height: int, width: int, min_side: int = MIN_TILE) -> list[tuple[int, int, int]]:
    """Overlapping square tiles (x0, y0, side), largest first: sides min(H, W), /2, /4 ... >= min_side.

    The whole image itself is not included (it is searched first anyway); stride = side / 2.
    """
    tiles: list[tuple[int, int, int]] = []
    side = min(height, width)
    while side >= min_side:
        if side < max(height, width):  # a square tile equal to the image adds nothing
            step = max(1, side // 2)
            xs = sorted({*range(0, width - side + 1, step), width - side})
            ys = sorted({*range(0, height - side + 1, step), height - side})
            tiles += [(x, y, side) for y in ys for x in xs]
        side //= 2
    return tiles


def cut_square(rgb: np.ndarray, x0: int, y0: int, side: int) -> np.ndarray:
    """The square [x0, x0 + side) × [y0, y0 + side) of the frame, edge pixels repeated outside it."""
    h, w = rgb.shape[:2]
    xa, ya, xb, yb = max(0, x0), max(0, y0), min(w, x0 + side), min(h, y0 + side)
    inner = rgb[ya:yb, xa:xb]
    if (xb - xa, yb - ya) == (side, side):
        return np.ascontiguousarray(inner)
    return cv2.copyMakeBorder(inner, ya - y0, y0 + side - yb, xa - x0, x0 + side - xb, cv2.BORDER_REPLICATE)


def square_to_frame(landmarks: np.ndarray, x0: int, y0: int, side: int, width: int,
                    height: int) -> np.ndarray:
    """Landmarks normalised in a square crop -> normalised in the frame (z keeps the scale of x)."""
    out = landmarks.copy()
    out[:, 0] = (landmarks[:, 0] * side + x0) / width
    out[:, 1] = (landmarks[:, 1] * side + y0) / height
    out[:, 2] = landmarks[:, 2] * side / width
    return out


def crop_around(cx: float, cy: float, face_size: float) -> tuple[int, int, int]:
    """The tracking square (x0, y0, side) centred on a face of `face_size` px at (cx, cy)."""
    side = max(16, int(round(CROP_FACES * face_size)))
    return int(round(cx - side / 2)), int(round(cy - side / 2)), side
