"""Each motion metric against a case small enough to work out by hand (the arithmetic is in the
comments), plus the property checks that pin the conventions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from echo_ihg.eval import metrics as M


def test_pcc_and_rpcc_by_hand():
    user = np.array([[1.0], [2.0], [3.0]])
    gt = np.array([[1.0], [2.0], [3.0]])       # PCC(gt, user) = 1
    pred = np.array([[3.0], [2.0], [1.0]])     # PCC(pred, user) = -1
    assert M.pcc(gt, user) == pytest.approx(1.0)
    assert M.pcc(pred, user) == pytest.approx(-1.0)
    assert M.rpcc(gt, pred, user) == pytest.approx(2.0)  # |1 - (-1)|
    # flattened over frames and dims: [0, 1, 1, 0] vs [0, 1, 1, 1]: means 0.5 / 0.75,
    # cov sum = (-.5)(-.75) + (.5)(.25) + (.5)(.25) + (-.5)(.25) = .5, norms sqrt(1) * sqrt(.75)
    a = np.array([[0.0, 1.0], [1.0, 0.0]])
    b = np.array([[0.0, 1.0], [1.0, 1.0]])
    assert M.pcc(a, b) == pytest.approx(0.5 / math.sqrt(0.75))


def test_rpcc_is_zero_when_pred_equals_gt():
    rng = np.random.default_rng(0)
    gt, user = rng.normal(size=(2, 50, 6))
    assert M.rpcc(gt, gt.copy(), user) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="shapes differ"):
        M.rpcc(gt, gt[:10], user)


def _two_blobs(rng, n=50):
    return np.concatenate([rng.normal(0, 0.01, (n, 2)), rng.normal(10, 0.01, (n, 2))])


def test_sid_by_hand():
    rng = np.random.default_rng(0)
    gt = _two_blobs(rng)
    # all predicted frames in one cluster: p = (1, 0) -> entropy 0
    assert M.sid(np.zeros((20, 2)), gt, k=2) == pytest.approx(0.0)
    # half in each: -2 * 0.5 * log2(0.5) = 1 bit
    pred = np.concatenate([np.zeros((10, 2)), np.full((10, 2), 10.0)])
    assert M.sid(pred, gt, k=2) == pytest.approx(1.0)
    # four well separated clusters, equal use: log2 4 = 2 bits; 3:1 split over two: 0.811 bits
    gt4 = np.concatenate([_two_blobs(rng), _two_blobs(rng) + [0, 100]])
    pred4 = np.array([[0, 0], [10, 10], [0, 100], [10, 110]], float)
    assert M.sid(pred4, gt4, k=4) == pytest.approx(2.0)
    pred31 = np.array([[0, 0], [0, 0], [0, 0], [10, 10]], float)
    assert M.sid(pred31, gt4, k=4) == pytest.approx(-(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25)))


def test_sid_is_deterministic_and_lowers_k_for_few_distinct_frames(caplog):
    rng = np.random.default_rng(1)
    gt, pred = rng.normal(size=(300, 4)), rng.normal(size=(200, 4))
    assert M.sid(pred, gt, k=M.SID_K_EXPRESSION, seed=3) == M.sid(pred, gt, k=M.SID_K_EXPRESSION, seed=3)
    small = np.repeat(np.eye(3), 5, axis=0)
    assert M.sid(np.eye(3), small, k=40) == pytest.approx(math.log2(3))
    assert "distinct frames" in caplog.text


def test_variance_by_hand():
    # dim 0: [0, 2] -> population var 1; dim 1: [0, 4] -> 4; mean 2.5
    assert M.variance(np.array([[0.0, 0.0], [2.0, 4.0]])) == pytest.approx(2.5)
    # (N, T, D): per sequence, then mean: seq0 var 1, seq1 var 0 -> 0.5
    assert M.variance(np.array([[[0.0], [2.0]], [[5.0], [5.0]]])) == pytest.approx(0.5)


def test_frechet_distance_by_hand():
    # 1-D: (0 - 3)^2 + 1 + 4 - 2 sqrt(1 * 4) = 9 + 5 - 4 = 10
    assert M.frechet_distance(np.array([0.0]), np.array([[1.0]]), np.array([3.0]), np.array([[4.0]])) \
        == pytest.approx(10.0)
    # diagonal 2-D: 1 + (1 + 4) + (4 + 9) - 2 (sqrt(4) + sqrt(36)) = 1 + 18 - 16 = 3
    assert M.frechet_distance(np.array([1.0, 0.0]), np.diag([1.0, 4.0]), np.zeros(2), np.diag([4.0, 9.0])) \
        == pytest.approx(3.0)
    # from frames: gt [-1, 1] (mean 0, var 2 with ddof 1), pred [2, 4] (mean 3, var 2): 9 + 2 + 2 - 4 = 9
    assert M.fd(np.array([[2.0], [4.0]]), np.array([[-1.0], [1.0]])) == pytest.approx(9.0)


def test_fd_properties():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(500, 5))
    assert M.fd(x, x.copy()) == pytest.approx(0.0, abs=1e-6)
    mu, sig = M.gaussian_fit(x)
    assert M.frechet_distance(mu, sig, mu, sig) == pytest.approx(0.0, abs=1e-6)
    # rank-deficient covariances (3 frames in 10 dims) still give a finite, non-negative number
    v = M.fd(rng.normal(size=(3, 10)), rng.normal(size=(3, 10)))
    assert np.isfinite(v) and v >= 0
    with pytest.raises(ValueError, match="NaN"):
        M.fd(np.full((4, 2), np.nan), x[:, :2])


def test_pfd():
    rng = np.random.default_rng(3)
    user, gt = rng.normal(size=(2, 200, 3))
    assert M.pfd(gt, gt, user) == pytest.approx(0.0, abs=1e-6)
    # a pred with the right marginal but no relation to the user is further than gt itself
    shuffled = gt[rng.permutation(200)]
    assert M.pfd(shuffled, gt, 0.5 * user + gt) > M.pfd(gt, gt, 0.5 * user + gt) + 0.05


def test_l2_and_groups_by_hand():
    gt = np.zeros((2, 4))
    pred = np.array([[0.0, 0, 0, 0], [3.0, 4.0, 1.0, 0.0]])
    # frame norms 0 and sqrt(9 + 16 + 1) -> mean sqrt(26) / 2
    assert M.l2(pred, gt) == pytest.approx(math.sqrt(26) / 2)
    layout = {"lips_jaw": slice(0, 2), "left_eye": slice(2, 3), "pose": slice(3, 4)}
    groups = M.group_indices(layout)
    assert groups["expression"].tolist() == [0, 1, 2]
    res = M.group_l2(pred, gt, groups)
    assert res["lips_jaw"] == pytest.approx(2.5)                 # (0 + 5) / 2
    assert res["expression"] == pytest.approx(math.sqrt(26) / 2)
    assert res["pose"] == pytest.approx(0.0)


def test_lve_and_mouth_distance_by_hand():
    gt = np.zeros((2, 3, 3))
    pred = np.zeros((2, 3, 3))
    pred[0, 0] = [1, 0, 0]     # lip vertex 0: squared error 1
    pred[0, 1] = [0, 2, 0]     # lip vertex 1: squared error 4 -> frame max 4
    pred[:, 2] = [100, 0, 0]   # not a lip vertex: ignored
    # LVE = (4 + 0) / 2 = 2; mouth distance = ((1 + 2) / 2 + 0) / 2 = 0.75
    assert M.lve(pred, gt, lips=[0, 1]) == pytest.approx(2.0)
    assert M.mouth_landmark_distance(pred, gt, lips=[0, 1]) == pytest.approx(0.75)
    # default lip set: MediaPipe's 40 lip points
    full = np.zeros((1, 478, 3))
    assert M.lve(full, full) == 0.0


def test_seam_metric_flags_a_jump():
    ramp = np.arange(10.0)[:, None]            # steps of 1 everywhere
    smooth = M.seam_metric(ramp, borders=[5])
    assert smooth["seam_ratio"] == pytest.approx(1.0)
    jumped = ramp.copy()
    jumped[5:] += 10.0                          # step into frame 5 is 11, others 1
    res = M.seam_metric(jumped, borders=[5])
    assert res["border_step"] == pytest.approx(11.0)
    assert res["within_step"] == pytest.approx(1.0)
    assert res["seam_ratio"] == pytest.approx(11.0)
    # velocity jumps ||v_t - v_{t-1}||: 10 into the border (11 - 1), 10 just after it (1 - 11), 0 at the
    # other 6 -> border 10 / elsewhere (10 / 7) = 7
    assert res["jump_ratio"] == pytest.approx(7.0)
    # a smooth curve (constant acceleration) cut at borders that do not jump: both ratios ~1
    t = np.linspace(0, 1, 40)[:, None]
    curve = np.hstack([t ** 2, np.sin(t)])
    smooth2 = M.seam_metric(curve, borders=[10, 20, 30])
    assert smooth2["seam_ratio"] == pytest.approx(1.0, abs=0.1)
    assert smooth2["jump_ratio"] == pytest.approx(1.0, abs=0.1)
    with pytest.raises(ValueError, match="borders"):
        M.seam_metric(ramp, borders=[0])


def test_segment_masks_by_hand():
    masks = M.segment_masks(np.array([0.9, 0.9, 0.1, 0.1]), np.array([0.9, 0.1, 0.9, 0.1]))
    assert masks["overlap"].tolist() == [True, False, False, False]
    assert masks["speaking"].tolist() == [False, True, False, False]
    assert masks["listening"].tolist() == [False, False, True, False]
    assert masks["silence"].tolist() == [False, False, False, True]
    with pytest.raises(ValueError, match="lengths differ"):
        M.segment_masks(np.zeros(3), np.zeros(4))


def test_sync_scores_recover_offset():
    rng = np.random.default_rng(4)
    audio = rng.normal(size=(80, 8))
    video = np.roll(audio, -3, axis=0)          # v_t = a_{t+3}: the video leads by 3 frames
    res = M.sync_scores(video, audio, max_offset=15)
    assert res["offset"] == 3
    assert res["lse_d"] == pytest.approx(0.0, abs=1e-9)
    assert res["lse_c"] > 0.5                     # the median offset is far from the best one
    assert len(res["dists"]) == 31
    assert res["d_zero"] > 0.5                    # unshifted, the pairs do not match
    # masked: only frames 20..59 count; same offset, and d(s) averages over those frames only
    mask = np.zeros(80, bool)
    mask[20:60] = True
    masked = M.sync_scores(video, audio, 15, mask=mask)
    assert masked["offset"] == 3 and masked["n_frames"] == 40


def test_sync_scores_by_hand():
    # 1-D embeddings normalise to +-1: v = [1, 1, -1, -1], a = [1, -1, -1, 1]
    v = np.array([[1.0], [1.0], [-1.0], [-1.0]])
    a = np.array([[1.0], [-1.0], [-1.0], [1.0]])
    res = M.sync_scores(v, a, max_offset=1)
    # s = -1: pairs (v1,a0),(v2,a1),(v3,a2) -> 0, 0, 0 -> 0;  s = 0: 0, 2, 0, 2 -> 1;
    # s = +1: (v0,a1),(v1,a2),(v2,a3) -> 2, 2, 2 -> 2
    assert res["dists"] == pytest.approx([0.0, 1.0, 2.0])
    assert res["offset"] == -1 and res["lse_d"] == 0.0 and res["lse_c"] == pytest.approx(1.0)
    assert res["d_zero"] == pytest.approx(1.0)


def test_fd_from_samples_equals_the_sqrtm_form():
    rng = np.random.default_rng(5)
    a = rng.normal(size=(40, 6))
    b = rng.normal(1.0, 2.0, size=(30, 6)) @ rng.normal(size=(6, 6))
    assert M.fd_from_samples(a, b) == pytest.approx(M.frechet_distance(*M.gaussian_fit(a), *M.gaussian_fit(b)),
                                                    rel=1e-8)
    # fewer samples than dims: fd() takes the sample form; identical sets -> 0
    few = rng.normal(size=(4, 50))
    assert M.fd(few, few.copy()) == pytest.approx(0.0, abs=1e-9)
