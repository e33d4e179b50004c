"""EchoModel files: the one place that reads a model back (`load_model`), whatever form it was saved in.

    save_model("runs/x/model.safetensors", model, meta={"stage": 2, "step": 12000})
    model, codec, meta = load_model("runs/x/model.safetensors")     # or an exported / checkpoint folder

Three forms, each with its JSON description (format name checked on load):
- a lone `<name>.safetensors` (weights) + `<name>.json` (`save_model`): the constructor arguments (codec
  layout, region centres, ModelConfig) plus free `meta`; the same JSON is stored in the safetensors metadata
  so a lone weights file is still self-describing. Its codec is the file named by meta["codec"] (relative to
  the weights) or else the packaged default codec;
- an exported model folder (`train.checkpoint.export_model`; the bundled default model is one):
  model.json + model.safetensors (EMA weights) + codec.safetensors;
- a training checkpoint folder (`train.checkpoint.save_checkpoint`): checkpoint.json, its EMA weights, its codec.
Files are written atomically. Loading validates names and shapes and reports problems as InputError naming
the file.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from echo_ihg.errors import InputError
from echo_ihg.model.echo import EchoModel
from echo_ihg.motion.codec import MotionCodec, default_codec
from echo_ihg.utils.atomic import atomic_path, write_json
from echo_ihg.utils.readers import load_safetensors, read_json, read_safetensors

log = logging.getLogger(__name__)

FORMAT = "echo-ihg-model-v1"                 # a lone weights file (save_model)
MODEL_FORMAT = "echo-ihg-model"              # an exported model folder (model.json)
CHECKPOINT_FORMAT = "echo-ihg-checkpoint"    # a training checkpoint folder (checkpoint.json)
VERSION = 1                                  # of the two folder formats


def save_model(dest: str | Path, model: EchoModel, meta: dict[str, Any] | None = None) -> None:
    from safetensors.torch import save_file

    dest = Path(dest)
    if dest.suffix != ".safetensors":
        raise ValueError(f"{dest}: checkpoint weights must end in .safetensors")
    info = {"format": FORMAT, "model": model.constructor_args(), "meta": meta or {}}
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(dest) as tmp:
        save_file(state, str(tmp), metadata={"echo_ihg": json.dumps(info)})
    write_json(dest.with_suffix(".json"), info)


def load_model(path: str | Path) -> tuple[EchoModel, MotionCodec, dict[str, Any]]:
    """A model in any of the three forms (module docstring) -> (model in eval mode, its codec, meta)."""
    path = Path(path)
    if path.is_dir():
        return _load_folder(path)
    if path.suffix == ".safetensors":
        model, meta = _load_file(path)
        codec_file = meta.get("codec")
        if codec_file:
            return model, MotionCodec.load(path.parent / str(codec_file)), meta
        log.info("%s: no codec named in the checkpoint's meta; using the packaged default codec", path)
        return model, default_codec(), meta
    if not path.exists():
        raise InputError(path, "model checkpoint not found")
    raise InputError(path, "not a model: expected a model folder, a checkpoint folder or a .safetensors file")


def read_checkpoint_json(ckpt: str | Path) -> dict[str, Any]:
    path = Path(ckpt) / "checkpoint.json"
    if not path.is_file():
        raise InputError(ckpt, "not a checkpoint directory (no checkpoint.json)")
    meta = read_json(path)
    if meta.get("format") != CHECKPOINT_FORMAT or meta.get("version") != VERSION:
        raise InputError(path, f"unsupported checkpoint format {meta.get('format')!r} v{meta.get('version')!r}")
    return meta


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """A weights file (model / ema .safetensors) -> state dict; InputError naming the file."""
    return load_safetensors(path, missing="weights file not found")


def _load_folder(path: Path) -> tuple[EchoModel, MotionCodec, dict[str, Any]]:
    """An exported model folder (or a checkpoint folder: its EMA weights)."""
    if (path / "checkpoint.json").is_file():
        meta, weights_file = read_checkpoint_json(path), path / "ema.safetensors"
    else:
        jpath = path / "model.json"
        if not jpath.is_file():
            raise InputError(path, "not a model folder (no model.json) or checkpoint (no checkpoint.json)")
        meta = read_json(jpath)
        if meta.get("format") != MODEL_FORMAT:
            raise InputError(jpath, f"unsupported model format {meta.get('format')!r}")
        weights_file = path / "model.safetensors"
    model = _build(meta.get("model"), path)
    _load_state(model, load_weights(weights_file), weights_file)
    return model.eval(), MotionCodec.load(path / "codec.safetensors"), meta


def _load_file(path: Path) -> tuple[EchoModel, dict[str, Any]]:
    """A lone weights file -> (model in eval mode, meta). The JSON next to the weights wins over the
    embedded copy."""
    state, header = read_safetensors(path, missing="model checkpoint not found")
    embedded = header.get("echo_ihg")
    side = path.with_suffix(".json")
    try:
        info = json.loads(side.read_text()) if side.is_file() else json.loads(embedded or "null")
    except ValueError as exc:
        raise InputError(side if side.is_file() else path, f"checkpoint config is not valid JSON ({exc})") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise InputError(path, f"not an echo-ihg model checkpoint (expected format {FORMAT!r})")
    model = _build(info.get("model"), side)
    _load_state(model, state, path)
    return model.eval(), dict(info.get("meta", {}))


def _build(args: Any, source: Path) -> EchoModel:
    try:
        return EchoModel.from_args(args)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(source, f"bad model constructor arguments ({exc})") from None


def _load_state(model: EchoModel, state: dict[str, torch.Tensor], source: Path) -> None:
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise InputError(source, f"weights do not fit the model (missing {missing[:5]}, "
                                 f"unexpected {unexpected[:5]})")
