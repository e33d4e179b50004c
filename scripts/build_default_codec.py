#!/usr/bin/env python
"""Rebuild `src/echo_ihg/assets/default_codec.safetensors` (+ .json), the codec used when none is given.

    .venv/bin/python scripts/build_default_codec.py [-o PATH]

Fitted on the real faces bundled with scikit-image (astronaut + LFW subset, tracked with MediaPipe;
`echo_ihg.motion.sample_faces`) and their mirror images, with the canonical face as everyone's neutral.
These are single photos of different people, so its per-region bases span real face-shape variation
(identity and expression together), not expression dynamics: a reasonable general-purpose basis. Models
trained on a corpus should fit their own codec on it (`echo-ihg fit-codec`). Deterministic.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("GLOG_minloglevel", "2")

from echo_ihg.assets import ASSETS_DIR
from echo_ihg.motion.canonical import canonical_landmarks
from echo_ihg.motion.codec import DEFAULT_CODEC, CodecConfig, MotionCodec
from echo_ihg.motion.sample_faces import tracked_sample_faces


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default=str(ASSETS_DIR / DEFAULT_CODEC))
    args = parser.parse_args(argv)
    landmarks, _ = tracked_sample_faces()
    neutral = canonical_landmarks()
    codec = MotionCodec.fit([lm[None] for lm in landmarks], [neutral] * len(landmarks), config=CodecConfig())
    codec.fit_info["data"] = f"{len(landmarks)} tracked sample faces (skimage astronaut + lfw_subset) + mirrors"
    codec.fit_info["neutral"] = "canonical face"
    codec.save(args.output)
    regions = ", ".join(f"{k} {v['components']} ({100 * v['explained_variance']:.1f}%)"
                        for k, v in codec.metadata()["regions"].items())
    print(f"D = {codec.dim} -> {args.output}\n{regions}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
