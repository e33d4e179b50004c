"""Pure helpers shared by the adapters: interval → frame VAD, by-timestamp resampling, invalid rows,
transcript words with null times, and the registry."""

from __future__ import annotations

import numpy as np
import pytest

from echo_ihg.data.adapters import get_adapter
from echo_ihg.data.adapters.base import (intervals_to_frames, invalid_rows, parse_intervals, resample_mask,
                                         safe_name, source_index_for_frames)
from echo_ihg.data.adapters.seamless import _segment_words
from echo_ihg.errors import InputError


def test_intervals_to_frames_covers_fractions_and_clips():
    vad = intervals_to_frames([(0.02, 0.10), (0.15, 10.0), (0.3, 0.2)], T=6)
    np.testing.assert_allclose(vad, [0.5, 1, 0.5, 0.25, 1, 1], atol=1e-6)
    assert intervals_to_frames([], 3).tolist() == [0, 0, 0]


def test_source_index_by_timestamp_for_ntsc_and_past_the_end():
    idx, inside = source_index_for_frames(n_src=10, src_fps=30000 / 1001, T=10)
    assert idx.tolist()[:5] == [0, 1, 2, 4, 5]  # 0, 40, 80, 120, 160 ms -> nearest 33.4 ms frame
    assert inside.tolist() == [True] * 8 + [False] * 2  # 320 ms onwards has no source frame
    mask = resample_mask(np.array([1, 1, 1, 1, 0, 1, 1, 1, 1, 1], bool), 30000 / 1001, 10)
    assert mask.tolist() == [True, True, True, False, True, True, True, True, False, False]
    assert resample_mask(np.zeros(0, bool), 30, 4).tolist() == [False] * 4
    with pytest.raises(ValueError):
        source_index_for_frames(3, 0.0, 2)


def test_invalid_rows_zero_fill_sentinels_and_nan():
    a = np.ones((5, 3, 2), np.float32)
    a[1] = 0
    a[2, 0, 1] = 3e38
    a[3, 2, 0] = np.nan
    assert invalid_rows(a).tolist() == [False, True, True, True, False]
    assert invalid_rows(a, zeros=False).tolist() == [False, False, True, True, False]
    assert invalid_rows(np.zeros((0, 4))).tolist() == []


def test_segment_words_with_null_times():
    seg = {"start": 1.0, "end": 2.0, "transcript": "a b c d",
           "words": [{"word": "a", "start": None, "end": None}, {"word": "b", "start": 1.2, "end": 1.4},
                     {"word": "c", "start": None, "end": 1.9}, {"word": "d", "start": None, "end": None}]}
    w = _segment_words(seg)
    assert [x["text"] for x in w] == ["a", "b", "c", "d"]
    assert (w[0]["start"], w[0]["end"]) == (1.0, 1.2) and w[0]["estimated"]
    assert w[2]["start"] == pytest.approx(1.4) and w[3]["end"] == pytest.approx(2.0)
    assert all(x["start"] <= x["end"] for x in w)
    # no usable time anywhere: dropped rather than invented
    assert _segment_words({"start": None, "end": None, "words": [{"word": "x", "start": None, "end": None}]}) == []
    # a segment without words becomes one utterance
    assert _segment_words({"start": 0.0, "end": 0.5, "transcript": "hi"}) == [{"start": 0.0, "end": 0.5,
                                                                                 "text": "hi"}]


def test_parse_intervals_and_names(tmp_path):
    assert parse_intervals([{"start": 0.1, "end": 0.2}, {"start": None, "end": 1}], tmp_path, "vad") == [(0.1, 0.2)]
    with pytest.raises(InputError, match="start/end must be numbers"):
        parse_intervals([{"start": "x", "end": 1}], tmp_path / "a.json", "metadata:vad")
    with pytest.raises(InputError, match="a.json"):
        parse_intervals({"start": 1}, tmp_path / "a.json", "metadata:vad")
    assert safe_name("movement:FAUValue") == "movement.FAUValue"


def test_registry_names_every_adapter():
    for name in ("seamless", "realtalk", "vico", "react", "hdtf"):
        assert get_adapter(name).NAME == name
    with pytest.raises(InputError, match="unknown dataset"):
        get_adapter("voxceleb")


def _tracked(n: int):
    from echo_ihg.data.adapters.base import _Tracked

    return _Tracked(np.zeros((n, 478, 3), np.float32), np.ones(n, bool), 64, 64, [])


def test_length_policy_cuts_to_the_shortest_stream_and_names_files(tmp_path, caplog):
    import logging

    from echo_ihg.data.adapters.base import ParticipantInput, SessionInput, common_length

    a = ParticipantInput("a", tmp_path / "a.mp4", audio=tmp_path / "a.wav")
    b = ParticipantInput("b", tmp_path / "b.mp4", audio=None)
    inp = SessionInput("s", "train", a, b)
    # within 2 frames (80 ms): cut silently; a partial last audio frame counts (ceil)
    with caplog.at_level(logging.WARNING):
        assert common_length(inp, {"A": _tracked(10), "B": _tracked(12)}, {"A": np.zeros(9 * 640 + 1), "B": None}) == 10
    assert not caplog.records
    # audio 0.8 s short of both videos: everything is cut to it, with every stream named
    with caplog.at_level(logging.WARNING):
        T = common_length(inp, {"A": _tracked(50), "B": _tracked(60)}, {"A": np.zeros(30 * 640), "B": None})
    assert T == 30
    msg = caplog.records[-1].getMessage()
    assert "a.wav: 30 frames (1.20 s)" in msg and "a.mp4: 50 frames (2.00 s)" in msg and "b.mp4: 60 frames" in msg
    with pytest.raises(InputError, match="no participant has a video"):
        common_length(SessionInput("s", "train", ParticipantInput("a", None), ParticipantInput("b", None)),
                      {"A": None, "B": None}, {"A": None, "B": None})
