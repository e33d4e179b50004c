"""`echo-ihg demo`: the README's main job, on the bundled portraits and model."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("demo", help="run the demo on the bundled portrait and inputs",
                       description="Track the bundled portrait, draw its landmarks and report the motion "
                                   "codec's round-trip error in pixels.")
    p.add_argument("-o", "--out", type=Path, default=Path("demo_out"), help="output folder (default demo_out)")
    p.add_argument("--portrait", type=Path, default=None, help="avatar portrait (default: bundled astronaut)")
    p.add_argument("--user-portrait", type=Path, default=None,
                   help="second face for the round-trip report (default: bundled Grace Hopper photo)")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from echo_ihg.inference.demo import DemoConfig, run_foundation_demo

    result = run_foundation_demo(DemoConfig(out_dir=args.out, portrait=args.portrait,
                                            user_portrait=args.user_portrait))
    print(result["report_md"].read_text())
    print(f"landmark overlay : {result['overlay']}")
    print(f"codec report     : {result['report_json']} and {result['report_md']}")
    print(f"finished in {result['report']['seconds']:.1f} s")
    return 0
