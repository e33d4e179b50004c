"""`echo-ihg` entry point. Each sub-command lives in its own module `echo_ihg.cli.<name>` exposing

    register(subparsers) -> argparse.ArgumentParser   # adds the sub-command; sets `run=<callable(args)>`

Commands are thin: they parse flags into typed arguments and call the library. User errors
(`echo_ihg.errors.EchoError`) print one line `echo-ihg: error: ...` and exit 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from echo_ihg import __version__
from echo_ihg.errors import EchoError

# sub-command name -> module under echo_ihg.cli (imported lazily so `echo-ihg --help` stays fast), in the
# order `echo-ihg --help` lists them: the order a newcomer uses them, then the building blocks
COMMANDS: dict[str, str] = {
    "demo": "demo",
    "generate": "generate",
    "serve": "serve",
    "prepare": "prepare",
    "synth": "synth",
    "train": "train",
    "evaluate": "evaluate",
    "track": "track",
    "render": "render",
    "features": "features",
    "fit-codec": "fit_codec",
    "train-sync": "train_sync",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; with `only`, just that sub-command's module is imported (a broken or slow
    module of another command cannot affect it). Without it every command is loaded, for --help."""
    parser = argparse.ArgumentParser(prog="echo-ihg", description="Interactive head generation (ECHO, arXiv "
                                     "2603.17427): a talking and listening avatar from one portrait.")
    parser.add_argument("--version", action="version", version=f"echo-ihg {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        if only is None or name == only:
            importlib.import_module(f"echo_ihg.cli.{module}").register(sub)
    return parser


def _requested_command(argv: list[str]) -> str | None:
    """The sub-command named on the command line (first non-option word), if it is a known one."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ logging
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_requested_command(argv))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="echo-ihg: %(levelname)s: %(message)s")
    logging.getLogger("echo_ihg").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        result = args.run(args)
    except EchoError as exc:
        print(f"echo-ihg: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("echo-ihg: interrupted; no partial output was written", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
