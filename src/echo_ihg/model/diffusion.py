"""Diffusion outside the network: cosine schedule, v-prediction, training loss, few-step DDIM sampler.

Choice: continuous-time cosine schedule (α = cos(πt/2), σ = sin(πt/2), t ∈ [0, 1], zero SNR at t = 1) with
**v-prediction** (v = α·ε − σ·x0). Why: with ≤ 10 sampler steps the first step starts at pure noise, where
ε-prediction is ill-posed (x0 = (x − σε)/α with α → 0) and x0-prediction collapses to the data mean; v stays
well-scaled at both ends (Salimans & Ho 2022, used for few-step DDIM). The motion losses that need the clean
signal (region weights, velocity) are taken on x̂0 = α·x_t − σ·v̂, which v gives exactly.

Sampler: deterministic DDIM (η = 0) on an even grid in t; optional classifier-free guidance on the user and
emotion conditions (trained with condition dropout, `drop_mask`); optional inpainting of known frames (the
previous chunk's tail) by replacing them in x̂0 at every step, which is how chunks are joined without seams.
"""

from __future__ import annotations

import math
from typing import Callable, Mapping

import torch

from echo_ihg.model.generator import GenCond, Layout, layout_pairs

ModelFn = Callable[[torch.Tensor, torch.Tensor, GenCond], torch.Tensor]


def alpha_sigma(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine schedule: t (...,) in [0, 1] -> (α, σ) with α² + σ² = 1."""
    ang = t.clamp(0.0, 1.0) * (math.pi / 2)
    return torch.cos(ang), torch.sin(ang)


def _bc(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Broadcast per-sample (B,) values over ref (B, ...)."""
    return x.view((-1,) + (1,) * (ref.dim() - 1))


def q_sample(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x0 (B, T, D), t (B,), noise like x0 -> (x_t, v target)."""
    a, s = alpha_sigma(t)
    a, s = _bc(a, x0), _bc(s, x0)
    return a * x0 + s * noise, a * noise - s * x0


def x0_from_v(x_t: torch.Tensor, t: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    a, s = alpha_sigma(t)
    return _bc(a, x_t) * x_t - _bc(s, x_t) * v


def eps_from_v(x_t: torch.Tensor, t: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    a, s = alpha_sigma(t)
    return _bc(s, x_t) * x_t + _bc(a, x_t) * v


def region_weights(layout: Layout, weights: Mapping[str, float],
                   default: float = 1.0) -> torch.Tensor:
    """Per-dimension loss weights (Dm,) from per-token weights (e.g. {"lips_jaw": 2.0}); unknown names error."""
    pairs = layout_pairs(layout)
    unknown = set(weights) - set(pairs)
    if unknown:
        raise ValueError(f"region weights for unknown tokens: {sorted(unknown)}")
    dm = max(b for _, b in pairs.values())
    w = torch.full((dm,), float(default))
    for name, (a, b) in pairs.items():
        w[int(a):int(b)] = float(weights.get(name, default))
    return w


def drop_mask(batch: int, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """(B,) bool: which samples lose their user/emotion conditions (classifier-free guidance training)."""
    return torch.rand(batch, generator=generator) < p


def diffusion_loss(model_fn: ModelFn, x0: torch.Tensor, cond: GenCond | Mapping[str, torch.Tensor],
                   weights: torch.Tensor | None = None, velocity_weight: float = 0.0,
                   generator: torch.Generator | None = None,
                   t: torch.Tensor | None = None, mask: torch.Tensor | None = None,
                   noise: torch.Tensor | None = None, denominator: float | None = None
                   ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Region-weighted v-loss plus an optional velocity loss on x̂0.

    x0: (B, T, Dm) clean chunk; cond: passed through to model_fn(x_t, t, cond); weights: (Dm,) per-dimension
    weights (None = 1; normalised to mean 1 here); mask: (B, T) frame weights, 0 for frames that do not count
    (e.g. untracked frames; None = all 1; a pair of frames in the velocity term weighs the geometric mean); t (B,) and noise (like x0): drawn from `generator` when not given (t first, then noise).
    denominator: None = a mean over the counted frames (frame pairs for the velocity term); a number (e.g. B·T)
    = sum over counted frames ÷ that fixed number, so that means over data-parallel ranks equal the global mean.
    Returns the scalar loss and its parts "v", ["velocity",] "total" as detached 0-d tensors (no device sync).
    """
    b = x0.shape[0]
    if t is None:
        t = torch.rand(b, generator=generator).to(x0.device)
    if noise is None:
        noise = torch.randn(x0.shape, generator=generator).to(x0.device)
    x_t, v = q_sample(x0, t, noise)
    v_hat = model_fn(x_t, t, cond)
    w = torch.ones(x0.shape[-1], device=x0.device) if weights is None else weights.to(x0)
    w = w / w.mean()
    m = torch.ones(x0.shape[:2], device=x0.device) if mask is None else mask.to(x0.device, x0.dtype)

    def masked_mean(err: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:   # err (B, T', Dm), frames (B, T')
        total = (err * w).mean(-1).mul(frames).sum()
        return total / (frames.sum().clamp_min(1.0) if denominator is None else denominator)

    loss_v = masked_mean((v_hat - v) ** 2, m)
    parts = {"v": loss_v.detach()}
    loss = loss_v
    if velocity_weight > 0 and x0.shape[1] > 1:
        x0_hat = x0_from_v(x_t, t, v_hat)
        loss_vel = masked_mean(((x0_hat[:, 1:] - x0_hat[:, :-1]) - (x0[:, 1:] - x0[:, :-1])) ** 2,
                               (m[:, 1:] * m[:, :-1]).sqrt())
        parts["velocity"] = loss_vel.detach()
        loss = loss + velocity_weight * loss_vel
    parts["total"] = loss.detach()
    return loss, parts


def _guided(model_fn: ModelFn, x: torch.Tensor, t: torch.Tensor, cond: GenCond, guidance: float
            ) -> torch.Tensor:
    if guidance == 1.0:
        return model_fn(x, t, cond)
    b = x.shape[0]
    both = cond.repeat(2)
    both.drop = torch.cat([torch.zeros(b, dtype=torch.bool), torch.ones(b, dtype=torch.bool)]).to(x.device)
    v_c, v_u = model_fn(torch.cat([x, x]), torch.cat([t, t]), both).chunk(2)
    return v_u + guidance * (v_c - v_u)


@torch.no_grad()
def ddim_sample(model_fn: ModelFn, shape: tuple[int, int, int], cond: GenCond, steps: int = 8,
                generator: torch.Generator | None = None, guidance: float = 1.0,
                known: torch.Tensor | None = None, known_frames: int = 0) -> torch.Tensor:
    """Deterministic DDIM from pure noise. shape (B, T, Dm).

    known (B, known_frames, Dm): the first frames are fixed (inpainting: replaced in x̂0 at every step, so the
    network sees consistent context and the result starts exactly with them). guidance: CFG scale on the
    user/emotion conditions (1 = off). Noise comes from `generator` only: same generator state, same output.
    """
    if not 1 <= steps <= 1000:
        raise ValueError("steps must be in [1, 1000]")
    x = torch.randn(shape, generator=generator)
    ts = torch.linspace(1.0, 0.0, steps + 1)
    b = shape[0]
    for i in range(steps):
        t, t_next = ts[i].expand(b), ts[i + 1].expand(b)
        v = _guided(model_fn, x, t, cond, guidance)
        x0 = x0_from_v(x, t, v)
        eps = eps_from_v(x, t, v)
        if known is not None and known_frames > 0:
            x0 = torch.cat([known[:, :known_frames], x0[:, known_frames:]], dim=1)
        a, s = alpha_sigma(t_next)
        x = _bc(a, x) * x0 + _bc(s, x) * eps
    return x
