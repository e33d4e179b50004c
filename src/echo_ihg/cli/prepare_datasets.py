"""`echo-ihg prepare <dataset> --root R -o OUT`: public datasets -> session directories.

    echo-ihg prepare seamless --root ~/datasets/seamless_interaction -o sessions/
    echo-ihg prepare realtalk|vico|react|hdtf --root R -o OUT [--split train] [--limit N] [--strict]
    echo-ihg prepare seamless --root R -o OUT --workers 8           # local process pool
    echo-ihg prepare seamless --root R -o OUT --ray [auto|ray://head:10001]   # Ray (local or cluster)

Sessions are written to OUT/<split>/<session_id>/ (the split comes from the dataset's own folders or tables
where it has them, else --split). A rerun skips sessions already written (resumable); --overwrite rebuilds
them. Sessions that cannot be built are reported with the file at fault and the run goes on (--strict:
stop at the first); a session whose worker process dies is retried, then reported as failed. The resolved
options and the report are written to OUT/prepare_<dataset>.json, one line per finished session to
OUT/manifest_<dataset>.jsonl.
Layouts and field mappings: docs/datasets.md.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from echo_ihg.data.adapters import ADAPTERS, AdapterConfig, RunOptions, prepare_dataset
from echo_ihg.errors import InputError
from echo_ihg.utils.atomic import write_json
from echo_ihg.utils.config import config_to_dict

HELP = {
    "seamless": "Meta Seamless Interaction (webdataset .tar shards or extracted <file_id>.* bundles)",
    "realtalk": "RealTalk side-by-side conversations (p0 = left, p1 = right; EMOCA kept)",
    "vico": "ViCo listening head ({uuid}.speaker.mp4 / .listener.mp4 + audios/)",
    "react": "REACT 2025 / MARS (speaker|listener/sessionN/ per modality)",
    "hdtf": "HDTF single-speaker clips (partner B absent; stage-1 talking data)",
}


def register_dataset_commands(prepare_subparsers) -> None:
    """Add one `prepare <dataset>` sub-command per adapter to `prepare`'s sub-parsers."""
    for name in ADAPTERS:
        module = importlib.import_module(f"echo_ihg.data.adapters.{ADAPTERS[name]}")
        p = prepare_subparsers.add_parser(name, help=HELP.get(name, name), description=module.__doc__,
                                          formatter_class=argparse.RawDescriptionHelpFormatter,
                                          epilog=f"example:\n  echo-ihg prepare {name} --root ~/datasets/{name} "
                                                 f"-o sessions/ --workers 4")
        p.add_argument("--root", required=True, type=Path, help="the dataset's folder, as downloaded")
        p.add_argument("-o", "--out", required=True, type=Path,
                       help="output root: sessions go to OUT/<split>/<session_id>/")
        p.add_argument("--split", default=AdapterConfig.split,
                       help="split for sessions whose dataset layout does not name one (default: train)")
        p.add_argument("--limit", type=int, default=None, help="convert at most N new sessions (discovery order)")
        p.add_argument("--overwrite", action="store_true", help="rebuild sessions that already exist")
        p.add_argument("--strict", action="store_true", help="stop at the first session that cannot be built")
        p.add_argument("--workers", type=int, default=1,
                       help="parallel worker processes (local pool; with --ray: CPUs of the local Ray)")
        p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                       help="run sessions as Ray tasks: alone, on a local Ray started on demand; with ADDRESS "
                            "('auto', 'ray://head:10001'), on that cluster (root and OUT on shared storage)")
        p.set_defaults(run=run_dataset, dataset=name)


def run_dataset(args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 1:
        raise InputError(None, f"--limit must be >= 1 (got {args.limit})")
    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise InputError(out, "output exists and is not a folder")
    if args.workers < 1:
        raise InputError(None, f"--workers must be >= 1 (got {args.workers})")
    config = AdapterConfig(split=args.split, limit=args.limit, overwrite=args.overwrite, strict=args.strict)
    options = RunOptions(workers=args.workers, ray=args.ray is not None,
                         ray_address=None if args.ray in (None, "local") else args.ray)
    report = prepare_dataset(args.dataset, args.root, out, config, options)
    write_json(out / f"prepare_{args.dataset}.json", {
        "dataset": args.dataset, "root": str(args.root), "config": config_to_dict(config),
        "run": config_to_dict(options), "written": report.written, "existing": report.existing,
        "skipped": [{"session": s.session_id, "reason": s.reason} for s in report.skipped],
        "failed": [{"session": s.session_id, "reason": s.reason} for s in report.failed]})
    print(f"{out}: {args.dataset}: {report.summary()}")
    for kind, items in (("skipped", report.skipped), ("failed", report.failed)):
        for s in items:
            print(f"  {kind} {s.session_id}: {s.reason}")
    if not (report.written or report.existing):
        raise InputError(args.root, f"no {args.dataset} session could be built ({len(report.skipped)} skipped)")
    return 1 if report.skipped or report.failed else 0
