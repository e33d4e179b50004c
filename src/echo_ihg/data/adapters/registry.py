"""The dataset adapters by name: `get_adapter("seamless")` -> the module that plans and loads its sessions.
(Its own module so that the package and the job runner both import it, and neither imports the other.)"""

from __future__ import annotations

import importlib
from types import ModuleType

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
