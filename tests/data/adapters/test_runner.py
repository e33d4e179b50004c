"""Job runner: local process pool and Ray (2 CPUs), resumable manifest, crashed workers retried then reported."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from echo_ihg.data.adapters import AdapterConfig, Job, RunOptions, prepare_dataset
from echo_ihg.data.adapters.runner import run_jobs
from echo_ihg.data.session import validate_session


FAKE = """
import os


def fake(job, out, overwrite):
    \"\"\"Stand-in for process_job: kills its worker process on the session named 'crash'.\"\"\"
    if job.session_id == "crash":
        os._exit(3)
    return {"session": job.session_id, "split": job.split, "status": "written", "seconds": 0.0}
"""


@pytest.fixture
def fake_fn(tmp_path, monkeypatch):
    """`fake` from a real module file, importable by spawned workers (they get this sys.path)."""
    import importlib

    (tmp_path / "echo_fake_job.py").write_text(FAKE)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("echo_fake_job")
    yield module.fake
    sys.modules.pop("echo_fake_job", None)


def _jobs(*names):
    return [Job("fake", n, "train", {"file": f"{n}.mp4"}) for n in names]


def _hdtf_root(tmp_path, img, gen, n=2):
    root = tmp_path / "hdtf"
    for i in range(n):
        gen.write_mp4(root / f"Clip{i}_0.mp4", gen.frames(img, 5), fps=25, audio=gen.tone(0.2, 16_000, 300.0 + i))
    return root


def test_pool_retries_a_crashing_worker_then_reports_it(tmp_path, fake_fn):
    out = tmp_path / "out"
    report = run_jobs(_jobs("a", "crash", "b", "c"), out, "fake", options=RunOptions(workers=2, max_attempts=2),
                      fn=fake_fn)
    assert sorted(report.written) == ["a", "b", "c"]
    (failed,) = report.failed
    assert failed.session_id == "crash" and "failed 2 time(s)" in failed.reason
    assert "crash.mp4" in failed.reason  # names the input at fault
    lines = [json.loads(x) for x in (out / "manifest_fake.jsonl").read_text().splitlines()]
    crash = [x for x in lines if x["session"] == "crash"]
    assert len(crash) == 1 and crash[0]["status"] == "failed" and crash[0]["attempts"] == 2


@pytest.mark.slow  # spawning workers that import MediaPipe and torch takes ~10-20 s here
def test_pool_converts_real_sessions_and_reruns_resume(tmp_path, img, gen):
    root, out = _hdtf_root(tmp_path, img, gen), tmp_path / "out"
    report = prepare_dataset("hdtf", root, out, options=RunOptions(workers=2))
    assert sorted(report.written) == ["hdtf_Clip0_0", "hdtf_Clip1_0"]
    for sid in report.written:
        validate_session(out / "train" / sid)
    again = prepare_dataset("hdtf", root, out, options=RunOptions(workers=2))
    assert again.written == [] and sorted(again.existing) == ["hdtf_Clip0_0", "hdtf_Clip1_0"]


def test_serial_run_limit_and_manifest(tmp_path, fake_fn):
    out = tmp_path / "out"
    report = run_jobs(_jobs("a", "b", "c"), out, "fake", AdapterConfig(limit=2), fn=fake_fn)
    assert report.written == ["a", "b"]
    lines = [json.loads(x) for x in (out / "manifest_fake.jsonl").read_text().splitlines()]
    assert [x["session"] for x in lines] == ["a", "b"] and all(x["status"] == "written" for x in lines)


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_local_two_cpus_converts_resumes_and_reports_crashes(tmp_path, img, gen, local_ray, fake_fn):
    from ray import cloudpickle

    root, out = _hdtf_root(tmp_path, img, gen), tmp_path / "out"
    report = prepare_dataset("hdtf", root, out, options=RunOptions(ray=True))
    assert sorted(report.written) == ["hdtf_Clip0_0", "hdtf_Clip1_0"], report
    s = validate_session(out / "train" / "hdtf_Clip1_0")
    assert s.T == 5 and np.asarray(s.A.valid).all()
    assert sorted(prepare_dataset("hdtf", root, out, options=RunOptions(ray=True)).existing) == \
        ["hdtf_Clip0_0", "hdtf_Clip1_0"]
    # a task whose worker process dies: Ray retries it (max_retries), then it is reported, the rest finish
    cloudpickle.register_pickle_by_value(sys.modules["echo_fake_job"])  # Ray workers do not see tmp_path
    crashed = run_jobs(_jobs("a", "crash"), tmp_path / "out3", "fake", options=RunOptions(ray=True), fn=fake_fn)
    assert crashed.written == ["a"] and [f.session_id for f in crashed.failed] == ["crash"]
    assert "crash.mp4" in crashed.failed[0].reason
