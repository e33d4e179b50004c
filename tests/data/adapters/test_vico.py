"""ViCo adapter: {uuid}.speaker.mp4 / {uuid}.listener.mp4 pairs + audios/{uuid}.wav + split CSVs."""

from __future__ import annotations

import numpy as np

from echo_ihg.data.adapters import prepare_dataset
from echo_ihg.data.session import validate_session


def test_pairs_with_speaker_audio_and_split_tables(tmp_path, img, gen):
    root, out = tmp_path / "listening_head", tmp_path / "out"
    uuid = "k3j9x0a1b2c4"
    gen.write_mp4(root / "videos" / f"{uuid}.speaker.mp4", gen.frames(img, 9), fps=30)
    gen.write_mp4(root / "videos" / f"{uuid}.listener.mp4", gen.frames(img, 9, flip=True), fps=30)
    gen.write_wav(root / "audios" / f"{uuid}.wav", gen.tone(0.3, 44_100, 500.0, start=0.1), 44_100)
    (root / "valid.csv").write_text(f"video_id,uuid,speaker_id,listener_id\nabc123,{uuid},spk7,lst9\n")
    # a pair whose listener video is missing
    gen.write_mp4(root / "videos" / "lonelyuuid00.speaker.mp4", gen.frames(img, 4), fps=30)
    report = prepare_dataset("vico", root, out)
    assert report.written == [f"vico_{uuid}"]
    (skip,) = report.skipped
    assert "lonelyuuid00.speaker.mp4" in skip.reason and "listener" in skip.reason
    s = validate_session(out / "valid" / f"vico_{uuid}")  # split taken from the CSV naming the uuid
    p = s.meta["participants"]
    assert (p["A"]["role"], p["A"]["source_id"]) == ("speaker", "spk7")
    assert (p["B"]["role"], p["B"]["source_id"]) == ("listener", "lst9")
    assert s.meta["video_id"] == "abc123" and s.meta["listener_audio"] == "none"
    assert s.T == 8 and np.asarray(s.A.valid).all() and np.asarray(s.B.valid).all()  # 9 frames at 30 fps
    # speaker audio: the 44.1 kHz wav resampled to 16 kHz, onset kept; the listener is silent
    onset = int(np.flatnonzero(np.abs(s.A.audio) > 0.05)[0])
    assert abs(onset - 1600) <= 80
    assert not np.any(s.B.audio) and not np.any(s.B.vad)


def test_a_video_without_a_face_is_skipped_naming_it(tmp_path, img, gen):
    root, out = tmp_path / "listening_head", tmp_path / "out"
    uuid = "noface000001"
    gen.write_mp4(root / "videos" / f"{uuid}.speaker.mp4", gen.frames(img, 5), fps=30)
    blank = [np.full((160, 160, 3), 90, np.uint8)] * 5
    gen.write_mp4(root / "videos" / f"{uuid}.listener.mp4", blank, fps=30)
    gen.write_wav(root / "audios" / f"{uuid}.wav", gen.tone(0.2, 16_000, 300.0), 16_000)
    report = prepare_dataset("vico", root, out)
    (skip,) = report.skipped
    assert f"{uuid}.listener.mp4" in skip.reason and "no usable face" in skip.reason
