"""`echo-ihg fit-codec --data DIR_OR_NPY... -o codec.safetensors`: fit the motion codec (per-region PCA).

Data: landmark .npy files, `echo-ihg track` output folders, session folders or roots of sessions
(see `echo_ihg.train.fit_codec`). Writes the codec (safetensors, metadata embedded) and a readable .json next
to it carrying the resolved config, layout and per-region explained variance.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from echo_ihg.errors import InputError
from echo_ihg.utils.config import add_config_arguments, load_config

log = logging.getLogger(__name__)


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("fit-codec", help="fit the motion codec on tracked landmarks or sessions",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog="example:\n  echo-ihg fit-codec --data sessions/train -o codec.safetensors")
    p.add_argument("--data", nargs="+", required=True, metavar="DIR_OR_NPY",
                   help="landmark .npy files, track output folders, sessions or session roots")
    p.add_argument("-o", "--out", required=True, help="output codec file (.safetensors)")
    p.add_argument("--components", default=None,
                   help="PCA components: one number for every region, or 7 comma-separated numbers "
                        "(lips_jaw, left_eye, right_eye, left_brow, right_brow, nose_cheeks, contour)")
    p.add_argument("--neutral", choices=("estimate", "canonical"), default="estimate",
                   help="neutral face per clip: estimated from the clip (videos) or the canonical face "
                        "(collections of single photos)")
    p.add_argument("--no-gaze", action="store_true", help="leave gaze out of the motion vector")
    add_config_arguments(p, "CodecConfig", "mirror_augment=false")
    p.set_defaults(run=run)
    return p


def parse_components(text: str, n_regions: int) -> tuple[int, ...]:
    """'8' -> (8,)*n_regions; '16,6,6,4,4,8,6' -> that tuple. InputError otherwise."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise InputError(None, f"--components must be integers, got {text!r}") from None
    if len(values) == 1:
        values = values * n_regions
    if len(values) != n_regions or min(values) < 1:
        raise InputError(None, f"--components needs 1 or {n_regions} positive integers, got {text!r}")
    return values


def run(args: argparse.Namespace) -> int:
    from echo_ihg.motion.codec import CodecConfig
    from echo_ihg.motion.regions import REGION_NAMES
    from echo_ihg.train.fit_codec import fit_codec_on_paths

    components = None if args.components is None else parse_components(args.components, len(REGION_NAMES))
    config = load_config(CodecConfig, args.config, args.overrides,
                         flags={"components": components, "gaze": False if args.no_gaze else None})
    out = Path(args.out)
    if out.suffix != ".safetensors":
        raise InputError(out, "the codec file name must end in .safetensors")
    codec = fit_codec_on_paths(args.data, config, neutral=args.neutral)
    codec.save(out)
    meta = codec.metadata()
    regions = ", ".join(f"{k} {v['components']} ({100 * v['explained_variance']:.1f}%)"
                        for k, v in meta["regions"].items())
    print(f"codec D = {codec.dim} fitted on {meta['fit']['n_frames']} frames from {meta['fit']['n_clips']} "
          f"clip(s) -> {out}\n  {regions}")
    return 0
