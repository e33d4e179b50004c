"""SDCM — spatial-aware decoupled cross-attention modulation (ECHO), over region tokens.

For hidden tokens h (B, T, K, D) — T frames × K motion tokens (facial regions, head pose, gaze):

    h_usr = CrossAttn1(h, f_pu)                        user context (LCU output), per frame: frame t's
                                                       tokens attend to the user as known at t
    h_avt = CrossAttn2(h, avatar audio in ±w frames)   the avatar's own speech, local window per frame
    g     = σ(projector(conv_t([h; h_usr; h_avt])))    (B, T, K, 1) per token and frame
    mix   = g·h_avt + (1 − g)·h_usr
    out   = M_face·mix + M_lip·h_avt                   (the block adds it to h, behind its adaLN gate)

f_pu holds one set of user tokens per frame (`model.lcu`); CrossAttn1 of frame t reads only frame t's set.
The gate's 3-frame conv lets frame t's mix weight also see the readings of frames t ± 1 (one frame of
look-ahead within what the chunk may know; never past the known horizon, which bounds every frame's set).

M_lip is a soft Gaussian bump over the canonical region centres, 1 at the lip region, so the lips are driven
by the avatar's audio only; M_face = 1 − M_lip integrates user cues adaptively. Tokens without a spatial centre
(head pose, gaze) get M_lip = 0. CrossAttn1's output projection is zero-initialised: with the user branch
fresh, the module behaves exactly as the stage-1 (audio-only) module it starts from.

`EntangledFusion` is the "w/o SDCM" ablation: one role-agnostic cross-attention over [audio; user] tokens.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from echo_ihg.model.blocks import Attention


def region_masks(token_names: Sequence[str], centres: Mapping[str, Sequence[float]], lip_region: str,
                 sharpness: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft spatial masks over tokens. Returns (M_lip (K,), M_face (K,)) with M_face = 1 − M_lip.

    M_lip(k) = exp(−sharpness · (|c_k − c_lip| / d_max)²), d_max = the largest centre distance to the lips, so
    the falloff is independent of the face's scale. Tokens absent from `centres` get M_lip = 0.
    """
    if lip_region not in centres:
        raise ValueError(f"lip region {lip_region!r} has no centre (centres for: {', '.join(centres)})")
    if sharpness <= 0:
        raise ValueError("mask sharpness must be > 0")
    lip = np.asarray(centres[lip_region], dtype=np.float64)
    dist = {name: float(np.linalg.norm(np.asarray(c, dtype=np.float64) - lip)) for name, c in centres.items()}
    d_max = max(max(dist.values()), 1e-9)
    m_lip = [float(np.exp(-sharpness * (dist[n] / d_max) ** 2)) if n in dist else 0.0 for n in token_names]
    m = torch.tensor(m_lip, dtype=torch.float32)
    return m, 1.0 - m


def audio_windows(audio: torch.Tensor, window: int) -> torch.Tensor:
    """audio: (B, T + 2w, D) per-frame features with w frames of margin each side -> (B, T, 2w+1, D)."""
    return audio.unfold(1, 2 * window + 1, 1).permute(0, 1, 3, 2)


def window_kv(proj: nn.Linear, audio: torch.Tensor, win_emb: torch.Tensor) -> torch.Tensor:
    """proj(audio_windows(audio) + win_emb) -> (B, T, W, 2D), computed without materialising the windows.

    proj is linear, so each audio frame is projected once (T + 2w vectors instead of T·W) and the offset
    embeddings once (W vectors): proj(a[t+j] + e[j]) = W·a[t+j] + (W·e[j] + b).
    """
    w = (win_emb.shape[0] - 1) // 2
    a = audio_windows(nn.functional.linear(audio, proj.weight), w)        # (B, T, W, 2D)
    return a + proj(win_emb)


class SDCM(nn.Module):
    def __init__(self, dim: int, heads: int, m_lip: torch.Tensor, user_branch: bool = True):
        super().__init__()
        self.user_branch = user_branch
        self.attn_usr = Attention(dim, heads, zero_out=True)                # user branch: zero-init
        self.attn_avt = Attention(dim, heads)
        small = max(8, dim // 4)
        self.gate_in = nn.Linear(3 * dim, small)
        self.gate_conv = nn.Conv1d(small, small, 3, padding=1)             # temporal context for the gate
        self.gate_out = nn.Linear(small, 1)
        nn.init.zeros_(self.gate_out.weight)                                # g = 0.5 at init
        nn.init.zeros_(self.gate_out.bias)
        self.register_buffer("m_lip", m_lip.clone().float(), persistent=False)   # (K,)

    def forward(self, h: torch.Tensor, f_pu: torch.Tensor | None, audio: torch.Tensor, win_emb: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """h: (B, T, K, D); f_pu: (B, T, Nu, D) or None (user branch off); audio: (B, T + 2w, D) per-frame avatar
        audio features; win_emb: (2w+1, D) window-offset embeddings.

        Returns the update (B, T, K, D) and the gate g (B, T, K).
        """
        b, t, k, d = h.shape
        kv = window_kv(self.attn_avt.kv, audio, win_emb).reshape(b * t, -1, 2 * d)   # (B·T, W, 2D)
        h_avt = self.attn_avt(h.reshape(b * t, k, d), kv=kv).view(b, t, k, d)
        if self.user_branch and f_pu is not None:
            h_usr = self.attn_usr(h.reshape(b * t, k, d), f_pu.reshape(b * t, -1, d)).view(b, t, k, d)
        else:
            h_usr = torch.zeros_like(h_avt)
        z = self.gate_in(torch.cat([h, h_usr, h_avt], dim=-1))             # (B, T, K, S)
        z = z.permute(0, 2, 3, 1).reshape(b * k, -1, t)                     # (B·K, S, T)
        z = F.gelu(self.gate_conv(z)).view(b, k, -1, t).permute(0, 3, 1, 2)   # (B, T, K, S)
        g = torch.sigmoid(self.gate_out(z))                                 # (B, T, K, 1)
        mix = g * h_avt + (1 - g) * h_usr
        m_lip = self.m_lip.view(1, 1, k, 1)
        return (1 - m_lip) * mix + m_lip * h_avt, g.squeeze(-1)


class EntangledFusion(nn.Module):
    """w/o SDCM: every token attends to [audio window; user tokens] through one cross-attention, no masks."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.attn = Attention(dim, heads)

    def forward(self, h: torch.Tensor, f_pu: torch.Tensor | None, audio: torch.Tensor, win_emb: torch.Tensor
                ) -> tuple[torch.Tensor, None]:
        b, t, k, d = h.shape
        w = (win_emb.shape[0] - 1) // 2
        ctx = (audio_windows(audio, w) + win_emb).reshape(b * t, -1, d)    # (B·T, W, D)
        if f_pu is not None:
            ctx = torch.cat([ctx, f_pu.reshape(b * t, -1, d)], dim=1)      # (B·T, W + Nu, D)
        return self.attn(h.reshape(b * t, k, d), ctx).view(b, t, k, d), None


def canonical_centres() -> dict[str, list[float]]:
    """The codec's canonical region centres by region name (`echo_ihg.motion.regions.region_centres`)."""
    from echo_ihg.motion.regions import REGION_NAMES, region_centres

    return {name: [float(v) for v in c] for name, c in zip(REGION_NAMES, region_centres())}
