"""HDTF adapter: single-speaker clips become sessions with an absent participant B (stage-1 data)."""

from __future__ import annotations

import numpy as np
import pytest

from echo_ihg.data.adapters import prepare_dataset
from echo_ihg.data.session import validate_session
from echo_ihg.errors import InputError


def test_clips_become_single_speaker_sessions(tmp_path, img, gen):
    root, out = tmp_path / "HDTF", tmp_path / "out"
    audio = gen.tone(0.4, 16_000, 300.0, start=0.12)
    gen.write_mp4(root / "clips" / "Radio11_0.mp4", gen.frames(img, 10), fps=25, audio=audio)
    gen.write_mp4(root / "clips" / "WDA_Mute_1.mp4", gen.frames(img, 6), fps=25)  # no audio stream
    report = prepare_dataset("hdtf", root, out)
    assert report.written == ["hdtf_Radio11_0"]
    assert len(report.skipped) == 1 and "WDA_Mute_1.mp4" in report.skipped[0].reason
    assert "no audio" in report.skipped[0].reason
    s = validate_session(out / "train" / "hdtf_Radio11_0")
    assert s.meta["single_speaker"] is True and s.meta["absent_participant"] == "B"
    assert s.meta["participants"]["A"]["video_name"] == "Radio11"
    assert s.meta["participants"]["A"]["clip_index"] == 0
    assert s.T == 10 and np.asarray(s.A.valid).all()
    # B is absent: no face, silent, never speaking
    assert not np.asarray(s.B.valid).any() and not np.any(s.B.audio) and not np.any(s.B.vad)
    # A's audio is the clip's own track (AAC priming trimmed by the length policy): tone onset near 0.12 s
    onset = int(np.flatnonzero(np.abs(s.A.audio) > 0.05)[0])
    assert abs(onset - 0.12 * 16_000) < 0.03 * 16_000
    assert s.meta["participants"]["A"]["vad_source"] == "estimated"


def test_no_clips_is_a_clear_error(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="no video clips"):
        prepare_dataset("hdtf", tmp_path, tmp_path / "out")
