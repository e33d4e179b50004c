"""Fixtures of the evaluation-runner tests: a tiny randomly initialised model written with the project's
checkpoint writer (its motion is random: enough to prove generation, scoring and the report end to end)."""

from __future__ import annotations

from pathlib import Path

import pytest


def write_tiny_model(dest: Path, seed: int = 0, **cfg) -> Path:
    """A tiny EchoModel (default codec layout) with noise added to its zero-initialised gates, so that every
    branch (SDCM user branch, gate) is live; meta names the hashing text encoder (no MiniLM load)."""
    import torch

    from echo_ihg.model.checkpoint import save_model
    from echo_ihg.model.config import ModelConfig
    from echo_ihg.model.echo import EchoModel
    from echo_ihg.model.sdcm import canonical_centres
    from echo_ihg.motion.codec import default_codec

    torch.manual_seed(seed)
    mcfg = ModelConfig(size="tiny", chunk_frames=12, prev_frames=8, audio_window=2, history_frames=200, **cfg)
    model = EchoModel(default_codec().layout, canonical_centres(), mcfg)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    save_model(dest, model, meta={"text_encoder": "hashing"})
    return dest


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    """Two tiny variants: ECHO (SDCM) and the entangled-fusion ablation (w/o SDCM)."""
    root = tmp_path_factory.mktemp("tiny_models")
    return {"ECHO": write_tiny_model(root / "echo.safetensors", 0),
            "w/o SDCM": write_tiny_model(root / "nosdcm.safetensors", 1, use_sdcm=False)}
