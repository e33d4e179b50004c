#!/usr/bin/env python
"""Dataset preparation throughput: serial vs local process pool vs local Ray; prints a table.

    .venv/bin/python bench/prepare_throughput.py [--sessions 4] [--seconds 2] [--workers 2] [--no-ray]

Input: a generated ViCo-style release (speaker + listener mp4 of a real face at 30 fps, 160×160, a 44.1 kHz
speaker wav), so every session runs the whole pipeline: decode + resample by timestamp, MediaPipe tracking
of two videos, audio decoding/resampling, silero VAD, session writing. Each backend writes to a fresh
folder. Time includes worker start-up (spawned processes / a local Ray importing MediaPipe and torch),
which is what a user pays on a small job; on long jobs the per-session rate dominates.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("ECHO_IHG_PROGRESS", "0")
os.environ.setdefault("GLOG_minloglevel", "2")


def make_release(root: Path, n: int, seconds: float) -> int:
    """n ViCo pairs of `seconds` each; returns video frames per session at 25 fps."""
    import wave

    from skimage import data

    from echo_ihg.io.media import write_mp4

    img = data.astronaut()
    frames = [np.ascontiguousarray(img[44 + i % 3:204 + i % 3, 145:305]) for i in range(int(seconds * 30))]
    for k in range(n):
        uuid = f"bench{k:07d}"
        write_mp4(root / "videos" / f"{uuid}.speaker.mp4", frames, fps=30)
        write_mp4(root / "videos" / f"{uuid}.listener.mp4", [f[:, ::-1] for f in frames], fps=30)
        t = np.arange(int(seconds * 44_100)) / 44_100
        pcm = (0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 0.5 * t) > 0) * 32767).astype("<i2")
        (root / "audios").mkdir(parents=True, exist_ok=True)
        with wave.open(str(root / "audios" / f"{uuid}.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(44_100)
            w.writeframes(pcm.tobytes())
    return int(seconds * 25)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-ray", action="store_true")
    args = ap.parse_args()

    from echo_ihg.data.adapters import RunOptions, prepare_dataset

    tmp = Path(tempfile.mkdtemp(prefix="echo-ihg-bench-"))
    try:
        root = tmp / "vico"
        frames = make_release(root, args.sessions, args.seconds)
        backends = [("serial", RunOptions()), (f"pool ×{args.workers}", RunOptions(workers=args.workers))]
        if not args.no_ray:
            try:
                import ray  # noqa: F401

                backends.append((f"ray local ×{args.workers}", RunOptions(ray=True, workers=args.workers)))
            except ImportError:
                print("(ray not installed: skipping the Ray row)")
        rows = []
        for name, options in backends:
            out = tmp / f"out-{len(rows)}"
            t0 = time.perf_counter()
            report = prepare_dataset("vico", root, out, options=options)
            dt = time.perf_counter() - t0
            assert len(report.written) == args.sessions, report.summary()
            rows.append((name, dt, args.sessions / dt, 2 * frames * args.sessions / dt))
        print(f"\n{args.sessions} ViCo sessions × {args.seconds:.1f} s (2 videos of {frames} frames at 25 fps each), "
              f"{os.cpu_count()} CPUs\n")
        print(f"{'backend':<18}{'wall s':>9}{'sessions/s':>12}{'tracked frames/s':>18}")
        for name, dt, sps, fps in rows:
            print(f"{name:<18}{dt:>9.2f}{sps:>12.2f}{fps:>18.1f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
