"""Head pose alignment."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from echo_ihg.motion.canonical import canonical_face
from echo_ihg.motion.pose import (Pose, apply_pose, centre_depth, estimate_pose, head_angles, pose_to_vector,
                                  remove_pose, vector_to_pose)


def _posed(rotvecs, trans, scales, aspect=1.0):
    rot = Rotation.from_rotvec(rotvecs).as_matrix()
    pose = Pose(rot, np.asarray(trans, float), np.asarray(scales, float))
    canon = np.repeat(canonical_face()[None].astype(np.float64), len(rot), 0)
    return apply_pose(canon, pose, aspect), pose


def test_estimate_pose_recovers_known_similarity():
    rng = np.random.default_rng(1)
    T = 8
    rv = rng.normal(0, 0.3, (T, 3))
    tr = np.c_[rng.uniform(0.3, 0.7, (T, 2)), rng.normal(0, 0.01, T)]
    sc = rng.uniform(0.1, 0.4, T)
    for aspect in (1.0, 16 / 9):
        lm, truth = _posed(rv, tr, sc, aspect)
        est = estimate_pose(lm, aspect)
        np.testing.assert_allclose(est.rotation, truth.rotation, atol=1e-9)
        np.testing.assert_allclose(est.translation, truth.translation, atol=1e-9)
        np.testing.assert_allclose(est.scale, truth.scale, rtol=1e-9)
        np.testing.assert_allclose(remove_pose(lm, est, aspect), np.repeat(canonical_face()[None], T, 0),
                                   atol=1e-6)


def test_pose_robust_to_expression_on_unstable_points():
    lm, truth = _posed(np.array([[0.1, -0.2, 0.05]]), [[0.5, 0.5, 0.0]], [0.3])
    moved = lm.copy()
    from echo_ihg.motion.regions import region_index

    moved[0, region_index()["lips_jaw"], 1] += 0.03  # jaw drops: pose must not change
    est = estimate_pose(moved)
    np.testing.assert_allclose(est.rotation, truth.rotation, atol=1e-9)


def test_remove_apply_are_exact_inverses_and_vector_round_trip():
    rng = np.random.default_rng(2)
    lm = rng.random((5, 478, 3))
    pose = estimate_pose(lm, 0.75)
    np.testing.assert_allclose(apply_pose(remove_pose(lm, pose, 0.75), pose, 0.75), lm, atol=1e-12)
    vec = pose_to_vector(pose)
    back = vector_to_pose(vec)
    np.testing.assert_allclose(back.rotation, pose.rotation, atol=1e-12)
    np.testing.assert_allclose(back.scale, pose.scale, rtol=1e-12)
    # after centring the depth, tz is zero (up to the float32 template), so the 6-vector carries the whole pose
    pc = estimate_pose(centre_depth(lm), 0.75)
    np.testing.assert_allclose(pc.translation[:, 2], 0, atol=1e-8)


def test_head_angles_signs():
    # rotating about the image y axis by -20° turns the nose towards image right -> yaw +20
    ang = head_angles(Rotation.from_rotvec([[0, np.radians(-20), 0]]).as_matrix())
    np.testing.assert_allclose(ang[0], [20, 0, 0], atol=1e-9)
    # nose up: rotate about x so that the forward axis gets negative y
    ang = head_angles(Rotation.from_rotvec([[np.radians(-15), 0, 0]]).as_matrix())
    assert ang[0, 1] > 14 and abs(ang[0, 0]) < 1e-9
    # clockwise in the image (x towards +y) -> roll > 0
    ang = head_angles(Rotation.from_rotvec([[0, 0, np.radians(10)]]).as_matrix())
    np.testing.assert_allclose(ang[0], [0, 0, 10], atol=1e-9)
