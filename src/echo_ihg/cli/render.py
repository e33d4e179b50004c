"""`echo-ihg render --portrait P (--landmarks L.npy | --session DIR --participant A|B) -o OUT.mp4`:
animate a portrait with a landmark motion and write an H.264 + AAC mp4 (25 fps, audio fitted exactly).

--landmarks: (T, 478, 3) landmarks in the portrait's own normalised frame (e.g. generated motion), or
             with --retarget another person's tracked landmarks (expression + pose changes transferred;
             the frame's aspect ratio is read from the track.json that `echo-ihg track` writes beside them).
             The work is `echo_ihg.render.files.render_to_file`.
--session:   a session participant's landmarks, always retargeted; its audio is used unless --audio.
--side-by-side: also writes OUT.side_by_side.mp4: the other participant's video (the user) | avatar |
             scrolling plots of mouth opening, smile, head nod and the speaking / listening state.
Writes OUT.json next to the video: inputs and the resolved renderer config.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from echo_ihg.errors import InputError
from echo_ihg.utils.config import add_config_arguments, load_config

log = logging.getLogger(__name__)


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("render", help="animate a portrait with a landmark motion into an mp4",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog="example:\n  echo-ihg render --portrait face.jpg --landmarks motion.npy --audio voice.wav -o avatar.mp4")
    p.add_argument("--portrait", required=True, help="portrait image (PNG, JPEG, ...)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--landmarks", help="(T, 478, 3) .npy landmark motion")
    src.add_argument("--session", help="session directory")
    p.add_argument("--participant", choices=("A", "B"), help="which participant of --session to render")
    p.add_argument("--retarget", action="store_true",
                   help="--landmarks come from another person: transfer expression and pose changes")
    p.add_argument("--audio", help="audio for the video (any format PyAV reads); fitted to the frame count")
    p.add_argument("--size", default=None, help="output side: 256, 512, ... or 'native' (default 512)")
    p.add_argument("--side-by-side", action="store_true", help="also write OUT.side_by_side.mp4 (sessions)")
    add_config_arguments(p, "RenderConfig", "mouth_interior=false")
    p.add_argument("-o", "--out", required=True, help="output .mp4")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(run=run)
    return p


def _size(text: str | None) -> int | str | None:
    if text is None:
        return None
    if text == "native":
        return text
    try:
        return int(text)
    except ValueError:
        raise InputError(None, f"--size must be a number of pixels or 'native', got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    from echo_ihg.render.base import RenderConfig
    from echo_ihg.render.files import render_to_file

    config = load_config(RenderConfig, args.config, args.overrides, flags={"size": _size(args.size)})
    if args.session and not args.participant:
        raise InputError(None, "--session needs --participant A or B")
    if args.participant and not args.session:
        raise InputError(None, "--participant only applies to --session")
    out = Path(args.out)
    if out.suffix.lower() != ".mp4":
        raise InputError(out, "output must be an .mp4 file")
    render_to_file(Path(args.portrait), out, config,
                   landmarks=Path(args.landmarks) if args.landmarks else None,
                   session=Path(args.session) if args.session else None, participant=args.participant,
                   retarget_landmarks=args.retarget, audio=Path(args.audio) if args.audio else None,
                   side_by_side=args.side_by_side, progress=not args.no_progress)
    return 0
