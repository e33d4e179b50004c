"""The REACT metric set against hand-computed cases, and the properties that pin the conventions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from echo_ihg.eval import react as R


def col(*v):
    return np.array(v, dtype=float)[:, None]


def test_ccc_by_hand():
    x = col(1, 2, 3)
    assert R.ccc(x, col(1, 2, 3)) == pytest.approx(1.0)
    # y = x + 1: cov = var = 2/3, mean diff 1 -> 2 (2/3) / (2/3 + 2/3 + 1) = 4/7
    assert R.ccc(x, col(2, 3, 4)) == pytest.approx(4 / 7)
    # batch of refs; a constant ref has cov 0 -> CCC 0 (official code: NaN)
    out = R.ccc(x, np.stack([col(2, 3, 4), col(5, 5, 5)]))
    assert out == pytest.approx([4 / 7, 0.0])
    # a dim constant and equal on both sides is left out of the mean
    two = np.array([[1.0, 7.0], [2.0, 7.0], [3.0, 7.0]])
    assert R.ccc(two, two) == pytest.approx(1.0)


def test_frcorr_by_hand():
    refs = np.stack([col(1, 2, 3), col(3, 2, 1)])        # (M=2, T=3, D=1)
    preds = np.stack([col(1, 2, 3), col(2, 3, 4)])[None]  # (N=1, K=2, T=3, D=1)
    # gen 0 = ref 0 -> max CCC 1; gen 1: CCC with ref 0 = 4/7, with ref 1 = -4/7 -> 4/7
    assert R.frcorr(preds, refs, np.array([[True, True]])) == pytest.approx(1 + 4 / 7)
    # only ref 1 appropriate: CCC(gen0, ref1) = 2 cov / (2 var) = -1; gen 1: -4/7
    assert R.frcorr(preds, refs, np.array([[False, True]])) == pytest.approx(-1 - 4 / 7)
    with pytest.raises(ValueError, match="no appropriate"):
        R.frcorr(preds, refs, np.array([[False, False]]))


def test_dtw_by_hand():
    # repeated samples are absorbed by the warping
    assert R.dtw(np.array([0.0, 1, 2]), np.array([0.0, 0, 1, 2, 2])) == pytest.approx(0.0)
    # [0, 2] vs [1]: the path visits both cells, each costs 1 -> sqrt(2)
    assert R.dtw(col(0, 2), col(1)) == pytest.approx(math.sqrt(2))
    # constant offset 1 between lengths 2 and 3: the shortest path has 3 cells -> sqrt(3)
    assert R.dtw(col(0, 0), col(1, 1, 1)) == pytest.approx(math.sqrt(3))
    # 2-D frames: squared Euclidean cost (3-4-5): sqrt(25) = 5
    assert R.dtw(np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]])) == pytest.approx(5.0)


def test_dtw_matches_the_textbook_recursion_and_is_zero_on_identical():
    rng = np.random.default_rng(0)

    def slow(a, b):
        n, m = len(a), len(b)
        acc = np.full((n + 1, m + 1), np.inf)
        acc[0, 0] = 0.0
        for i in range(1, n + 1):
            for j in range(1, m + 1):
                acc[i, j] = ((a[i - 1] - b[j - 1]) ** 2).sum() + min(acc[i - 1, j], acc[i, j - 1],
                                                                    acc[i - 1, j - 1])
        return math.sqrt(acc[n, m])

    for n, m in [(1, 1), (1, 6), (6, 1), (7, 3), (4, 11), (12, 12)]:
        a, bs = rng.normal(size=(n, 3)), rng.normal(size=(3, m, 3))
        assert R.dtw_batch(a, bs) == pytest.approx([slow(a, b) for b in bs])
    x = rng.normal(size=(100, 5))
    assert R.dtw(x, x) == pytest.approx(0.0, abs=1e-5)


def test_frdist_by_hand():
    refs = np.stack([col(1, 1), col(0, 2)])
    preds = col(0, 2)[None, None]                 # (1, 1, 2, 1)
    # against [1, 1]: diagonal path, costs 1 + 1 -> sqrt 2; against [0, 2]: 0
    assert R.frdist(preds, refs, np.array([[True, False]])) == pytest.approx(math.sqrt(2))
    assert R.frdist(preds, refs, np.array([[True, True]])) == pytest.approx(0.0)
    # weighted groups: dims 0 and 1 with weights 1 and 0.5; dim 1 is off by 2 in both frames
    p = np.array([[[[0.0, 2.0], [0.0, 2.0]]]])
    r = np.array([[[0.0, 0.0], [0.0, 0.0]]])
    # group 1: DTW = sqrt(4 + 4) -> 0.5 * 2 sqrt 2 = sqrt 2
    assert R.frdist(p, r, groups=((slice(0, 1), 1.0), (slice(1, 2), 0.5))) == pytest.approx(math.sqrt(2))


def test_diversity_by_hand():
    # FRDiv: one input, two generations [0, 0] and [1, 1] (T=1, D=2): ordered pairs 2 * 2 = 4,
    # divided by K (K-1) T D = 2 * 1 * 1 * 2 -> 1
    preds = np.array([[[[0.0, 0.0]], [[1.0, 1.0]]]])      # (N=1, K=2, T=1, D=2)
    assert R.frdiv(preds) == pytest.approx(1.0)
    assert R.frdvs(preds) == 0.0                           # one input: nothing to compare
    # FRDvs: the same numbers across two inputs with K = 1
    assert R.frdvs(preds.transpose(1, 0, 2, 3)) == pytest.approx(1.0)
    assert R.frdiv(preds.transpose(1, 0, 2, 3)) == 0.0
    # FRVar: [0, 2] over time -> ddof-1 variance 2
    assert R.frvar(np.array([0.0, 2.0]).reshape(1, 1, 2, 1)) == pytest.approx(2.0)


def test_frdiv_matches_the_pairwise_definition():
    rng = np.random.default_rng(1)
    preds = rng.normal(size=(3, 4, 5, 2))
    n, k, t, d = preds.shape
    brute = np.mean([sum(((preds[i, a] - preds[i, b]) ** 2).sum() for a in range(k) for b in range(k))
                     / (k * (k - 1) * t * d) for i in range(n)])
    assert R.frdiv(preds) == pytest.approx(brute)
    brute_vs = sum(((preds[a, j] - preds[b, j]) ** 2).sum() for j in range(k) for a in range(n)
                   for b in range(n)) / (n * (n - 1) * k * t * d)
    assert R.frdvs(preds) == pytest.approx(brute_vs)


def _smooth_noise(rng, t, d):
    x = rng.normal(size=(t + 20, d))
    kernel = np.ones(5) / 5
    return np.stack([np.convolve(x[:, i], kernel, "valid")[:t] for i in range(d)], 1)


def test_lagged_correlation_sign_convention():
    rng = np.random.default_rng(2)
    y = _smooth_noise(rng, 200, 3)
    x = np.roll(y, 4, axis=0)                    # x[t + 4] = y[t]: x lags behind y by 4
    r = R.lagged_correlation(x, y, max_lag=10)
    assert int(np.nanargmax(r)) - 10 == 4


def test_frsyn_recovers_planted_lags_over_all_generations():
    rng = np.random.default_rng(3)
    t, d = 300, 4
    speakers = np.stack([_smooth_noise(rng, t + 40, d) for _ in range(2)])
    lags = [3, 7, 11]
    preds = np.stack([[s[20 - lag: 20 - lag + t] for lag in lags] for s in speakers])  # pred[t] = spk[t - lag]
    res = R.frsyn(preds, speakers[:, 20:20 + t], max_lag=50)
    assert res == pytest.approx(np.mean(lags))   # all three generations count, not only the first (3)
    # leading instead of lagging gives the same |offset|
    lead = np.stack([[s[20 + lag: 20 + lag + t] for lag in lags] for s in speakers])
    assert R.frsyn(lead, speakers[:, 20:20 + t]) == pytest.approx(np.mean(lags))


def test_frsyn_skips_constant_generations(caplog):
    rng = np.random.default_rng(4)
    spk = _smooth_noise(rng, 120, 2)[None]
    preds = np.stack([np.zeros((120, 2)), np.roll(spk[0], 5, axis=0)])[None]
    assert R.frsyn(preds, spk, max_lag=20) == pytest.approx(5.0)
    assert "constant" in caplog.text


def test_shape_errors_are_clear():
    with pytest.raises(ValueError, match="4-D"):
        R.frdiv(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="appropriate"):
        R.frcorr(np.zeros((2, 1, 3, 1)), np.zeros((3, 3, 1)))
