"""EchoModel checkpoints: `<name>.safetensors` (weights) + `<name>.json` (readable constructor arguments).

    save_model("runs/x/model.safetensors", model, meta={"stage": 2, "step": 12000})
    model, meta = load_model("runs/x/model.safetensors")

The JSON carries everything needed to rebuild the network (codec layout, region centres, ModelConfig) plus free
`meta` (training stage, step, codec file, ...); the same JSON is stored in the safetensors metadata so a lone
weights file is still self-describing. Both files are written atomically. Loading validates names and shapes
and reports problems as InputError naming the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from echo_ihg.errors import InputError
from echo_ihg.model.echo import EchoModel
from echo_ihg.utils.atomic import atomic_path, write_json
from echo_ihg.utils.readers import read_safetensors

FORMAT = "echo-ihg-model-v1"


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


def load_model(path: str | Path) -> tuple[EchoModel, dict[str, Any]]:
    """-> (model in eval mode, meta). The JSON next to the weights wins over the embedded copy."""
    path = Path(path)
    state, header = read_safetensors(path, missing="model checkpoint not found")
    embedded = header.get("echo_ihg")
    side = path.with_suffix(".json")
    try:
        info = json.loads(side.read_text()) if side.is_file() else json.loads(embedded or "null")
    except ValueError as exc:
        raise InputError(side if side.is_file() else path, f"checkpoint config is not valid JSON ({exc})") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise InputError(path, f"not an echo-ihg model checkpoint (expected format {FORMAT!r})")
    try:
        model = EchoModel.from_args(info["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(side, f"bad model constructor arguments: {exc}") from None
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise InputError(path, f"weights do not match the config (missing {missing[:5]}, unexpected {unexpected[:5]})")
    return model.eval(), dict(info.get("meta", {}))
