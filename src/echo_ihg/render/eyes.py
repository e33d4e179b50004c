"""Closed eyelids. When the upper lid comes down, the mesh stretches the skin *and the lash line* of the
open eye over the eye opening, which reads as a dark smear. So setup also makes a lid texture: the eye
opening and the lash band above it inpainted with the surrounding skin (`cv2.inpaint`). Per frame, as
an eye closes, the same remap maps sample that texture in the eye's region of interest and blend it in,
and a thin lash line is drawn along the closed lid. An open eye costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from echo_ihg.render.edits import EYE_CORNERS, LOWER_LID, UPPER_LID

SIDES = ("left", "right")
_SHIFT = 4


@dataclass(frozen=True)
class Eyelids:
    """lid_image: (H, W, 3) uint8 portrait with the eyes inpainted; lid_mask: (H, W) float32 0..1 where it
    differs; source_gap: per eye, the portrait's lid opening in px; lash: RGB float lash colour."""

    lid_image: np.ndarray
    lid_mask: np.ndarray
    source_gap: dict[str, float]
    lash: np.ndarray


def eye_gap(landmarks_px: np.ndarray, side: str) -> float:
    """Mean distance (px) between the middle three upper and lower lid points of one eye."""
    up, lo = UPPER_LID[side][2:5], LOWER_LID[side][2:5]
    return float(np.linalg.norm(landmarks_px[up, :2] - landmarks_px[lo, :2], axis=1).mean())


def eye_polygon(px: np.ndarray, side: str, lift: float, drop: float) -> np.ndarray:
    """Eye outline with the upper lid raised by `lift` px and the lower lid lowered by `drop` px."""
    c_out, c_in = EYE_CORNERS[side]
    up, lo = px[UPPER_LID[side], :2].copy(), px[LOWER_LID[side], :2].copy()
    axis = px[c_in, :2] - px[c_out, :2]
    axis /= max(np.linalg.norm(axis), 1e-6)
    normal = np.array([axis[1], -axis[0]])
    if normal[1] > 0:      # make `normal` point up in the image
        normal = -normal
    up += lift * normal
    lo -= drop * normal
    ends = np.array([px[c_out, :2] - 0.1 * lift * axis, px[c_in, :2] + 0.1 * lift * axis])
    # upper lid runs outer -> inner for both eyes in MediaPipe's order; close the loop via the lower lid
    return np.concatenate([ends[:1], up, ends[1:], lo[::-1]]).astype(np.float32)


def build_eyelids(image: np.ndarray, landmarks_px: np.ndarray) -> Eyelids:
    """Inpaint both eye openings plus the lash band above them (pure setup)."""
    h, w = image.shape[:2]
    lid = image.copy()
    mask = np.zeros((h, w), np.uint8)
    gaps, lashes = {}, []
    for side in SIDES:
        gap = eye_gap(landmarks_px, side)
        gaps[side] = gap
        c_out, c_in = EYE_CORNERS[side]
        eye_w = float(np.linalg.norm(landmarks_px[c_out, :2] - landmarks_px[c_in, :2]))
        poly = eye_polygon(landmarks_px, side, lift=0.5 * gap + 0.04 * eye_w, drop=0.15 * gap + 0.02 * eye_w)
        cv2.fillPoly(mask, [np.round(poly * (1 << _SHIFT)).astype(np.int32)], 255, cv2.LINE_8, _SHIFT)
        eye = np.zeros((h, w), np.uint8)
        cv2.fillPoly(eye, [np.round(eye_polygon(landmarks_px, side, 0.0, 0.0)).astype(np.int32)], 1)
        pix = image[eye.astype(bool)]
        if len(pix):
            lashes.append(np.percentile(pix, 15, axis=0))
    mask = cv2.dilate(mask, np.ones((3, 3), np.uint8))
    ys, xs = np.nonzero(mask)
    if len(ys):
        y0, y1 = max(ys.min() - 8, 0), min(ys.max() + 9, h)
        x0, x1 = max(xs.min() - 8, 0), min(xs.max() + 9, w)
        radius = max(2.0, 0.5 * max(gaps.values()))
        lid[y0:y1, x0:x1] = cv2.inpaint(image[y0:y1, x0:x1], mask[y0:y1, x0:x1], radius, cv2.INPAINT_TELEA)
    soft = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (5, 5), 1.2)
    lash = np.mean(lashes, axis=0).astype(np.float32) if lashes else np.array([40, 30, 30], np.float32)
    return Eyelids(lid_image=lid, lid_mask=soft, source_gap=gaps, lash=lash)


def closure(gap: float, source_gap: float) -> float:
    """Blend weight of the closed-lid texture: 0 while the eye is at least half as open as in the
    portrait, rising smoothly to 1 when shut."""
    if source_gap < 1.0:
        return 0.0
    c = float(np.clip(1.0 - gap / source_gap, 0.0, 1.0))
    x = np.clip((c - 0.45) / 0.45, 0.0, 1.0)
    return float(x * x * (3 - 2 * x))


def draw_eyelids(frame: np.ndarray, landmarks_px: np.ndarray, lids: Eyelids,
                 map_x: np.ndarray, map_y: np.ndarray) -> None:
    """Blend the closed-lid texture into closing eyes of `frame` (H, W, 3) uint8, in place.
    map_x, map_y: this frame's warp maps (target pixel -> portrait pixel)."""
    h, w = frame.shape[:2]
    for side in SIDES:
        weight = closure(eye_gap(landmarks_px, side), lids.source_gap[side])
        if weight <= 0.0:
            continue
        c_out, c_in = EYE_CORNERS[side]
        eye_w = float(np.linalg.norm(landmarks_px[c_out, :2] - landmarks_px[c_in, :2]))
        pts = landmarks_px[np.concatenate([UPPER_LID[side], LOWER_LID[side], [c_out, c_in]]), :2]
        m = 0.5 * eye_w
        x0, y0 = np.floor(pts.min(0) - m).astype(int)
        x1, y1 = np.ceil(pts.max(0) + m).astype(int)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        mx, my = map_x[y0:y1, x0:x1], map_y[y0:y1, x0:x1]
        tex = cv2.remap(lids.lid_image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        alpha = cv2.remap(lids.lid_mask, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT) * weight
        roi = frame[y0:y1, x0:x1].astype(np.float32)
        roi += (tex.astype(np.float32) - roi) * alpha[:, :, None]
        # the lash line along the closed lid (the lower edge of the upper lid)
        lash = np.zeros((y1 - y0, x1 - x0), np.float32)
        line = landmarks_px[LOWER_LID[side], :2] * 0.5 + landmarks_px[UPPER_LID[side], :2] * 0.5
        axis = landmarks_px[c_in, :2] - landmarks_px[c_out, :2]
        line = line[np.argsort(line @ axis)]          # monotone along the eye: no loops at the corners
        line = np.round((line - [x0, y0]) * (1 << _SHIFT)).astype(np.int32)
        thick = max(1, int(round(0.06 * eye_w)))
        cv2.polylines(lash, [line], False, 1.0, thick, cv2.LINE_AA, _SHIFT)
        lash = cv2.GaussianBlur(lash, (3, 3), 0.6) * (0.7 * weight)
        roi += (lids.lash - roi) * lash[:, :, None]
        frame[y0:y1, x0:x1] = np.clip(roi, 0, 255).astype(np.uint8)
