"""Renderer speed on ONE core (frames/s at 256 and 512 px, setup, H.264+AAC encode) and temporal jitter.

    .venv/bin/python bench/render.py [--frames 250] [--no-jitter]

Pins the process to one CPU core and sets cv2 / BLAS threads to 1 before anything is imported. The
machine is shared: wall-clock fps is the best of --repeats runs; "f/CPU-s" (frames per CPU-second of
this process) is what one uncontended core would do. Motion:
`edits.demo_motion` on the astronaut (talking, smiling, blinking, brow raises, gaze, head sway ±12°).
Jitter: mean landmark acceleration |L[t+1] − 2 L[t] + L[t−1]| in output px over the 468 face points, of
the input motion and of the rendered video re-tracked by MediaPipe (video mode). Two references give the
tracker's own jitter: the neutral render repeated (still), and the neutral render shifted sideways by a
smooth sub-pixel sinusoid with cv2.warpAffine (moving content, no mesh warp at all).
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("ECHO_IHG_PROGRESS", "0")

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402


def accel(landmarks_px: np.ndarray) -> float:
    """Mean |second difference| of (T, P, 2) px landmarks."""
    a = landmarks_px[2:] - 2 * landmarks_px[1:-1] + landmarks_px[:-2]
    return float(np.linalg.norm(a, axis=-1).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=250)
    ap.add_argument("--no-jitter", action="store_true")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs; the fastest is reported (the "
                                                            "machine is shared, slower runs measure others' load)")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    cv2.setNumThreads(1)
    from skimage import data

    from echo_ihg.io.media import write_mp4
    from echo_ihg.render import edits
    from echo_ihg.render.base import RenderConfig
    from echo_ihg.render.meshwarp import MeshWarpRenderer
    from echo_ihg.tracking.face_mesh import track_frames, track_image

    portrait = data.astronaut()
    lm = track_image(portrait)
    motion = edits.demo_motion(lm, (portrait.shape[1], portrait.shape[0]), args.frames)
    audio = (0.1 * np.sin(np.linspace(0, 3000, args.frames * 640))).astype(np.float32)
    rows = []
    for size in (256, 512):
        renderer = MeshWarpRenderer(RenderConfig(size=size))
        t0 = time.perf_counter()
        state = renderer.setup(portrait, landmarks=lm)
        setup_s = time.perf_counter() - t0
        renderer.render_frame(state, motion[0])  # warm-up
        render_s = cpu_s = float("inf")
        for _ in range(max(1, args.repeats)):
            t0, c0 = time.perf_counter(), time.process_time()
            frames = [renderer.render_frame(state, m) for m in motion]
            render_s = min(render_s, time.perf_counter() - t0)
            cpu_s = min(cpu_s, time.process_time() - c0)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            write_mp4(Path(tmp) / "bench.mp4", iter(frames), audio=audio)
            encode_s = time.perf_counter() - t0
        row = {"size": size, "setup_ms": 1e3 * setup_s, "render_fps": len(frames) / render_s,
               "ms_per_frame": 1e3 * render_s / len(frames), "cpu_fps": len(frames) / cpu_s,
               "encode_fps": len(frames) / encode_s,
               "total_fps": len(frames) / (render_s + encode_s)}
        if not args.no_jitter:
            scale = np.array([size, size], np.float32)
            want = state.frame.to_pixels(motion)[:, :468, :2]
            got = track_frames(iter(frames), progress=False).landmarks[:, :468, :2] * scale
            still = track_frames((frames[0] for _ in range(len(frames))), progress=False).landmarks[:, :468, :2] * scale
            # the tracker's own jitter on *moving* content: the neutral render shifted sideways (no warp)
            dx = (6.0 * size / 256) * np.sin(np.arange(len(frames)) / 8.0)
            shifted = (cv2.warpAffine(frames[0], np.float32([[1, 0, d], [0, 1, 0]]), (size, size),
                                      flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE) for d in dx)
            moving = track_frames(shifted, progress=False).landmarks[:, :468, :2] * scale
            shift_in = still[:1] + np.stack([dx, np.zeros_like(dx)], 1)[:, None]
            row.update(acc_in=accel(want), acc_out=accel(got), acc_still=accel(still),
                       acc_shift_in=accel(shift_in), acc_shift=accel(moving),
                       err_px=float(np.linalg.norm(got - want, axis=-1).mean()))
        rows.append(row)
    print(f"renderer bench: astronaut, {args.frames} frames, best of {args.repeats}, 1 core "
          f"(cv2 threads {cv2.getNumThreads()}, affinity {sorted(os.sched_getaffinity(0))})")
    print("| size | setup ms | render ms/frame | render fps (wall) | render f/CPU-s | encode fps (H.264+AAC) "
          "| render+encode fps |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['size']} | {r['setup_ms']:.0f} | {r['ms_per_frame']:.2f} | {r['render_fps']:.0f} | "
              f"{r['cpu_fps']:.0f} | "
              f"{r['encode_fps']:.0f} | {r['total_fps']:.0f} |")
    if not args.no_jitter:
        print("\ntemporal jitter: mean landmark acceleration (px/frame², 468 face points)")
        print("| size | input motion | re-tracked render | tracker, still render | shifted image: input "
              "| shifted image: tracked | re-track error px |")
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['size']} | {r['acc_in']:.3f} | {r['acc_out']:.3f} | {r['acc_still']:.3f} | "
                  f"{r['acc_shift_in']:.3f} | {r['acc_shift']:.3f} | {r['err_px']:.2f} |")


if __name__ == "__main__":
    main()
