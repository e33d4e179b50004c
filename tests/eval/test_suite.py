"""The metric suite over a toy test split: every segment and metric is present, perfect predictions
score perfectly, noisy ones do not."""

from __future__ import annotations

import numpy as np
import pytest

from echo_ihg.eval.suite import SEGMENTS, EvalItem, evaluate_items
from echo_ihg.eval.sync_expert import SyncExpert, SyncExpertConfig

LAYOUT = {"lips_jaw": slice(0, 4), "left_eye": slice(4, 6), "pose": slice(6, 9), "gaze": slice(9, 10)}


def _smooth(rng, t, d):
    x = rng.normal(size=(t + 10, d))
    return np.stack([np.convolve(x[:, i], np.ones(5) / 5, "valid")[:t] for i in range(d)], 1)


def _items(rng, noise: float, k: int = 2, t: int = 300):
    items = []
    for i in range(3):
        gt = _smooth(rng, t, 10)
        # avatar speaks in the first half, the user in the second, both around the middle
        a_vad = np.r_[np.ones(t // 2 + 20), np.zeros(t - t // 2 - 20)]
        u_vad = np.r_[np.zeros(t // 2 - 20), np.ones(t - t // 2 + 20)]
        preds = np.stack([gt + noise * rng.normal(size=gt.shape) for _ in range(k)])
        items.append(EvalItem(f"s{i}", gt, preds, _smooth(rng, t, 10), rng.normal(size=(4 * t, 80)), a_vad, u_vad))
    return items


def test_perfect_predictions_score_perfectly():
    res = evaluate_items(_items(np.random.default_rng(0), noise=0.0), LAYOUT, react_window=100)
    assert set(SEGMENTS) <= set(res)
    assert res["overlap"]["frames"] == 3 * 40
    for seg in SEGMENTS:
        r = res[seg]
        for g in ("expression", "lips_jaw", "pose"):
            assert r[f"FD_{g}"] == pytest.approx(0.0, abs=1e-6)
            assert r[f"rPCC_{g}"] == pytest.approx(0.0, abs=1e-9)
            assert r[f"L2_{g}"] == 0.0
        assert r["SID_expression"] == pytest.approx(r["SID_expression_gt"])
    assert res["all"]["FRDist"] == pytest.approx(0.0, abs=1e-5)
    assert res["all"]["FRCorr"] == pytest.approx(2.0)          # K = 2 generations, each CCC 1
    assert res["all"]["FRSyn"] == res["all"]["FRSyn_gt"]
    assert res["all"]["react_windows"] == 9
    assert "seam_ratio" not in res["all"]                      # no borders given


def test_seams_when_borders_are_given():
    items = _items(np.random.default_rng(3), noise=0.0)
    for it in items:
        it.borders = (100, 200)
        it.preds[:, 100:] += 5.0                                # a jump at the first border
    res = evaluate_items(items, LAYOUT, react_window=100)
    assert res["all"]["seam_ratio"] > 3.0


def test_noisy_predictions_and_lip_sync_path():
    rng = np.random.default_rng(1)
    items = _items(rng, noise=0.5)
    expert = SyncExpert(SyncExpertConfig(lip_dims=4, hidden=16, embed=8)).eval()
    res = evaluate_items(items, LAYOUT, expert=expert, react_window=100)
    assert res["all"]["FD_expression"] > 0.1 and res["all"]["L2_pose"] > 0.1
    for seg in ("all", "speaking", "overlap"):
        assert np.isfinite(res[seg]["LSE-D"]) and np.isfinite(res[seg]["LSE-D_gt"])
    assert "LSE-D" not in res["listening"]                     # the avatar does not speak there
    with pytest.raises(ValueError, match="preds must be"):
        EvalItem("bad", items[0].gt, items[0].gt, items[0].user, items[0].avatar_mel,
                 items[0].avatar_vad, items[0].user_vad)


def test_lip_errors_with_the_codec():
    from echo_ihg.motion.canonical import canonical_face
    from echo_ihg.motion.codec import default_codec

    codec = default_codec()
    rng = np.random.default_rng(2)
    t = 120
    gt = np.zeros((t, codec.dim), np.float32)
    gt[:, codec.layout["pose"].stop - 1] = np.log(0.4)                # a face 0.4 frame widths wide
    gt[:, codec.layout["lips_jaw"].start] = 0.05 * np.sin(np.arange(t) / 5)
    noisy = gt.copy()
    noisy[:, codec.layout["lips_jaw"]] += 0.02 * rng.normal(size=(t, 16))
    neutral = (canonical_face() * 0.4 + [0.3, 0.3, 0.0]).astype(np.float32)
    vad = np.ones(t)
    layout = codec.layout
    item = EvalItem("s", gt, np.stack([gt, noisy]), gt.copy(), np.zeros((4 * t, 80)), vad, vad, neutral)
    res = evaluate_items([item], layout, codec=codec, react_window=60)
    # generation 0 is exact (LVE 0), generation 1 is not: the mean is positive but small
    assert 0 < res["all"]["LVE"] and 0 < res["all"]["mouth_distance"] < 0.2
    exact = evaluate_items([EvalItem("s", gt, gt[None], gt.copy(), np.zeros((4 * t, 80)), vad, vad, neutral)],
                           layout, codec=codec, react_window=60)
    assert exact["all"]["LVE"] == pytest.approx(0.0, abs=1e-10)
