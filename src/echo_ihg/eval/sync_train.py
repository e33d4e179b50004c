"""Training and validation of the motion lip-sync expert (`echo_ihg.eval.sync_expert`).

Data: every participant of every session of a split gives one clip: its own log-mel (cached
`session_mel`) and its own lips/jaw motion (the motion codec's `lips_jaw` block of its tracked landmarks,
in codec units; the motion is the generator's cached training feature, `data.train_features`). Only frames where that participant speaks (VAD >= threshold) are used as
anchors: silent windows carry no audio-visual timing.

Loss: symmetric InfoNCE between the audio and lip embeddings of a batch. Half of each batch are random
anchors, the other half the same clips shifted by min_shift..max_shift frames, so every anchor has a
temporally shifted window of its own clip among its negatives: the expert must learn timing, not only
who is speaking.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from echo_ihg.errors import InputError
from echo_ihg.eval.sync_expert import (SyncExpert, SyncExpertConfig, centred_windows, mel_windows,
                                       sync_metrics)
from echo_ihg.utils.progress import progress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncTrainConfig:
    steps: int = 1500
    batch: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-4
    temperature: float = 0.07
    min_shift: int = 3
    max_shift: int = 15
    speech_threshold: float = 0.5
    seed: int = 0
    threads: int = 1   # torch threads while training: the model is small, so extra threads mostly
                       # add synchronisation (README, thread defaults)
    window: int = 5
    hidden: int = 128
    embed: int = 64


@dataclass
class SyncClip:
    """One participant's own audio and lips. mel (4T, 80), lips (T, L), speech (T,) bool."""

    name: str
    mel: np.ndarray
    lips: np.ndarray
    speech: np.ndarray


# ----------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------

def raw_participant_motion(session_dir: str | Path, who: str, codec) -> np.ndarray:
    """(T, D) codec motion of one participant in codec units (not normalised): the cached training
    features of `echo_ihg.data.train_features` (same neutral face, same cache), de-normalised."""
    from echo_ihg.data.train_features import participant_motion

    return codec.denormalise(participant_motion(Path(session_dir), who, codec))


def corpus_info(root: str | Path) -> dict:
    """What a corpus says about itself (manifest.json of `echo-ihg synth`: generator version and config),
    kept with a trained expert so that it can be reproduced; {} when there is no manifest."""
    import json

    path = Path(root) / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: manifest[k] for k in ("synth_version", "config") if k in manifest}


def load_clips(root: str | Path, split: str, codec, speech_threshold: float = 0.5) -> list[SyncClip]:
    """All participants of `root/split` with their own speech, as SyncClips (lips = codec lips_jaw)."""
    from echo_ihg.data.derived import session_mel
    from echo_ihg.data.session import list_sessions, read_participant

    lips_slice = codec.layout["lips_jaw"]
    clips = []
    for sdir in progress(list_sessions(root, split), desc=f"sync clips ({split})", unit="session"):
        for who in ("A", "B"):
            part = read_participant(sdir, who)
            speech = np.asarray(part.vad) >= speech_threshold
            if speech.sum() < 25:  # under a second of speech: nothing to learn from
                continue
            motion = raw_participant_motion(sdir, who, codec)
            clips.append(SyncClip(f"{sdir.name}/{who}", np.asarray(session_mel(sdir, who), np.float32),
                                  np.asarray(motion[:, lips_slice], np.float32), speech))
    if not clips:
        raise InputError(Path(root) / split, "no session with speech found for sync-expert training")
    return clips


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------

class _Sampler:
    """Anchors (clip, frame) at speech frames, and partners shifted by ±[min_shift, max_shift]."""

    def __init__(self, clips: Sequence[SyncClip], cfg: SyncTrainConfig, rng: np.random.Generator) -> None:
        self.clips, self.cfg, self.rng = clips, cfg, rng
        self.mw = [mel_windows(c.mel, cfg.window) for c in clips]
        self.lw = [centred_windows(c.lips, cfg.window) for c in clips]
        self.frames = [np.flatnonzero(c.speech) for c in clips]
        weights = np.array([len(f) for f in self.frames], float)
        self.p = weights / weights.sum()

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        half = self.cfg.batch // 2
        ci = self.rng.choice(len(self.clips), size=half, p=self.p)
        t = np.array([self.rng.choice(self.frames[c]) for c in ci])
        shift = self.rng.integers(self.cfg.min_shift, self.cfg.max_shift + 1, half) * self.rng.choice([-1, 1], half)
        t2 = np.clip(t + shift, 0, [len(self.clips[c].lips) - 1 for c in ci])
        idx = list(zip(ci, t)) + list(zip(ci, t2))
        mel = np.stack([self.mw[c][i] for c, i in idx])
        lips = np.stack([self.lw[c][i] for c, i in idx])
        return torch.from_numpy(mel), torch.from_numpy(lips)


def info_nce(a: torch.Tensor, v: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE: row i of a matches row i of v; all other rows are negatives."""
    logits = a @ v.T / temperature
    target = torch.arange(len(a))
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def train_sync_expert(clips: Sequence[SyncClip], cfg: SyncTrainConfig = SyncTrainConfig(),
                      show_progress: bool | None = None) -> tuple[SyncExpert, dict]:
    """Train an expert on clips; returns (model in eval mode, info with the loss curve)."""
    if not clips:
        raise ValueError("train_sync_expert: no clips")
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        return _train(clips, cfg, show_progress)
    finally:
        torch.set_num_threads(threads)


def _train(clips: Sequence[SyncClip], cfg: SyncTrainConfig, show_progress: bool | None) -> tuple[SyncExpert, dict]:
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = SyncExpert(SyncExpertConfig(window=cfg.window, lip_dims=clips[0].lips.shape[1],
                                        n_mels=clips[0].mel.shape[1], hidden=cfg.hidden, embed=cfg.embed))
    speech_mel = np.concatenate([c.mel.reshape(len(c.lips), -1, c.mel.shape[1])[c.speech].reshape(-1, c.mel.shape[1])
                                 for c in clips])
    model.set_normalisation(speech_mel, np.concatenate([c.lips[c.speech] for c in clips]))
    sampler = _Sampler(clips, cfg, rng)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.1)
    losses = []
    start = time.time()
    model.train()
    bar = progress(range(cfg.steps), desc="train sync expert", unit="step", enabled=show_progress)
    for _ in bar:
        mel, lips = sampler.batch()
        a, v = model(mel, lips)
        loss = info_nce(a, v, cfg.temperature)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}", refresh=False)
    model.eval()
    info = {"config": dataclasses.asdict(cfg), "clips": len(clips), "seconds": round(time.time() - start, 1),
            "loss_first50": float(np.mean(losses[:50])), "loss_last50": float(np.mean(losses[-50:]))}
    return model, info


# ----------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------

def validate_sync_expert(model: SyncExpert, clips: Sequence[SyncClip], shift: int = 10,
                         max_offset: int = 15) -> dict:
    """Scores of ground truth vs. the same lips shifted by `shift` frames vs. lips paired with another
    clip's audio, on the speech frames of each clip (means over clips).

    A useful expert gives ground truth: offset 0, the lowest d_zero and LSE-D, the highest LSE-C;
    shifted: |offset| ≈ shift and a high d_zero; mismatched: high LSE-D, low LSE-C.
    """
    if len(clips) < 2:
        raise ValueError("validate_sync_expert: need at least 2 clips (one to mismatch with)")
    rows = {"gt": [], "shifted": [], "mismatched": []}
    for i, c in enumerate(clips):
        rows["gt"].append(sync_metrics(model, c.mel, c.lips, max_offset, c.speech))
        shifted = np.concatenate([c.lips[shift:], np.repeat(c.lips[-1:], shift, 0)])  # lips lead by `shift`
        rows["shifted"].append(sync_metrics(model, c.mel, shifted, max_offset, c.speech))
        other = clips[(i + 1) % len(clips)]
        n = min(len(c.lips), len(other.lips))
        rows["mismatched"].append(sync_metrics(model, other.mel[: 4 * n], c.lips[:n], max_offset, c.speech[:n]))
    out = {}
    for name, rs in rows.items():
        out[name] = {k: float(np.mean([r[k] for r in rs])) for k in ("lse_d", "lse_c", "d_zero")}
        out[name]["abs_offset"] = float(np.mean([abs(r["offset"]) for r in rs]))
        out[name]["offset_hits"] = float(np.mean([r["offset"] == (shift if name == "shifted" else 0) for r in rs]))
    out["clips"] = len(clips)
    return out
