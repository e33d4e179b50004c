"""`echo-ihg synth --sessions N --seconds S --seed K -o DIR [--render]`: a synthetic dyadic corpus with
known ground truth (espeak-ng speech with phoneme timing, a procedural face rig on the 478-point mesh,
listener/speaker behaviour with planted dependencies). See docs/synth.md.

Writes DIR/<split>/<session_id>/ in the session format (both participants usable as the avatar; audio
as lossless audio.flac unless --audio-format wav; rig controls and latent states under
<participant>/extra/), DIR/manifest.json (splits, identities, size, time) and DIR/config.json (the
resolved SynthConfig). --render also writes <participant>/video.mp4
per session from the bundled portraits (slow: about real time per participant).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from echo_ihg.errors import InputError
from echo_ihg.utils.config import add_config_arguments, dump_config, load_config

log = logging.getLogger(__name__)


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("synth", help="a synthetic conversation corpus with known ground truth",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog="example:\n  echo-ihg synth --sessions 8 --seconds 120 --seed 0 -o data/synth")
    p.add_argument("--sessions", type=int, default=None, help="number of sessions (default 8)")
    p.add_argument("--seconds", type=float, default=None, help="length of each session in seconds (default 120)")
    p.add_argument("--seed", type=int, default=None, help="corpus seed (default 0)")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default 2)")
    p.add_argument("--audio-format", choices=("flac", "wav"), default=None,
                   help="participant audio file: audio.flac (lossless, ~4x smaller; default) or audio.wav")
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.add_argument("--render", action="store_true", help="also render each participant's video.mp4")
    add_config_arguments(p, "SynthConfig", "masked_fraction=0.5")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from echo_ihg.synth.generate import SynthConfig, generate_corpus

    flags = {"sessions": args.sessions, "seconds": args.seconds, "seed": args.seed, "workers": args.workers,
             "audio_format": args.audio_format}
    cfg = load_config(SynthConfig, args.config, args.overrides, flags=flags)
    if cfg.workers < 1:
        raise InputError(None, "--workers must be >= 1")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(out, "output exists and is not a folder")
    manifest = generate_corpus(out, cfg)
    dump_config(cfg, out / "config.json")
    if args.render:
        render_corpus(out, manifest)
    print(f"wrote {len(manifest['sessions'])} sessions ({manifest['hours']:.2f} h, "
          f"{manifest['bytes'] / 1e6:.1f} MB) to {out} in {manifest['elapsed_s']:.1f} s")
    return 0


def render_corpus(root: Path, manifest: dict) -> None:
    """video.mp4 for both participants of every session: A from the astronaut, B from Grace Hopper."""
    from echo_ihg.assets import default_portrait, default_user_portrait
    from echo_ihg.render.files import render_to_file
    from echo_ihg.render.base import RenderConfig

    portraits = {"A": default_portrait(), "B": default_user_portrait()}
    for row in manifest["sessions"]:
        ses = root / row["path"]
        for who in ("A", "B"):
            render_to_file(portraits[who], ses / who / "video.mp4", RenderConfig(), session=ses,
                           participant=who, progress=False)
