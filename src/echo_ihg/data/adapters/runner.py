"""Running conversion jobs serially, on a local process pool, or as Ray tasks, with a resumable manifest.

    report = run_jobs(plan_items, out, AdapterConfig(), RunOptions(workers=4))            # process pool
    report = run_jobs(plan_items, out, AdapterConfig(), RunOptions(ray=True))            # local Ray
    report = run_jobs(plan_items, out, AdapterConfig(), RunOptions(ray=True, ray_address="auto"))  # cluster

Resumable: `OUT/manifest_<dataset>.jsonl` gets one line per finished job (written / existing / skipped /
failed, attempts, seconds). A rerun skips every session whose directory exists (sessions are written
atomically, so an existing one is complete); skipped and failed ones are tried again.

Crashes: a job whose worker process dies is retried; after `max_attempts` it is reported as failed and the
run goes on. On Ray this is Ray's task retry (`max_retries`); on the process pool a dead worker breaks the
pool for every job in flight, so those jobs are rerun one at a time in fresh single-worker pools, which
pinpoints the one that kills its worker. Workers only receive picklable `Job`s (paths and ids): on a Ray
cluster the dataset root and OUT must be on storage every node can reach, with echo-ihg installed there.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from echo_ihg.data.adapters.base import AdapterConfig, ConversionReport, Job, Skipped, build_session, safe_name
from echo_ihg.data.adapters.registry import get_adapter
from echo_ihg.errors import EchoError, InputError
from echo_ihg.utils.progress import progress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    workers: int = 1                # > 1: local process pool (or the CPUs of a local Ray)
    ray: bool = False               # run jobs as Ray tasks
    ray_address: str | None = None  # None: start a local Ray; "auto" or "ray://host:10001": join a cluster
    max_attempts: int = 2           # a job whose worker dies this often is reported as failed


def session_dir(out: Path, job: Job) -> Path:
    return Path(out) / safe_name(job.split) / safe_name(job.session_id)


def process_job(job: Job, out: str, overwrite: bool = False) -> dict[str, Any]:
    """Load, build and write one session (runs inside a worker). -> manifest record (JSON-ready)."""
    from echo_ihg.data.session import write_session

    t0 = time.monotonic()
    dest = session_dir(Path(out), job)
    rec: dict[str, Any] = {"session": job.session_id, "split": job.split}
    if dest.exists() and not overwrite:
        return {**rec, "status": "existing", "seconds": 0.0}
    inp = None
    try:
        inp = get_adapter(job.dataset).load(job)
        session = build_session(inp)
        write_session(dest, session)
    except EchoError as exc:
        return {**rec, "status": "skipped", "reason": str(exc), "seconds": round(time.monotonic() - t0, 3)}
    finally:
        if inp is not None and inp.cleanup:
            inp.cleanup()
    return {**rec, "status": "written", "T": session.T, "seconds": round(time.monotonic() - t0, 3)}


class Manifest:
    """Append-only JSON lines of finished jobs (`OUT/manifest_<dataset>.jsonl`)."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def records(self) -> list[dict]:
        if not self.path.is_file():
            return []
        out = []
        for i, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut by a crash mid-write: ignore it, the job reruns
                log.warning("%s: line %d is not valid JSON (interrupted write?); ignored", self.path, i)
        return out

    def append(self, rec: dict) -> None:
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({**rec, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S")}) + "\n")


def run_jobs(items: Iterable[Job | Skipped], out: Path, dataset: str, config: AdapterConfig = AdapterConfig(),
             options: RunOptions = RunOptions(),
             fn: Callable[[Job, str, bool], dict] = process_job) -> ConversionReport:
    """Run every planned job (`fn` is the per-job work; tests substitute it). -> ConversionReport."""
    out = Path(out)
    report = ConversionReport()
    manifest = Manifest(out / f"manifest_{safe_name(dataset)}.jsonl")
    jobs: list[Job] = []
    for item in items:
        if isinstance(item, Skipped):
            _record(report, manifest, {"session": item.session_id, "status": "skipped", "reason": item.reason},
                    config)
        elif session_dir(out, item).exists() and not config.overwrite:
            report.existing.append(item.session_id)
        elif config.limit is None or len(jobs) < config.limit:
            jobs.append(item)
    if not jobs:
        return report
    bar = progress(total=len(jobs), desc=f"prepare {dataset}", unit="session")

    def done(rec: dict) -> None:
        _record(report, manifest, rec, config)
        bar.update(1)

    try:
        if options.ray:
            _run_ray(jobs, str(out), config, options, fn, done)
        elif options.workers > 1:
            _run_pool(jobs, str(out), config, options, fn, done)
        else:
            for job in jobs:
                done({**fn(job, str(out), config.overwrite), "attempts": 1})
    finally:
        bar.close()
    return report


def _record(report: ConversionReport, manifest: Manifest, rec: dict, config: AdapterConfig) -> None:
    status, sid = rec["status"], rec["session"]
    manifest.append(rec)
    if status == "written":
        report.written.append(sid)
    elif status == "existing":
        report.existing.append(sid)
    else:
        item = Skipped(sid, rec.get("reason", ""))
        (report.failed if status == "failed" else report.skipped).append(item)
        log.warning("%s session %s: %s", status, sid, item.reason)
        if config.strict:
            raise InputError(None, f"session {sid}: {item.reason}")


def _failed(job: Job, attempts: int, why: str) -> dict:
    inputs = ", ".join(f"{k}={v}" for k, v in job.args.items())[:400]
    return {"session": job.session_id, "split": job.split, "status": "failed", "attempts": attempts,
            "reason": f"the worker converting this session failed {attempts} time(s) ({why}); inputs: {inputs}"}


# ---------------------------------------------------------------------------------------------- pool

def _pool(workers: int) -> ProcessPoolExecutor:
    # spawn, not fork: a forked child of a process that already runs MediaPipe / torch threads can die
    return ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"))


def _run_pool(jobs: list[Job], out: str, config: AdapterConfig, options: RunOptions, fn, done) -> None:
    suspects: list[Job] = []
    with _pool(options.workers) as pool:
        futures: dict[Future, Job] = {pool.submit(fn, job, out, config.overwrite): job for job in jobs}
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                try:
                    done({**fut.result(), "attempts": 1})
                except BrokenProcessPool:
                    suspects.append(futures[fut])
    last = max(options.max_attempts, 2)  # the pooled try counts as attempt 1 (it may not be this job's fault)
    for job in suspects:  # one at a time, each in a fresh worker: only the guilty job crashes again
        for attempt in range(2, last + 1):
            with _pool(1) as pool:
                try:
                    done({**pool.submit(fn, job, out, config.overwrite).result(), "attempts": attempt})
                    break
                except BrokenProcessPool:
                    if attempt == last:
                        done(_failed(job, attempt, "its worker process exited abruptly"))


# ---------------------------------------------------------------------------------------------- ray

def _run_ray(jobs: list[Job], out: str, config: AdapterConfig, options: RunOptions, fn, done) -> None:
    try:
        import ray
    except ImportError:
        raise InputError(None, "--ray needs Ray: pip install 'ray>=2.40' (or install echo-ihg[distributed])") from None
    started = not ray.is_initialized()
    if started:
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if options.ray_address:
            kwargs["address"] = options.ray_address
        elif options.workers > 1:
            kwargs["num_cpus"] = options.workers
        try:
            ray.init(**kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise InputError(None, f"cannot start or join Ray at {options.ray_address or 'a local instance'} "
                                   f"({exc})") from None
    try:
        task = ray.remote(num_cpus=1, max_retries=options.max_attempts - 1, retry_exceptions=False)(fn)
        window = max(4, 2 * int(ray.available_resources().get("CPU", 1)))  # bounded in-flight tasks
        queue = list(jobs)
        inflight: dict[Any, Job] = {}
        while queue or inflight:
            while queue and len(inflight) < window:
                job = queue.pop(0)
                inflight[task.remote(job, out, config.overwrite)] = job
            ready, _ = ray.wait(list(inflight), num_returns=1)
            for ref in ready:
                job = inflight.pop(ref)
                try:
                    done({**ray.get(ref), "attempts": None})
                except ray.exceptions.RayError as exc:  # worker died (after Ray's retries) or a bug
                    done(_failed(job, options.max_attempts, f"{type(exc).__name__}: {str(exc)[:300]}"))
    finally:
        if started:
            ray.shutdown()
