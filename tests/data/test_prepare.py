"""`echo-ihg prepare pair` end to end on small mp4s made from the astronaut portrait with espeak-ng audio."""

import json
import logging
import shutil
import subprocess

import cv2
import numpy as np
import pytest

from echo_ihg.cli.main import main
from echo_ihg.data.session import read_session
from echo_ihg.io.media import load_audio, write_mp4, write_wav

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


def _speech(tmp, text: str) -> np.ndarray:
    wav = tmp / "tts.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), text], check=True, capture_output=True)
    return load_audio(wav)


@pytest.fixture(scope="module")
def clips(tmp_path_factory, astronaut):
    """A speaks in the first 1.6 s of a 3.0 s clip; B is silent for 1.6 s then speaks; B lasts 4.0 s."""
    tmp = tmp_path_factory.mktemp("clips")
    face = cv2.resize(astronaut, (192, 192), interpolation=cv2.INTER_AREA)
    words = _speech(tmp, "Hello there, how are you doing today, my friend?")
    loud = np.flatnonzero(np.abs(words) > 0.02)
    words = words[loud[0]:loud[0] + int(1.5 * 16000)]  # speech from its first sample, cut at 1.5 s
    a_audio = np.concatenate([np.zeros(1600, np.float32), words])
    b_audio = np.concatenate([np.zeros(int(1.6 * 16000), np.float32), words])
    write_mp4(tmp / "A.mp4", (face for _ in range(75)), audio=a_audio)  # 3.0 s
    write_mp4(tmp / "B.mp4", (face[:, ::-1] for _ in range(100)), audio=b_audio)  # 4.0 s
    sbs = np.concatenate([face, face[:, ::-1]], axis=1)
    write_mp4(tmp / "sbs.mp4", (sbs for _ in range(60)), audio=a_audio)  # 2.4 s
    write_mp4(tmp / "noface.mp4", (np.zeros((96, 96, 3), np.uint8) for _ in range(10)), audio=a_audio)
    write_wav(tmp / "b_short.wav", b_audio[: 40 * 640])  # 1.6 s: shorter than the side-by-side video
    (tmp / "t.jsonl").write_text('{"speaker": "A", "start": 0.1, "end": 0.9, "text": "hello there"}\n'
                                 '{"speaker": "B", "start": 1.7, "end": 2.5, "text": "hello there"}\n')
    (tmp / "t.srt").write_text("1\n00:00:00,100 --> 00:00:00,900\nA: hello there\n\n"
                               "2\n00:00:01,700 --> 00:00:02,500\nB: hello there\n")
    (tmp / "notes.txt").write_text("not a video")
    return tmp


def test_pair_end_to_end_mismatched_lengths(clips, tmp_path, caplog, capsys):
    out = tmp_path / "sessions" / "train" / "s1"
    with caplog.at_level(logging.WARNING):
        rc = main(["prepare", "pair", "--a", str(clips / "A.mp4"), "--b", str(clips / "B.mp4"),
                   "--transcript", str(clips / "t.jsonl"), "-o", str(out), "--no-progress"])
    assert rc == 0
    warning = " ".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)
    assert "A.mp4" in warning and "B.mp4" in warning and "3.00 s" in warning and "4.00 s" in warning
    s = read_session(out)
    assert s.T == 75 and s.session_id == "s1"  # trimmed to the shorter recording
    assert len(s.A.audio) == len(s.B.audio) == 75 * 640
    assert s.A.valid.all() and s.B.valid.all()
    # B is the mirror image of A: its face contour mirrors A's in x
    assert abs(s.A.landmarks[:, 1, 0].mean() - (1 - s.B.landmarks[:, 1, 0].mean())) < 0.02
    # who speaks when: A in 0.1-1.6 s, B from 1.6 s
    assert s.A.vad[5:35].mean() > 0.7 and s.A.vad[48:].max() < 0.3
    assert s.B.vad[:38].max() < 0.3 and s.B.vad[45:75].mean() > 0.7
    assert [e["speaker"] for e in s.transcript] == ["A", "B"]
    meta = json.loads((out / "meta.json").read_text())
    assert meta["participants"]["B"]["video_frames"] == 100 and meta["source"] == "pair"
    assert {"vad", "mel", "tracking"} <= set(meta["extractors"])
    assert "75 frames (3.00 s)" in capsys.readouterr().out


def test_side_by_side_with_srt_and_separate_short_track(clips, tmp_path, caplog):
    out = tmp_path / "sbs"
    with caplog.at_level(logging.WARNING):
        rc = main(["prepare", "pair", "--side-by-side", str(clips / "sbs.mp4"), "--audio-b",
                   str(clips / "b_short.wav"), "--transcript", str(clips / "t.srt"), "-o", str(out),
                   "--no-progress", "--vad", "webrtc"])
    assert rc == 0
    s = read_session(out)
    assert s.T == 40  # B's own track is 1.6 s long: both trimmed to it
    meta = s.meta["participants"]
    assert meta["A"]["crop"] == [0, 0, 192, 192] and meta["B"]["crop"] == [192, 0, 384, 192]
    assert meta["A"]["audio"] == "mixed" and meta["B"]["audio"] == "separate"
    # each half was tracked on its own: landmarks are normalised to the half, and mirror each other
    assert 0.2 < s.A.landmarks[:, :468, 0].mean() < 0.8
    assert abs(s.A.landmarks[:, 1, 0].mean() - (1 - s.B.landmarks[:, 1, 0].mean())) < 0.02
    assert s.A.vad[5:35].mean() > 0.7 and s.B.vad.max() < 0.3  # B's own track is silent for 1.6 s
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("mixed audio" in m and "A gets" in m for m in messages)
    assert any("b_short.wav" in m and "60 frames" in m and "40 frames" in m for m in messages)
    assert [e["text"] for e in s.transcript] == ["hello there", "hello there"]


@pytest.mark.parametrize("args,needle", [
    (["--a", "{c}/missing.mp4", "--b", "{c}/B.mp4"], "missing.mp4: file not found"),
    (["--a", "{c}/notes.txt", "--b", "{c}/B.mp4"], "notes.txt"),
    (["--a", "{c}/noface.mp4", "--b", "{c}/B.mp4"], "noface.mp4"),
    (["--a", "{c}/A.mp4", "--b", "{c}/B.mp4", "--transcript", "{c}/notes.txt"], "notes.txt"),
    (["--a", "{c}/A.mp4"], "needs --a"),
    (["--side-by-side", "{c}/sbs.mp4", "--a", "{c}/A.mp4"], "not both"),
    (["--side-by-side", "{c}/sbs.mp4", "--audio-a", "{c}/nope.wav"], "nope.wav: file not found"),
])
def test_cli_errors_are_one_line_exit_2(clips, tmp_path, capsys, args, needle):
    out = tmp_path / "o"
    argv = ["prepare", "pair", *[a.format(c=clips) for a in args], "-o", str(out), "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    last = [ln for ln in err if ln.startswith("echo-ihg: error:")]
    assert len(last) == 1 and needle in last[0] and not any("Traceback" in ln for ln in err)
    assert not out.exists()


def test_features_command_caches(clips, tmp_path, capsys):
    out = tmp_path / "s"
    assert main(["prepare", "pair", "--a", str(clips / "A.mp4"), "--b", str(clips / "A.mp4"), "-o", str(out),
                 "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["features", str(out)]) == 0
    first = capsys.readouterr().out
    assert first.count("computed") == 4 and "(300, 80)" in first and "(75,)" in first
    assert main(["features", str(tmp_path)]) == 0  # a root holding the session
    assert capsys.readouterr().out.count("reused") == 4
    assert np.load(out / "A" / "cache" / "mel.npy").shape == (300, 80)
    assert main(["features", str(tmp_path / "nothing")]) == 2


def test_video_without_audio_fails_before_tracking(clips, tmp_path, capsys, monkeypatch):
    import echo_ihg.data.adapters.base as base

    silent = tmp_path / "silent.mp4"
    write_mp4(silent, (np.zeros((64, 64, 3), np.uint8) for _ in range(10)))
    monkeypatch.setattr(base, "track_participant", lambda *a, **k: pytest.fail("tracked before checking the audio"))
    assert main(["prepare", "pair", "--a", str(silent), "--b", str(clips / "B.mp4"), "-o", str(tmp_path / "o")]) == 2
    assert "silent.mp4: has no audio stream" in capsys.readouterr().err
