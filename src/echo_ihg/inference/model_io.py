"""Find and load the motion model for inference: an explicit checkpoint or the bundled default model.

Accepted `checkpoint` paths:
- an exported model folder (`model.json` + `model.safetensors` + `codec.safetensors`; `echo-ihg train` exports
  these, and the bundled default model is one: `echo_ihg/assets/default_model/`);
- a training checkpoint folder (`checkpoint.json`; its EMA weights are used);
- a lone `<name>.safetensors` written by `echo_ihg.model.checkpoint.save_model` (+ `<name>.json`): its codec is
  the file named by meta["codec"] (relative to the checkpoint) or else the packaged default codec.
The model's motion layout must equal the codec's, and its identity size the 478 × 3 neutral face.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from echo_ihg.assets import ASSETS_DIR
from echo_ihg.errors import EchoError, InputError
from echo_ihg.model.echo import EchoModel
from echo_ihg.model.generator import layout_pairs
from echo_ihg.motion.codec import MotionCodec, default_codec

log = logging.getLogger(__name__)

DEFAULT_MODEL_DIR = ASSETS_DIR / "default_model"
IDENTITY_DIM = 478 * 3


@dataclass
class LoadedModel:
    model: EchoModel
    codec: MotionCodec
    source: str
    meta: dict[str, Any] = field(default_factory=dict)
    text_encoder: Any = None          # set by whoever first needs one (eval.runner: the one it was trained with)


def default_model_path() -> Path | None:
    """The bundled default model folder, or None while this installation ships none."""
    return DEFAULT_MODEL_DIR if (DEFAULT_MODEL_DIR / "model.json").is_file() else None


def resolve_checkpoint(checkpoint: str | Path | None) -> Path:
    if checkpoint is not None:
        path = Path(checkpoint)
        if not path.exists():
            raise InputError(path, "checkpoint not found")
        return path
    path = default_model_path()
    if path is None:
        raise EchoError("no checkpoint given and this installation bundles no default model yet "
                        f"(expected {DEFAULT_MODEL_DIR}/model.json); pass --checkpoint PATH: an exported model "
                        "folder, a training checkpoint folder (echo-ihg train) or a model .safetensors file")
    return path


def load_inference_model(checkpoint: str | Path | None = None) -> LoadedModel:
    """-> the model in eval mode with its codec. Errors name the offending file."""
    path = resolve_checkpoint(checkpoint)
    if path.is_dir():
        from echo_ihg.train.checkpoint import load_model

        model, codec, meta = load_model(path)
    elif path.suffix == ".safetensors":
        from echo_ihg.model.checkpoint import load_model

        model, meta = load_model(path)
        codec_file = meta.get("codec")
        if codec_file:
            codec = MotionCodec.load(path.parent / str(codec_file))
        else:
            log.info("%s: no codec named in the checkpoint's meta; using the packaged default codec", path)
            codec = default_codec()
    else:
        raise InputError(path, "not a model: expected a model folder, a checkpoint folder or a .safetensors file")
    check_compatible(model, codec, path)
    return LoadedModel(model.eval(), codec, str(path), dict(meta))


def check_compatible(model: EchoModel, codec: MotionCodec, source: str | Path | None) -> None:
    want = layout_pairs(codec.layout)
    if dict(model.layout) != want:
        raise InputError(source, f"the model's motion layout {dict(model.layout)} does not match its codec's "
                                 f"{want}")
    if model.cfg.identity_dim != IDENTITY_DIM:
        raise InputError(source, f"the model's identity size is {model.cfg.identity_dim}; inference gives the "
                                 f"neutral face ({IDENTITY_DIM} values)")
