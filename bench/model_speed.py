#!/usr/bin/env python
"""Motion generator speed: parameters, forward time per chunk, generation real-time factor, streaming latency.

    .venv/bin/python bench/model_speed.py [--threads 2] [--seconds 30] [--steps 4 6] [--hops 8 0]
    .venv/bin/python bench/model_speed.py --random --sizes tiny small base     # random weights per size

The bundled default model (or --checkpoint) is measured when it exists, else random weights (speed does not
depend on training). One chunk = `chunk_frames` (50 = 2 s) frames. Real-time factor (RTF) = seconds of motion
generated per wall-clock second on the long-form engine (LPE scan, behaviour describer, affect model, text
encoder with a warm cache, DDIM sampler, continuity constraint) over `--seconds` of conversation, with the
default overlap (46 new frames per chunk); "per CPU s" divides by the process CPU time instead, which stays
meaningful when other jobs load the shared machine. Streaming table: the streaming engine is fed `hop` frames
at a time and each step emits `hop` new frames (overlap = chunk − hop: the model still samples a full chunk,
the earlier frames inpainted), so a smaller hop means a faster reaction at a higher cost per second. Targets
(2-core machine): RTF ≥ 10 with ≤ 10 steps; a streaming step ≤ 100 ms for a 320 ms hop (8 frames).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time

import numpy as np
import torch

from echo_ihg.constants import FPS
from echo_ihg.model.affect import LexiconAffect
from echo_ihg.model.config import ModelConfig
from echo_ihg.model.describe import BehaviourDescriber
from echo_ihg.model.echo import EchoModel
from echo_ihg.model.engine import SamplerConfig, StreamingGenerator, TextConditioner, generate_offline
from echo_ihg.model.generator import GenCond
from echo_ihg.model.sdcm import canonical_centres
from echo_ihg.model.text_encoder import HashingEncoderForTests, MiniLMEncoder


def layout() -> dict[str, tuple[int, int]]:
    """The default codec's layout if it is available, else a representative one (7 regions, pose 6, gaze 4)."""
    try:
        from echo_ihg.motion.codec import MotionCodec
        from echo_ihg.assets import asset_path

        return {k: (v.start, v.stop) for k, v in
                MotionCodec.load(asset_path("default_codec.safetensors")).layout.items()}
    except Exception:  # noqa: BLE001 — bench fallback only
        sizes = [12, 6, 6, 4, 4, 8, 10, 6, 4]
        names = ["lips_jaw", "left_eye", "right_eye", "left_brow", "right_brow", "nose_cheeks", "contour", "pose",
                 "gaze"]
        out, s = {}, 0
        for n, k in zip(names, sizes):
            out[n] = (s, s + k)
            s += k
        return out


def cpu_time() -> float:
    t = os.times()
    return t.user + t.system


def randomise(model: torch.nn.Module) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)


def forward_ms(model: EchoModel, batch: int, reps: int = 20) -> float:
    cfg, dm = model.cfg, model.motion_dim
    span = cfg.user_span
    feats, _ = model.perceive(torch.randn(batch, span, cfg.audio_frame_dim), torch.randn(batch, span, dm))
    f_pu = model.user_context(feats, torch.randn(batch, 384), torch.full((batch,), cfg.chunk_frames), batch)
    cond = GenCond(torch.randn(batch, cfg.prev_frames, dm), torch.randn(batch, cfg.identity_dim),
                   torch.randn(batch, cfg.chunk_frames + 2 * cfg.audio_window, cfg.audio_frame_dim), f_pu,
                   torch.randn(batch, 384))
    x, t = torch.randn(batch, cfg.chunk_frames, dm), torch.rand(batch)
    with torch.no_grad():
        for _ in range(3):
            model(x, t, cond)
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            model(x, t, cond)
            times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def conversation(seconds: float, dm: int, seed: int = 0) -> dict:
    n = int(seconds * FPS)
    rng = np.random.default_rng(seed)
    tt = np.arange(n) / FPS
    return dict(identity=rng.normal(size=478 * 3).astype(np.float32),
                avatar_audio=rng.normal(size=(n, 320)).astype(np.float32) - 5,
                avatar_vad=(np.sin(tt / 3) > 0).astype(np.float32),
                user_audio=rng.normal(size=(n, 320)).astype(np.float32) - 5,
                user_motion=rng.normal(size=(n, dm)).astype(np.float32) * 0.1,
                user_attributes={"smile": 0.03 * np.sin(tt / 7), "head_pitch": 3 * np.sin(2 * tt),
                                 "head_yaw": np.sin(tt / 5), "gaze_yaw": 0.1 * np.sin(tt / 11)},
                user_vad=(np.sin(tt / 3) <= 0).astype(np.float32),
                transcript=[{"speaker": "B" if i % 2 else "A", "start": 4.0 * i, "end": 4.0 * i + 3,
                             "text": ["that sounds great", "I am a bit worried about it", "really? wow",
                                      "thanks, that helps"][i % 4]} for i in range(int(seconds // 4))])


def models(args) -> list[tuple[str, EchoModel]]:
    """(label, model): the given / bundled default checkpoint, else random weights of each --sizes."""
    from echo_ihg.inference.model_io import load_inference_model

    if not args.random:
        try:
            loaded = load_inference_model(args.checkpoint)
            return [(f"{loaded.model.cfg.size}*", loaded.model.eval())]
        except Exception as exc:  # noqa: BLE001 — no trained model: fall back to random weights, say so
            print(f"(no trained model: {exc}; random weights)")
    out = []
    for size in args.sizes:
        torch.manual_seed(0)
        model = EchoModel(layout(), canonical_centres(), ModelConfig(size=size)).eval()
        randomise(model)
        out.append((size, model))
    return out


def stream_latency(model: EchoModel, conv: dict, smp: SamplerConfig, cond: TextConditioner, hop: int,
                   chunks: int = 20) -> list[float]:
    """Wall ms of each streaming step that emits `hop` new frames (inputs pushed hop frames at a time)."""
    smp = dataclasses.replace(smp, overlap=model.cfg.chunk_frames - hop)
    gen = StreamingGenerator(model, conv["identity"], smp, cond)
    lat = []
    for a in range(0, min(len(conv["avatar_vad"]) - hop, chunks * hop), hop):
        sl = slice(a, a + hop)
        gen.push_user(conv["user_audio"][sl], conv["user_motion"][sl],
                      {k: v[sl] for k, v in conv["user_attributes"].items()}, conv["user_vad"][sl])
        gen.push_avatar(conv["avatar_audio"][sl], conv["avatar_vad"][sl])
        t0 = time.perf_counter()
        got = gen.pull()
        if len(got):
            lat.append(1e3 * (time.perf_counter() - t0))
    return lat


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--checkpoint", default=None, help="model folder (default: the bundled default model)")
    ap.add_argument("--random", action="store_true", help="random weights of --sizes instead of a trained model")
    ap.add_argument("--sizes", nargs="+", default=["tiny", "small", "base"])
    ap.add_argument("--steps", type=int, nargs="+", default=[4, 6, 8, 10])
    ap.add_argument("--hops", type=int, nargs="+", default=[8, 0],
                    help="new frames per streaming step (8 = 320 ms; 0 = chunk − default overlap)")
    ap.add_argument("--hashing-encoder", action="store_true", help="skip MiniLM (its load takes a few s)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    encoder = HashingEncoderForTests() if args.hashing_encoder else MiniLMEncoder()
    print(f"threads={args.threads}  load average={os.getloadavg()[0]:.1f}  conversation={args.seconds:g} s  "
          f"(* = trained checkpoint)")
    print(f"{'size':6} {'params':>9} {'MB':>6} {'fwd B=1 ms':>11} {'fwd B=2 ms':>11} {'steps':>5} {'cfg':>4} "
          f"{'RTF':>6} {'RTF/CPU s':>9}")
    stream_rows = []
    for label, model in models(args):
        n = sum(p.numel() for p in model.parameters())
        f1, f2 = forward_ms(model, 1), forward_ms(model, 2)
        conv = conversation(args.seconds, model.motion_dim)
        for steps in args.steps:
            for guidance in (1.0, 2.0) if steps == 8 else (1.0,):
                smp = SamplerConfig(steps=steps, guidance=guidance)
                cond = TextConditioner(BehaviourDescriber(), LexiconAffect(), encoder)
                generate_offline(model, conv["identity"], conv["avatar_audio"][:200], conv["avatar_vad"][:200],
                                 conv["user_audio"][:200], conv["user_motion"][:200],
                                 {k: v[:200] for k, v in conv["user_attributes"].items()}, conv["user_vad"][:200],
                                 conv["transcript"], smp, cond)                       # warm-up + text cache
                w0, c0 = time.perf_counter(), cpu_time()
                out, _ = generate_offline(model, conv["identity"], conv["avatar_audio"], conv["avatar_vad"],
                                          conv["user_audio"], conv["user_motion"], conv["user_attributes"],
                                          conv["user_vad"], conv["transcript"], smp, cond)
                wall, cpu = time.perf_counter() - w0, cpu_time() - c0
                secs = len(out) / FPS
                print(f"{label:6} {n:9d} {n * 4 / 1e6:6.2f} {f1:11.1f} {f2:11.1f} {steps:5d} {guidance:4g} "
                      f"{secs / wall:6.1f} {secs / max(cpu, 1e-9):9.1f}")
                if guidance != 1.0:
                    continue
                for hop in args.hops:
                    hop = hop or model.cfg.chunk_frames - SamplerConfig().overlap
                    lat = stream_latency(model, conv, smp, cond, hop)
                    stream_rows.append((label, steps, hop, statistics.median(lat), float(np.percentile(lat, 95)),
                                        statistics.median(lat) * 8 / hop))
    print(f"\nstreaming: one step emits `hop` new frames (window = chunk, the rest inpainted); the avatar reacts "
          f"to user input ≥ one hop late\n{'size':6} {'steps':>5} {'hop frames':>10} {'hop ms':>7} "
          f"{'step med ms':>11} {'step p95 ms':>11} {'ms per 320 ms':>13}")
    for label, steps, hop, med, p95, per320 in stream_rows:
        print(f"{label:6} {steps:5d} {hop:10d} {hop * 1000 // FPS:7d} {med:11.0f} {p95:11.0f} {per320:13.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
