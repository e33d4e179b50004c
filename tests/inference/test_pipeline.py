"""The generate pipeline end to end on short real inputs (tiny random model), its stages, and bad input."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from echo_ihg.constants import FPS, SAMPLES_PER_FRAME
from echo_ihg.errors import EchoError, InputError, NoFaceError
from echo_ihg.inference.config import GenerationConfig
from echo_ihg.inference.pipeline import Pipeline, PipelineConfig
from echo_ihg.inference.stages import StageTimer
from echo_ihg.inference.user_track import GapFiller
from echo_ihg.io.media import iter_video_frames, load_audio, write_mp4, write_wav
from echo_ihg.model.text_encoder import HashingEncoderForTests
from echo_ihg.tracking.gaps import fill_gaps

FAST = PipelineConfig(GenerationConfig(steps=2, size=256))


@pytest.fixture(scope="module")
def pipe(gen_inputs) -> Pipeline:
    return Pipeline(gen_inputs["checkpoint"], FAST, text_encoder=HashingEncoderForTests())


def _read_video(path: Path) -> list[np.ndarray]:
    return [f for _, f in iter_video_frames(path)]


# ---- stages --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
def test_gap_filler_equals_fill_gaps(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 80))
    found = rng.random(n) < rng.uniform(0.2, 0.9)
    found[rng.integers(0, n)] = True
    lm = rng.normal(size=(n, 478, 3)).astype(np.float32)
    want_lm, want_valid, want_gaps = fill_gaps(lm, found, max_gap=3)
    filler, got = GapFiller(3), []
    for k in range(n):
        got += filler.push(lm[k] if found[k] else None)
    got += filler.finish()
    assert len(got) == n
    np.testing.assert_allclose(np.stack([g[0] for g in got]), want_lm, atol=1e-6)
    np.testing.assert_array_equal([g[1] for g in got], want_valid)
    assert sorted(filler.gaps) == sorted(want_gaps)


def test_gap_filler_without_any_face():
    filler = GapFiller(5)
    assert filler.push(None) == [] and filler.push(None) == []
    assert filler.finish() is None


def test_stage_timer_is_exclusive():
    timer = StageTimer()
    with timer("outer"):
        time.sleep(0.05)
        with timer("inner"):
            time.sleep(0.05)
        timed = timer.wrap(lambda: time.sleep(0.03), "inner")
        timed()
    assert timer.seconds["inner"] == pytest.approx(0.08, abs=0.03)
    assert timer.seconds["outer"] == pytest.approx(0.05, abs=0.03)


# ---- end to end ----------------------------------------------------------------------------------------
def test_generate_end_to_end(pipe, gen_inputs, make_user_clip, tmp_path, monkeypatch):
    """Avatar speech 4.5 s; user clip 2 s without audio whose face vanishes for 0.6 s; no transcript and
    no ASR: every recovery path at once, each with its warning."""
    monkeypatch.setattr("echo_ihg.inference.asr.asr_available", lambda: False)
    user = make_user_clip(tmp_path / "in" / "user_gap.mp4", 50, None, blank=(20, 35))
    out = tmp_path / "out" / "avatar.mp4"
    res = pipe.generate(gen_inputs["portrait"], gen_inputs["avatar_audio"], user, out=out)

    n = len(load_audio(gen_inputs["avatar_audio"])) // SAMPLES_PER_FRAME
    assert res.n_frames == n and res.motion.shape == (n, pipe.codec.dim) and np.isfinite(res.motion).all()
    frames = _read_video(out)
    assert len(frames) == n and frames[0].shape == (256, 256, 3)
    audio = load_audio(out)[: n * SAMPLES_PER_FRAME]
    assert len(audio) == n * SAMPLES_PER_FRAME and np.sqrt(np.mean(audio ** 2)) > 0.01
    # frame 0 is the rest state, which decodes to the portrait itself; later frames move
    rest = pipe.renderer.setup(gen_inputs["portrait"]).image
    assert np.abs(frames[0].astype(float) - rest).mean() < 4.0
    assert np.abs(frames[60].astype(float) - frames[0]).mean() > 1.0

    side = json.loads(res.sidecar.read_text())
    assert res.sidecar == out.with_suffix(".json")
    assert {"setup", "tracking", "features", "lcu", "motion", "render", "encode"} <= set(side["timings_s"])
    assert side["frames"] == n and side["real_time_factor"] > 0 and side["config"]["generation"]["steps"] == 2
    assert side["length"]["user_absent_after_s"] == pytest.approx(2.0)
    assert side["user_track"]["n_valid"] == 35 and side["inputs"]["transcript"] == "none"
    text = " ".join(side["warnings"])
    for phrase in ("no audio track", "no face for 15", "absent after the video's end", "without the dialogue"):
        assert phrase in text, phrase
    assert sorted(p.name for p in out.parent.iterdir()) == ["avatar.json", "avatar.mp4"]  # no temp files


def test_silent_avatar_and_longer_user_video(pipe, gen_inputs, tmp_path):
    silent = tmp_path / "silent.wav"
    write_wav(silent, np.zeros(16000, np.float32))
    transcript = tmp_path / "t.jsonl"
    transcript.write_text('{"speaker": "B", "start": 0.1, "end": 0.5, "text": "hello there"}\n')
    res = pipe.generate(gen_inputs["portrait"], silent, gen_inputs["user_video"], transcript=transcript,
                        out=tmp_path / "listen.mp4")
    assert res.n_frames == FPS and len(_read_video(res.video)) == FPS
    side = json.loads(res.sidecar.read_text())
    assert side["length"]["user_video_longer"] and side["length"]["user_absent_after_s"] is None
    assert side["user_track"]["n_frames"] == FPS and side["transcript_entries"] == 1
    assert any("only listens" in w for w in res.warnings)


def test_same_seed_same_motion_and_seed_matters(gen_inputs, tmp_path):
    kw = dict(text_encoder=HashingEncoderForTests())
    a = Pipeline(gen_inputs["checkpoint"], PipelineConfig(GenerationConfig(steps=1, size=256, seed=1), asr=False), **kw)
    short = tmp_path / "short.wav"                 # 1.2 s of the avatar's speech: several chunks, quickly
    write_wav(short, load_audio(gen_inputs["avatar_audio"])[: 19200])
    args = (gen_inputs["portrait"], short, gen_inputs["user_video"])
    m1 = a.generate(*args, out=tmp_path / "a.mp4").motion
    m2 = a.generate(*args, out=tmp_path / "b.mp4").motion
    np.testing.assert_array_equal(m1, m2)
    b = Pipeline(gen_inputs["checkpoint"], PipelineConfig(GenerationConfig(steps=1, size=256, seed=2), asr=False), **kw)
    assert np.abs(b.generate(*args, out=tmp_path / "c.mp4").motion - m1).max() > 1e-3


# ---- bad input -----------------------------------------------------------------------------------------
def _fails(pipe, tmp_path, exc, match, **inputs):
    out = tmp_path / "o" / "out.mp4"
    out.parent.mkdir(exist_ok=True)
    out.write_bytes(b"previous good output")
    with pytest.raises(exc, match=match):
        pipe.generate(inputs["portrait"], inputs["avatar_audio"], inputs["user_video"],
                      transcript=inputs.get("transcript"), out=out)
    assert out.read_bytes() == b"previous good output"           # never replaced by a partial result
    assert [p.name for p in out.parent.iterdir()] == ["out.mp4"]   # and no temporary leftovers


def test_portrait_without_a_face(pipe, gen_inputs, tmp_path):
    import cv2

    img = tmp_path / "wall.png"
    yy, xx = np.mgrid[0:300, 0:300]
    cv2.imwrite(str(img), np.dstack([xx % 256, yy % 256, (xx + yy) % 256]).astype(np.uint8))
    _fails(pipe, tmp_path, NoFaceError, "wall.png: no face found in the portrait", **{**gen_inputs, "portrait": img})


def test_user_video_without_a_face(pipe, gen_inputs, tmp_path):
    empty = tmp_path / "empty_room.mp4"
    write_mp4(empty, (np.full((128, 128, 3), 90, np.uint8) for _ in range(10)))
    _fails(pipe, tmp_path, NoFaceError, "empty_room.mp4: no face found in any of the 10 frames",
           **{**gen_inputs, "user_video": empty})


@pytest.mark.parametrize("which", ["user_video", "avatar_audio", "transcript"])
def test_corrupt_file_is_named(pipe, gen_inputs, tmp_path, which):
    bad = tmp_path / {"user_video": "broken.mp4", "avatar_audio": "broken.wav", "transcript": "broken.jsonl"}[which]
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    _fails(pipe, tmp_path, InputError, bad.name, **{**gen_inputs, which: bad})


def test_audio_file_as_user_video(pipe, gen_inputs, tmp_path):
    _fails(pipe, tmp_path, InputError, "avatar.wav: has no video stream",
           **{**gen_inputs, "user_video": gen_inputs["avatar_audio"]})


def test_missing_input_and_wrong_output(pipe, gen_inputs, tmp_path):
    _fails(pipe, tmp_path, InputError, "nope.wav: file not found",
           **{**gen_inputs, "avatar_audio": tmp_path / "nope.wav"})
    with pytest.raises(InputError, match="must be an .mp4"):
        pipe.generate(gen_inputs["portrait"], gen_inputs["avatar_audio"], gen_inputs["user_video"],
                      out=tmp_path / "out.avi")


def test_no_checkpoint_and_no_default_model(tmp_path, monkeypatch):
    monkeypatch.setattr("echo_ihg.inference.model_io.DEFAULT_MODEL_DIR", tmp_path / "default_model")
    with pytest.raises(EchoError, match="no default model.*--checkpoint"):
        Pipeline(None, FAST)


def test_corrupt_checkpoint(tmp_path):
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(InputError, match="model.safetensors"):
        Pipeline(bad, FAST)


def test_bad_config():
    with pytest.raises(InputError, match="steps"):
        GenerationConfig(steps=0)
    with pytest.raises(InputError, match="avatar_speaker"):
        GenerationConfig(avatar_speaker="C")
