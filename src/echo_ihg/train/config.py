"""Training configuration: one frozen dataclass holding the defaults (YAML / `--set key=value` override it).

Stage 1 trains self-audio talking with the user branch off (`ModelConfig.user_branch=False` is forced);
stage 2 switches the LCU and SDCM's user branch on (zero-initialised), starts from a stage-1 checkpoint and
trains the stage-1 (audio/lip) path at `lr × base_lr_mult` (0 freezes it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from echo_ihg.data.windows import DataConfig
from echo_ihg.model.config import ModelConfig


@dataclass(frozen=True)
class TrainConfig:
    stage: int = 1
    model: ModelConfig = ModelConfig(size="small")
    data: DataConfig = DataConfig()
    codec: str = ""                       # motion codec file; "" = the package's default codec
    text_encoder: str = "minilm"          # "minilm" (frozen all-MiniLM-L6-v2) | "hashing" (unit tests only)
    steps: int = 2000                     # optimiser steps of this stage
    batch: int = 16                       # global batch (all ranks together); a multiple of data.shards
    lr: float = 3e-4
    base_lr_mult: float = 0.1             # stage 2: lr multiplier of the stage-1 path (0 = frozen)
    user_lr_mult: float = 1.0             # stage 2: lr multiplier of the fresh user branch (LCU, SDCM's user
                                          # attention, c_emo projection): it starts from zero and must move far
    warmup: int = 100                     # linear warm-up steps, then cosine decay to lr × min_lr_ratio
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.99)
    ema_decay: float = 0.999
    grad_clip: float = 1.0                # max global gradient norm (0 = off)
    region_weights: dict[str, float] = field(default_factory=lambda: {"lips_jaw": 2.0})
    velocity_weight: float = 0.5          # velocity loss on x̂0 (temporal smoothness / dynamics)
    listening_weight: float = 1.0         # loss weight of frames where the avatar is silent (its reactions)
    cond_drop: float = 0.1                # p(user context and c_emo replaced by null) for CFG
    full_known_p: float = 0.5             # stage 2: p(a window reads the user up to each frame − latency, as
                                          # offline); else its known horizon is uniform in [−user_lag_max, T]
    seed: int = 0
    log_interval: int = 10
    ckpt_interval: int = 250
    keep_checkpoints: int = 2
    max_nan_skips: int = 20               # skipped (non-finite) steps before training aborts
    workers: int = 0                      # DataLoader worker processes per rank

    def __post_init__(self) -> None:
        if self.stage not in (1, 2):
            raise ValueError(f"stage must be 1 or 2, got {self.stage}")
        if self.steps < 0 or self.batch < 1 or self.lr <= 0 or self.warmup < 0:
            raise ValueError("steps ≥ 0, batch ≥ 1, lr > 0 and warmup ≥ 0 are required")
        if self.batch % self.data.shards:
            raise ValueError(f"batch {self.batch} must be a multiple of data.shards {self.data.shards}")
        if self.user_lr_mult <= 0:
            raise ValueError(f"user_lr_mult must be > 0, got {self.user_lr_mult}")
        if not 0 <= self.base_lr_mult <= 1 or not 0 <= self.cond_drop < 1 or not 0 <= self.ema_decay < 1:
            raise ValueError("base_lr_mult in [0, 1], cond_drop in [0, 1) and ema_decay in [0, 1) are required")
        if self.listening_weight <= 0:
            raise ValueError(f"listening_weight must be > 0, got {self.listening_weight}")
        if not 0 <= self.full_known_p <= 1:
            raise ValueError(f"full_known_p must be in [0, 1], got {self.full_known_p}")
        if self.text_encoder not in ("minilm", "hashing"):
            raise ValueError(f"text_encoder must be 'minilm' or 'hashing', got {self.text_encoder!r}")
        if min(self.log_interval, self.ckpt_interval, self.keep_checkpoints, self.max_nan_skips) < 1:
            raise ValueError("log_interval, ckpt_interval, keep_checkpoints and max_nan_skips must be ≥ 1")

    def model_config(self) -> ModelConfig:
        """The model of this stage (stage 1: user branch off)."""
        return dataclasses.replace(self.model, user_branch=self.stage == 2)
