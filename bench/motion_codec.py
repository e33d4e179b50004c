#!/usr/bin/env python
"""Motion codec speed and round-trip error on real tracked faces; prints a table.

    .venv/bin/python bench/motion_codec.py

Speed: encode / decode / attributes of a 250-frame clip (10 s at 25 fps), frames per second.
Error: decode(encode(x)) on the sample faces (skimage astronaut + LFW, `motion.sample_faces`) with the
shipped default codec, the canonical face as neutral, in pixels at 512 px.
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("GLOG_minloglevel", "2")

import numpy as np

from echo_ihg.motion.attributes import attributes_array
from echo_ihg.motion.canonical import canonical_landmarks
from echo_ihg.motion.codec import default_codec
from echo_ihg.motion.report import round_trip_errors
from echo_ihg.motion.sample_faces import tracked_sample_faces


def _fps(fn, frames: int, repeat: int = 5) -> float:
    fn()
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    return frames * repeat / (time.perf_counter() - t)


def main() -> None:
    faces, _ = tracked_sample_faces()
    codec, neutral = default_codec(), canonical_landmarks()
    clip = np.resize(faces, (250, 478, 3)).astype(np.float32)
    motion = codec.encode(clip, neutral)
    rows = [("encode", _fps(lambda: codec.encode(clip, neutral), len(clip))),
            ("decode", _fps(lambda: codec.decode(motion, neutral), len(clip))),
            ("attributes", _fps(lambda: attributes_array(clip), len(clip)))]
    print(f"| step (D = {codec.dim}) | frames/s |\n|---|---|")
    for name, fps in rows:
        print(f"| {name} | {fps:,.0f} |")
    err = round_trip_errors(faces, neutral, codec)
    print(f"\nround trip, {len(faces)} real faces, default codec, canonical neutral (pixels at 512 px):")
    print("| points | mean | p95 | max |\n|---|---|---|---|")
    for part in ("face", "iris"):
        print(f"| {part} | {err[part + '_mean_px']:.3f} | {err[part + '_p95_px']:.3f} | {err[part + '_max_px']:.3f} |")


if __name__ == "__main__":
    main()
