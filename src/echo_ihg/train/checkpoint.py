"""Checkpoints and exported models.

A training checkpoint is one directory, written atomically (a half-written checkpoint never replaces a good one):

    <run>/checkpoints/step_0000500/
        model.safetensors     raw weights
        ema.safetensors       EMA weights (what inference uses)
        checkpoint.json       format, step, stage, model constructor args (EchoModel.constructor_args), the
                              resolved TrainConfig, the codec's metadata, the motion space
        codec.safetensors/.json   the motion codec the model was trained with (a copy)
        trainer_state.pt      optimiser state, NaN-skip count, torch RNG state (torch.save; loaded with
                              weights_only=True)
    <run>/checkpoints/latest.json   {"name": "step_0000500", "step": 500}

An exported model (`export_model`) is model.safetensors (EMA weights) + model.json + the codec: what the bundled
default model is. Both folders are read back by `model.checkpoint.load_model` (the one reader of every model form).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors.torch import save_file

from echo_ihg.errors import InputError
from echo_ihg.model.checkpoint import (CHECKPOINT_FORMAT, MODEL_FORMAT, VERSION, load_weights,
                                       read_checkpoint_json)
from echo_ihg.model.echo import EchoModel
from echo_ihg.motion.codec import MotionCodec
from echo_ihg.utils.atomic import atomic_dir, write_json

log = logging.getLogger(__name__)

MOTION_SPACE = "normalised"     # the model reads and writes MotionCodec.normalise(...) motion


def _tensors(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}


def save_checkpoint(run_dir: str | Path, step: int, model: EchoModel, ema: Mapping[str, torch.Tensor],
                    optimizer: torch.optim.Optimizer, train_config: Mapping[str, Any], codec: MotionCodec,
                    state: Mapping[str, Any], keep: int = 2) -> Path:
    """Write checkpoint `step` (atomically), point latest.json at it, keep the newest `keep` checkpoints."""
    root = Path(run_dir) / "checkpoints"
    name = f"step_{step:07d}"
    with atomic_dir(root / name) as tmp:
        save_file(_tensors(model.state_dict()), str(tmp / "model.safetensors"))
        save_file(_tensors(ema), str(tmp / "ema.safetensors"))
        codec.save(tmp / "codec.safetensors")
        torch.save({"optimizer": optimizer.state_dict(), **state}, tmp / "trainer_state.pt")
        write_json(tmp / "checkpoint.json", {
            "format": CHECKPOINT_FORMAT, "version": VERSION, "step": int(step),
            "stage": int(train_config["stage"]),
            "model": model.constructor_args(), "train_config": dict(train_config),
            "codec": {"file": "codec.safetensors", "metadata": codec.metadata()}, "motion_space": MOTION_SPACE})
    write_json(root / "latest.json", {"name": name, "step": int(step)})
    for old in sorted(root.glob("step_*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return root / name


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint of a run, or None."""
    root = Path(run_dir) / "checkpoints"
    latest = root / "latest.json"
    if latest.is_file():
        try:
            path = root / json.loads(latest.read_text())["name"]
            if (path / "checkpoint.json").is_file():
                return path
        except (json.JSONDecodeError, KeyError, OSError):
            log.warning("%s: unreadable, looking for checkpoints by name", latest)
    found = sorted(p for p in root.glob("step_*") if (p / "checkpoint.json").is_file())
    return found[-1] if found else None


def load_trainer_state(ckpt: str | Path) -> dict[str, Any]:
    path = Path(ckpt) / "trainer_state.pt"
    if not path.is_file():
        raise InputError(path, "trainer state not found (checkpoint incomplete?)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle/zip errors of a corrupt file
        raise InputError(path, f"unreadable trainer state ({type(exc).__name__}: {exc})") from None


def export_model(ckpt: str | Path, dest: str | Path, use_ema: bool = True) -> Path:
    """Checkpoint -> inference model folder: model.safetensors (EMA weights) + model.json + codec."""
    ckpt, dest = Path(ckpt), Path(dest)
    meta = read_checkpoint_json(ckpt)
    weights = load_weights(ckpt / ("ema.safetensors" if use_ema else "model.safetensors"))
    with atomic_dir(dest) as tmp:
        save_file(weights, str(tmp / "model.safetensors"))
        shutil.copy2(ckpt / "codec.safetensors", tmp / "codec.safetensors")
        shutil.copy2(ckpt / "codec.json", tmp / "codec.json")
        write_json(tmp / "model.json", {
            "format": MODEL_FORMAT, "version": VERSION, "weights": "ema" if use_ema else "raw",
            "step": meta["step"], "stage": meta["stage"], "model": meta["model"],
            "codec": "codec.safetensors", "motion_space": meta["motion_space"],
            "identity": "echo_ihg.motion.identity.identity_vector", "train_config": meta["train_config"]})
    return dest
