"""`echo-ihg evaluate --checkpoint C --data D [--split test] [--samples K] [--seed S] [--max-sessions N]
[--steps N] -o OUT_DIR`

Generates the avatar's motion for every session of a split (each participant as the avatar where its face is
tracked), K samples per input, scores every metric per conversation segment (all / speaking / listening /
overlap) plus the synthetic corpus's dependency metrics, and writes OUT_DIR/metrics.json, OUT_DIR/report.html
(tables, metric bars per variant, attribute curves GT vs generated vs user, the SDCM gate over time, an example
side-by-side video) and OUT_DIR/config.json (the resolved configuration). The row "GT" scores the ground
truth itself as a prediction.

Several variants side by side: repeat --checkpoint NAME=PATH, e.g.
    echo-ihg evaluate --checkpoint ECHO=runs/echo/model --checkpoint "w/o SDCM=runs/nosdcm/model" --data D -o OUT
PATH is an exported model folder, a training checkpoint folder or a model .safetensors.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

# (segment, metric, label) printed on the terminal after the run
SUMMARY = (("all", "FD_expression", "FD"), ("all", "rPCC_expression", "rPCC"), ("all", "SID_expression", "SID"),
           ("all", "Var_expression", "Var"), ("speaking", "LSE-D", "LSE-D"), ("speaking", "LSE-C", "LSE-C"),
           ("all", "FRCorr", "FRCorr"), ("all", "FRSyn", "FRSyn"), ("overlap", "LSE-D", "LSE-D ovl"),
           ("listening", "SDCM_gate", "gate lst"), ("dependencies", "nod_response", "nods"),
           ("dependencies", "smile_mirror", "smile mir"), ("dependencies", "overlap_lip_leak", "lip leak"))


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("evaluate", help="score models on a test split: metrics + HTML report",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog="example:\n  echo-ihg evaluate --checkpoint runs/s2/model --data data/synth -o eval_out")
    p.add_argument("--checkpoint", action="append", required=True, metavar="[NAME=]PATH",
                   help="model to evaluate (repeat for several variants)")
    p.add_argument("--data", required=True, help="session root with split folders (e.g. from echo-ihg synth)")
    p.add_argument("--split", default=None, help="split to evaluate (default test)")
    p.add_argument("--samples", type=int, default=None, help="generations per input (default 3)")
    p.add_argument("--seed", type=int, default=None, help="first sampling seed (default 0)")
    p.add_argument("--max-sessions", type=int, default=None, help="evaluate only the first N sessions")
    p.add_argument("--steps", type=int, default=None, help="sampler steps per chunk (default 6)")
    p.add_argument("--shuffle-user", action="store_true", default=None,
                   help="control: generate every avatar against another session's user (scores still compare "
                        "with its own user): reactions that come from the user vanish")
    p.add_argument("--config", default=None, help="YAML file overriding EvalConfig fields")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one EvalConfig field, e.g. --set video_seconds=0")
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.set_defaults(run=run)
    return p


def _config(args: argparse.Namespace):
    from echo_ihg.errors import InputError
    from echo_ihg.eval.runner import EvalConfig
    from echo_ihg.utils.config import load_config

    flags = {"split": args.split, "samples": args.samples, "generation.seed": args.seed,
             "max_sessions": args.max_sessions, "generation.steps": args.steps, "shuffle_user": args.shuffle_user}
    try:
        return load_config(EvalConfig, args.config, args.overrides, flags=flags)
    except (ValueError, TypeError) as exc:
        raise InputError(args.config, f"bad evaluation configuration: {exc}") from None


def run(args: argparse.Namespace) -> int:
    from echo_ihg.eval.runner import parse_variant, run_evaluation, summary_rows

    cfg = _config(args)
    variants = [parse_variant(s, i) for i, s in enumerate(args.checkpoint)]
    result = run_evaluation(Path(args.data), variants, Path(args.out), cfg)
    rows = summary_rows(result.results, [(s, m) for s, m, _ in SUMMARY])
    width = max(len(r[0]) for r in rows) + 2
    print("".ljust(width) + "".join(f"{label:>11}" for _, _, label in SUMMARY))
    for r in rows:
        print(r[0].ljust(width) + "".join("        n/a" if not math.isfinite(x) else f"{x:11.4g}" for x in r[1:]))
    print(f"{len(result.items)} inputs, {result.seconds:.0f} s; report {result.report}")
    return 0
