"""Gap policy on hand-made tracks: interior short gaps interpolated, long and edge gaps masked and held."""

from __future__ import annotations

import numpy as np

from echo_ihg.tracking.gaps import Gap, fill_gaps, find_runs, format_time_ranges


def _track(n: int = 20) -> np.ndarray:
    """(n, 478, 3): every point moves linearly with time, so linear interpolation is exact."""
    t = np.arange(n, dtype=np.float32)[:, None, None]
    base = np.random.default_rng(0).random((1, 478, 3)).astype(np.float32)
    return base + 0.01 * t


def test_find_runs():
    assert find_runs(np.array([0, 1, 1, 0, 1], bool)) == [(1, 3), (4, 5)]
    assert find_runs(np.zeros(3, bool)) == [] and find_runs(np.ones(2, bool)) == [(0, 2)]


def test_short_interior_gap_is_exact_for_linear_motion():
    truth = _track()
    found = np.ones(20, bool)
    found[5:8] = False
    broken = truth.copy()
    broken[5:8] = np.nan  # whatever the tracker left there is ignored
    lm, valid, gaps = fill_gaps(broken, found, max_gap=3)
    assert gaps == [Gap(5, 8, True)] and valid.all()
    np.testing.assert_allclose(lm, truth, atol=1e-6)


def test_long_gap_masked_and_held_from_both_sides():
    truth = _track()
    found = np.ones(20, bool)
    found[5:11] = False
    lm, valid, gaps = fill_gaps(truth, found, max_gap=5)
    assert gaps == [Gap(5, 11, False)]
    assert valid.tolist() == found.tolist()
    np.testing.assert_array_equal(lm[5:8], np.repeat(truth[4:5], 3, 0))   # first half holds frame 4
    np.testing.assert_array_equal(lm[8:11], np.repeat(truth[11:12], 3, 0))  # second half holds frame 11
    np.testing.assert_array_equal(lm[found], truth[found])


def test_edge_gaps_are_masked_even_when_short():
    truth = _track()
    found = np.ones(20, bool)
    found[:2] = found[-1:] = False
    lm, valid, gaps = fill_gaps(truth, found, max_gap=5)
    assert gaps == [Gap(0, 2, False), Gap(19, 20, False)]
    assert not valid[:2].any() and not valid[-1] and valid[2:19].all()
    np.testing.assert_array_equal(lm[0], truth[2])
    np.testing.assert_array_equal(lm[19], truth[18])


def test_max_gap_zero_masks_everything():
    found = np.ones(10, bool)
    found[4] = False
    _, valid, gaps = fill_gaps(_track(10), found, max_gap=0)
    assert gaps == [Gap(4, 5, False)] and not valid[4]


def test_gap_reporting():
    gaps = [Gap(15, 35, False), Gap(50, 52, True)]
    assert format_time_ranges(gaps, 25) == "0.60–1.40 s, 2.00–2.08 s"
    assert gaps[0].to_dict(25) == {"start": 15, "end": 35, "start_s": 0.6, "end_s": 1.4,
                                   "interpolated": False}
