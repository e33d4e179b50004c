"""Reading input files: a missing or unreadable file is an `InputError` naming the file, never a traceback.

read_json, load_npy, read_safetensors / load_safetensors. (Writing them atomically is `echo_ihg.utils.atomic`:
write_json, save_npy.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from echo_ihg.errors import InputError


def read_json(path: str | Path, missing: str = "file not found") -> Any:
    """The parsed content of the JSON file `path` (UTF-8).

    Raises InputError(path, missing) when there is no such file, InputError(path, "not valid JSON (...)")
    when it does not parse. Callers check the shape (object, keys) themselves.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, missing)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not valid JSON ({exc})") from None


def load_npy(path: str | Path, mmap: bool = False) -> np.ndarray:
    """The array in the .npy file `path` (no pickles); mmap: memory-map it read-only instead of reading it.

    Raises InputError(path, "file not found") or InputError(path, "not a readable .npy array (...)").
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(path, f"not a readable .npy array ({exc})") from None


def read_safetensors(path: str | Path, missing: str = "file not found", framework: str = "pt"
                     ) -> tuple[dict[str, Any], dict[str, str]]:
    """(tensors, metadata) of the safetensors file `path`: tensors name -> torch.Tensor (framework "pt") or
    np.ndarray ("numpy"); metadata: the header's string map ({} when it has none).

    Raises InputError(path, missing) when there is no such file, InputError(path, "not a readable safetensors
    file (...)") when it does not parse (truncated, not safetensors, bad header).
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise InputError(path, missing)
    try:
        with safe_open(str(path), framework=framework) as f:
            return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})
    except Exception as exc:  # safetensors raises several types for corrupt files
        raise InputError(path, f"not a readable safetensors file ({type(exc).__name__}: {exc})") from None


def load_safetensors(path: str | Path, missing: str = "file not found") -> dict[str, Any]:
    """The tensors (name -> torch.Tensor) of the safetensors file `path`; errors as `read_safetensors`."""
    return read_safetensors(path, missing)[0]
