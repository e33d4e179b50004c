"""`echo-ihg prepare SOURCE ...`: raw recordings -> session directories (docs/architecture.md, "Session format").

    echo-ihg prepare pair --a A.mp4 --b B.mp4 [--transcript T.jsonl|T.srt] -o DIR
    echo-ihg prepare pair --side-by-side REC.mp4 [--audio-a A.wav --audio-b B.wav] -o DIR

    echo-ihg prepare seamless|realtalk|vico|react|hdtf --root R -o OUT    (see `prepare <dataset> --help`)

Each source kind is a sub-command; REGISTRARS lists the functions that add them to `prepare`'s
sub-parsers (each sets `run`). Dataset adapters register through `echo_ihg.cli.prepare_datasets`.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Callable

from echo_ihg.errors import InputError

log = logging.getLogger(__name__)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--out", required=True, type=Path, help="session directory to write (replaced atomically)")
    p.add_argument("--transcript", type=Path, default=None,
                   help="transcript: .jsonl lines {speaker: A|B, start, end, text} or .srt (cues tagged 'A:' / 'B:')")
    p.add_argument("--id", dest="session_id", default=None, help="session id (default: the output folder name)")
    from echo_ihg.data.adapters.base import ExtractOptions  # the defaults live there

    p.add_argument("--vad", choices=("silero", "webrtc"), default=ExtractOptions.vad_backend,
                   help=f"VAD backend (default {ExtractOptions.vad_backend})")
    p.add_argument("--vad-mode", type=int, choices=(0, 1, 2, 3), default=ExtractOptions.vad_mode,
                   help="webrtcvad aggressiveness")
    p.add_argument("--max-gap", type=int, default=ExtractOptions.max_gap,
                   help="longest tracking gap (frames) that is interpolated; longer ones are masked")
    p.add_argument("--licence", default="unknown", help="licence of the source recordings, kept in meta.json")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _register_pair(sub) -> None:
    p = sub.add_parser("pair", help="two single-person recordings, or one side-by-side recording",
                       description="Two single-person recordings of one conversation (--a, --b), or one\n"
                                   "recording that shows both people side by side (left = A, right = B).\n"
                                   "Recordings of different lengths are trimmed to the shorter (warning).",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="example:\n  echo-ihg prepare pair --a alice.mp4 --b bob.mp4 --transcript talk.srt "
                              "-o sessions/train/s001")
    p.add_argument("--a", type=Path, help="recording of participant A (video with audio)")
    p.add_argument("--b", type=Path, help="recording of participant B (video with audio)")
    p.add_argument("--side-by-side", type=Path, metavar="REC", help="one recording, A on the left, B on the right")
    p.add_argument("--audio-a", type=Path, default=None, help="with --side-by-side: A's own audio track")
    p.add_argument("--audio-b", type=Path, default=None, help="with --side-by-side: B's own audio track")
    _common(p)
    p.set_defaults(run=run_pair)


def _register_datasets(sub) -> None:
    from echo_ihg.cli.prepare_datasets import register_dataset_commands

    register_dataset_commands(sub)


# functions adding sub-commands (each with set_defaults(run=...)) to `prepare`'s sub-parsers
REGISTRARS: list[Callable] = [_register_pair, _register_datasets]


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("prepare", help="turn your recordings or a public dataset into sessions",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog="example:\n  echo-ihg prepare pair --a alice.mp4 --b bob.mp4 -o sessions/train/s001")
    sub = p.add_subparsers(dest="source", metavar="SOURCE")
    for add_commands in REGISTRARS:
        add_commands(sub)
    p.set_defaults(run=lambda args: _no_source(p))
    return p


def _no_source(p: argparse.ArgumentParser) -> int:
    p.print_help()
    return 2


def _config(args: argparse.Namespace):
    from echo_ihg.data.adapters.base import ExtractOptions
    from echo_ihg.data.prepare import PrepareConfig

    extract = ExtractOptions(vad_backend=args.vad, vad_mode=args.vad_mode, max_gap=args.max_gap,
                             progress=not args.no_progress)
    return PrepareConfig(extract=extract, licence=args.licence)


def run_pair(args: argparse.Namespace) -> int:
    from echo_ihg.data.prepare import prepare_pair, prepare_side_by_side

    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise InputError(out, "output exists and is not a folder")
    if args.side_by_side is not None:
        if args.a or args.b:
            raise InputError(None, "give either --side-by-side REC or --a A --b B, not both")
        session = prepare_side_by_side(args.side_by_side, out, args.transcript, args.audio_a, args.audio_b,
                                       args.session_id, _config(args))
    else:
        if not (args.a and args.b):
            raise InputError(None, "prepare pair needs --a A.mp4 and --b B.mp4 (or --side-by-side REC.mp4)")
        if args.audio_a or args.audio_b:
            raise InputError(None, "--audio-a/--audio-b only apply to --side-by-side")
        session = prepare_pair(args.a, args.b, out, args.transcript, args.session_id, _config(args))
    print(f"{out}: session {session.session_id}, {session.T} frames ({session.duration:.2f} s), "
          f"valid A {int(session.A.valid.sum())}/{session.T}, B {int(session.B.valid.sum())}/{session.T}, "
          f"speech A {float((session.A.vad > 0.5).mean()):.0%}, B {float((session.B.vad > 0.5).mean()):.0%}, "
          f"{len(session.transcript)} transcript entries")
    return 0
