"""Dataset adapters: convert a public dataset's release layout into the session format.

    from echo_ihg.data.adapters import prepare_dataset
    report = prepare_dataset("seamless", root, out)        # -> ConversionReport

Each module exposes `NAME` and `discover(root, config) -> Iterator[SessionInput | Skipped]`; the shared
tracking / audio / VAD / writing work lives in `base`. Schemas and their sources: docs/datasets.md.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from echo_ihg.data.adapters.base import AdapterConfig, ConversionReport, Skipped, convert
from echo_ihg.errors import InputError

# dataset name -> module under echo_ihg.data.adapters
ADAPTERS: dict[str, str] = {
    "seamless": "seamless",
    "realtalk": "realtalk",
    "vico": "vico",
    "react": "react",
    "hdtf": "hdtf",
}


def get_adapter(name: str) -> ModuleType:
    if name not in ADAPTERS:
        raise InputError(None, f"unknown dataset {name!r} (known: {', '.join(ADAPTERS)})")
    return importlib.import_module(f"echo_ihg.data.adapters.{ADAPTERS[name]}")


def prepare_dataset(name: str, root: str | Path, out: str | Path,
                    config: AdapterConfig = AdapterConfig()) -> ConversionReport:
    """Convert every session of dataset `name` found under `root` into `out/<split>/<session_id>/`."""
    adapter = get_adapter(name)
    return convert(adapter.discover(Path(root), config), Path(out), config)


__all__ = ["ADAPTERS", "AdapterConfig", "ConversionReport", "Skipped", "get_adapter", "prepare_dataset"]
