"""Log-mel: shape and 25 fps alignment, values against an independent numpy reference, streaming."""

import numpy as np
import pytest

from echo_ihg.audio.features import (LOG_FLOOR, MelStreamer, frames_for_audio, hz_to_mel, log_mel, mel_filterbank,
                                     mel_to_hz)


@pytest.mark.parametrize("n,T", [(0, 0), (639, 0), (640, 1), (1279, 1), (16000, 25), (16000 * 3 + 17, 75)])
def test_shape_and_frames_for_audio(n, T):
    assert frames_for_audio(n) == T
    out = log_mel(np.zeros(n, np.float32))
    assert out.shape == (4 * T, 80) and out.dtype == np.float32
    if T:
        assert np.allclose(out, np.log(LOG_FLOOR))  # silence sits at the floor


def test_filterbank_slaney_properties():
    fb = mel_filterbank()
    assert fb.shape == (80, 257)
    freqs = np.linspace(0, 8000, 257)
    centres = freqs[fb.argmax(1)]
    assert np.all(np.diff(centres) >= 0)  # ordered by frequency
    # Slaney normalisation: every triangle has area 1 over frequency (2 / bandwidth × bandwidth / 2),
    # up to the sampling of its triangle on the 31.25 Hz FFT grid (narrow low filters are sampled coarsely)
    area = fb.sum(1) * (freqs[1] - freqs[0])
    assert np.allclose(area[40:], 1.0, atol=0.02)
    # the scale is linear below 1 kHz (200/3 Hz per mel) and inverts exactly
    assert np.isclose(hz_to_mel(1000.0), 15.0) and np.isclose(hz_to_mel(200 / 3), 1.0)
    f = np.array([0.0, 300.0, 999.0, 1000.0, 4321.0, 8000.0])
    assert np.allclose(mel_to_hz(hz_to_mel(f)), f)


def _reference_log_mel_frame(audio: np.ndarray, j: int) -> np.ndarray:
    """Mel frame j by hand: the 400 samples [160 j − 120, 160 j + 280) (zeros outside), periodic Hann,
    512-point numpy FFT, power, filter bank, log."""
    n = np.arange(400)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / 400)
    start = 160 * j - 120
    seg = np.zeros(400)
    lo, hi = max(0, start), min(len(audio), start + 400)
    seg[lo - start:hi - start] = audio[lo:hi]
    power = np.abs(np.fft.rfft(seg * window, n=512)) ** 2
    return np.log(np.maximum(mel_filterbank().astype(np.float64) @ power, LOG_FLOOR))


def test_values_match_numpy_reference():
    rng = np.random.default_rng(0)
    audio = (0.2 * rng.standard_normal(16000)).astype(np.float32)
    out = log_mel(audio)
    for j in (0, 1, 2, 3, 50, 97, 98, 99):
        np.testing.assert_allclose(out[j], _reference_log_mel_frame(audio, j), atol=2e-4)


def test_sine_peaks_in_its_band_and_in_its_video_frame():
    sr, f0 = 16000, 1500.0
    t = np.arange(sr) / sr
    audio = np.zeros(2 * sr, np.float32)
    # the tone fills exactly video frames 10..19 (samples 6400..12800)
    audio[6400:12800] = 0.5 * np.sin(2 * np.pi * f0 * t[:6400])
    out = log_mel(audio)
    fb_centres = np.linspace(0, 8000, 257)[mel_filterbank().argmax(1)]
    expected_bin = int(np.argmin(np.abs(fb_centres - f0)))
    inside = out[4 * 10 + 1:4 * 20 - 1]
    assert np.all(np.abs(inside.argmax(1) - expected_bin) <= 1)
    energy = out.max(1)
    # mel frames of video frames 0..9 and 21.. see (almost) nothing: their windows end before / start after
    assert energy[:4 * 10 - 2].max() < np.log(LOG_FLOOR) + 1e-3
    assert energy[4 * 20 + 2:].max() < np.log(LOG_FLOOR) + 1e-3
    assert energy[4 * 10:4 * 20].min() > 0


def test_streaming_equals_offline():
    rng = np.random.default_rng(1)
    audio = (0.1 * rng.standard_normal(16000 * 2 + 333)).astype(np.float32)
    offline = log_mel(audio)
    for size in (1, 100, 640, 777, 5000):
        s = MelStreamer()
        rows = [s.push(audio[i:i + size]) for i in range(0, len(audio), size)] + [s.flush()]
        streamed = np.concatenate(rows)
        assert streamed.shape == offline.shape
        np.testing.assert_allclose(streamed, offline, atol=1e-5)
    # look-ahead: frame t is out once sample 640 (t + 1) + 120 has arrived
    s = MelStreamer()
    assert len(s.push(audio[:759])) == 0 and len(s.push(audio[759:760])) == 4


def test_blockwise_computation_equals_one_block(monkeypatch):
    import echo_ihg.audio.features as F

    audio = (0.1 * np.random.default_rng(2).standard_normal(16000)).astype(np.float32)
    whole = F.log_mel(audio)
    monkeypatch.setattr(F, "_BLOCK_FRAMES", 7)  # long recordings are done in blocks of frames
    np.testing.assert_allclose(F.log_mel(audio), whole, atol=1e-5)
