"""`echo-ihg track VIDEO_OR_IMAGE -o OUT`: face mesh landmarks of a video (25 fps) or a portrait.

Writes, each file atomically:
    OUT/landmarks.npy  (T, 478, 3) float32, x and y normalised by the frame width and height
    OUT/valid.npy      (T,) bool
    OUT/track.json     source, fps, frame_size [w, h] (the aspect every later stage reads), gaps (interpolated /
                       masked) and the resolved tracker config
An image gives T = 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

import numpy as np

from echo_ihg.constants import FPS
from echo_ihg.errors import InputError, NoFaceError
from echo_ihg.io.media import IMAGE_SUFFIXES
from echo_ihg.utils.atomic import save_npy, write_json
from echo_ihg.utils.config import add_config_arguments, load_config

log = logging.getLogger(__name__)


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("track", help="face mesh landmarks (478 × 3) of a video or an image",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog="example:\n  echo-ihg track user.mp4 -o out/user")
    p.add_argument("input", metavar="VIDEO_OR_IMAGE", help="video (any container PyAV reads) or image")
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.add_argument("--fps", type=float, default=FPS, help=f"video frame rate to resample to (default {FPS})")
    p.add_argument("--max-gap", type=int, default=None,
                   help="longest gap (frames) without a face that is interpolated; longer ones are "
                        "masked (default 5 = 200 ms)")
    p.add_argument("--max-faces", type=int, default=None,
                   help="faces tracked at once; 1 makes MediaPipe track a single face (default 4)")
    add_config_arguments(p, "TrackerConfig", "match_radius=1.5")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from echo_ihg.tracking.face_mesh import TrackerConfig

    config = load_config(TrackerConfig, args.config, args.overrides,
                         flags={"max_gap": args.max_gap, "max_faces": args.max_faces})
    return track_to_folder(Path(args.input), Path(args.out), config, fps=args.fps,
                           progress=not args.no_progress)


def track_to_folder(src: Path, out: Path, config, fps: float = FPS, progress: bool = True) -> int:
    """Track `src` (image or video) and write landmarks.npy, valid.npy and track.json into `out`."""
    from echo_ihg.io.media import read_image
    from echo_ihg.tracking.face_mesh import track_image, track_video

    if not src.exists():
        raise InputError(src, "file not found")
    if out.exists() and not out.is_dir():
        raise InputError(out, "output exists and is not a folder")
    if src.suffix.lower() in IMAGE_SUFFIXES:
        rgb = read_image(src)
        try:
            landmarks = track_image(rgb, config)[None]
        except NoFaceError as exc:
            raise NoFaceError(src, exc.problem) from None
        h, w = rgb.shape[:2]
        valid = np.ones(1, dtype=bool)
        summary = {"source": str(src), "kind": "image", "fps": None, "frame_size": [w, h],
                   "n_frames": 1, "n_valid": 1, "gaps": []}
    else:
        result = track_video(src, fps=fps, config=config, progress=progress)
        landmarks, valid = result.landmarks, result.valid
        summary = {"kind": "video", **result.summary()}
    summary["config"] = dataclasses.asdict(config)
    out.mkdir(parents=True, exist_ok=True)
    save_npy(out / "landmarks.npy", landmarks.astype(np.float32))
    save_npy(out / "valid.npy", valid.astype(bool))
    write_json(out / "track.json", summary)  # last: its presence means the arrays are complete
    log.info("%s: %d frame(s), %d valid -> %s", src, len(valid), int(valid.sum()), out)
    return 0

