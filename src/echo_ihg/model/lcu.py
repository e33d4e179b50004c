"""LCU — long-range contextual understanding of the conversation so far, with bounded memory, per avatar frame.

LPE (low-level perception encoding):
    user audio  (B, F, Da) per-frame log-mel ──Linear──► temporal selective scan ─► a_τ  (B, F, E)
    user motion (B, F, Dm) codec coefficients ─per-token Linear─► K region tokens ─► region×time scan
                (one scan per region token, weights shared, region embedding added)  ─► m_τ (B, F, K, E)
    The scan output at user frame τ summarises the whole history up to τ; streaming keeps only the scan state.
User time axis: the scan runs over a chunk window's user span (`ModelConfig.user_span`, frames [s − R,
    s + T − latency)); avatar frame i of the window reads the newest user frame it may know,
    r_i = min(i − latency, known − 1) (relative to s), and
        P_usr(i)  — the fused perception tokens at r_i: F_gm (an MLP over [a; mean_k m] gives G global tokens)
                    and F_int (one self-attention layer over [global; audio; region tokens]);
        recent(i) — one token per user frame r_i − j, j < W (the local causal window, per-frame scan outputs),
    each plus an embedding of its age i − τ (how long ago the user did it) and of its kind.
HBCU fusion: S_usr (384-d text embedding of the behaviour description) ─alignment layer─► n_text tokens;
    gated cross-attention (GCA, Flamingo-style tanh gates starting at cfg.gca_gate_init) of the user tokens
    over them ─► f_pu (B, T, Np + W, D): a set of user tokens per avatar frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import torch
from torch import nn

from echo_ihg.model.blocks import Attention, Mlp, sinusoidal
from echo_ihg.model.config import ModelConfig
from echo_ihg.model.generator import check_layout, layout_pairs
from echo_ihg.model.ssm import MambaBlock, MambaState


@dataclass
class LPEState:
    """Streaming state of the LPE: scan states only, independent of the history length."""

    audio: MambaState     # batch B
    motion: MambaState    # batch B·K


class LPE(nn.Module):
    def __init__(self, layout: Mapping[str, tuple[int, int]], cfg: ModelConfig):
        super().__init__()
        dims = cfg.dims
        e, d = dims["lpe_dim"], dims["dim"]
        self.names, self.motion_dim = check_layout(layout)
        self.slices = list(layout_pairs(layout).values())
        self.k, self.e, self.n_global = len(self.names), e, dims["n_global"]
        scan = dict(state=dims["ssm_state"], max_timescale=float(cfg.history_frames))
        self.audio_in = nn.Sequential(nn.LayerNorm(cfg.audio_frame_dim), nn.Linear(cfg.audio_frame_dim, e))
        self.audio_scan = MambaBlock(e, **scan)
        self.motion_in = nn.ModuleList(nn.Linear(b - a, e) for a, b in self.slices)
        self.region_emb = nn.Parameter(torch.randn(self.k, e) * 0.02)
        self.motion_scan = MambaBlock(e, **scan)
        self.gm = Mlp(2 * e, 2, out_dim=self.n_global * d)                  # F_gm
        self.tok_in = nn.Linear(e, d)
        self.type_emb = nn.Parameter(torch.randn(self.n_global + 1 + self.k, d) * 0.02)
        self.int_norm = nn.LayerNorm(d)
        self.int_attn = Attention(d, dims["heads"])                         # F_int
        self.int_mlp = Mlp(d, 2)
        self.out_norm = nn.LayerNorm(d)

    @property
    def n_tokens(self) -> int:
        return self.n_global + 1 + self.k

    def init_state(self, batch: int, device: torch.device | None = None) -> LPEState:
        return LPEState(self.audio_scan.init_state(batch, device), self.motion_scan.init_state(batch * self.k,
                                                                                                device))

    def _motion_tokens(self, motion: torch.Tensor) -> torch.Tensor:
        """motion (..., Dm) -> (..., K, E)."""
        return torch.stack([p(motion[..., a:b]) for p, (a, b) in zip(self.motion_in, self.slices)],
                           dim=-2) + self.region_emb

    def encode(self, audio: torch.Tensor, motion: torch.Tensor, state: LPEState | None = None
               ) -> tuple[torch.Tensor, LPEState]:
        """Scan a span of user frames. audio (B, T, Da), motion (B, T, Dm) -> feats (B, T, 1 + K, E)."""
        b, t, _ = audio.shape
        if motion.shape[:2] != (b, t):
            raise ValueError(f"user audio {tuple(audio.shape)} and motion {tuple(motion.shape)} disagree")
        st = state or self.init_state(b, audio.device)
        a, st_a = self.audio_scan(self.audio_in(audio), st.audio)           # (B, T, E)
        m = self._motion_tokens(motion).permute(0, 2, 1, 3).reshape(b * self.k, t, self.e)
        m, st_m = self.motion_scan(m, st.motion)                            # (B·K, T, E)
        m = m.view(b, self.k, t, self.e).permute(0, 2, 1, 3)                # (B, T, K, E)
        return torch.cat([a.unsqueeze(2), m], dim=2), LPEState(st_a, st_m)

    def embed(self, audio: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
        """Per-frame input embeddings without the scan (the short-window baseline has no long-range memory).
        audio (B, T, Da), motion (B, T, Dm) -> (B, T, 1 + K, E)."""
        return torch.cat([self.audio_in(audio).unsqueeze(2), self._motion_tokens(motion)], dim=2)

    def step(self, audio: torch.Tensor, motion: torch.Tensor, state: LPEState
             ) -> tuple[torch.Tensor, LPEState]:
        """One user frame. audio (B, Da), motion (B, Dm) -> feat (B, 1 + K, E)."""
        b = audio.shape[0]
        a, st_a = self.audio_scan.step(self.audio_in(audio), state.audio)
        m, st_m = self.motion_scan.step(self._motion_tokens(motion).reshape(b * self.k, self.e), state.motion)
        return torch.cat([a.unsqueeze(1), m.view(b, self.k, self.e)], dim=1), LPEState(st_a, st_m)

    def tokens(self, feat: torch.Tensor) -> torch.Tensor:
        """feat (B, 1 + K, E) at the query time -> P_usr (B, G + 1 + K, D)."""
        b = feat.shape[0]
        glob = self.gm(torch.cat([feat[:, 0], feat[:, 1:].mean(1)], dim=-1)).view(b, self.n_global, -1)
        x = torch.cat([glob, self.tok_in(feat)], dim=1) + self.type_emb     # (B, G + 1 + K, D)
        x = x + self.int_attn(self.int_norm(x))
        return self.out_norm(x + self.int_mlp(x))


class GatedCrossAttention(nn.Module):
    """P (B, Np, D) attends to S (B, Ns, D) behind tanh gates α (Flamingo); α = 0 would give f_pu = P_usr."""

    def __init__(self, dim: int, heads: int, gate_init: float = 0.0):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.mlp = Mlp(dim, 2)
        self.alpha_attn = nn.Parameter(torch.full((1,), float(gate_init)))
        self.alpha_mlp = nn.Parameter(torch.full((1,), float(gate_init)))

    def forward(self, p: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        p = p + torch.tanh(self.alpha_attn) * self.attn(self.norm1(p), s)
        return p + torch.tanh(self.alpha_mlp) * self.mlp(self.norm2(p))


def read_frames(known: torch.Tensor, t_len: int, latency: int) -> torch.Tensor:
    """known (B,) long -> r (B, T): the newest user frame (relative to the window start) each window frame reads,
    r_i = min(i − latency, known − 1)."""
    i = torch.arange(t_len, device=known.device)
    return torch.minimum(i[None] - latency, known[:, None] - 1)


class LCU(nn.Module):
    """LPE + per-frame user tokens + alignment layer + GCA -> f_pu. Switches: cfg.use_lpe, cfg.use_hbcu."""

    def __init__(self, layout: Mapping[str, tuple[int, int]], cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        dims = cfg.dims
        d = dims["dim"]
        self.lpe = LPE(layout, cfg) if cfg.use_lpe else None
        n_tok = self.lpe.n_tokens if self.lpe is not None else dims["n_global"] + 1
        # without LPE, learned queries take the place of P_usr so that HBCU still yields tokens
        self.queries = None if cfg.use_lpe else nn.Parameter(torch.randn(n_tok, d) * 0.02)
        if self.lpe is not None:
            self.frame_in = nn.Linear((1 + self.lpe.k) * self.lpe.e, d)    # one token per recent user frame
            self.age_in = nn.Linear(d, d)                                   # age embedding (frames ago)
            self.kind_emb = nn.Parameter(torch.randn(2, d) * 0.02)          # summary tokens | recent frames
        self.n_text = dims["n_text"]
        if cfg.use_hbcu:
            self.align = nn.Sequential(nn.Linear(cfg.text_dim, d * self.n_text), nn.GELU(),
                                       nn.Linear(d * self.n_text, d * self.n_text))
            self.align_norm = nn.LayerNorm(d)
            # without LPE there is no perception to gate against: the text reaches f_pu fully from the start
            self.gca = GatedCrossAttention(d, dims["heads"], cfg.gca_gate_init if cfg.use_lpe else 1.0)

    def _age(self, age: torch.Tensor) -> torch.Tensor:
        return self.age_in(sinusoidal(age, self.age_in.in_features, max_period=1000.0))

    def _perception_tokens(self, feats: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        """feats (B, F, 1 + K, E) over the window's user span, known (B,) -> (B·T, Np + W, D)."""
        cfg = self.cfg
        b, f = feats.shape[:2]
        t_len, w, r0 = cfg.chunk_frames, cfg.user_frames_window, cfg.user_preroll
        if f != cfg.user_span:
            raise ValueError(f"user features cover {f} frames, a chunk window's user span is {cfg.user_span}")
        r = read_frames(known, t_len, cfg.user_latency)                        # (B, T)
        rows = torch.arange(b, device=feats.device)[:, None]
        summary = self.lpe.tokens(feats[rows, r + r0].flatten(0, 1))          # (B·T, Np, D)
        age = torch.arange(t_len, device=feats.device)[None] - r              # (B, T) ≥ latency
        summary = summary + (self._age(age) + self.kind_emb[0]).flatten(0, 1).unsqueeze(1)
        j = torch.arange(w, device=feats.device)
        per_frame = self.frame_in(feats.flatten(2))                            # (B, F, D)
        recent = per_frame[rows[..., None], (r + r0)[..., None] - j]            # (B, T, W, D)
        recent = recent + self._age(age[..., None] + j) + self.kind_emb[1]
        return torch.cat([summary, recent.flatten(0, 1)], dim=1)

    def forward(self, feats: torch.Tensor | None, s_usr: torch.Tensor | None, known: torch.Tensor | None,
                batch: int) -> torch.Tensor:
        """feats (B, F, 1 + K, E): LPE outputs over the window's user span (or None without LPE); s_usr (B, 384)
        or None; known (B,) long: user frames of the window known at generation (see `read_frames`)
        -> f_pu (B, T, Nu, D)."""
        t_len = self.cfg.chunk_frames
        if self.lpe is not None:
            if feats is None or known is None:
                raise ValueError("LPE is on but no user perception features (or known horizon) were given")
            p = self._perception_tokens(feats, known.long())                  # (B·T, Nu, D)
        else:
            p = self.queries.expand(batch, -1, -1)                             # (B, Np, D): no time axis
        per = p.shape[0] // batch
        if self.cfg.use_hbcu:
            if s_usr is None:
                raise ValueError("HBCU is on but no behaviour embedding S_usr was given")
            s = self.align_norm(self.align(s_usr).view(batch, self.n_text, -1))   # (B, n_text, D)
            p = self.gca(p, s.repeat_interleave(per, dim=0))
        p = p.view(batch, per, *p.shape[1:])
        return p if per == t_len else p.expand(batch, t_len, *p.shape[2:])
