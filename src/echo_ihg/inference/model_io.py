"""Find and load the motion model for inference: an explicit checkpoint or the bundled default model.

Accepted `checkpoint` paths:
- an exported model folder (`model.json` + `model.safetensors` + `codec.safetensors`; `echo-ihg train` exports
  these, and the bundled default model is one: `echo_ihg/assets/default_model/`);
- a training checkpoint folder (`checkpoint.json`; its EMA weights are used);
- a lone `<name>.safetensors` written by `echo_ihg.model.checkpoint.save_model` (+ `<name>.json`): its codec is
  the file named by meta["codec"] (relative to the checkpoint) or else the packaged default codec.
All three are read by `model.checkpoint.load_model`; this module adds the default and the compatibility check.
The model's motion layout must equal the codec's, and its identity size the 478 × 3 neutral face.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from echo_ihg.assets import ASSETS_DIR
from echo_ihg.constants import IDENTITY_DIM
from echo_ihg.errors import EchoError, InputError
from echo_ihg.model.checkpoint import load_model
from echo_ihg.model.echo import EchoModel
from echo_ihg.model.generator import layout_pairs
from echo_ihg.motion.codec import MotionCodec

DEFAULT_MODEL_DIR = ASSETS_DIR / "default_model"


@dataclass
class LoadedModel:
    model: EchoModel
    codec: MotionCodec
    source: str
    meta: dict[str, Any] = field(default_factory=dict)
    text_encoder: Any = None          # the frozen sentence encoder, loaded on first need (`text_conditioner`)

    def text_conditioner(self, avatar: str):
        """A new `model.engine.TextConditioner` for avatar `avatar` ("A" or "B"); None when the model reads no
        text. Its encoder is the one the model was trained with (its TrainConfig's `text_encoder`; MiniLM when
        unnamed), loaded once per loaded model, or the one a caller set in `text_encoder`."""
        from echo_ihg.model.engine import build_text_conditioner

        return build_text_conditioner(self.model.cfg, self._encoder, avatar=avatar)

    def _encoder(self):
        if self.text_encoder is None:
            from echo_ihg.model.text_encoder import make_text_encoder

            meta = self.meta
            name = str(meta.get("train_config", {}).get("text_encoder", meta.get("text_encoder", "minilm")))
            self.text_encoder = make_text_encoder(name)
            self.text_encoder.encode(["the user is listening"])   # load the weights now, not in the first chunk
        return self.text_encoder


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
    model, codec, meta = load_model(path)
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
