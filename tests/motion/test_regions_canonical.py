"""Canonical face asset and region partition."""

from __future__ import annotations

import numpy as np

from echo_ihg.motion import topology as topo
from echo_ihg.motion.canonical import canonical_face, mirror_index, mirror_landmarks
from echo_ihg.motion.regions import REGION_NAMES, region_centres, region_index, region_labels


def test_canonical_face_is_frontal_symmetric_and_normalised():
    assert canonical_face().shape == (478, 3) and canonical_face().dtype == np.float32
    c = canonical_face().astype(np.float64)
    m = mirror_index()
    assert (m[m] == np.arange(478)).all()
    np.testing.assert_allclose(c[m] * [-1, 1, 1], c, atol=1e-6)
    assert abs(np.linalg.norm(c[topo.LEFT_EYE_OUTER] - c[topo.RIGHT_EYE_OUTER]) - 1) < 1e-6
    # image-like axes: subject's left eye at image right, chin below forehead, nose tip towards the camera
    assert c[topo.LEFT_EYE_OUTER, 0] > 0 > c[topo.RIGHT_EYE_OUTER, 0]
    assert c[topo.CHIN, 1] > c[topo.NOSE_TIP, 1] > c[topo.FOREHEAD_TOP, 1]
    assert c[topo.NOSE_TIP, 2] < c[topo.LEFT_EYE_OUTER, 2] - 0.2
    assert np.isin(m[topo.LEFT_IRIS], topo.RIGHT_IRIS).all() and m[topo.LEFT_IRIS[0]] == topo.RIGHT_IRIS[0]


def test_mirror_landmarks_is_an_involution():
    rng = np.random.default_rng(0)
    x = rng.random((2, 478, 3))
    np.testing.assert_allclose(mirror_landmarks(mirror_landmarks(x)), x)


def test_regions_partition_the_face_points_exactly_once():
    idx = region_index()
    assert tuple(idx) == REGION_NAMES
    allp = np.concatenate(list(idx.values()))
    assert len(allp) == 468 and np.array_equal(np.sort(allp), np.arange(468))
    lab = region_labels()
    for r, name in enumerate(REGION_NAMES):
        assert (lab[idx[name]] == r).all()
    sets = topo.landmark_sets()
    assert np.isin(sets["lips"], idx["lips_jaw"]).all() and topo.CHIN in idx["lips_jaw"]
    assert np.isin(sets["left_eye"], idx["left_eye"]).all()
    assert np.isin(sets["right_brow"], idx["right_brow"]).all()
    # left/right regions are mirror images of each other
    m = mirror_index()
    assert np.array_equal(np.sort(m[idx["left_eye"]]), idx["right_eye"])
    assert np.array_equal(np.sort(m[idx["left_brow"]]), idx["right_brow"])


def test_region_centres_are_where_the_regions_are():
    cen = region_centres()
    assert cen.shape == (len(REGION_NAMES), 3)
    by = dict(zip(REGION_NAMES, cen))
    assert by["left_eye"][0] > 0 > by["right_eye"][0]
    assert by["left_brow"][1] < by["left_eye"][1] < by["nose_cheeks"][1] < by["lips_jaw"][1]
