"""Facial attributes respond in the right direction to controlled edits of real tracked landmarks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from echo_ihg.errors import InputError
from echo_ihg.motion import topology as topo
from echo_ihg.motion.attributes import ATTRIBUTE_NAMES, attributes_array, facial_attributes
from echo_ihg.motion.canonical import canonical_landmarks
from echo_ihg.motion.regions import region_index
from echo_ihg.motion.sample_faces import tracked_sample_faces


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    """The astronaut's landmarks (478, 3), float64."""
    faces, index = tracked_sample_faces()
    assert index[0] == 0
    return faces[0].astype(np.float64)


def _attr(lm: np.ndarray) -> dict[str, float]:
    return {k: float(v[0]) for k, v in facial_attributes(lm[None]).items()}


def test_names_shapes_and_canonical_zero_points():
    arr = attributes_array(np.repeat(canonical_landmarks()[None], 3, 0))
    assert arr.shape == (3, len(ATTRIBUTE_NAMES)) and arr.dtype == np.float32
    a = dict(zip(ATTRIBUTE_NAMES, arr[0]))
    for name in ("smile", "lip_press", "blink_l", "blink_r", "brow_raise_l", "brow_raise_r", "brow_furrow",
                 "head_yaw", "head_pitch", "head_roll"):
        assert abs(a[name]) < 1e-4, name


def test_open_jaw_raises_mouth_open(face):
    opened = face.copy()
    jaw = region_index()["lips_jaw"]
    lower = jaw[face[jaw, 1] > face[topo.LOWER_LIP_INNER, 1] - 1e-4]
    opened[lower, 1] += 0.03
    a0, a1 = _attr(face), _attr(opened)
    assert a1["mouth_open"] > a0["mouth_open"] + 0.1
    assert abs(a1["head_pitch"] - a0["head_pitch"]) < 1.0  # the pose comes from stable points only


def test_closed_eyelid_raises_blink_on_that_side_only(face):
    closed = face.copy()
    for up, low in ((386, 374), (385, 380), (387, 373), (384, 381), (388, 390), (398, 382), (466, 249)):
        closed[up] = closed[low]
    a0, a1 = _attr(face), _attr(closed)
    assert a1["blink_l"] > 0.9 and a1["blink_l"] > a0["blink_l"] + 0.5
    assert abs(a1["blink_r"] - a0["blink_r"]) < 1e-6


def test_brows_smile_and_press(face):
    a0 = _attr(face)
    raised = face.copy()
    raised[topo.landmark_sets()["left_brow"], 1] -= 0.02  # up in the image
    assert _attr(raised)["brow_raise_l"] > a0["brow_raise_l"] + 0.05
    assert abs(_attr(raised)["brow_raise_r"] - a0["brow_raise_r"]) < 1e-6
    furrowed = face.copy()
    furrowed[[topo.LEFT_BROW_INNER], 0] -= 0.01
    furrowed[[topo.RIGHT_BROW_INNER], 0] += 0.01
    assert _attr(furrowed)["brow_furrow"] > a0["brow_furrow"] + 0.05
    smiling = face.copy()
    smiling[[topo.MOUTH_LEFT_CORNER, topo.MOUTH_RIGHT_CORNER], 1] -= 0.01
    assert _attr(smiling)["smile"] > a0["smile"] + 0.03
    pressed = face.copy()
    pressed[topo.UPPER_LIP_OUTER, 1] += 0.008
    pressed[topo.LOWER_LIP_OUTER, 1] -= 0.008
    assert _attr(pressed)["lip_press"] > a0["lip_press"] + 0.03


def _rotate(lm: np.ndarray, rotvec) -> np.ndarray:
    c = lm[:468].mean(0)
    return (lm - c) @ Rotation.from_rotvec(rotvec).as_matrix().T + c


def test_head_rotation_signs(face):
    a0 = _attr(face)
    right = _attr(_rotate(face, [0, np.radians(-20), 0]))  # nose towards image right
    assert right["head_yaw"] - a0["head_yaw"] == pytest.approx(20, abs=3)
    up = _attr(_rotate(face, [np.radians(-15), 0, 0]))  # nose up
    assert up["head_pitch"] - a0["head_pitch"] == pytest.approx(15, abs=3)
    cw = _attr(_rotate(face, [0, 0, np.radians(10)]))  # clockwise in the image
    assert cw["head_roll"] - a0["head_roll"] == pytest.approx(10, abs=2)
    # face measures do not change with the head pose
    for name in ("mouth_open", "mouth_width", "smile", "blink_l", "brow_raise_r"):
        assert right[name] == pytest.approx(a0[name], abs=1e-3), name


def test_gaze_follows_the_iris(face):
    a0 = _attr(face)
    moved = face.copy()
    moved[topo.LEFT_IRIS, 0] += 0.004
    moved[topo.RIGHT_IRIS, 0] += 0.004
    assert _attr(moved)["gaze_yaw"] > a0["gaze_yaw"] + 0.05
    moved = face.copy()
    moved[np.r_[topo.LEFT_IRIS, topo.RIGHT_IRIS], 1] -= 0.004  # up in the image
    assert _attr(moved)["gaze_pitch"] > a0["gaze_pitch"] + 0.05


def test_scale_and_translation_invariance(face):
    a0 = attributes_array(face[None])
    moved = face * 0.5 + np.array([0.2, 0.1, 0.0])
    np.testing.assert_allclose(attributes_array(moved[None]), a0, atol=1e-4)


def test_bad_input(face):
    with pytest.raises(InputError, match="shape"):
        facial_attributes(face)  # (478, 3) without the T axis
    bad = face[None].copy()
    bad[0, 3, 1] = np.nan
    with pytest.raises(InputError, match="NaN"):
        facial_attributes(bad)
