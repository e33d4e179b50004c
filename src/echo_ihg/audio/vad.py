"""Voice activity per 25 fps video frame: silero-vad (default) or webrtcvad.

silero backend. The network and weights are silero-vad's own, bundled in the `silero-vad` package: the
16 kHz branch of the TorchScript model that `silero_vad.load_silero_vad()` returns (`silero_vad/data/
silero_vad.jit`; its weights are copied out at load). The network is re-implemented here in plain torch so that the non-recurrent part (STFT conv and
four conv layers) runs batched over all windows at once and only the LSTM steps run in sequence; the
outputs equal the TorchScript model's to float precision (tests check it). Windows are 512 samples
(32 ms) at 16 kHz; each window sees the 64 samples before it as context (zeros before the start), exactly
as the reference implementation does.

webrtc backend (`backend="webrtc"`, or the fallback when the silero files are missing): webrtcvad on
20 ms (320-sample) windows, aggressiveness `mode` 0–3; its binary decisions are the window probabilities.

Alignment to video frames. A window's probability is taken to hold for each of its samples; the speech
probability of video frame t is the mean of that piecewise-constant signal over the frame's samples
[640 t, 640 t + 640), i.e. the overlap-weighted mean of the (2 or 3 silero, exactly 2 webrtc) windows
that touch the frame. Silero's decision for a window depends on the audio up to the window's end, so a
frame's value depends on at most 511 samples (32 ms) after the frame. Samples after the end of the audio are
zeros. Output: (T,) float32 in [0, 1] with T = floor(N / 640). Both backends are deterministic.
`VadStreamer` gives the same values chunk by chunk.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from echo_ihg.audio.features import check_audio, frames_for_audio, single_thread
from echo_ihg.constants import SAMPLE_RATE, SAMPLES_PER_FRAME
from echo_ihg.errors import EchoError

log = logging.getLogger(__name__)

SILERO_WINDOW = 512
SILERO_CONTEXT = 64
WEBRTC_WINDOW = 320  # 20 ms
_BLOCK = 4096  # windows encoded per batch (bounded memory on hour-long audio)


def _dist_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "missing"


SILERO_VERSION = f"vad-v1-silero{_dist_version('silero-vad')}-w512-overlapmean"
WEBRTC_VERSION = "vad-v1-webrtc-w320-mode{mode}-overlapmean"
VERSION = SILERO_VERSION  # version of the default backend, for the session cache


def version(backend: str = "silero", mode: int = 2) -> str:
    """Cache version string of a backend configuration."""
    return SILERO_VERSION if backend == "silero" else WEBRTC_VERSION.format(mode=mode)


def silero_weights_path() -> Path:
    """The bundled silero TorchScript model, located without importing `silero_vad` (its import sets
    torch's global thread count to 1)."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise EchoError("silero-vad is not installed (pip install silero-vad), or use backend='webrtc'")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "silero_vad.jit"
    if not path.is_file():
        raise EchoError(f"{path}: silero-vad's bundled model is missing")
    return path


class SileroNet(nn.Module):
    """silero-vad v5/v6 16 kHz network. Pure predictor: windows (W, 576) + LSTM state -> probabilities."""

    def __init__(self) -> None:
        super().__init__()
        self.stft_conv = nn.Conv1d(1, 258, kernel_size=256, stride=128, bias=False)
        self.conv1 = nn.Conv1d(129, 128, 3, padding=1)
        self.conv2 = nn.Conv1d(128, 64, 3, stride=2, padding=1)
        self.conv3 = nn.Conv1d(64, 64, 3, stride=2, padding=1)
        self.conv4 = nn.Conv1d(64, 128, 3, padding=1)
        self.lstm = nn.LSTM(128, 128)  # the reference's LSTMCell, run over the window sequence
        self.final = nn.Conv1d(128, 1, 1)

    @classmethod
    def from_jit(cls, path: Path) -> "SileroNet":
        """Copy the 16 kHz weights out of silero's TorchScript model (the one load_silero_vad() returns)."""
        sd = torch.jit.load(str(path), map_location="cpu").state_dict()
        net = cls()
        ours = {"stft_conv.weight": "stft.forward_basis_buffer",
                **{f"conv{i + 1}.{w}": f"encoder.{i}.reparam_conv.{w}" for i in range(4) for w in ("weight", "bias")},
                **{f"lstm.{w}_l0": f"decoder.rnn.{w}" for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")},
                "final.weight": "decoder.decoder.2.weight", "final.bias": "decoder.decoder.2.bias"}
        net.load_state_dict({k: sd[f"_model.{v}"] for k, v in ours.items()}, strict=True)
        return net.eval()

    def encode(self, windows: torch.Tensor) -> torch.Tensor:
        """windows (W, 64 + 512) -> features (W, 128); windows are independent here."""
        x = F.pad(windows.unsqueeze(1), (0, SILERO_CONTEXT), mode="reflect")
        x = self.stft_conv(x)
        x = torch.sqrt(x[:, :129].square() + x[:, 129:].square())
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            x = F.relu(conv(x))
        return x.squeeze(-1)

    def forward(self, windows: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """windows (W, 576) in time order, state (h, c) each (1, 1, 128) or None -> probs (W,), new state."""
        h, state = self.lstm(self.encode(windows).unsqueeze(1), state)
        logits = self.final(F.relu(h.squeeze(1)).unsqueeze(-1))
        return torch.sigmoid(logits).reshape(-1), state


@functools.lru_cache(maxsize=1)
def silero_net() -> SileroNet:
    """The bundled Silero VAD network, loaded once per process."""
    return SileroNet.from_jit(silero_weights_path())


class _WindowModel:
    """Window probabilities of a growing stream: push samples, get probabilities of completed windows."""

    window: int

    def push(self, samples: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class _SileroStream(_WindowModel):
    window = SILERO_WINDOW

    def __init__(self) -> None:
        self.net = silero_net()
        self.state: tuple[torch.Tensor, torch.Tensor] | None = None
        self.buf = np.zeros(SILERO_CONTEXT, np.float32)  # context + samples of the incomplete window

    def push(self, samples: np.ndarray) -> np.ndarray:
        self.buf = np.concatenate([self.buf, samples])
        n = (len(self.buf) - SILERO_CONTEXT) // SILERO_WINDOW
        if n == 0:
            return np.zeros(0, np.float32)
        x = torch.from_numpy(self.buf)
        # window k = [64 context | 512 samples] starting at 512 k in the buffer (overlapping views)
        windows = x[: SILERO_CONTEXT + n * SILERO_WINDOW].unfold(0, SILERO_CONTEXT + SILERO_WINDOW, SILERO_WINDOW)
        out = []
        with torch.no_grad(), single_thread():
            for s in range(0, n, _BLOCK):
                p, self.state = self.net(windows[s:s + _BLOCK], self.state)
                out.append(p.numpy())
        self.buf = self.buf[n * SILERO_WINDOW:]
        return np.concatenate(out)


class _WebrtcStream(_WindowModel):
    window = WEBRTC_WINDOW

    def __init__(self, mode: int = 2) -> None:
        try:
            import webrtcvad
        except ImportError:
            raise EchoError("webrtcvad is not installed (pip install webrtcvad-wheels)") from None
        if mode not in (0, 1, 2, 3):
            raise ValueError(f"webrtcvad mode must be 0..3, got {mode}")
        self.vad = webrtcvad.Vad(mode)
        self.buf = np.zeros(0, np.float32)

    def push(self, samples: np.ndarray) -> np.ndarray:
        self.buf = np.concatenate([self.buf, samples])
        n = len(self.buf) // WEBRTC_WINDOW
        pcm = (np.clip(self.buf[: n * WEBRTC_WINDOW], -1, 1) * 32767).round().astype("<i2").tobytes()
        step = 2 * WEBRTC_WINDOW
        out = np.array([self.vad.is_speech(pcm[i * step:(i + 1) * step], SAMPLE_RATE) for i in range(n)],
                       np.float32)
        self.buf = self.buf[n * WEBRTC_WINDOW:]
        return out


def _make_model(backend: str, mode: int) -> _WindowModel:
    if backend == "silero":
        try:
            return _SileroStream()
        except EchoError as exc:
            log.warning("silero-vad unavailable (%s); falling back to webrtcvad", exc)
            return _WebrtcStream(mode)
    if backend == "webrtc":
        return _WebrtcStream(mode)
    raise ValueError(f"unknown VAD backend {backend!r} (silero or webrtc)")


def _frame_means(cum: np.ndarray, window: int, t0: int, t1: int) -> np.ndarray:
    """Mean of the piecewise-constant window probability over frames t0..t1-1.

    cum: (W+1,) float64 cumulative sums of window probabilities (cum[0] = 0); needs 640 t1 <= window W.
    """
    def integral(s: np.ndarray) -> np.ndarray:  # ∫ over samples [0, s)
        k = s // window
        nxt = cum[np.minimum(k + 1, len(cum) - 1)]
        return window * cum[k] + (nxt - cum[k]) * (s - k * window)

    edges = np.arange(t0, t1 + 1, dtype=np.int64) * SAMPLES_PER_FRAME
    return (np.diff(integral(edges)) / SAMPLES_PER_FRAME).astype(np.float32)


class VadStreamer:
    """Per-frame speech probability chunk by chunk, equal to `speech_probability` on the whole audio.

    push(chunk) -> (k,) probabilities of the k video frames completed so far; flush() -> the rest up to
    floor(N / 640), padding the last window with zeros.
    """

    def __init__(self, backend: str = "silero", mode: int = 2) -> None:
        self.model = _make_model(backend, mode)
        self._cum = [np.zeros(1)]  # cumulative window probabilities, in pieces
        self._cum_last = 0.0
        self._n_windows = 0
        self._n_in = 0
        self._t = 0

    def _add(self, probs: np.ndarray) -> None:
        if len(probs):
            # cumsum starting from the previous total gives the same values as one cumsum over everything
            c = np.cumsum(np.concatenate([[self._cum_last], probs.astype(np.float64)]))[1:]
            self._cum.append(c)
            self._cum_last = float(c[-1])
            self._n_windows += len(probs)

    def _emit(self, t1: int) -> np.ndarray:
        if t1 <= self._t:
            return np.zeros(0, np.float32)
        cum = np.concatenate(self._cum)
        self._cum = [cum]
        out = _frame_means(cum, self.model.window, self._t, t1)
        self._t = t1
        return out

    def push(self, chunk: np.ndarray) -> np.ndarray:
        chunk = check_audio(chunk)
        self._n_in += len(chunk)
        self._add(self.model.push(chunk))
        return self._emit(min(frames_for_audio(self._n_in),
                              self._n_windows * self.model.window // SAMPLES_PER_FRAME))

    def flush(self) -> np.ndarray:
        T = frames_for_audio(self._n_in)
        short = T * SAMPLES_PER_FRAME - self._n_windows * self.model.window
        if short > 0:
            self._add(self.model.push(np.zeros(short + self.model.window - 1, np.float32)))
        return self._emit(T)


def speech_probability(audio: np.ndarray, backend: str = "silero", mode: int = 2) -> np.ndarray:
    """Speech probability per 25 fps frame of 16 kHz mono audio (N,) -> (T,) float32, T = floor(N / 640)."""
    audio = check_audio(audio)
    T = frames_for_audio(len(audio))
    s = VadStreamer(backend, mode)
    # windows past frame T are never needed: feed only what the last frame's windows can touch
    win = s.model.window
    need = -(-T * SAMPLES_PER_FRAME // win) * win
    first = s.push(audio[:need])
    rest = s.flush()
    return np.concatenate([first, rest])
