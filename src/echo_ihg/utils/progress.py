"""Progress bars: one place decides whether bars are shown (not when stderr is not a terminal in CI)."""

from __future__ import annotations

import os
import sys
from typing import Iterable, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress_enabled() -> bool:
    if os.environ.get("ECHO_IHG_PROGRESS") == "0":
        return False
    if os.environ.get("ECHO_IHG_PROGRESS") == "1":
        return True
    return sys.stderr.isatty()


def progress(iterable: Iterable[T] | None = None, total: int | None = None, desc: str = "",
             unit: str = "it", enabled: bool | None = None) -> tqdm:
    """A tqdm bar on stderr; disabled (but still iterating) when not interactive."""
    return tqdm(iterable, total=total, desc=desc, unit=unit, leave=False,
                disable=not (progress_enabled() if enabled is None else enabled), dynamic_ncols=True)
