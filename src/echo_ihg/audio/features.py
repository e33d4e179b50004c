"""Log-mel features aligned to the 25 fps video clock, computed with `torch.stft`.

Parameters (from `echo_ihg.constants`): 16 kHz mono, 80 mel bins, hop 160 samples (10 ms), Hann window of
400 samples (25 ms) zero-padded to a 512-point FFT, power spectrum, Slaney mel filter bank (librosa's
default: `htk=False, norm="slaney"`, 0–8000 Hz), natural log with a floor: `ln(max(mel, 1e-5))`.

Alignment. Mel frame j describes the 10 ms hop [160 j, 160 j + 160) and its 25 ms window is centred on that
hop, i.e. covers samples [160 j − 120, 160 j + 280). Video frame t covers samples [640 t, 640 t + 640), so
the four mel frames 4t .. 4t+3 are exactly the hops that tile video frame t. Samples before 0 or after the
end of the audio are zeros. An audio of N samples has T = floor(N / 640) video frames (a partial last frame
is dropped) and therefore 4T mel frames.

`MelStreamer` gives the same values chunk by chunk: it emits the 4 mel frames of video frame t as soon as
sample 640 (t + 1) + 120 has arrived (120 samples = 7.5 ms look-ahead), and `flush()` completes the tail
with zeros exactly as the offline function does.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Iterator

import numpy as np
import torch

from echo_ihg.constants import MEL_HOP, MEL_WIN, MELS_PER_FRAME, N_FFT, N_MELS, SAMPLE_RATE, SAMPLES_PER_FRAME
from echo_ihg.errors import InputError

VERSION = "logmel-v1-slaney80-hop160-win400-fft512-ln1e-5-centred"

LOG_FLOOR = 1e-5
SILENCE = float(np.log(LOG_FLOOR))   # log-mel of digital silence: the padding of every stage
# Left padding so that frame j's window is centred on its hop: centre 160 j + 80, half window 200.
PAD_LEFT = MEL_WIN // 2 - MEL_HOP // 2  # 120
LOOKAHEAD = MEL_WIN - MEL_HOP - PAD_LEFT  # 120 samples past the end of a video frame
_BLOCK_FRAMES = 12_000  # 2 minutes of mel frames per torch.stft call


def frames_for_audio(n_samples: int) -> int:
    """Number of whole 25 fps video frames in `n_samples` samples of 16 kHz audio (a partial frame is dropped)."""
    return int(n_samples) // SAMPLES_PER_FRAME


def check_audio(audio: np.ndarray) -> np.ndarray:
    """Mono float audio (N,) as float32; (N, 1) is accepted. Raises InputError for other shapes or NaN/inf."""
    audio = np.asarray(audio)
    if audio.ndim == 2 and 1 in audio.shape:
        audio = audio.reshape(-1)
    if audio.ndim != 1:
        raise InputError(None, f"audio must be mono (N,) samples, got shape {audio.shape} "
                               "(decode files with echo_ihg.io.media.load_audio, which downmixes)")
    if not np.issubdtype(audio.dtype, np.floating):
        raise InputError(None, f"audio must be float samples in [-1, 1], got dtype {audio.dtype}")
    audio = audio.astype(np.float32, copy=False)
    if not np.isfinite(audio).all():
        raise InputError(None, "audio contains NaN or infinite samples")
    return audio


# Slaney's auditory-toolbox mel scale (librosa `htk=False`): linear below 1 kHz, logarithmic above
_F_SP = 200.0 / 3  # Hz per mel in the linear part
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(freq: np.ndarray | float) -> np.ndarray:
    """Hz -> Slaney mel (float64)."""
    freq = np.asarray(freq, dtype=np.float64)
    return np.where(freq >= _MIN_LOG_HZ, _MIN_LOG_MEL + np.log(np.maximum(freq, 1e-12) / _MIN_LOG_HZ) / _LOGSTEP,
                    freq / _F_SP)


def mel_to_hz(mels: np.ndarray | float) -> np.ndarray:
    """Slaney mel -> Hz (float64); the inverse of `hz_to_mel`."""
    mels = np.asarray(mels, dtype=np.float64)
    return np.where(mels >= _MIN_LOG_MEL, _MIN_LOG_HZ * np.exp(_LOGSTEP * (mels - _MIN_LOG_MEL)), _F_SP * mels)


@functools.lru_cache(maxsize=8)
def mel_filterbank(sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS,
                   fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """Slaney-normalised triangular mel filters (as librosa.filters.mel defaults). -> (n_mels, n_fft//2+1) f32.

    Each triangle is scaled by 2 / (its bandwidth in Hz) so that filters have equal area (constant energy
    per band for white noise), which is what librosa and most speech models expect.
    """
    fmax = sample_rate / 2 if fmax is None else fmax
    fft_freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    hz_points = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(hz_points)
    ramps = hz_points[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (hz_points[2:] - hz_points[:-2]))[:, None]
    weights.flags.writeable = False
    return weights.astype(np.float32)


@contextlib.contextmanager
def single_thread(enabled: bool = True) -> Iterator[None]:
    """Run torch on one thread inside the block; the audio front end always does.

    Its ops are small (a 257 × 80 matmul, convolutions over 4 STFT frames), so splitting them over threads
    costs more than it saves, and when other processes keep the cores busy each parallel op waits for a
    descheduled thread. Measured on the loaded 2-core machine (bench/audio.py, 60 s of speech): log-mel
    28 ms on one thread vs 384 ms on two, VAD 95 vs 1388 ms, streaming VAD 3 vs 60 ms per 40 ms chunk.
    torch's thread count is process-wide, so it is restored on exit.
    """
    n = torch.get_num_threads()
    if not enabled or n == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


@functools.lru_cache(maxsize=1)
def _torch_constants() -> tuple[torch.Tensor, torch.Tensor]:
    window = torch.hann_window(MEL_WIN, periodic=True, dtype=torch.float32)
    fb = torch.from_numpy(np.ascontiguousarray(mel_filterbank().T))  # (257, 80)
    return window, fb


def _mel_from_padded(padded: torch.Tensor, n_frames: int) -> np.ndarray:
    """padded: (≥ 160 (n_frames − 1) + 400,) samples whose index 0 is original sample −120. -> (n_frames, 80)."""
    if n_frames == 0:
        return np.zeros((0, N_MELS), np.float32)
    window, fb = _torch_constants()
    seg = padded[: MEL_HOP * (n_frames - 1) + MEL_WIN]
    # torch.stft frames are n_fft long with the 400-sample window zero-padded to their centre; pad by 56
    # so each window lands on [160 j, 160 j + 400). Samples under the zero part of the window contribute
    # exactly nothing, so these pad zeros never change a value (streaming relies on this).
    edge = (N_FFT - MEL_WIN) // 2
    seg = torch.nn.functional.pad(seg, (edge, edge))
    spec = torch.stft(seg, n_fft=N_FFT, hop_length=MEL_HOP, win_length=MEL_WIN, window=window,
                      center=False, return_complex=True)  # (257, n_frames)
    power = spec.real.square() + spec.imag.square()
    mel = power.T.matmul(fb)
    return torch.log(torch.clamp(mel, min=LOG_FLOOR)).numpy()


def log_mel(audio: np.ndarray) -> np.ndarray:
    """Log-mel of 16 kHz mono audio (N,) float in [-1, 1] -> (4T, 80) float32 with T = floor(N / 640).

    Rows 4t .. 4t+3 belong to video frame t (see the module docstring for the exact sample spans).
    """
    audio = check_audio(audio)
    n_frames = MELS_PER_FRAME * frames_for_audio(len(audio))
    need = MEL_HOP * (n_frames - 1) + MEL_WIN  # padded samples used by the last frame
    x = torch.from_numpy(audio[: max(0, need - PAD_LEFT)])
    padded = torch.nn.functional.pad(x, (PAD_LEFT, max(0, need - PAD_LEFT - len(x))))
    out = np.empty((n_frames, N_MELS), np.float32)
    with torch.no_grad(), single_thread():
        # blocks of frames bound the complex spectrogram's memory on long recordings (~25 MB per block)
        for j in range(0, n_frames, _BLOCK_FRAMES):
            k = min(_BLOCK_FRAMES, n_frames - j)
            out[j:j + k] = _mel_from_padded(padded[MEL_HOP * j:], k)
    return out


class MelStreamer:
    """Chunk-by-chunk log-mel with the same values as `log_mel` on the concatenated audio.

        s = MelStreamer()
        for chunk in chunks: rows = s.push(chunk)   # (4k, 80) for k newly complete video frames
        rows = s.flush()                            # the remaining frames, tail padded with zeros

    Video frame t is emitted once sample 640 (t + 1) + 120 is available (120-sample look-ahead).
    """

    def __init__(self) -> None:
        self._buf = np.zeros(PAD_LEFT, np.float32)  # padded-coordinate samples from the next frame's start
        self._n_in = 0  # original samples received
        self._t = 0  # video frames emitted

    @property
    def frames_emitted(self) -> int:
        return self._t

    def push(self, chunk: np.ndarray) -> np.ndarray:
        chunk = check_audio(chunk)
        self._buf = np.concatenate([self._buf, chunk])
        self._n_in += len(chunk)
        # frame t needs padded samples up to 640 t + 880 relative to the stream start
        k = max(0, (len(self._buf) - (MEL_WIN - MEL_HOP)) // SAMPLES_PER_FRAME)
        return self._emit(k)

    def flush(self) -> np.ndarray:
        """Emit the frames left up to floor(N / 640), padding the look-ahead with zeros; resets nothing."""
        k = frames_for_audio(self._n_in) - self._t
        if k <= 0:
            return np.zeros((0, N_MELS), np.float32)
        need = SAMPLES_PER_FRAME * k + MEL_WIN - MEL_HOP
        if len(self._buf) < need:
            self._buf = np.concatenate([self._buf, np.zeros(need - len(self._buf), np.float32)])
        return self._emit(k)

    def _emit(self, k: int) -> np.ndarray:
        if k <= 0:
            return np.zeros((0, N_MELS), np.float32)
        with torch.no_grad(), single_thread():
            out = _mel_from_padded(torch.from_numpy(self._buf), MELS_PER_FRAME * k)
        self._buf = self._buf[SAMPLES_PER_FRAME * k:]
        self._t += k
        return out
