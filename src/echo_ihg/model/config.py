"""Model configuration: one frozen dataclass with the defaults, and the registered network sizes.

The ablation switches mirror the rows of ECHO's ablation table plus two baselines:

    use_lpe=False        w/o LPE   (no low-level perception; f_pu from the behaviour text only)
    use_hbcu=False       w/o HBCU  (no behaviour description; f_pu = P_usr)
    use_lau=False        w/o LAU   (no emotion description; c_emo replaced by a learned null token)
    use_sdcm=False       w/o SDCM  (entangled, role-agnostic fusion: one cross-attention over [audio; user]
                                    for every token, no spatial masks)
    audio_only=True      baseline: avatar audio (+ previous motion, identity) only; no user, no LAU
    short_window_frames  baseline: user cues of the last N frames only (INFP/DIM-style; 50 = 2 s); 0 = off.
                         No long-range scan: the per-frame user window holds the last N frames' embeddings.

The user time axis (docs/architecture.md, "User time axis"): avatar frame t of a chunk window [s, s + T)
reads the user as known at t, i.e. user frames τ ≤ min(t − user_latency, s + known − 1), where `known` is how
many of the window's user frames exist when the chunk is generated (offline: all, known = T; live, with the
user stream L frames behind and o inpainted frames: known = o − L ≥ −user_lag_max). Frame t attends to the
LPE summary at its newest readable frame plus the per-frame features of the `user_window` newest ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from echo_ihg.constants import FPS, IDENTITY_DIM, MELS_PER_FRAME, N_MELS

# name -> network width/depth. "tiny" is for unit tests; "small" is the bundled default model (2.3 M parameters,
# 9 MB float32); "base" (dim 128, 3.8 M) for more headroom. Speeds: README, "Motion model" (bench/model_speed.py).
SIZES: dict[str, dict[str, int]] = {
    "tiny": dict(dim=32, depth=2, heads=2, lpe_dim=16, ssm_state=4, mlp_ratio=2, n_global=1, n_text=1),
    "small": dict(dim=96, depth=4, heads=4, lpe_dim=64, ssm_state=8, mlp_ratio=3, n_global=2, n_text=2),
    "base": dict(dim=128, depth=4, heads=4, lpe_dim=64, ssm_state=8, mlp_ratio=3, n_global=2, n_text=2),
}

TEXT_DIM = 384        # all-MiniLM-L6-v2 sentence embedding size
AUDIO_FRAME_DIM = N_MELS * MELS_PER_FRAME   # the 4 log-mel frames of one video frame, flattened


@dataclass(frozen=True)
class ModelConfig:
    size: str = "small"
    chunk_frames: int = 2 * FPS            # frames generated per chunk (2 s)
    prev_frames: int = 2 * FPS             # previous-motion frames given as context
    audio_window: int = 4                  # SDCM audio attention: ± frames around each frame (±160 ms)
    history_frames: int = 90 * FPS         # LPE: slowest initial time constant (the history it is built for)
    lip_region: str = "lips_jaw"           # token whose neighbourhood is driven by the avatar's audio only
    mask_sharpness: float = 4.0            # M_lip = exp(-sharpness · (d / d_max)^2) over region centres
    gca_gate_init: float = 0.5             # HBCU's GCA tanh gates at the start of stage 2. Not 0 (Flamingo):
                                           # SDCM's zero-initialised user attention already makes the fresh
                                           # user branch the identity, and a second zero in that chain left
                                           # the gates at |α| ≈ 0.003 after 80 steps (HBCU never learnt)
    identity_dim: int = IDENTITY_DIM       # neutral mesh, flattened
    text_dim: int = TEXT_DIM
    audio_frame_dim: int = AUDIO_FRAME_DIM
    user_branch: bool = True               # stage 1 trains with it off; stage 2 switches it on
    use_lpe: bool = True
    use_hbcu: bool = True
    use_lau: bool = True
    use_sdcm: bool = True
    audio_only: bool = False
    short_window_frames: int = 0
    user_latency: int = 1                  # avatar frame t reads user frames ≤ t − user_latency (never the present)
    user_window: int = 8                   # recent user frames each avatar frame attends to directly
    user_lag_max: int = 16                 # the stalest horizon trained for: known ≥ −user_lag_max (live lag)

    def __post_init__(self) -> None:
        if self.size not in SIZES:
            raise ValueError(f"unknown model size {self.size!r} (known: {', '.join(SIZES)})")
        if self.chunk_frames < 2 or self.prev_frames < 1 or self.audio_window < 0:
            raise ValueError("chunk_frames ≥ 2, prev_frames ≥ 1 and audio_window ≥ 0 are required")
        if self.short_window_frames < 0:
            raise ValueError("short_window_frames must be ≥ 0 (0 = off)")
        if self.user_latency < 1 or self.user_window < 1 or self.user_lag_max < 0:
            raise ValueError("user_latency ≥ 1, user_window ≥ 1 and user_lag_max ≥ 0 are required")

    @property
    def dims(self) -> dict[str, int]:
        return SIZES[self.size]

    @property
    def user_frames_window(self) -> int:
        """Recent user frames read per avatar frame (the short-window baseline reads its N frames)."""
        return self.short_window_frames or self.user_window

    @property
    def user_preroll(self) -> int:
        """R: user frames kept before a chunk window's first frame s. A window's user span is [s − R,
        s + T − user_latency): F = T − user_latency + R frames, the oldest one any frame can read at the
        stalest horizon. Before a conversation starts the user sits R frames silent at rest (both the engine
        and training scan that pre-roll), so frame 0 sees the same history in both."""
        return self.user_frames_window + self.user_lag_max

    @property
    def user_span(self) -> int:
        """F: user frames of one chunk window's span (see `user_preroll`)."""
        return self.chunk_frames - self.user_latency + self.user_preroll

    @property
    def uses_user(self) -> bool:
        """Whether any user cue (perception or behaviour text) reaches the generator."""
        return self.user_branch and not self.audio_only and (self.use_lpe or self.use_hbcu)

    @property
    def uses_emotion(self) -> bool:
        """LAU is part of the LCU: off in stage 1 (user_branch=False) like the rest of the user context."""
        return self.user_branch and self.use_lau and not self.audio_only

    @property
    def uses_text(self) -> bool:
        """Whether the model reads any text: behaviour descriptions (HBCU) or emotion descriptions (LAU)."""
        return (self.uses_user and self.use_hbcu) or self.uses_emotion
