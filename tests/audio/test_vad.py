"""VAD: espeak-ng speech vs silence, 25 fps alignment, agreement with silero's own TorchScript model,
determinism, streaming, webrtc backend."""

import shutil
import subprocess

import numpy as np
import pytest
import torch

from echo_ihg.audio import vad
from echo_ihg.io.media import load_audio

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> tuple[np.ndarray, int, int]:
    """1 s silence + espeak-ng speech + 1 s silence at 16 kHz -> (audio, first speech sample, last)."""
    wav = tmp_path_factory.mktemp("vad") / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), "The quick brown fox jumps over the lazy dog near the river bank."],
                   check=True, capture_output=True)
    words = load_audio(wav)
    loud = np.flatnonzero(np.abs(words) > 0.02)
    words = words[loud[0]:loud[-1] + 1]
    audio = np.concatenate([np.zeros(16000, np.float32), words, np.zeros(16000, np.float32)])
    return audio, 16000, 16000 + len(words)


@pytest.mark.parametrize("backend", ["silero", "webrtc"])
def test_speech_vs_silence_and_alignment(speech, backend):
    audio, on, off = speech
    p = vad.speech_probability(audio, backend=backend)
    assert p.shape == (len(audio) // 640,) and p.dtype == np.float32
    assert p.min() >= 0 and p.max() <= 1
    f_on, f_off = on // 640, off // 640
    assert p[: f_on - 3].max() < 0.2, "silence before the speech"
    assert p[f_off + 4:].max() < 0.2, "silence after the speech (allowing silero's hang-over)"
    assert p[f_on + 3: f_off - 3].mean() > 0.7, "speech"
    # onset: the first frame above 0.5 is within 3 frames (120 ms) of the true onset
    assert abs(int(np.argmax(p > 0.5)) - f_on) <= 3
    # shifting the audio by whole frames shifts the output by as many frames
    shifted = vad.speech_probability(np.concatenate([np.zeros(5 * 640, np.float32), audio]), backend=backend)
    assert abs(int(np.argmax(shifted > 0.5)) - int(np.argmax(p > 0.5)) - 5) <= 1


def test_silence_and_noise_are_not_speech():
    rng = np.random.default_rng(0)
    for audio in (np.zeros(3 * 16000, np.float32), (0.01 * rng.standard_normal(3 * 16000)).astype(np.float32)):
        assert vad.speech_probability(audio).max() < 0.2


def test_matches_silero_torchscript_model(speech):
    from echo_ihg.audio.features import single_thread

    audio = speech[0][16000 - 512 * 20: 16000 + 512 * 100]  # silence, then speech
    ours = vad._SileroStream().push(audio)
    threads = torch.get_num_threads()
    import silero_vad  # its import sets torch's thread count to 1

    torch.set_num_threads(threads)
    model = silero_vad.load_silero_vad()
    with torch.no_grad(), single_thread():  # 2 threads on a busy 2-core machine: 30x slower
        ref = model.audio_forward(torch.from_numpy(audio), 16000)[0].numpy()
    assert ref[:15].max() < 0.2 and ref[40:].mean() > 0.5  # the comparison covers both states
    assert ours.shape == ref.shape == (len(audio) // 512,)
    np.testing.assert_allclose(ours, ref, atol=1e-4)


def test_frame_probability_is_overlap_weighted_mean_of_windows():
    # windows 0..4 with probabilities 0, 1, 0, 1, 0 (each 512 samples) over frames of 640 samples
    cum = np.concatenate([[0.0], np.cumsum([0.0, 1.0, 0.0, 1.0, 0.0])])
    frames = vad._frame_means(cum, 512, 0, 4)
    # frame 0 = samples 0..639: 512 of window 0, 128 of window 1; frame 1 = 640..1279: 384 of w1, 256 of w2
    # frame 2 = 1280..1919: 256 of w2, 384 of w3; frame 3 = 1920..2559: 128 of w3, 512 of w4
    np.testing.assert_allclose(frames, [128 / 640, 384 / 640, 384 / 640, 128 / 640])


@pytest.mark.parametrize("backend", ["silero", "webrtc"])
def test_deterministic_and_streaming_equals_offline(speech, backend):
    audio = speech[0][:16000 * 3 + 123]
    a = vad.speech_probability(audio, backend=backend)
    b = vad.speech_probability(audio, backend=backend)
    np.testing.assert_array_equal(a, b)
    s = vad.VadStreamer(backend)
    parts = [s.push(audio[i:i + 999]) for i in range(0, len(audio), 999)] + [s.flush()]
    np.testing.assert_allclose(np.concatenate(parts), a, atol=1e-5)


@pytest.mark.parametrize("n", [0, 100, 639, 640, 1000, 16000])
def test_short_and_empty_audio(n):
    for backend in ("silero", "webrtc"):
        assert vad.speech_probability(np.zeros(n, np.float32), backend=backend).shape == (n // 640,)


def test_unknown_backend():
    with pytest.raises(ValueError, match="backend"):
        vad.speech_probability(np.zeros(640, np.float32), backend="nope")
