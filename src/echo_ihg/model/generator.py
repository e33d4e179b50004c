"""ECHO motion generator: a diffusion transformer over the next chunk of avatar motion (a pure predictor).

Tokens are frames × motion tokens: one token per entry of the codec layout (facial regions, head pose, gaze),
each projected from its own slice of the motion vector, so the network is codec-agnostic. Each of the L blocks:

    temporal self-attention (within a token, across frames)
    spatial self-attention  (within a frame, across tokens)
    cross-attention         (previous motion chunk, avatar identity, c_emo)
    SDCM                    (user context f_pu vs. the avatar's own audio, masked by region; see sdcm.py)
    FFN

each branch behind an adaLN-Zero gate driven by the diffusion time (DiT), so a fresh block is the identity.
The network predicts v (see diffusion.py); schedules, sampling and losses live outside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import torch
from torch import nn

from echo_ihg.model.blocks import Attention, Mlp, TimestepEmbedder, gate, modulate, sinusoidal
from echo_ihg.model.config import ModelConfig
from echo_ihg.model.sdcm import SDCM, EntangledFusion, region_masks

Layout = Mapping[str, "slice | Sequence[int]"]


def layout_pairs(layout: Layout) -> dict[str, tuple[int, int]]:
    """A codec layout (name -> slice, as `MotionCodec.layout` holds, or (start, stop)) -> name -> (start, stop)."""
    out = {}
    for name, v in layout.items():
        if isinstance(v, slice):
            if v.step not in (None, 1):
                raise ValueError(f"layout slice {name}={v} has a step")
            out[str(name)] = (int(v.start), int(v.stop))
        else:
            out[str(name)] = (int(v[0]), int(v[1]))
    return out


@dataclass
class GenCond:
    """Per-chunk conditions of the generator (computed once per chunk, reused by every sampler step).

    prev_motion (B, P, Dm); identity (B, Did); audio (B, T + 2w, Da) per-frame avatar audio with w frames of
    margin each side; f_pu (B, T, Nu, D) user context, one token set per frame, or None; c_emo (B, 384) or None;
    drop (B,) bool: True replaces f_pu and c_emo by learned null embeddings (classifier-free guidance).
    """

    prev_motion: torch.Tensor
    identity: torch.Tensor
    audio: torch.Tensor
    f_pu: torch.Tensor | None = None
    c_emo: torch.Tensor | None = None
    drop: torch.Tensor | None = None

    def repeat(self, n: int) -> "GenCond":
        rep = (lambda x: None if x is None else x.repeat(n, *([1] * (x.dim() - 1))))
        return GenCond(rep(self.prev_motion), rep(self.identity), rep(self.audio), rep(self.f_pu),
                       rep(self.c_emo), rep(self.drop))


def check_layout(layout: Layout) -> tuple[list[str], int]:
    """Validate a codec layout (name -> (start, stop)); returns the token names and the motion size."""
    if not layout:
        raise ValueError("empty motion layout")
    pairs = layout_pairs(layout)
    names = list(pairs)
    covered: list[tuple[int, int]] = sorted(pairs.values())
    for a, b in covered:
        if not 0 <= a < b:
            raise ValueError(f"bad layout slice ({a}, {b})")
    for (a0, b0), (a1, _) in zip(covered, covered[1:]):
        if a1 < b0:
            raise ValueError("layout slices overlap")
    return names, covered[-1][1]


class GeneratorBlock(nn.Module):
    N_BRANCHES = 5     # temporal SA, spatial SA, cross-attention, SDCM, FFN

    def __init__(self, dim: int, heads: int, mlp_ratio: int, m_lip: torch.Tensor, cfg: ModelConfig):
        super().__init__()
        self.norms = nn.ModuleList(nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
                                   for _ in range(self.N_BRANCHES))
        self.attn_t = Attention(dim, heads)
        self.attn_s = Attention(dim, heads)
        self.attn_c = Attention(dim, heads)
        user = cfg.uses_user
        self.fusion: nn.Module = (SDCM(dim, heads, m_lip, user_branch=user) if cfg.use_sdcm
                                  else EntangledFusion(dim, heads))
        self.mlp = Mlp(dim, mlp_ratio)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(dim, 3 * self.N_BRANCHES * dim))
        nn.init.zeros_(self.ada[-1].weight)                                 # adaLN-Zero: identity at init
        nn.init.zeros_(self.ada[-1].bias)

    def forward(self, h: torch.Tensor, c: torch.Tensor, ctx: torch.Tensor, f_pu: torch.Tensor | None,
                audio: torch.Tensor, win_emb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """h: (B, T, K, D); c: (B, D); ctx: (B, Nc, D); f_pu: (B, T, Nu, D) | None; audio: (B, T + 2w, D);
        win_emb: (2w + 1, D)."""
        b, t, k, d = h.shape
        mods = self.ada(c).chunk(3 * self.N_BRANCHES, dim=-1)               # 15 × (B, D)
        shift, scale, gates = mods[0::3], mods[1::3], mods[2::3]

        x = modulate(self.norms[0](h), shift[0], scale[0]).permute(0, 2, 1, 3).reshape(b * k, t, d)
        y = self.attn_t(x).view(b, k, t, d).permute(0, 2, 1, 3)             # (B, T, K, D)
        h = h + gate(y, gates[0])
        x = modulate(self.norms[1](h), shift[1], scale[1]).reshape(b * t, k, d)
        h = h + gate(self.attn_s(x).view(b, t, k, d), gates[1])
        x = modulate(self.norms[2](h), shift[2], scale[2]).reshape(b, t * k, d)
        h = h + gate(self.attn_c(x, ctx).view(b, t, k, d), gates[2])
        y, g = self.fusion(modulate(self.norms[3](h), shift[3], scale[3]), f_pu, audio, win_emb)
        h = h + gate(y, gates[3])
        h = h + gate(self.mlp(modulate(self.norms[4](h), shift[4], scale[4])), gates[4])
        return h, g


class EchoGenerator(nn.Module):
    """Denoiser over (B, T, Dm) motion chunks; see the module docstring.

    layout: codec layout name -> (start, stop) over Dm; centres: canonical region centre per region name
    (tokens without a centre, e.g. pose and gaze, get no lip mask).
    """

    def __init__(self, layout: Layout, centres: Mapping[str, Sequence[float]], cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.names, self.motion_dim = check_layout(layout)
        self.slices = list(layout_pairs(layout).values())
        dims = cfg.dims
        dim, heads = dims["dim"], dims["heads"]
        self.dim = dim
        m_lip, m_face = region_masks(self.names, centres, cfg.lip_region, cfg.mask_sharpness)
        self.register_buffer("m_lip", m_lip, persistent=False)
        self.register_buffer("m_face", m_face, persistent=False)
        self.token_in = nn.ModuleList(nn.Linear(b - a, dim) for a, b in self.slices)
        self.token_emb = nn.Parameter(torch.randn(len(self.names), dim) * 0.02)
        self.t_embed = TimestepEmbedder(dim)
        self.prev_in = nn.Linear(self.motion_dim, dim)
        self.id_in = nn.Sequential(nn.Linear(cfg.identity_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.emo_in = nn.Linear(cfg.text_dim, dim)
        nn.init.zeros_(self.emo_in.weight)       # c_emo enters as an offset of the null token, starting at 0:
        nn.init.zeros_(self.emo_in.bias)         # switching LAU on in stage 2 starts from stage-1 behaviour
        self.null_emo = nn.Parameter(torch.zeros(dim))
        self.null_user = nn.Parameter(torch.zeros(dim))
        self.ctx_norm = nn.LayerNorm(dim)
        self.audio_in = nn.Sequential(nn.LayerNorm(cfg.audio_frame_dim), nn.Linear(cfg.audio_frame_dim, dim))
        self.audio_conv = nn.Conv1d(dim, dim, 3, padding=1)
        self.win_emb = nn.Parameter(torch.randn(2 * cfg.audio_window + 1, dim) * 0.02)
        self.blocks = nn.ModuleList(GeneratorBlock(dim, heads, dims["mlp_ratio"], m_lip, cfg)
                                    for _ in range(dims["depth"]))
        self.out_norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.out_ada = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))
        self.token_out = nn.ModuleList(nn.Linear(dim, b - a) for a, b in self.slices)
        for layer in [self.out_ada[-1], *self.token_out]:                   # DiT: zero-init the output
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    # ---- conditions -------------------------------------------------------------------------------
    def _context(self, cond: GenCond) -> torch.Tensor:
        """Cross-attention tokens: previous motion frames, identity, c_emo -> (B, P + 2, D)."""
        b, p, _ = cond.prev_motion.shape
        pos = sinusoidal(torch.arange(-p, 0, device=cond.prev_motion.device), self.dim)   # (P, D)
        prev = self.prev_in(cond.prev_motion) + pos                         # (B, P, D)
        ident = self.id_in(cond.identity).unsqueeze(1)                      # (B, 1, D)
        null = self.null_emo.expand(b, 1, self.dim)
        if cond.c_emo is None or not self.cfg.uses_emotion:
            emo = null
        else:
            emo = null + self.emo_in(cond.c_emo).unsqueeze(1)               # (B, 1, D)
            if cond.drop is not None:
                emo = torch.where(cond.drop.view(b, 1, 1), null, emo)
        return self.ctx_norm(torch.cat([prev, ident, emo], dim=1))

    def _user(self, cond: GenCond) -> torch.Tensor | None:
        if cond.f_pu is None or not self.cfg.uses_user:
            return None
        if cond.drop is None:
            return cond.f_pu
        return torch.where(cond.drop.view(-1, 1, 1, 1), self.null_user.expand_as(cond.f_pu), cond.f_pu)

    def _audio(self, audio: torch.Tensor, t: int) -> torch.Tensor:
        """audio (B, T + 2w, Da) -> per-frame features (B, T + 2w, D); SDCM attends to ±w of each frame."""
        w = self.cfg.audio_window
        if audio.shape[1] != t + 2 * w:
            raise ValueError(f"avatar audio must have T + 2w = {t + 2 * w} frames, got {audio.shape[1]}")
        a = self.audio_in(audio).transpose(1, 2)                            # (B, D, T + 2w)
        return (a + torch.nn.functional.gelu(self.audio_conv(a))).transpose(1, 2)

    # ---- forward ----------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: GenCond, return_gates: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """x: (B, T, Dm) noisy motion; t: (B,) diffusion time in [0, 1] -> v prediction (B, T, Dm).

        With return_gates, also the SDCM gates g of every block, each (B, T, K).
        """
        b, n_t, dm = x.shape
        if dm != self.motion_dim:
            raise ValueError(f"motion has {dm} dims, the layout describes {self.motion_dim}")
        tokens = torch.stack([proj(x[..., a:e]) for proj, (a, e) in zip(self.token_in, self.slices)], dim=2)
        pos = sinusoidal(torch.arange(n_t, device=x.device), self.dim)      # (T, D)
        h = tokens + self.token_emb + pos[:, None, :]                       # (B, T, K, D)
        c = self.t_embed(t)                                                 # (B, D)
        ctx = self._context(cond)
        f_pu = self._user(cond)
        audio = self._audio(cond.audio, n_t)                                # (B, T + 2w, D)
        gates = []
        for block in self.blocks:
            h, g = block(h, c, ctx, f_pu, audio, self.win_emb)
            if g is not None:
                gates.append(g)
        shift, scale = self.out_ada(c).chunk(2, dim=-1)
        h = modulate(self.out_norm(h), shift, scale)                        # (B, T, K, D)
        out = x.new_zeros(b, n_t, dm)
        for k, (proj, (a, e)) in enumerate(zip(self.token_out, self.slices)):
            out[..., a:e] = proj(h[:, :, k])
        return (out, gates) if return_gates else out
