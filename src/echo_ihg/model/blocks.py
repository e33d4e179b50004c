"""Transformer building blocks shared by the generator, SDCM and LCU (DiT-style).

Every residual branch that is gated by adaLN starts closed (zero-initialised modulation), so a freshly built
block is the identity; see `GeneratorBlock`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """adaLN: x (B, ..., D) with per-sample shift/scale (B, D) broadcast over the middle axes."""
    view = (x.shape[0],) + (1,) * (x.dim() - 2) + (x.shape[-1],)
    return x * (1 + scale.view(view)) + shift.view(view)


def gate(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """x (B, ..., D) times a per-sample gate (B, D)."""
    return x * g.view((x.shape[0],) + (1,) * (x.dim() - 2) + (x.shape[-1],))


def sinusoidal(positions: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """positions (...,) float -> (..., dim) sin/cos features (transformer / DiT timestep embedding)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32,
                                                           device=positions.device) / half)
    args = positions.float().unsqueeze(-1) * freqs
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(emb, (0, dim % 2))


class TimestepEmbedder(nn.Module):
    """Continuous diffusion time t ∈ [0, 1] -> (B, dim) (DiT: sinusoid then MLP)."""

    def __init__(self, dim: int, freq_dim: int = 128):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(sinusoidal(t * 1000.0, self.freq_dim))                 # (B, dim)


class Attention(nn.Module):
    """Multi-head attention; queries (N, Lq, D) attend to keys/values (N, Lk, Dkv).

    `zero_out` zero-initialises the output projection so that the branch contributes nothing until trained.
    """

    def __init__(self, dim: int, heads: int, kv_dim: int | None = None, zero_out: bool = False):
        super().__init__()
        assert dim % heads == 0, (dim, heads)
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(kv_dim or dim, 2 * dim)
        self.out = nn.Linear(dim, dim)
        if zero_out:
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, ctx: torch.Tensor | None = None,
                key_mask: torch.Tensor | None = None, kv: torch.Tensor | None = None) -> torch.Tensor:
        """x: (N, Lq, D); ctx: (N, Lk, Dkv) (None = self-attention); key_mask: (N, Lk) bool, True = attend;
        kv: (N, Lk, 2D) keys/values already projected by `self.kv` (then ctx is not used)."""
        n, lq, d = x.shape
        h = self.heads
        if kv is None:
            kv = self.kv(x if ctx is None else ctx)
        q = self.q(x).view(n, lq, h, d // h).transpose(1, 2)                    # (N, H, Lq, Dh)
        k, v = kv.view(n, kv.shape[1], 2, h, d // h).permute(2, 0, 3, 1, 4)    # (N, H, Lk, Dh) each
        mask = None if key_mask is None else key_mask[:, None, None, :]
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)              # (N, H, Lq, Dh)
        return self.out(y.transpose(1, 2).reshape(n, lq, d))


class Mlp(nn.Module):
    def __init__(self, dim: int, ratio: int = 4, out_dim: int | None = None):
        super().__init__()
        self.fc1 = nn.Linear(dim, ratio * dim)
        self.fc2 = nn.Linear(ratio * dim, out_dim or dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class FinalLayer(nn.Module):
    """adaLN-modulated norm then per-token linear head (DiT FinalLayer), zero-initialised."""

    def __init__(self, dim: int, out_dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))
        self.linear = nn.Linear(dim, out_dim)
        for layer in (self.ada[-1], self.linear):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.ada(c).chunk(2, dim=-1)
        return self.linear(modulate(self.norm(x), shift, scale))
