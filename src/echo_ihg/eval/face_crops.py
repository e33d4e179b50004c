"""Face crops for the pixel metrics, from MediaPipe landmarks (478, 3) normalised by image width/height.

- `arcface_crops`: the 5-point similarity alignment ArcFace models are trained on (insightface's
  112x112 template: eye centres, nose tip, mouth corners), here from the iris centres, nose tip and
  mouth corners of the face mesh.
- `box_crops`: the landmark bounding box, a little extended below the chin as Wav2Lip pads its
  detector boxes, resized to 96x96 for SyncNet.
"""

from __future__ import annotations

import cv2
import numpy as np

from echo_ihg.motion.topology import LEFT_IRIS, MOUTH_LEFT_CORNER, MOUTH_RIGHT_CORNER, NOSE_TIP, RIGHT_IRIS

# insightface's arcface_dst for 112x112 crops, in image order: eye on the image left (the subject's
# right eye), image-right eye, nose tip, image-left mouth corner, image-right mouth corner.
ARCFACE_TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                             [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float64)


def _pixels(landmarks: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 2 or lm.shape[0] < 468 or lm.shape[1] < 2:
        raise ValueError(f"landmarks: expected (478, 3) normalised face-mesh points, got {lm.shape}")
    return lm[:, :2] * [shape[1], shape[0]]


def five_points(landmarks: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(5, 2) pixel points in ARCFACE_TEMPLATE order. The subject's right eye/mouth corner is on the
    image left for a frontal face (MediaPipe's RIGHT_IRIS, MOUTH_RIGHT_CORNER)."""
    p = _pixels(landmarks, shape)
    right_eye = p[RIGHT_IRIS[0]] if len(p) > RIGHT_IRIS[0] else p[[33, 133]].mean(0)
    left_eye = p[LEFT_IRIS[0]] if len(p) > LEFT_IRIS[0] else p[[362, 263]].mean(0)
    return np.stack([right_eye, left_eye, p[NOSE_TIP], p[MOUTH_RIGHT_CORNER], p[MOUTH_LEFT_CORNER]])


def arcface_transform(landmarks: np.ndarray, shape: tuple[int, ...], size: int = 112) -> np.ndarray:
    """(2, 3) least-squares similarity transform (as skimage's SimilarityTransform.estimate, which
    insightface uses) from the image's five points to the template scaled to `size`.

    x' = a x - b y + tx, y' = b x + a y + ty is linear in (a, b, tx, ty): one lstsq solve.
    """
    src = five_points(landmarks, shape)
    dst = ARCFACE_TEMPLATE * (size / 112.0)
    ones, zeros = np.ones(5), np.zeros(5)
    rows = np.concatenate([np.stack([src[:, 0], -src[:, 1], ones, zeros], 1),
                           np.stack([src[:, 1], src[:, 0], zeros, ones], 1)])
    (a, b, tx, ty), *_ = np.linalg.lstsq(rows, np.concatenate([dst[:, 0], dst[:, 1]]), rcond=None)
    if not np.isfinite([a, b, tx, ty]).all() or a * a + b * b < 1e-12:
        raise ValueError("arcface_transform: degenerate landmarks (no similarity transform)")
    return np.array([[a, -b, tx], [b, a, ty]])


def arcface_crops(frames, landmarks, size: int = 112) -> np.ndarray:
    """Aligned face crops (N, size, size, 3) uint8: the similarity transform that best maps the five
    points onto the template (scaled by size / 112). frames: N RGB uint8 images; landmarks: (N, 478, 3)."""
    out = []
    for img, lm in zip(frames, landmarks, strict=True):
        m = arcface_transform(lm, img.shape, size)
        out.append(cv2.warpAffine(np.ascontiguousarray(img), m, (size, size), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT))
    return np.stack(out)


def box_crops(frames, landmarks, size: int = 96, pad_bottom: float = 0.1) -> np.ndarray:
    """Face-box crops (N, size, size, 3) uint8: bounding box of the 468 face points, extended by
    pad_bottom x its height below the chin, clipped to the image, resized (not letterboxed)."""
    out = []
    for img, lm in zip(frames, landmarks, strict=True):
        p = _pixels(lm, img.shape)[:468]
        x0, y0 = np.floor(p.min(0)).astype(int)
        x1, y1 = np.ceil(p.max(0)).astype(int)
        y1 += int(round(pad_bottom * (y1 - y0)))
        h, w = img.shape[:2]
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x1 - x0 < 2 or y1 - y0 < 2:
            raise ValueError("box_crops: face box outside the image")
        out.append(cv2.resize(np.ascontiguousarray(img[y0:y1, x0:x1]), (size, size), interpolation=cv2.INTER_AREA))
    return np.stack(out)
