"""Derived features cached next to a session's data, stamped with the extractor version.

    mel = cached_feature(session_dir, "A", "mel", features.VERSION, lambda p: log_mel(p.audio))

Files: `<session>/<A|B>/cache/<name>.npy` and a stamp `<name>.json` {name, version, inputs, shape, dtype}.
A cached array is rebuilt when the version string differs, when the participant's input files changed
(size or modification time of audio.wav or audio.flac, landmarks.npy, valid.npy, vad.npy), or when the files are
missing or unreadable. `participant=None` caches a session-level feature under `<session>/cache/` and
passes the whole Session to `compute_fn`. Writes are atomic, so concurrent readers never see half a file;
two processes computing the same feature at once both write the same values.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Callable

import numpy as np

from echo_ihg.data.session import AUDIO_FILES, read_participant, read_session
from echo_ihg.errors import InputError
from echo_ihg.utils.atomic import save_npy, write_json

log = logging.getLogger(__name__)


def _participant_inputs() -> tuple[str, ...]:
    """Both audio names: a missing file is left out of the fingerprint, and a switch from audio.wav to
    audio.flac changes it (so the cache is rebuilt)."""
    return (*AUDIO_FILES.values(), "landmarks.npy", "valid.npy", "vad.npy")


def _session_inputs() -> tuple[str, ...]:
    return ("meta.json", "transcript.jsonl", *(f"{w}/{f}" for w in "AB" for f in _participant_inputs()))


def _fingerprint(base: Path, names: tuple[str, ...]) -> dict[str, list[int]]:
    out = {}
    for name in names:
        p = base / name
        if p.exists():
            st = p.stat()
            out[name] = [st.st_size, st.st_mtime_ns]
    return out


def cache_paths(session_dir: str | Path, participant: str | None, name: str) -> tuple[Path, Path]:
    """(array path, stamp path) of a cached feature."""
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"bad cached feature name {name!r}")
    base = Path(session_dir) / participant if participant is not None else Path(session_dir)
    return base / "cache" / f"{name}.npy", base / "cache" / f"{name}.json"


def _stamp_ok(stamp_path: Path, arr_path: Path, version: str, inputs: dict) -> bool:
    if not (stamp_path.is_file() and arr_path.is_file()):
        return False
    try:
        stamp = json.loads(stamp_path.read_text())
    except (json.JSONDecodeError, OSError, UnicodeDecodeError):
        return False
    return stamp.get("version") == version and stamp.get("inputs") == inputs


def _inputs(session_dir: Path, participant: str | None) -> dict:
    if participant is None:
        return _fingerprint(session_dir, _session_inputs())
    return _fingerprint(session_dir / participant, _participant_inputs())


def is_fresh(session_dir: str | Path, participant: str | None, name: str, version: str) -> bool:
    """Whether `cached_feature` would reuse the stored array (same version and unchanged inputs)."""
    arr_path, stamp_path = cache_paths(session_dir, participant, name)
    return _stamp_ok(stamp_path, arr_path, version, _inputs(Path(session_dir), participant))


def cached_feature(session_dir: str | Path, participant: str | None, name: str, version: str,
                   compute_fn: Callable[[Any], np.ndarray], mmap: bool = True) -> np.ndarray:
    """Return the cached array `name` of `participant` ("A", "B" or None), computing and storing it with
    `compute_fn(Participant)` (or `compute_fn(Session)` for None) when it is missing or stale."""
    session_dir = Path(session_dir)
    if not (session_dir / "meta.json").is_file():
        raise InputError(session_dir, "not a session directory (no meta.json)")
    if participant not in ("A", "B", None):
        raise ValueError(f"participant must be 'A', 'B' or None, got {participant!r}")
    arr_path, stamp_path = cache_paths(session_dir, participant, name)
    inputs = _inputs(session_dir, participant)
    if _stamp_ok(stamp_path, arr_path, version, inputs):
        try:
            return np.load(arr_path, mmap_mode="r" if mmap else None, allow_pickle=False)
        except (ValueError, OSError, EOFError):
            log.warning("%s: unreadable cached feature, rebuilding", arr_path)
    elif stamp_path.is_file():
        log.info("%s: stale (version or inputs changed), rebuilding", arr_path)
    if participant is None:
        source = read_session(session_dir, mmap=True)
    else:
        source = read_participant(session_dir, participant, mmap=True)
    arr = np.ascontiguousarray(np.asarray(compute_fn(source)))
    save_npy(arr_path, arr)
    write_json(stamp_path, {"name": name, "version": version, "inputs": inputs,
                            "shape": list(arr.shape), "dtype": str(arr.dtype)})
    return np.load(arr_path, mmap_mode="r") if mmap else arr
