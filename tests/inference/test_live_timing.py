"""The live pace: the user lag grows at once when chunks come late and shrinks slowly with room to spare; the
hop grows when the model cannot keep up and shrinks when a smaller one would fit; both stay in range."""

from __future__ import annotations

import pytest

from echo_ihg.inference.live_timing import PaceController

FAST = 0.05          # s per chunk: far below any hop's time


def lag_only(lag, lo=8, hi=16, **kw) -> PaceController:
    return PaceController(16, lag, (16, 16), (lo, hi), **kw)


def test_lag_grows_by_the_shortfall_and_stops_at_the_top():
    pace = lag_only(8)
    assert pace.update(-3, FAST) == (16, 13)         # 3 ticks late + a 2-tick render margin
    assert pace.update(0, FAST) == (16, 15)
    assert pace.update(-20, FAST) == (16, 16)


def test_lag_shrinks_one_step_after_calm_chunks_and_not_below_the_bottom():
    pace = lag_only(10, calm_chunks=3)
    assert [pace.update(5, FAST)[1] for _ in range(3)] == [10, 10, 9]
    assert [pace.update(5, FAST)[1] for _ in range(9)][-1] == 8
    pace.update(5, FAST), pace.update(5, FAST)
    assert pace.update(2, FAST)[1] == 8                # just enough room: the calm count starts again
    assert [pace.update(5, FAST)[1] for _ in range(3)] == [8, 8, 8]


def test_a_simulated_machine_settles_where_chunks_are_on_time():
    """A chunk taking `cost` ticks after its user frame arrives has slack = lag − cost: the lag settles in
    [cost + margin, cost + margin + 1] and the late chunks stop."""
    for cost in (3, 7, 12):
        pace, late = lag_only(8, lo=4, hi=20), []
        for _ in range(60):
            slack = pace.lag - cost
            late.append(slack < 0)
            pace.update(slack, FAST)
        assert cost + 2 <= pace.lag <= cost + 3, (cost, pace.lag)
        assert not any(late[5:]), cost


def test_hop_grows_when_the_model_cannot_keep_up_and_comes_back_when_it_can():
    pace = PaceController(16, 8, (16, 32), (8, 16), hop_calm_chunks=4)
    # 0.6 s per chunk: 94 % of a 16-frame hop's 0.64 s -> 24 frames (63 %: keeps up, and over half of 16)
    assert [pace.update(5, 0.6)[0] for _ in range(8)] == [24] * 8
    assert [pace.update(5, 0.9)[0] for _ in range(3)][-1] == 32        # 0.9 s: 94 % of 24 frames
    hops = [pace.update(5, 0.1)[0] for _ in range(16)]                  # the load went away
    assert 24 in hops and hops[-1] == 16


def test_out_of_range_start_is_refused():
    with pytest.raises(ValueError, match="outside"):
        PaceController(16, 20, (16, 32), (8, 16))
