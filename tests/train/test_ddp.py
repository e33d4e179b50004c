"""torchrun DDP on CPU (gloo): 2 processes = 1 process with the same global batch; resume on another world size."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from .conftest import tiny_overrides


def _run(args: list[str], nproc: int) -> None:
    env = {**os.environ, "ECHO_IHG_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    if nproc == 1:
        cmd = [sys.executable, "-m", "echo_ihg.cli.main", *args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "-m", "echo_ihg.cli.main", *args]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def _losses(run) -> list[float]:
    return [json.loads(s)["loss"] for s in (run / "train_log.jsonl").read_text().splitlines()]


def _weights(run, step: int) -> dict[str, torch.Tensor]:
    return load_file(str(run / f"checkpoints/step_{step:07d}/model.safetensors"))


def _close(a: dict, b: dict, atol: float) -> None:
    assert a.keys() == b.keys()
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst < atol, worst


@pytest.mark.timeout(900)
def test_two_processes_match_one_and_resume_on_one(tiny_synth_corpus, tmp_path):
    args = ["train", "--stage", "1", "--data", str(tiny_synth_corpus), *tiny_overrides()]
    _run([*args, "-o", str(tmp_path / "one")], 1)
    _run([*args, "-o", str(tmp_path / "two")], 2)
    one, two = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert len(one) == len(two) == 4
    assert one == pytest.approx(two, rel=1e-4)
    _close(_weights(tmp_path / "one", 4), _weights(tmp_path / "two", 4), 1e-4)
    assert (tmp_path / "two/model/model.safetensors").is_file()

    # resume the 2-process run from its step-2 checkpoint in 1 process: same end point
    mixed = tmp_path / "mixed"
    shutil.copytree(tmp_path / "two", mixed)
    shutil.rmtree(mixed / "checkpoints/step_0000004")
    (mixed / "checkpoints/latest.json").write_text(json.dumps({"name": "step_0000002", "step": 2}))
    _run(["train", "--stage", "1", "--data", str(tiny_synth_corpus), "--resume", "-o", str(mixed)], 1)
    assert _losses(mixed) == pytest.approx(one, rel=1e-4)
    _close(_weights(tmp_path / "one", 4), _weights(mixed, 4), 1e-4)
