"""Lip-sync expert on motion: a contrastive audio-window <-> lip-motion-window model (SyncNet's idea,
on the motion codec's lips/jaw coefficients instead of pixels), and the LSE-D / LSE-C analogues it gives.

    model = SyncExpert.load(path)                    # or default_sync_expert()
    scores = sync_metrics(model, mel, lips)          # mel (4T, 80) log-mel, lips (T, L) codec lips_jaw
    # {"lse_d", "lse_c", "offset", "d_zero", ...}: `echo_ihg.eval.metrics.sync_scores` on the embeddings

Each frame t gets two embeddings from the window of `window` frames centred on t (edges repeated):
one from the avatar's log-mel rows of those frames (4 per frame), one from the lip coefficients and their
frame differences. Both are L2-normalised; training (`echo_ihg.eval.sync_train`) pulls the aligned pair
together against shifted windows of the same clip and windows of other clips (InfoNCE).
The network is a pure predictor; normalisation statistics of the training data are buffers in it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from echo_ihg.constants import MELS_PER_FRAME, N_MELS
from echo_ihg.errors import InputError
from echo_ihg.eval.metrics import sync_scores
from echo_ihg.utils.atomic import atomic_path, write_json
from echo_ihg.utils.config import config_from_dict, config_to_dict

FORMAT = "echo-ihg-sync-expert"
VERSION = 1


@dataclass(frozen=True)
class SyncExpertConfig:
    """window: video frames per window (odd, centred); lip_dims: size of the codec's lips_jaw block."""

    window: int = 5
    lip_dims: int = 16
    n_mels: int = N_MELS
    hidden: int = 128
    embed: int = 64

    def __post_init__(self) -> None:
        if self.window < 1 or self.window % 2 == 0:
            raise InputError(None, f"sync expert window must be a positive odd number of frames, got {self.window}")


class SyncExpert(nn.Module):
    """forward(mel_win (B, 4W, n_mels), lip_win (B, W, L)) -> (audio_emb, lip_emb), each (B, E), unit norm."""

    def __init__(self, config: SyncExpertConfig) -> None:
        super().__init__()
        c = self.config = config
        self.codec_file: Path | None = None      # the codec it was trained on (None: the package's default)
        self._codec = None                       # loaded on first use (`expert_codec`)
        self.register_buffer("mel_mean", torch.zeros(c.n_mels))
        self.register_buffer("mel_std", torch.ones(c.n_mels))
        self.register_buffer("lip_mean", torch.zeros(c.lip_dims))
        self.register_buffer("lip_std", torch.ones(c.lip_dims))
        steps = MELS_PER_FRAME * c.window
        self.audio = nn.Sequential(
            nn.Conv1d(c.n_mels, c.hidden, 3, padding=1), nn.GELU(),
            nn.Conv1d(c.hidden, c.hidden, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv1d(c.hidden, c.hidden, 3, stride=2, padding=1), nn.GELU(),
            nn.Flatten(), nn.Linear(c.hidden * ((steps + 3) // 4), c.hidden), nn.GELU(),
            nn.Linear(c.hidden, c.embed))
        self.lips = nn.Sequential(
            nn.Flatten(), nn.Linear(2 * c.window * c.lip_dims, c.hidden), nn.GELU(),
            nn.Linear(c.hidden, c.hidden), nn.GELU(), nn.Linear(c.hidden, c.embed))

    def embed_audio(self, mel_win: torch.Tensor) -> torch.Tensor:
        x = (mel_win - self.mel_mean) / self.mel_std
        return F.normalize(self.audio(x.transpose(1, 2)), dim=-1)

    def embed_lips(self, lip_win: torch.Tensor) -> torch.Tensor:
        x = (lip_win - self.lip_mean) / self.lip_std
        # frame differences carry the articulation timing; the first frame's difference is 0
        dx = torch.cat([torch.zeros_like(x[:, :1]), x[:, 1:] - x[:, :-1]], 1)
        return F.normalize(self.lips(torch.cat([x, dx], -1)), dim=-1)

    def forward(self, mel_win: torch.Tensor, lip_win: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.embed_audio(mel_win), self.embed_lips(lip_win)

    def set_normalisation(self, mel: np.ndarray, lips: np.ndarray) -> None:
        """Per-channel mean/std of training log-mel rows (N, n_mels) and lip frames (N, L)."""
        with torch.no_grad():
            for name, x in (("mel", mel), ("lip", lips)):
                x = torch.as_tensor(np.asarray(x, np.float64))
                getattr(self, f"{name}_mean").copy_(x.mean(0))
                getattr(self, f"{name}_std").copy_(x.std(0).clamp_min(1e-4))

    # -- persistence ----------------------------------------------------------------------------------
    def save(self, path: str | Path, info: dict | None = None) -> None:
        """`path`.safetensors (weights) + `path`.json (format, version, config, info), both atomic."""
        from safetensors.torch import save_file

        path = Path(path).with_suffix("")
        with atomic_path(path.with_suffix(".safetensors")) as tmp:
            save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(tmp))
        write_json(path.with_suffix(".json"), {"format": FORMAT, "version": VERSION,
                                               "config": config_to_dict(self.config), "info": info or {}})

    @classmethod
    def load(cls, path: str | Path) -> "SyncExpert":
        from echo_ihg.utils.readers import load_safetensors

        path = Path(path).with_suffix("")
        meta_path, weights = path.with_suffix(".json"), path.with_suffix(".safetensors")
        for p in (meta_path, weights):
            if not p.is_file():
                raise InputError(p, "sync expert file not found")
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("format") != FORMAT:
                raise InputError(meta_path, f"not a sync expert (format {meta.get('format')!r})")
            model = cls(config_from_dict(SyncExpertConfig, meta["config"]))
            state = load_safetensors(weights, missing="sync expert file not found")
        except InputError:
            raise
        except Exception as exc:
            raise InputError(path, f"cannot read sync expert ({type(exc).__name__}: {exc})") from exc
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise InputError(weights, f"weights do not match the config: {str(exc).splitlines()[0]}") from exc
        model.codec_file = _codec_file(meta.get("info", {}).get("codec", ""), path.parent)
        return model.eval()

    def expert_codec(self):
        """The motion codec whose lips_jaw coefficients this expert was trained on (loaded once)."""
        from echo_ihg.motion.codec import MotionCodec, default_codec

        if self._codec is None:
            self._codec = MotionCodec.load(self.codec_file) if self.codec_file else default_codec()
        return self._codec


def _codec_file(name: str, folder: Path) -> Path | None:
    """The expert's codec: "" = the package's default codec (what `train-sync` uses without --codec)."""
    if not name:
        return None
    p = Path(name)
    return p if p.is_absolute() else folder / p


def same_lips_space(a, b) -> bool:
    """Whether two motion codecs give the same lips_jaw coefficients for the same face (same lip basis)."""
    if a is b:
        return True
    la, lb = a.layout.get("lips_jaw"), b.layout.get("lips_jaw")
    ba, bb = a.bases.get("lips_jaw"), b.bases.get("lips_jaw")
    return (la == lb and ba is not None and bb is not None and ba.basis.shape == bb.basis.shape
            and np.array_equal(ba.basis, bb.basis) and np.array_equal(ba.mean, bb.mean))


def expert_lips(expert: "SyncExpert", motion: np.ndarray, codec, neutral: np.ndarray | None,
                neutral_aspect: float = 1.0) -> np.ndarray:
    """Lip coefficients (T, L) of raw motion codes (T, D) of `codec`, in the expert's own codec space.

    Lip coefficients are PCA coordinates of one codec: another codec (e.g. one fitted on a training corpus)
    has another basis, so its lips are decoded to landmarks with the avatar's neutral face and re-encoded with
    the expert's codec (in a square frame; neutral_aspect: the neutral's own frame). Without a neutral face the
    codecs must share the lip basis."""
    target = expert.expert_codec()
    if same_lips_space(codec, target):
        return np.asarray(motion)[:, codec.layout["lips_jaw"]]
    if neutral is None:
        raise ValueError("the motion codec differs from the sync expert's and no neutral face was given to "
                         "convert between them")
    landmarks = codec.decode(np.asarray(motion, np.float32), neutral, 1.0, neutral_aspect=neutral_aspect)
    return target.encode(landmarks, neutral, 1.0, neutral_aspect=neutral_aspect)[:, target.layout["lips_jaw"]]


# ----------------------------------------------------------------------------------------------
# Windows and scoring
# ----------------------------------------------------------------------------------------------

def centred_windows(x: np.ndarray, window: int) -> np.ndarray:
    """(T, ...) -> (T, window, ...): frames t - window//2 .. t + window//2, edge frames repeated."""
    half = window // 2
    idx = np.clip(np.arange(len(x))[:, None] + np.arange(-half, half + 1)[None], 0, len(x) - 1)
    return np.asarray(x)[idx]


def mel_windows(mel: np.ndarray, window: int) -> np.ndarray:
    """Log-mel (4T, n_mels) -> (T, 4 window, n_mels): the mel rows of each frame's centred window."""
    mel = np.asarray(mel, np.float32)
    if mel.ndim != 2 or len(mel) % MELS_PER_FRAME:
        raise ValueError(f"mel must be (4T, n_mels) with 4 rows per video frame, got {mel.shape}")
    per_frame = mel.reshape(len(mel) // MELS_PER_FRAME, MELS_PER_FRAME, mel.shape[1])
    w = centred_windows(per_frame, window)  # (T, W, 4, n_mels)
    return w.reshape(len(w), window * MELS_PER_FRAME, mel.shape[1])


def _check_pair(model: SyncExpert, mel: np.ndarray, lips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mel, lips = np.asarray(mel, np.float32), np.asarray(lips, np.float32)
    if lips.ndim != 2 or lips.shape[1] != model.config.lip_dims:
        raise ValueError(f"lips must be (T, {model.config.lip_dims}), got {lips.shape}")
    if mel.ndim != 2 or mel.shape != (MELS_PER_FRAME * len(lips), model.config.n_mels):
        raise ValueError(f"mel must be ({MELS_PER_FRAME * len(lips)}, {model.config.n_mels}) for {len(lips)} "
                         f"frames, got {mel.shape}")
    if not (np.isfinite(mel).all() and np.isfinite(lips).all()):
        raise ValueError("mel or lips contain NaN/inf")
    return mel, lips


@torch.no_grad()
def embed_sequence(model: SyncExpert, mel: np.ndarray, lips: np.ndarray, batch: int = 2048
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame embeddings of one clip: (lip_emb (T, E), audio_emb (T, E))."""
    mel, lips = _check_pair(model, mel, lips)
    w = model.config.window
    mw, lw = mel_windows(mel, w), centred_windows(lips, w)
    a_out, v_out = [], []
    for s in range(0, len(lips), batch):
        a, v = model(torch.from_numpy(mw[s:s + batch]), torch.from_numpy(lw[s:s + batch]))
        a_out.append(a.numpy())
        v_out.append(v.numpy())
    return np.concatenate(v_out), np.concatenate(a_out)


def sync_metrics(model: SyncExpert, mel: np.ndarray, lips: np.ndarray, max_offset: int = 15,
                 mask: np.ndarray | None = None) -> dict:
    """LSE-D / LSE-C analogues of a clip: `sync_scores` (min over ±max_offset frame shifts of the mean
    embedding distance; median - min; the offset; the distance at offset 0) on `embed_sequence`.
    mask (T,) restricts the frames (e.g. the avatar's speaking frames)."""
    v, a = embed_sequence(model, mel, lips)
    return sync_scores(v, a, max_offset, mask)


DEFAULT_EXPERT = "sync_expert"  # asset name: assets/sync_expert.{safetensors,json}


def default_sync_expert() -> SyncExpert:
    """The bundled expert (trained by `echo-ihg train-sync` on the synthetic corpus; see its .json)."""
    from echo_ihg.assets import asset_path

    return SyncExpert.load(asset_path(f"{DEFAULT_EXPERT}.safetensors"))

