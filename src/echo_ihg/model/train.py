"""Training core for the two-stage ECHO recipe: batch loss, optimiser groups per stage, EMA, clipping, NaN guard,
and an exactly resumable trainer state. (The CLI, data loading and DDP wrapping live outside this module.)

Batches are dicts of tensors as produced by `echo_ihg.data.windows.WindowDataset` (collated):
target (B, T, Dm), prev (B, P, Dm), avatar_audio (B, T + 2w, 320), user_audio (B, H, 320), user_motion (B, H, Dm),
s_usr (B, 384), c_emo (B, 384), identity (B, Did), valid (B, T).

Stage 1: self-audio talking; the user branch is off (`ModelConfig.user_branch=False`) and every parameter trains.
Stage 2: LCU and SDCM's user branch on (zero-initialised, so training starts from the stage-1 behaviour); the
stage-1 parameters (audio/lip path and the rest of the generator) train at `slow_lr_scale` × lr (0 = frozen).

The user history goes through the LPE with truncated back-propagation: all but the last `bptt_frames` frames are
scanned without gradients (in segments, so memory stays bounded), the last frames with gradients.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass

import torch

from echo_ihg.model.diffusion import diffusion_loss, drop_mask, region_weights
from echo_ihg.model.echo import EchoModel
from echo_ihg.model.generator import GenCond

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    stage: int = 1
    lr: float = 3e-4
    slow_lr_scale: float = 0.1            # stage 2: lr multiplier of the stage-1 parameters (0 = frozen)
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    cond_drop: float = 0.1                # classifier-free guidance: P(drop user + emotion conditions)
    velocity_weight: float = 0.5
    lip_weight: float = 2.0               # region weight of the lip token (others 1)
    bptt_frames: int = 250                # user-history frames the LPE back-propagates through
    max_bad_steps: int = 20               # consecutive non-finite steps before giving up

    def __post_init__(self) -> None:
        if self.stage not in (1, 2):
            raise ValueError("stage must be 1 or 2")


def perceive_history(model: EchoModel, audio: torch.Tensor, motion: torch.Tensor, bptt: int,
                     segment: int = 500) -> torch.Tensor | None:
    """LPE features at the end of the history (B, 1 + K, E); gradients only through the last `bptt` frames."""
    if not model.uses_perception:
        return None
    w = model.cfg.short_window_frames
    if w > 0:
        audio, motion = audio[:, -w:], motion[:, -w:]
    h = audio.shape[1]
    cut = max(0, h - bptt)
    state = None
    with torch.no_grad():
        for a in range(0, cut, segment):
            b = min(cut, a + segment)
            _, state = model.perceive(audio[:, a:b], motion[:, a:b], state)
    feats, _ = model.perceive(audio[:, cut:], motion[:, cut:], state)
    return feats[:, -1]


def batch_loss(model: EchoModel, batch: dict[str, torch.Tensor], cfg: TrainConfig,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    x0 = batch["target"]
    b = x0.shape[0]
    feat = perceive_history(model, batch["user_audio"], batch["user_motion"], cfg.bptt_frames)
    f_pu = model.user_context(feat, batch["s_usr"], b)
    cond = GenCond(batch["prev"], batch["identity"], batch["avatar_audio"], f_pu, batch["c_emo"],
                   drop_mask(b, cfg.cond_drop, generator).to(x0.device))
    weights = region_weights(model.layout, {model.cfg.lip_region: cfg.lip_weight}
                             if model.cfg.lip_region in model.layout else {})
    return diffusion_loss(model, x0, cond, weights, cfg.velocity_weight, generator, mask=batch.get("valid"))


def param_groups(model: EchoModel, cfg: TrainConfig) -> list[dict]:
    user = {id(p) for p in model.user_parameters()}
    fast = [p for p in model.parameters() if id(p) in user]
    slow = [p for p in model.parameters() if id(p) not in user]
    if cfg.stage == 1:
        return [{"params": slow + fast, "lr": cfg.lr}]
    groups = [{"params": fast, "lr": cfg.lr}]
    if cfg.slow_lr_scale > 0:
        groups.append({"params": slow, "lr": cfg.lr * cfg.slow_lr_scale})
    else:
        for p in slow:
            p.requires_grad_(False)
    return groups


class Trainer:
    """One optimisation step at a time; `state_dict`/`load_state_dict` make resuming exact (model, EMA,
    optimiser, step, RNG)."""

    def __init__(self, model: EchoModel, cfg: TrainConfig, seed: int = 0):
        self.model, self.cfg = model.train(), cfg
        self.ema = copy.deepcopy(model).eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        self.opt = torch.optim.AdamW(param_groups(model, cfg), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.gen = torch.Generator().manual_seed(seed)
        self.step_count = 0
        self.bad_steps = 0

    def step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        loss, parts = batch_loss(self.model, batch, self.cfg, self.gen)
        self.opt.zero_grad(set_to_none=True)
        if not torch.isfinite(loss):
            return self._bad(parts, "loss")
        loss.backward()
        params = [p for g in self.opt.param_groups for p in g["params"]]
        norm = torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)
        if not torch.isfinite(norm):
            self.opt.zero_grad(set_to_none=True)
            return self._bad(parts, "gradient")
        self.opt.step()
        self.bad_steps = 0
        self.step_count += 1
        self._update_ema()
        parts["grad_norm"] = float(norm)
        return parts

    def _bad(self, parts: dict[str, float], what: str) -> dict[str, float]:
        """NaN guard: skip the update; give up after `max_bad_steps` in a row."""
        self.bad_steps += 1
        log.warning("non-finite %s at step %d: update skipped (%d in a row)", what, self.step_count, self.bad_steps)
        if self.bad_steps >= self.cfg.max_bad_steps:
            raise FloatingPointError(f"{self.bad_steps} consecutive non-finite steps: training diverged")
        return {**parts, "skipped": 1.0}

    @torch.no_grad()
    def _update_ema(self) -> None:
        d = min(self.cfg.ema_decay, (1 + self.step_count) / (10 + self.step_count))   # warm-up
        for e, p in zip(self.ema.parameters(), self.model.parameters()):
            e.lerp_(p, 1 - d)

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "ema": self.ema.state_dict(), "opt": self.opt.state_dict(),
                "step": self.step_count, "rng": self.gen.get_state(), "bad_steps": self.bad_steps}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.opt.load_state_dict(state["opt"])
        self.step_count, self.bad_steps = int(state["step"]), int(state["bad_steps"])
        self.gen.set_state(state["rng"])


def lr_at(step: int, total: int, base: float, warmup: int = 200) -> float:
    """Linear warm-up then cosine decay to 10 % (a schedule helper for the training script)."""
    if step < warmup:
        return base * (step + 1) / warmup
    frac = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
