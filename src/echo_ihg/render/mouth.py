"""Synthesised mouth interior, drawn inside the target inner-lip contour when the lips part.

A photo with closed lips has no pixels for the inside of the mouth: warping would smear the lip line.
Instead the interior is painted per frame in a small region of interest: a dark cavity (darkest at the
back), upper teeth hanging from the upper lip (tapered and shaded towards the corners, faint gaps
between teeth), a tongue, and lower teeth when the mouth opens wide; then softened and alpha-blended
with a feathered mask at the inner lip contour. Colours come from the portrait's lips (`mouth_palette`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from echo_ihg.motion.topology import landmark_sets

# Inner lip contour, corner to corner (MediaPipe indices; right corner 78 -> left corner 308).
UPPER_INNER = np.array([78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308])
LOWER_INNER = np.array([78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308])
MIN_GAP_PX = 0.8            # below this mean lip gap nothing is drawn (closed mouth)
_SHIFT = 4


@dataclass(frozen=True)
class MouthPalette:
    """RGB float colours: cavity (lips darkened), tongue, teeth."""

    cavity: np.ndarray
    tongue: np.ndarray
    teeth: np.ndarray


def mouth_palette(image: np.ndarray, landmarks_px: np.ndarray) -> MouthPalette:
    """Sample the lip colour of the portrait (median over the outer lip region) to tint the interior."""
    h, w = image.shape[:2]
    lips = landmarks_px[landmark_sets()["lips"], :2]
    mask = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(lips).astype(np.int32)), 1)
    pix = image[mask.astype(bool)]
    lip = np.median(pix, axis=0).astype(np.float32) if len(pix) else np.array([170, 90, 90], np.float32)
    # teeth are lit like the face: scale an off-white by the skin's brightness around the mouth
    face = landmarks_px[:468, :2]
    lo, hi = np.floor(face.min(0)).astype(int), np.ceil(face.max(0)).astype(int)
    skin = image[max(lo[1], 0):max(hi[1], 1), max(lo[0], 0):max(hi[0], 1)].reshape(-1, 3)
    luma = float(np.median(skin @ np.array([0.299, 0.587, 0.114]))) if len(skin) else 160.0
    light = float(np.clip(luma / 165.0, 0.7, 1.1))
    skin_rgb = np.median(skin, axis=0).astype(np.float32) if len(skin) else np.full(3, 160, np.float32)
    # an off-white lit like the face and tinted by the photo's colour cast (pure grey looks cold/blue)
    teeth = np.clip(0.75 * np.array([246, 241, 230], np.float32) * light + 0.3 * skin_rgb, 0, 255)
    shown = _visible_teeth(image, landmarks_px)
    if shown is not None:           # the photo shows teeth: use their colour (lighting, white balance)
        teeth = shown
    return MouthPalette(cavity=lip * 0.38 + np.array([6, 0, 0], np.float32),
                        tongue=np.clip(lip * 0.9 + np.array([25, -5, 0], np.float32), 0, 255),
                        teeth=teeth)


def _visible_teeth(image: np.ndarray, landmarks_px: np.ndarray) -> np.ndarray | None:
    """Median colour of the brightest 40 % of pixels between the inner lips, if the lips are apart."""
    if lip_gap(landmarks_px) < 2.0 * MIN_GAP_PX:
        return None
    poly = np.concatenate([landmarks_px[UPPER_INNER, :2], landmarks_px[LOWER_INNER[-2:0:-1], :2]])
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
    pix = image[mask.astype(bool)].astype(np.float32)
    if len(pix) < 12:
        return None
    luma = pix @ np.array([0.299, 0.587, 0.114], np.float32)
    bright = pix[luma >= np.percentile(luma, 60)]
    return np.median(bright, axis=0).astype(np.float32)


def lip_gap(landmarks_px: np.ndarray) -> float:
    """Mean distance (px) between the upper and lower inner lip over the middle of the mouth."""
    up, lo = landmarks_px[UPPER_INNER[2:-2], :2], landmarks_px[LOWER_INNER[2:-2], :2]
    return float(np.linalg.norm(lo - up, axis=1).mean())


def synthetic_weight(gap: float, source_gap: float) -> float:
    """How much of the synthetic interior to show (0..1). A portrait photographed with parted lips has a
    real interior (teeth) that the warp carries along: it is kept while the mouth opens no wider than in
    the photo, and replaced gradually by the synthetic one as the opening grows beyond it (stretched
    real teeth look worse than painted ones)."""
    if source_gap < 2.0 * MIN_GAP_PX:
        return 1.0
    return float(np.clip((gap / source_gap - 1.15) / 0.5, 0.0, 1.0))


def draw_mouth(frame: np.ndarray, landmarks_px: np.ndarray, palette: MouthPalette, source_gap: float = 0.0
               ) -> None:
    """Paint the mouth interior into `frame` (H, W, 3) uint8 in place, if the lips are apart.
    source_gap: the portrait's own lip gap in px (`lip_gap`), see `synthetic_weight`."""
    gap = lip_gap(landmarks_px)
    strength = synthetic_weight(gap, source_gap)
    if gap < MIN_GAP_PX or strength <= 0.0:
        return
    up = landmarks_px[UPPER_INNER, :2].astype(np.float32)
    lo = landmarks_px[LOWER_INNER, :2].astype(np.float32)
    poly = np.concatenate([up, lo[-2:0:-1]])
    h, w = frame.shape[:2]
    x0, y0 = np.floor(poly.min(axis=0)).astype(int) - 3
    x1, y1 = np.ceil(poly.max(axis=0)).astype(int) + 4
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    off = np.array([x0, y0], np.float32)
    canvas = _interior(up - off, lo - off, gap, (y1 - y0, x1 - x0), palette)
    mask = np.zeros((y1 - y0, x1 - x0), np.float32)
    cv2.fillPoly(mask, [_fx(poly - off)], 1.0, lineType=cv2.LINE_AA, shift=_SHIFT)
    mask = cv2.GaussianBlur(mask, (3, 3), 0.8)
    mask *= min(1.0, gap / 2.5) * strength      # fade in over the first pixels of opening (no popping)
    roi = frame[y0:y1, x0:x1].astype(np.float32)
    roi += (canvas - roi) * mask[:, :, None]
    frame[y0:y1, x0:x1] = np.clip(roi, 0, 255).astype(np.uint8)


def _fx(points: np.ndarray) -> np.ndarray:
    return np.round(points * (1 << _SHIFT)).astype(np.int32).reshape(-1, 1, 2)


def _interior(up: np.ndarray, lo: np.ndarray, gap: float, shape: tuple[int, int],
              pal: MouthPalette) -> np.ndarray:
    """The interior picture in ROI coordinates. up, lo: (11, 2) inner lip points. -> (h, w, 3) float32."""
    canvas = np.empty(shape + (3,), np.float32)
    canvas[:] = pal.cavity
    width = float(np.linalg.norm(up[-1] - up[0]))
    centre = (up[5] + lo[5]) / 2
    # the mouth's own "down" (perpendicular to the corner-to-corner line): a tilted head tilts the teeth
    axis = (up[-1] - up[0]) / max(width, 1e-6)
    down = np.array([-axis[1], axis[0]], np.float32)
    if float((lo[5] - up[5]) @ down) < 0:
        down = -down
    # the back of the mouth is darker: a soft dark ellipse in the middle
    back = np.zeros(shape, np.float32)
    cv2.ellipse(back, (_fx(centre)[0, 0, 0], _fx(centre)[0, 0, 1]),
                (int(width * 0.3 * 16), int(max(gap, 1) * 0.35 * 16)), 0, 0, 360, 1.0, -1, cv2.LINE_AA, _SHIFT)
    back = cv2.GaussianBlur(back, (0, 0), max(1.0, gap * 0.25))
    canvas *= (1.0 - 0.5 * back)[:, :, None]
    # tongue: low in the mouth, visible once the jaw drops
    if gap > 0.1 * width:
        t_c = lo[5] + 0.1 * gap * down
        axes = (int(width * 0.3 * 16), int(gap * 0.45 * 16))
        angle = float(np.degrees(np.arctan2(axis[1], axis[0])))
        cv2.ellipse(canvas, (_fx(t_c)[0, 0, 0], _fx(t_c)[0, 0, 1]), axes, angle, 180, 360,
                    pal.tongue.tolist(), -1, cv2.LINE_AA, _SHIFT)
    _teeth_row(canvas, up, down, min(0.5 * gap, 0.13 * width), pal.teeth, 1.0)
    if gap > 0.22 * width:
        _teeth_row(canvas, lo, -down, min(0.22 * gap, 0.07 * width), pal.teeth, 0.85)
    return cv2.GaussianBlur(canvas, (3, 3), 0.7)


def _teeth_row(canvas: np.ndarray, lip: np.ndarray, direction: np.ndarray, height: float,
               colour: np.ndarray, light: float) -> None:
    """Teeth hanging from (direction = the mouth's down) or standing on (its opposite) a lip contour: quads
    between consecutive lip
    points 1..9 (not the corner segments), shorter and darker towards the corners (the side teeth lie in
    the mouth's shadow)."""
    if height < 0.6:
        return
    n = len(lip)
    for k in range(1, n - 2):
        a, b = lip[k], lip[k + 1]
        t = (k + 0.5 - (n - 1) / 2) / ((n - 1) / 2)          # -1 .. 1 across the mouth
        taper = max(0.0, 1.0 - t * t * 1.2)
        hgt = height * (0.45 + 0.55 * taper)
        shade = light * (0.45 + 0.55 * taper)
        down = (direction * hgt).astype(np.float32)
        back = (-direction * 2.0).astype(np.float32)         # start under the lip: no gap at the edge
        quad = np.array([a + back, b + back, b + down, a + down], np.float32)
        cv2.fillConvexPoly(canvas, _fx(quad), (colour * shade).tolist(), cv2.LINE_AA, _SHIFT)
        # a faint gap between neighbouring teeth
        cv2.line(canvas, tuple(_fx(b)[0, 0]), tuple(_fx(b + down)[0, 0]), (colour * shade * 0.75).tolist(),
                 1, cv2.LINE_AA, _SHIFT)
