"""Interpretable facial attributes measured from landmarks, for metrics, plots, the describer and the rig.

All face measures are taken in canonical (pose-removed) space and divided by the frame's own inter-ocular
distance (outer eye corners 33–263), so they do not depend on image size, head position or rotation.
Units and zero points:
  mouth_open     inner-lip gap (13–14) / IOD; 0 = lips touch.
  mouth_width    mouth-corner distance (61–291) / IOD.
  smile          height of the mouth corners above the inner-lip centre / IOD, minus the canonical face's
                 value: > 0 corners raised, < 0 lowered.
  lip_press      canonical lip thickness − lip thickness (0–13 plus 14–17) / IOD: > 0 lips thinner (pressed
                 or rolled in) than the canonical face.
  blink_l/_r     1 − (eyelid opening / eye width) ÷ the canonical face's ratio: 0 open as the canonical
                 face, 1 closed (may go slightly negative for wide-open eyes). l/r = subject's left/right.
  brow_raise_l/_r brow height above the eye corners / IOD, minus the canonical value: > 0 raised.
  brow_furrow    canonical inner-brow distance − inner-brow distance (285–55) / IOD: > 0 pulled together.
  gaze_yaw/pitch iris centre offset from the eye centre, in eye widths, mean of both eyes: yaw > 0 towards
                 image right (the subject's left), pitch > 0 up (see `motion.gaze`).
  head_yaw/pitch/roll degrees (see `motion.pose.head_angles`): yaw > 0 nose towards image right, pitch > 0
                 nose up, roll > 0 head tilted clockwise in the image.
"""

from __future__ import annotations

import functools

import numpy as np

from echo_ihg.motion import topology as topo
from echo_ihg.motion.canonical import canonical_face, validate_landmarks
from echo_ihg.motion.codec import canonical_points
from echo_ihg.motion.gaze import gaze_from_points
from echo_ihg.motion.pose import head_angles

ATTRIBUTE_NAMES: tuple[str, ...] = (
    "mouth_open", "mouth_width", "smile", "lip_press", "blink_l", "blink_r", "brow_raise_l", "brow_raise_r",
    "brow_furrow", "gaze_yaw", "gaze_pitch", "head_yaw", "head_pitch", "head_roll",
)
# eyelid point pairs (upper, lower) and corners (outer, inner) per eye
_LIDS_L = ((386, 374), (385, 380), (387, 373))
_LIDS_R = ((159, 145), (158, 153), (160, 144))
_CORNERS_L = (topo.LEFT_EYE_OUTER, topo.LEFT_EYE_INNER)
_CORNERS_R = (topo.RIGHT_EYE_OUTER, topo.RIGHT_EYE_INNER)


def _dist(q: np.ndarray, a: int, b: int) -> np.ndarray:
    return np.linalg.norm(q[:, a] - q[:, b], axis=-1)


def _raw(q: np.ndarray) -> dict[str, np.ndarray]:
    """Un-referenced measures of canonical points (T, 478, 3), each (T,)."""
    iod = _dist(q, topo.LEFT_EYE_OUTER, topo.RIGHT_EYE_OUTER)
    sets = topo.landmark_sets()
    lip_mid_y = 0.5 * (q[:, topo.UPPER_LIP_INNER, 1] + q[:, topo.LOWER_LIP_INNER, 1])
    corner_y = 0.5 * (q[:, topo.MOUTH_LEFT_CORNER, 1] + q[:, topo.MOUTH_RIGHT_CORNER, 1])
    out = {
        "mouth_open": _dist(q, topo.UPPER_LIP_INNER, topo.LOWER_LIP_INNER) / iod,
        "mouth_width": _dist(q, topo.MOUTH_LEFT_CORNER, topo.MOUTH_RIGHT_CORNER) / iod,
        "smile": (lip_mid_y - corner_y) / iod,
        "lip_thickness": (_dist(q, topo.UPPER_LIP_OUTER, topo.UPPER_LIP_INNER)
                          + _dist(q, topo.LOWER_LIP_INNER, topo.LOWER_LIP_OUTER)) / iod,
        "brow_gap": _dist(q, topo.LEFT_BROW_INNER, topo.RIGHT_BROW_INNER) / iod,
    }
    for side, lids, corners in (("l", _LIDS_L, _CORNERS_L), ("r", _LIDS_R, _CORNERS_R)):
        opening = np.mean([_dist(q, a, b) for a, b in lids], 0)
        out[f"eye_ratio_{side}"] = opening / _dist(q, *corners)
        brow = q[:, sets["left_brow" if side == "l" else "right_brow"], 1].mean(1)
        eye_y = q[:, list(corners), 1].mean(1)
        out[f"brow_height_{side}"] = (eye_y - brow) / iod
    return out


@functools.cache
def _reference() -> dict[str, float]:
    return {k: float(v[0]) for k, v in _raw(np.asarray(canonical_face(), np.float64)[None]).items()}


def facial_attributes(landmarks: np.ndarray, aspect: float = 1.0) -> dict[str, np.ndarray]:
    """Attributes of image-space landmarks (T, 478, 3) -> {name: (T,) float32} in ATTRIBUTE_NAMES order.

    aspect = frame width / height. Raises InputError on a wrong shape or NaNs.
    """
    lm = validate_landmarks(landmarks)
    q, pose = canonical_points(lm, aspect)
    raw, ref = _raw(q), _reference()
    gaze = gaze_from_points(q)
    ang = head_angles(pose.rotation)
    out = {
        "mouth_open": raw["mouth_open"],
        "mouth_width": raw["mouth_width"],
        "smile": raw["smile"] - ref["smile"],
        "lip_press": ref["lip_thickness"] - raw["lip_thickness"],
        "blink_l": 1.0 - raw["eye_ratio_l"] / ref["eye_ratio_l"],
        "blink_r": 1.0 - raw["eye_ratio_r"] / ref["eye_ratio_r"],
        "brow_raise_l": raw["brow_height_l"] - ref["brow_height_l"],
        "brow_raise_r": raw["brow_height_r"] - ref["brow_height_r"],
        "brow_furrow": ref["brow_gap"] - raw["brow_gap"],
        "gaze_yaw": 0.5 * (gaze[:, 0] + gaze[:, 2]),
        "gaze_pitch": 0.5 * (gaze[:, 1] + gaze[:, 3]),
        "head_yaw": ang[:, 0], "head_pitch": ang[:, 1], "head_roll": ang[:, 2],
    }
    assert tuple(out) == ATTRIBUTE_NAMES
    return {k: v.astype(np.float32) for k, v in out.items()}


def attributes_array(landmarks: np.ndarray, aspect: float = 1.0) -> np.ndarray:
    """Attributes as an array (T, K) float32, columns in ATTRIBUTE_NAMES order."""
    return np.stack(list(facial_attributes(landmarks, aspect).values()), 1)
