"""RealTalk adapter: side-by-side .avi (p0 = left, p1 = right), in tar shards or extracted, EMOCA kept."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from echo_ihg.data.adapters import prepare_dataset
from echo_ihg.data.session import validate_session

VID = "5hxY5Svr2aM"  # an 11-character YouTube id


def test_side_by_side_video_from_a_shard_with_emoca(tmp_path, img, gen):
    root, out = tmp_path / "realtalk", tmp_path / "out"
    avi = tmp_path / "staging" / f"{VID}.avi"
    gen.write_avi(avi, gen.frames(img, 8, side_by_side=True), 25, gen.tone(0.32, 16_000, 350.0, start=0.1), 16_000)
    gen.write_tar(root / "videos" / "videos_00.tar", {f"{VID}.avi": avi.read_bytes()})
    codes = np.random.default_rng(1).normal(size=(8, 50)).astype(np.float32)
    (root / "emoca" / VID / "p1").mkdir(parents=True)
    np.save(root / "emoca" / VID / "p1" / "exp.npy", codes)
    (root / "emoca" / VID / "codes.pkl").write_bytes(pickle.dumps({"p0": [1, 2]}))
    report = prepare_dataset("realtalk", root, out)
    assert report.written == [f"realtalk_{VID}"], report.skipped
    s = validate_session(out / "train" / f"realtalk_{VID}")
    p = s.meta["participants"]
    assert (p["A"]["person"], p["A"]["side"], p["A"]["crop"]) == ("p0", "left", [0.0, 0.5])
    assert (p["B"]["person"], p["B"]["side"]) == ("p1", "right")
    assert p["A"]["frame_size"] == [160, 160]  # each person tracked in their own half of the 320×160 frame
    assert s.T == 8 and np.asarray(s.A.valid).all() and np.asarray(s.B.valid).all()
    # the two halves hold different (mirrored) faces: their landmarks differ
    assert np.abs(np.asarray(s.A.landmarks) - np.asarray(s.B.landmarks)).max() > 0.01
    # one mixed track for both people, flagged
    assert s.meta["audio_mixed"] is True
    np.testing.assert_array_equal(s.A.audio, s.B.audio)
    assert abs(int(np.flatnonzero(np.abs(s.A.audio) > 0.05)[0]) - 1600) <= 80
    # EMOCA: the p1 array only for B; the pickle kept as raw bytes for both (never unpickled)
    np.testing.assert_array_equal(s.B.extra["emoca.p1.exp"], codes)
    assert "emoca.p1.exp" not in s.A.extra
    raw = s.A.extra["emoca.raw.codes.pkl"]
    assert raw.dtype == np.uint8 and raw.tobytes() == (root / "emoca" / VID / "codes.pkl").read_bytes()
    assert not list((tmp_path).glob("echo-ihg-realtalk-*"))


def test_corrupt_video_is_skipped_naming_it(tmp_path):
    root = tmp_path / "realtalk"
    (root / "videos").mkdir(parents=True)
    (root / "videos" / f"{VID}.avi").write_bytes(b"RIFF....AVI garbage")
    report = prepare_dataset("realtalk", root, tmp_path / "out")
    (skip,) = report.skipped
    assert f"{VID}.avi" in skip.reason and report.written == []


def test_no_videos_is_a_clear_error(tmp_path):
    from echo_ihg.errors import InputError

    with pytest.raises(InputError, match="no RealTalk videos"):
        prepare_dataset("realtalk", tmp_path, tmp_path / "out")
