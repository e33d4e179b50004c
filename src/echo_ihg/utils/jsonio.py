"""Reading JSON inputs: a missing file or bad JSON is an `InputError` naming the file, never a traceback.

(Writing JSON is `echo_ihg.utils.atomic.write_json`.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
