#!/usr/bin/env python
"""End-to-end `generate` real-time factor for a conversation (default 60 s), split by stage.

    .venv/bin/python bench/generate.py [--seconds 60] [--checkpoint C] [--size 512] [--steps 8] [--side-by-side]

Inputs (made once, cached in --cache): the bundled astronaut portrait; the avatar's speech from espeak-ng
(sentences with pauses, about half the time speaking); the user's video: the bundled Grace Hopper photo animated
with `render.edits.demo_motion` through the renderer at --user-size px, with espeak-ng speech in the avatar's
pauses. Model: --checkpoint, else the bundled default model, else a *randomly initialised* model of the default
size ("small": the bundled model's architecture and cost; speed does not depend on training) — the table says
which. Stage times are exclusive wall-clock seconds (`inference.stages.StageTimer`); "× real time" is stage
seconds per second of conversation (the total is the real-time factor: < 1 is faster than real time). The
machine's load average is printed because the 2-core machine is shared.

Long conversations (`--seconds 600`): the run also prints the process's peak resident memory and the avatar's
mean head pitch and yaw per minute of the generated motion (a drifting pose shows as a trend across the rows).
Compare the peak memory of a `--seconds 60` run with a `--seconds 600` run: flat memory means the long run's
peak is no larger.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from pathlib import Path

import numpy as np

from echo_ihg.constants import FPS, SAMPLE_RATE

AVATAR_LINES = [
    "Hello, and thank you for coming in today.", "I have looked at the results from last week.",
    "Most of them are really good news.", "There is one thing I would like to talk about, though.",
    "It is nothing to worry about, but we should keep an eye on it.", "Does that make sense to you?",
    "Great. Let me explain what happens next.", "We will meet again in a month to check how things are going.",
]
USER_LINES = ["Hi, thanks for having me.", "Oh, that is good to hear.", "Okay, what is it?", "Yes, it does.",
              "Alright, sounds good to me.", "Thank you so much."]


def _speech(text: str, work: Path) -> np.ndarray:
    from echo_ihg.io.media import load_audio

    wav = work / "line.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), text], check=True, capture_output=True)
    return load_audio(wav)


def make_inputs(cache: Path, seconds: float, user_size: int) -> dict[str, Path]:
    """Avatar speech and user clip of `seconds`, alternating turns (cached by length and size)."""
    from echo_ihg.assets import default_user_portrait
    from echo_ihg.io.media import read_image, write_mp4, write_wav
    from echo_ihg.render.base import RenderConfig
    from echo_ihg.render.edits import demo_motion
    from echo_ihg.render.meshwarp import MeshWarpRenderer

    cache.mkdir(parents=True, exist_ok=True)
    avatar_wav, user_mp4 = cache / f"avatar_{seconds:g}s.wav", cache / f"user_{seconds:g}s_{user_size}px.mp4"
    if avatar_wav.is_file() and user_mp4.is_file():
        return {"avatar_audio": avatar_wav, "user_video": user_mp4}
    n = int(seconds * SAMPLE_RATE)
    avatar, user = np.zeros(n, np.float32), np.zeros(n, np.float32)
    pos, turn = int(0.5 * SAMPLE_RATE), 0
    while pos < n:   # avatar line, pause, user line in the pause, pause, ...
        a = _speech(AVATAR_LINES[turn % len(AVATAR_LINES)], cache)[: n - pos]
        avatar[pos:pos + len(a)] = a
        pos += len(a) + int(0.4 * SAMPLE_RATE)
        if pos >= n:
            break
        u = _speech(USER_LINES[turn % len(USER_LINES)], cache)[: n - pos]
        user[pos:pos + len(u)] = u
        pos += len(u) + int(0.4 * SAMPLE_RATE)
        turn += 1
    write_wav(avatar_wav, avatar)
    renderer = MeshWarpRenderer(RenderConfig(size=user_size))
    state = renderer.setup(default_user_portrait())
    img = read_image(default_user_portrait())
    motion = demo_motion(state.landmarks, (img.shape[1], img.shape[0]), n_frames=int(seconds * FPS), seed=1)
    write_mp4(user_mp4, (renderer.render_frame(state, m) for m in motion), audio=user)
    return {"avatar_audio": avatar_wav, "user_video": user_mp4}


def random_default_size_model(cache: Path) -> Path:
    """A randomly initialised model with the default ModelConfig (size "small"), default codec layout."""
    import torch

    from echo_ihg.model.checkpoint import save_model
    from echo_ihg.model.config import ModelConfig
    from echo_ihg.model.echo import EchoModel
    from echo_ihg.model.sdcm import canonical_centres
    from echo_ihg.motion.codec import default_codec

    path = cache / "random_small.safetensors"
    torch.manual_seed(0)
    model = EchoModel(default_codec().layout, canonical_centres(), ModelConfig())
    with torch.no_grad():   # open the zero-initialised gates so every branch computes something
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    save_model(path, model, meta={"note": "random weights, benchmark only"})
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--size", type=int, default=512, help="avatar frame size")
    ap.add_argument("--user-size", type=int, default=512, help="user video frame size")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (GenerationConfig.torch_threads)")
    ap.add_argument("--side-by-side", action="store_true")
    ap.add_argument("--cache", default="/tmp/echo_ihg_bench_generate")
    ap.add_argument("--out", default=None, help="output mp4 (default: in --cache)")
    args = ap.parse_args()

    from echo_ihg.assets import default_portrait
    from echo_ihg.inference.model_io import default_model_path
    from echo_ihg.inference.config import GenerationConfig
    from echo_ihg.inference.pipeline import Pipeline, PipelineConfig

    cache = Path(args.cache)
    t = time.perf_counter()
    inputs = make_inputs(cache, args.seconds, args.user_size)
    print(f"inputs ready in {time.perf_counter() - t:.1f} s: {inputs['avatar_audio']}, {inputs['user_video']}")
    if args.checkpoint:
        ckpt, label = Path(args.checkpoint), f"checkpoint {args.checkpoint}"
    elif default_model_path() is not None:
        ckpt, label = default_model_path(), "bundled default model"
    else:
        ckpt, label = random_default_size_model(cache), "RANDOM weights, default size 'small' (no default model bundled)"
    cfg = PipelineConfig(GenerationConfig(steps=args.steps, size=args.size, torch_threads=args.threads),
                         side_by_side=args.side_by_side, asr=False)
    pipe = Pipeline(ckpt, cfg)
    out = Path(args.out) if args.out else cache / "bench_out.mp4"
    cpu0, t0 = time.process_time(), time.perf_counter()
    res = pipe.generate(default_portrait(), inputs["avatar_audio"], inputs["user_video"], out=out)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    dur = res.duration_s
    print(f"\nmodel: {label}; {pipe.model.cfg.size}, {sum(p.numel() for p in pipe.model.parameters()) / 1e6:.2f} M "
          f"params; {args.steps} steps; avatar {args.size} px; user video {args.user_size} px; "
          f"{'side-by-side' if args.side_by_side else 'avatar only'}; torch threads {args.threads}")
    print(f"conversation {dur:.1f} s ({res.n_frames} frames); load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores\n")
    print("| stage | seconds | × real time | ms / frame |\n|---|---:|---:|---:|")
    order = ["setup", "tracking", "features", "asr", "lcu", "motion", "render", "encode"]
    for k in sorted(res.timings, key=lambda s: order.index(s) if s in order else 99):
        v = res.timings[k]
        print(f"| {k} | {v:.2f} | {v / dur:.3f} | {1000 * v / res.n_frames:.1f} |")
    print(f"| **total** | **{wall:.2f}** | **{wall / dur:.3f}** | **{1000 * wall / res.n_frames:.1f}** |")
    print(f"\nreal-time factor {wall / dur:.3f} (wall); process CPU time {cpu:.1f} s = {cpu / dur:.3f} × real time "
          f"(all threads); output {res.video}")
    print_pose_per_minute(pipe, res.motion)
    print(f"peak resident memory {peak_rss_mb():.0f} MB")


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def print_pose_per_minute(pipe, motion: np.ndarray) -> None:
    """Mean head pitch / yaw (degrees) of the generated avatar per minute: a drifting pose shows as a trend."""
    from echo_ihg.motion.pose import head_angles, vector_to_pose

    raw = pipe.codec.denormalise(motion)
    ang = head_angles(vector_to_pose(raw[:, pipe.codec.layout["pose"]]).rotation)       # (T, 3) yaw, pitch, roll
    per = 60 * FPS
    print("\n| minute | mean pitch ° | mean yaw ° | pitch sd ° |\n|---:|---:|---:|---:|")
    for k in range(0, len(ang), per):
        a = ang[k:k + per]
        print(f"| {k // per + 1} | {a[:, 1].mean():.2f} | {a[:, 0].mean():.2f} | {a[:, 1].std():.2f} |")


if __name__ == "__main__":
    main()
