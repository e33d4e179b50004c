"""Splitting a corpus of sessions between data-parallel ranks (torchrun / DDP), by whole sessions.

Each rank reads only its own sessions (the partition needs nothing but every session's `meta.json` T), so
no rank opens every session's arrays. The partition is deterministic for (seed, epoch, world size) —
every rank computes the same one without communicating — reshuffled each epoch, and balanced by frames:
sessions are visited in a seeded random order and each goes to the rank with the fewest frames so far, so
ranks differ by at most one session's length. Because it depends only on the list, the epoch and the world
size, a run resumed on a different number of ranks simply recomputes it (the data position to carry over is
the epoch and the global step, not a per-rank cursor).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from echo_ihg.errors import InputError


def session_frames(session_dirs: Sequence[str | Path]) -> list[int]:
    """T of each session, from meta.json only (no arrays are opened)."""
    from echo_ihg.data.session import read_meta

    return [int(read_meta(d)["T"]) for d in session_dirs]


def shard_sessions(session_dirs: Sequence[str | Path], rank: int, world_size: int, epoch: int = 0,
                   seed: int = 0, frames: Sequence[int] | None = None) -> list[Path]:
    """The sessions of `rank` among `world_size` ranks for `epoch` (see the module docstring).

    frames: T per session (e.g. `session_frames(dirs)`) to balance by length; None = equal session counts.
    Raises InputError when there are fewer sessions than ranks (an idle rank would stall collective ops).
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise InputError(None, f"rank {rank} is not in 0..{world_size - 1} (world size {world_size})")
    n = len(session_dirs)
    if n < world_size:
        raise InputError(None, f"{n} session(s) for {world_size} ranks: every rank needs at least one session")
    if frames is not None and len(frames) != n:
        raise InputError(None, f"got {len(frames)} frame counts for {n} sessions")
    order = np.random.default_rng([seed, epoch]).permutation(n)
    load = np.zeros(world_size, np.int64)
    owner = np.empty(n, np.int64)
    for k, i in enumerate(order):
        # equal counts: deal round robin; by frames: the least-loaded rank (lowest index on ties)
        r = k % world_size if frames is None else int(np.argmin(load))
        owner[i] = r
        load[r] += 1 if frames is None else max(int(frames[i]), 1)
    return [Path(session_dirs[i]) for i in order if owner[i] == rank]
