"""Dataset adapters: convert a public dataset's release layout into the session format.

    from echo_ihg.data.adapters import prepare_dataset
    report = prepare_dataset("seamless", root, out)                              # serial
    report = prepare_dataset("seamless", root, out, options=RunOptions(workers=8))  # process pool / Ray

Each module exposes `NAME`, `plan(root, config) -> Iterator[Job | Skipped]` (cheap: finds and pairs files)
and `load(job) -> SessionInput` (reads them; raises InputError naming the file). The shared tracking /
audio / VAD work lives in `base`, the names in `registry`, execution (pool, Ray, manifest) in `runner`.
Schemas: docs/datasets.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from echo_ihg.data.adapters.base import AdapterConfig, ConversionReport, Job, SessionInput, Skipped
from echo_ihg.data.adapters.registry import ADAPTERS, get_adapter
from echo_ihg.data.adapters.runner import RunOptions, run_jobs
from echo_ihg.errors import InputError


def discover(name: str, root: str | Path, config: AdapterConfig = AdapterConfig()) -> Iterator[SessionInput | Skipped]:
    """Plan and load every session in this process (no tracking): for inspecting what an adapter finds."""
    adapter = get_adapter(name)
    for item in adapter.plan(Path(root), config):
        if isinstance(item, Skipped):
            yield item
            continue
        try:
            yield adapter.load(item)
        except InputError as exc:
            yield Skipped(item.session_id, str(exc))


def prepare_dataset(name: str, root: str | Path, out: str | Path, config: AdapterConfig = AdapterConfig(),
                    options: RunOptions = RunOptions()) -> ConversionReport:
    """Convert every session of dataset `name` found under `root` into `out/<split>/<session_id>/`."""
    adapter = get_adapter(name)
    return run_jobs(adapter.plan(Path(root), config), Path(out), name, config, options)


__all__ = ["ADAPTERS", "AdapterConfig", "ConversionReport", "Job", "RunOptions", "Skipped", "discover",
           "get_adapter", "prepare_dataset"]
