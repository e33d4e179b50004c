"""User-facing errors. The CLI prints these as one clean line (no traceback) and exits with status 2."""

from __future__ import annotations

from pathlib import Path


class EchoError(Exception):
    """Base class of errors caused by the user's inputs or environment, not by a bug."""


class InputError(EchoError):
    """An input file or argument is missing, unreadable or malformed. The message names the file."""

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else Path(path)
        self.problem = problem
        where = f"{self.path}: " if self.path is not None else ""
        super().__init__(f"{where}{problem}")


class NoFaceError(InputError):
    """No usable face was found in an image or video."""
