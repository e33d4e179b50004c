"""`echo-ihg features SESSION_DIR...`: compute (or reuse) the cached log-mel and VAD of each participant.

The cache lives in <session>/<A|B>/cache/ with a version stamp; stale entries (extractor version or input
files changed) are rebuilt, fresh ones are reused. Prints what it did per session and participant.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("features", help="compute / cache the log-mel and VAD of sessions",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog="example:\n  echo-ihg features sessions/")
    p.add_argument("sessions", nargs="+", type=Path, metavar="SESSION_DIR",
                   help="session directories, or a root / split folder holding sessions")
    p.add_argument("--vad", choices=("silero", "webrtc"), default="silero", help="VAD backend (default silero)")
    p.add_argument("--vad-mode", type=int, choices=(0, 1, 2, 3), default=2, help="webrtcvad aggressiveness")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from echo_ihg.audio import features, vad
    from echo_ihg.data.cache import cache_paths, is_fresh
    from echo_ihg.data.derived import session_mel, session_vad, vad_cache_name
    from echo_ihg.data.session import list_sessions
    from echo_ihg.errors import InputError

    dirs = [d for root in args.sessions for d in list_sessions(root)]
    if not dirs:
        raise InputError(args.sessions[0], "no session directories (with meta.json) found")
    jobs = (("mel", features.VERSION, lambda d, who: session_mel(d, who)),
            (vad_cache_name(args.vad), vad.version(args.vad, args.vad_mode),
             lambda d, who: session_vad(d, who, backend=args.vad, mode=args.vad_mode)))
    for d in dirs:
        for who in ("A", "B"):
            for name, version, fn in jobs:
                fresh = is_fresh(d, who, name, version)
                t0 = time.perf_counter()
                arr = fn(d, who)
                print(f"{d} {who} {name}: {'reused' if fresh else 'computed'} {tuple(arr.shape)} "
                      f"in {time.perf_counter() - t0:.2f} s -> {cache_paths(d, who, name)[0]}")
    return 0
