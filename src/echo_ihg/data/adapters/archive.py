"""Reading dataset files straight out of tar shards (webdataset layout) without unpacking whole archives.

Members are indexed by name once (headers only); the few members a session needs are extracted into a
temporary folder that the session's `cleanup` removes after it has been converted.
"""

from __future__ import annotations

import logging
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable

from echo_ihg.errors import InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TarMember:
    tar: Path
    name: str  # member name inside the tar

    @property
    def basename(self) -> str:
        return PurePosixPath(self.name).name


def list_tar_members(tar: Path) -> list[TarMember]:
    """Regular-file members of `tar` (headers only). Raises InputError for an unreadable archive."""
    try:
        with tarfile.open(tar, "r:*") as tf:
            return [TarMember(tar, m.name) for m in tf.getmembers() if m.isfile()]
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise InputError(tar, f"not a readable tar archive ({exc})") from None


def extract_members(members: list[TarMember], dest: Path) -> dict[str, Path]:
    """Extract members (possibly from several tars) flat into `dest`. -> basename -> extracted path."""
    out: dict[str, Path] = {}
    by_tar: dict[Path, list[TarMember]] = {}
    for m in members:
        by_tar.setdefault(m.tar, []).append(m)
    for tar, group in by_tar.items():
        try:
            with tarfile.open(tar, "r:*") as tf:
                for m in group:
                    src = tf.extractfile(m.name)
                    if src is None:
                        raise InputError(tar, f"member {m.name!r} is not a regular file")
                    target = dest / m.basename
                    with src, open(target, "wb") as fh:
                        shutil.copyfileobj(src, fh, 1 << 20)
                    out[m.basename] = target
        except (tarfile.TarError, OSError, EOFError, KeyError) as exc:
            raise InputError(tar, f"cannot extract {', '.join(m.name for m in group)} ({exc})") from None
    return out


def temp_dir(prefix: str) -> tuple[Path, Callable[[], None]]:
    """A fresh temporary directory and the function that removes it."""
    path = Path(tempfile.mkdtemp(prefix=f"echo-ihg-{prefix}-"))
    return path, lambda: shutil.rmtree(path, ignore_errors=True)
