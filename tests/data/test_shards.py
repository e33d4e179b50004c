"""Session sharding for data-parallel training: disjoint, complete, balanced, per-epoch reshuffled, and the
same on every rank of a real 2-process gloo group."""

from __future__ import annotations

import json
import sys
import textwrap

import numpy as np
import pytest

from echo_ihg.data.shards import session_frames, shard_sessions
from echo_ihg.errors import InputError


def _fake_sessions(root, lengths):
    dirs = []
    for i, T in enumerate(lengths):
        d = root / "train" / f"s{i:03d}"
        d.mkdir(parents=True)
        (d / "meta.json").write_text(json.dumps({"id": d.name, "fps": 25, "T": int(T)}))
        dirs.append(d)
    return dirs


def test_partition_is_disjoint_complete_balanced_and_reshuffled(tmp_path):
    rng = np.random.default_rng(0)
    lengths = rng.integers(50, 3000, 41)
    dirs = _fake_sessions(tmp_path, lengths)
    frames = session_frames(dirs)
    assert frames == [int(t) for t in lengths]
    for world in (1, 2, 3, 8):
        shards = [shard_sessions(dirs, r, world, epoch=1, frames=frames) for r in range(world)]
        flat = [p for s in shards for p in s]
        assert sorted(flat) == sorted(dirs) and len(set(flat)) == len(dirs)
        load = [sum(frames[dirs.index(p)] for p in s) for s in shards]
        assert max(load) - min(load) <= max(frames)
    a0, a1 = shard_sessions(dirs, 0, 2, epoch=0), shard_sessions(dirs, 0, 2, epoch=1)
    assert a0 != a1 and len(a0) in (20, 21)  # equal counts without frames; new order each epoch
    assert shard_sessions(dirs, 1, 4, epoch=3, seed=7) == shard_sessions(dirs, 1, 4, epoch=3, seed=7)
    with pytest.raises(InputError, match="every rank needs"):
        shard_sessions(dirs[:2], 0, 3)
    with pytest.raises(InputError, match="rank 2"):
        shard_sessions(dirs, 2, 2)


WORKER = '''
import json, sys
import torch
import torch.distributed as dist
from echo_ihg.data.shards import session_frames, shard_sessions


def main(rank, world, init, dirs, out):
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    frames = session_frames(dirs)
    mine = shard_sessions(dirs, rank, world, epoch=2, frames=frames)
    # what every rank computed must agree: gather all shards, and the frame total must add up
    gathered = [None] * world
    dist.all_gather_object(gathered, [str(p) for p in mine])
    total = torch.tensor([sum(frames[dirs.index(str(p))] for p in mine)], dtype=torch.int64)
    dist.all_reduce(total)
    with open(f"{out}/rank{rank}.json", "w") as fh:
        json.dump({"mine": [str(p) for p in mine], "gathered": gathered, "total": int(total)}, fh)
    dist.destroy_process_group()
'''


@pytest.mark.slow  # spawning two processes that import torch: ~15 s on the shared 2-core machine
def test_two_gloo_processes_agree_on_the_partition(tmp_path, monkeypatch):
    import importlib

    import torch.multiprocessing as tmp_mp

    dirs = [str(d) for d in _fake_sessions(tmp_path / "corpus", [100, 200, 300, 400, 500])]
    (tmp_path / "echo_shard_worker.py").write_text(textwrap.dedent(WORKER))
    monkeypatch.syspath_prepend(str(tmp_path))  # spawned workers import the worker from this path
    worker = importlib.import_module("echo_shard_worker")
    init = f"file://{tmp_path / 'rendezvous'}"
    try:
        tmp_mp.spawn(worker.main, args=(2, init, dirs, str(tmp_path)), nprocs=2, join=True)
    finally:
        sys.modules.pop("echo_shard_worker", None)
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2))
    assert r0["gathered"] == r1["gathered"] == [r0["mine"], r1["mine"]]
    assert sorted(r0["mine"] + r1["mine"]) == sorted(dirs) and not set(r0["mine"]) & set(r1["mine"])
    assert r0["total"] == r1["total"] == 1500
