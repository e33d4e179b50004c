"""Seamless Interaction adapter on generated releases: tar shards + extracted bundles, 29.97/30 fps video,
48 kHz stereo audio, transcripts with null word times, VAD intervals, zero/sentinel frames, N = 0 bundles."""

from __future__ import annotations

import logging
from fractions import Fraction

import numpy as np
import pytest

from echo_ihg.data.adapters import AdapterConfig, prepare_dataset
from echo_ihg.data.adapters.seamless import parse_file_id
from echo_ihg.data.session import validate_session
from echo_ihg.errors import InputError

ID_A = "V00_S0809_I00000582_P0299A"  # a participant id ending in a letter
ID_B = "V00_S0809_I00000582_P0947"


def _tar_release(root, img, gen, invalid=(3, 4)):
    """Partners in different shards of improvised/dev/0000/ (as in the release)."""
    npz_a = gen.seamless_npz(10, invalid=invalid)
    a = gen.seamless_files(img, ID_A, n=10, fps=gen.NTSC, speech=(0.1, 0.25), npz=npz_a, freq=440.0)
    b = gen.seamless_files(img, ID_B, n=10, fps=30, speech=(0.05, 0.3), freq=660.0)
    gen.write_tar(root / "improvised/dev/0000/0000.tar", {f"{ID_A}.{k}": v for k, v in a.items()})
    gen.write_tar(root / "improvised/dev/0000/0001.tar", {f"{ID_B}.{k}": v for k, v in b.items()})
    return npz_a


def _onset(audio: np.ndarray, thr: float = 0.05) -> int:
    return int(np.flatnonzero(np.abs(audio) > thr)[0])


def _peak_hz(audio: np.ndarray, rate: int = 16_000) -> float:
    spec = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.fft.rfftfreq(len(audio), 1 / rate)[spec.argmax()])


def test_tar_shards_pair_across_archives_and_validate(tmp_path, img, gen):
    root, out = tmp_path / "seamless", tmp_path / "out"
    _tar_release(root, img, gen)
    report = prepare_dataset("seamless", root, out)
    assert report.written == ["V00_S0809_I00000582"] and not report.skipped
    s = validate_session(out / "dev" / "V00_S0809_I00000582")
    meta = s.meta
    assert meta["source"] == "seamless_interaction" and meta["label"] == "improvised" and meta["split"] == "dev"
    # A/B in sorted file-id order; the letter-suffixed participant id is kept whole
    assert meta["participants"]["A"]["source_id"] == ID_A and meta["participants"]["A"]["participant"] == "P0299A"
    assert meta["participants"]["B"]["source_id"] == ID_B
    # 10 frames at 29.97 fps -> 9 frames at 25 fps, at 30 fps -> 8 (by timestamp); the session takes the
    # shorter; audio is 640 samples per frame
    assert s.T == 8 and len(s.A.audio) == 8 * 640
    assert meta["participants"]["A"]["source_fps"] == pytest.approx(30000 / 1001, rel=1e-4)
    # 48 kHz stereo -> 16 kHz mono, aligned: the tone switched on at 0.10 s (A) / 0.05 s (B) starts there
    assert abs(_onset(s.A.audio) - 1600) <= 80 and abs(_onset(s.B.audio) - 800) <= 80
    assert _peak_hz(s.A.audio) == pytest.approx(440, abs=20) and _peak_hz(s.B.audio) == pytest.approx(660, abs=20)


def test_vad_transcript_sentinels_and_extra(tmp_path, img, gen):
    root, out = tmp_path / "seamless", tmp_path / "out"
    npz_a = _tar_release(root, img, gen, invalid=(3, 4))
    prepare_dataset("seamless", root, out)
    s = validate_session(out / "dev" / "V00_S0809_I00000582")
    # VAD from metadata:vad (0.10-0.25 s): the covered fraction of each 40 ms frame
    np.testing.assert_allclose(s.A.vad, [0, 0, 0.5, 1, 1, 1, 0.25, 0], atol=1e-6)
    assert s.meta["participants"]["A"]["vad_source"] == "dataset"
    # source frames 3 and 4 are invalid (zero box / keypoints, sentinel translation): our frames whose
    # nearest source frame (by time) is 3 or 4 are invalid, although the face itself was tracked
    src = [round(Fraction(k, 25) * Fraction(30000, 1001)) for k in range(s.T)]
    expected = np.array([j not in (3, 4) for j in src])
    assert not expected.all()
    np.testing.assert_array_equal(np.asarray(s.A.valid), expected)
    assert np.asarray(s.B.valid).all()
    # source arrays verbatim (source rate, own lengths), plus our combined visibility mask
    np.testing.assert_array_equal(s.A.extra["movement.FAUValue"], npz_a["movement:FAUValue"])
    assert s.A.extra["smplh.translation"][3, 0] == np.float32(3.0e38)
    assert s.A.extra["movement.hypernet_features"].shape == (1, 8)
    assert s.A.extra["derived.visible"].tolist() == [i not in (3, 4) for i in range(10)]
    assert s.meta["participants"]["A"]["extra_keys"]["movement.FAUValue"] == "movement:FAUValue"
    # transcript: timed words kept, the null-timed word placed between its neighbours and flagged
    words = [(w["speaker"], w["text"]) for w in s.transcript]
    assert words.count(("A", "uh")) == 1 and len(words) == 6
    uh = next(w for w in s.transcript if w["speaker"] == "A" and w["text"] == "uh")
    assert uh["estimated"] and uh["start"] == pytest.approx(0.15) and uh["end"] == pytest.approx(0.20)


def test_extracted_layout_with_empty_npz_bundle(tmp_path, img, gen, caplog):
    root, out = tmp_path / "seamless", tmp_path / "out"
    folder = root / "naturalistic/train/0000/0003"
    ids = ("V01_S0100_I00000010_P0100", "V01_S0100_I00000010_P0101")
    empty = {k: v[:0] for k, v in gen.seamless_npz(10).items()}  # a bundle whose arrays have N = 0
    gen.write_bundle(folder, ids[0], gen.seamless_files(img, ids[0], n=8, fps=30, npz=empty))
    gen.write_bundle(folder, ids[1], gen.seamless_files(img, ids[1], n=8, fps=30))
    with caplog.at_level(logging.WARNING):
        report = prepare_dataset("seamless", root, out)
    assert report.written == ["V01_S0100_I00000010"]
    assert any("N = 0" in r.getMessage() and ids[0] in r.getMessage() for r in caplog.records)
    s = validate_session(out / "train" / "V01_S0100_I00000010")
    assert s.meta["label"] == "naturalistic"
    assert s.A.extra["movement.FAUValue"].shape == (0, 24)
    assert np.asarray(s.A.valid).all()  # validity from tracking alone


def test_missing_partner_and_corrupt_files_are_reported(tmp_path, img, gen):
    root, out = tmp_path / "seamless", tmp_path / "out"
    lone = "V02_S0001_I00000001_P0001"
    gen.write_bundle(root / "dev", lone, gen.seamless_files(img, lone, n=4, fps=30))
    bad = ("V02_S0002_I00000002_P0002", "V02_S0002_I00000002_P0003")
    for fid in bad:
        gen.write_bundle(root / "dev", fid, gen.seamless_files(img, fid, n=4, fps=30))
    (root / "dev" / f"{bad[1]}.npz").write_bytes(b"PK\x03\x04 not really a zip")
    report = prepare_dataset("seamless", root, out)
    assert report.written == []
    reasons = {s.session_id: s.reason for s in report.skipped}
    assert "partner" in reasons["V02_S0001_I00000001"] and f"{lone}.mp4" in reasons["V02_S0001_I00000001"]
    assert f"{bad[1]}.npz" in reasons["V02_S0002_I00000002"]
    with pytest.raises(InputError, match="partner"):
        prepare_dataset("seamless", root, out, AdapterConfig(strict=True))


def test_rerun_skips_finished_sessions(tmp_path, img, gen):
    root, out = tmp_path / "seamless", tmp_path / "out"
    _tar_release(root, img, gen)
    assert len(prepare_dataset("seamless", root, out).written) == 1
    again = prepare_dataset("seamless", root, out)
    assert again.written == [] and again.existing == ["V00_S0809_I00000582"]


def test_empty_root_and_file_ids(tmp_path):
    with pytest.raises(InputError, match="no Seamless Interaction files"):
        prepare_dataset("seamless", tmp_path, tmp_path / "out")
    assert parse_file_id("V00_S0809_I00000582_P0299A")["participant"] == "0299A"
    assert parse_file_id("V00_S0809_I00000582") is None


def test_empty_placeholder_media_are_skipped_naming_the_file(tmp_path, img, gen):
    """Released placeholders: an .mp4 without a video stream, a header-only (58-byte) .wav."""
    root, out = tmp_path / "seamless", tmp_path / "out"
    ids = ("V01_S0003_I00000003_P0004", "V01_S0003_I00000003_P0005", "V01_S0004_I00000004_P0006",
           "V01_S0004_I00000004_P0007")
    for fid in ids:
        gen.write_bundle(root / "test", fid, gen.seamless_files(img, fid, n=4, fps=30))
    gen.write_wav(root / "test" / f"{ids[1]}.mp4", np.zeros(160, np.float32), 16_000)  # audio only
    gen.write_wav(root / "test" / f"{ids[3]}.wav", np.zeros(0, np.float32), 48_000)  # 44-byte header only
    report = prepare_dataset("seamless", root, out)
    reasons = {s.session_id: s.reason for s in report.skipped}
    assert report.written == []
    assert f"{ids[1]}.mp4" in reasons["V01_S0003_I00000003"] and "no video stream" in reasons["V01_S0003_I00000003"]
    assert f"{ids[3]}.wav" in reasons["V01_S0004_I00000004"]


def test_split_and_label_come_from_folders_below_the_root(tmp_path, img, gen):
    """A root inside a folder called 'test' is not the test split; a root that is a split folder is."""
    root = tmp_path / "test" / "seamless" / "naturalistic" / "dev"
    ids = ("V03_S0005_I00000005_P0008", "V03_S0005_I00000005_P0009")
    for fid in ids:
        gen.write_bundle(root / "0000" / "0001", fid, gen.seamless_files(img, fid, n=4, fps=30))
    prepare_dataset("seamless", root, tmp_path / "o1")
    s = validate_session(tmp_path / "o1" / "dev" / "V03_S0005_I00000005")
    assert s.meta["label"] == "naturalistic"
    report = prepare_dataset("seamless", root / "0000", tmp_path / "o2", AdapterConfig(split="valid"))
    assert report.written and (tmp_path / "o2" / "valid" / "V03_S0005_I00000005").is_dir()
