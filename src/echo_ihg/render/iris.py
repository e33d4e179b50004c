"""Irises as rigid patches, so that gaze moves the iris instead of stretching the eye.

Setup cuts each visible iris (a disc around the iris centre, radius from the four iris contour points,
limited to the eye opening) out of the portrait and inpaints the hole with the surrounding sclera; the
warp then samples that iris-less portrait. Per frame each patch is pasted at the target iris centre,
scaled by the target iris radius, and clipped to the target eye opening, so the lids cover it as they
close. An eye that is closed in the photo has no iris to move and is left to the plain warp.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from echo_ihg.motion.topology import LEFT_IRIS, RIGHT_IRIS
from echo_ihg.render.eyes import eye_gap, eye_polygon

IRIS = {"left": LEFT_IRIS, "right": RIGHT_IRIS}
_SHIFT = 4


@dataclass(frozen=True)
class IrisPatch:
    """patch: (h, w, 3) float32 pixels; alpha: (h, w) float32; centre: the iris centre in patch
    coordinates; radius: source iris radius in px."""

    patch: np.ndarray
    alpha: np.ndarray
    centre: np.ndarray
    radius: float


def iris_radius(landmarks_px: np.ndarray, side: str) -> float:
    idx = IRIS[side]
    return float(np.linalg.norm(landmarks_px[idx[1:], :2] - landmarks_px[idx[0], :2], axis=1).mean())


def _mask(shape: tuple[int, int], poly: np.ndarray, offset: np.ndarray) -> np.ndarray:
    m = np.zeros(shape, np.float32)
    cv2.fillPoly(m, [np.round((poly - offset) * (1 << _SHIFT)).astype(np.int32)], 1.0, cv2.LINE_AA, _SHIFT)
    return m


def build_irises(image: np.ndarray, landmarks_px: np.ndarray) -> tuple[np.ndarray, dict[str, IrisPatch]]:
    """-> (the portrait with the visible irises inpainted (H, W, 3) uint8, {side: IrisPatch})."""
    base = image.copy()
    patches: dict[str, IrisPatch] = {}
    h, w = image.shape[:2]
    for side in ("left", "right"):
        r = iris_radius(landmarks_px, side)
        if r < 1.5 or eye_gap(landmarks_px, side) < 2.0:
            continue
        c = landmarks_px[IRIS[side][0], :2].astype(np.float32)
        half = int(np.ceil(r + 3))
        x0, y0 = max(int(c[0]) - half, 0), max(int(c[1]) - half, 0)
        x1, y1 = min(int(c[0]) + half + 2, w), min(int(c[1]) + half + 2, h)
        if x1 - x0 < 4 or y1 - y0 < 4:
            continue
        off = np.array([x0, y0], np.float32)
        shape = (y1 - y0, x1 - x0)
        disc = np.zeros(shape, np.float32)
        cv2.circle(disc, tuple(np.round((c - off) * (1 << _SHIFT)).astype(int)), int(round(r * (1 << _SHIFT))),
                   1.0, -1, cv2.LINE_AA, _SHIFT)
        opening = _mask(shape, eye_polygon(landmarks_px, side, 0.0, 0.0), off)
        visible = disc * opening
        if visible.sum() < 4:
            continue
        hole = cv2.dilate((visible > 0.05).astype(np.uint8), np.ones((3, 3), np.uint8))
        roi = image[y0:y1, x0:x1]
        base[y0:y1, x0:x1] = cv2.inpaint(roi, hole * 255, max(2.0, r / 2), cv2.INPAINT_TELEA)
        # opaque over the whole inpainted hole, soft just outside it: pasted in place, the patch gives the
        # original pixels back exactly (outside the hole the base *is* the original)
        alpha = np.maximum(hole.astype(np.float32), cv2.GaussianBlur(hole.astype(np.float32), (3, 3), 0.7))
        patches[side] = IrisPatch(roi.astype(np.float32), alpha, c - off, r)
    return base, patches


def draw_irises(frame: np.ndarray, landmarks_px: np.ndarray, patches: dict[str, IrisPatch]) -> None:
    """Paste each iris patch at its target position, clipped to the target eye opening (in place)."""
    h, w = frame.shape[:2]
    for side, p in patches.items():
        c = landmarks_px[IRIS[side][0], :2].astype(np.float32)
        scale = float(np.clip(iris_radius(landmarks_px, side) / p.radius, 0.5, 2.0))
        half = scale * max(p.patch.shape[:2])
        x0, y0 = max(int(c[0] - half), 0), max(int(c[1] - half), 0)
        x1, y1 = min(int(c[0] + half) + 2, w), min(int(c[1] + half) + 2, h)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        # patch coords -> ROI coords: scale about the patch's iris centre, move it onto the target centre
        t = c - np.array([x0, y0], np.float32) - scale * p.centre
        m = np.array([[scale, 0, t[0]], [0, scale, t[1]]], np.float32)
        size = (x1 - x0, y1 - y0)
        pix = cv2.warpAffine(p.patch, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        alpha = cv2.warpAffine(p.alpha, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        alpha *= _mask((y1 - y0, x1 - x0), eye_polygon(landmarks_px, side, 0.0, 0.0), np.array([x0, y0], np.float32))
        roi = frame[y0:y1, x0:x1].astype(np.float32)
        roi += (pix - roi) * alpha[:, :, None]
        frame[y0:y1, x0:x1] = np.clip(roi, 0, 255).astype(np.uint8)
