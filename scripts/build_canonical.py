#!/usr/bin/env python
"""Rebuild `src/echo_ihg/assets/canonical_face.safetensors`, the canonical face template.

    .venv/bin/python scripts/build_canonical.py [-o PATH]

Tracks the real faces bundled with scikit-image (astronaut + LFW subset, `echo_ihg.motion.sample_faces`),
keeps those with closed lips, takes the generalised Procrustes mean, turns it frontal, symmetrises it
with its mirror image and scales it to inter-ocular distance 1 (see `echo_ihg.motion.canonical`). Deterministic: MediaPipe on CPU
gives the same landmarks for the same images.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("GLOG_minloglevel", "2")

import numpy as np

from echo_ihg.assets import ASSETS_DIR
from echo_ihg.motion import topology as topo
from echo_ihg.motion.canonical import ASSET_NAME, build_canonical, save_canonical, to_metric
from echo_ihg.motion.pose import STABLE_POINTS
from echo_ihg.motion.sample_faces import tracked_sample_faces

MAX_LIP_GAP = 0.03


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default=str(ASSETS_DIR / ASSET_NAME))
    args = parser.parse_args(argv)
    landmarks, index = tracked_sample_faces()
    shapes = to_metric(landmarks, aspect=1.0)  # every sample image is square
    # a neutral template needs closed lips: keep the faces whose inner-lip gap is under 3% of the
    # inter-ocular distance (a ratio of distances, so it needs no template to measure)
    gap = np.linalg.norm(shapes[:, topo.UPPER_LIP_INNER] - shapes[:, topo.LOWER_LIP_INNER], axis=1)
    iod = np.linalg.norm(shapes[:, topo.LEFT_EYE_OUTER] - shapes[:, topo.RIGHT_EYE_OUTER], axis=1)
    closed = gap / iod < MAX_LIP_GAP
    template, mirror = build_canonical(shapes[closed], STABLE_POINTS)
    asym = np.abs(template - template[mirror] * np.array([-1.0, 1.0, 1.0])).max()
    assert asym < 1e-6, asym
    save_canonical(args.output, template, mirror, {
        "source": "skimage astronaut + lfw_subset[:100], MediaPipe face mesh 0.10.21",
        "n_faces": f"{closed.sum()} of {len(landmarks)} tracked (closed lips)",
        "convention": "canonical space: x image-right, y down, z away; IOD(33-263)=1; stable centroid=0",
    })
    involution = bool((mirror[mirror] == np.arange(len(mirror))).all())
    print(f"{closed.sum()} of {len(landmarks)} tracked faces have closed lips -> {args.output}  (mirror pairing is an involution: {involution}; "
          f"midline points: {(mirror == np.arange(len(mirror))).sum()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
