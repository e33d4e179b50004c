"""Tiny training configurations for the training tests."""

from __future__ import annotations

import dataclasses

from echo_ihg.data.windows import DataConfig
from echo_ihg.model.config import ModelConfig
from echo_ihg.train.config import TrainConfig

TINY_MODEL = ModelConfig(size="tiny", chunk_frames=12, prev_frames=8, audio_window=2, history_frames=200)
TINY_DATA = DataConfig(stride=10, describe_frames=100, shards=2)


def tiny_config(**kw) -> TrainConfig:
    base = TrainConfig(model=TINY_MODEL, data=TINY_DATA, text_encoder="hashing", steps=4, batch=4, warmup=2,
                       log_interval=1, ckpt_interval=2, lr=1e-3, ema_decay=0.9)
    return dataclasses.replace(base, **kw)


def tiny_overrides(**kw) -> list[str]:
    """The same configuration as CLI --set flags."""
    flat = {"model.size": "tiny", "model.chunk_frames": 12, "model.prev_frames": 8, "model.audio_window": 2,
            "model.history_frames": 200, "data.stride": 10,
            "data.describe_frames": 100, "data.shards": 2, "text_encoder": "hashing", "steps": 4, "batch": 4,
            "warmup": 2, "log_interval": 1, "ckpt_interval": 2, "lr": 1e-3, "ema_decay": 0.9, **kw}
    out = []
    for k, v in flat.items():
        out += ["--set", f"{k}={v}"]
    return out
