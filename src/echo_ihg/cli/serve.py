"""`echo-ihg serve`: the live server. Open http://127.0.0.1:8765/ in a browser: webcam and microphone go to the
server, the avatar's frames and audio come back at 25 fps. Avatar speech: choose an audio file on the page, or
push PCM chunks from a program (a dialogue agent's TTS) over the WebSocket protocol (docs/protocol.md).

Binds 127.0.0.1 by default. Binding any other address needs --token (clients send it in their hello);
without one the server refuses to start. Limits: --max-sessions, and the message size / frame size / rate
limits of `echo_ihg.inference.protocol.Limits` (--set-limit KEY=VALUE).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from echo_ihg.utils.config import load_config


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("serve", help="live: webcam and microphone in, avatar out, in a browser",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog="example:\n  echo-ihg serve --portrait me.jpg --max-sessions 1")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--token", default=None,
                   help="shared secret clients must send (required unless binding loopback; default: the "
                        "ECHO_IHG_TOKEN environment variable)")
    p.add_argument("--checkpoint", default=None,
                   help="model folder, training checkpoint folder or .safetensors (default: the bundled model)")
    p.add_argument("--portrait", default=None, help="the avatar's portrait (default: the bundled astronaut)")
    p.add_argument("--max-sessions", type=int, default=None, help="concurrent sessions (default 2)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one LiveConfig field (repeatable), e.g. --set generation.size=384")
    p.add_argument("--set-limit", dest="limits", action="append", default=[], metavar="KEY=VALUE",
                   help="override one Limits field (repeatable), e.g. --set-limit max_frame_bytes=131072")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from echo_ihg.errors import InputError
    from echo_ihg.inference.live import LiveConfig, LiveModel
    from echo_ihg.inference.protocol import Limits
    from echo_ihg.inference.server import ServerConfig, check_bind, run_server

    token = args.token or os.environ.get("ECHO_IHG_TOKEN") or None
    check_bind(args.host, token)                       # before the (slow) model load
    if not 1 <= args.port <= 65535:
        raise InputError(None, f"--port must be 1..65535 (got {args.port})")
    try:
        limits = load_config(Limits, None, args.limits, flags={"max_sessions": args.max_sessions})
    except ValueError as exc:
        raise InputError(None, f"invalid limits: {exc}") from None
    config = load_config(LiveConfig, None, list(args.overrides))
    if args.portrait is not None and not Path(args.portrait).is_file():
        raise InputError(args.portrait, "portrait not found")
    print("echo-ihg serve: loading the model and the portrait ...", flush=True)
    live = LiveModel(Path(args.checkpoint) if args.checkpoint else None, args.portrait, config)
    print(f"echo-ihg serve: http://{args.host}:{args.port}/  (Ctrl-C stops)", flush=True)
    run_server(ServerConfig(host=args.host, port=args.port, token=token, limits=limits), live)
    return 0
