#!/usr/bin/env python
"""Live server load test: N concurrent sessions on loopback; sustained fps and latency per session.

    .venv/bin/python bench/serve_load.py [--sessions 1 2] [--duration 20] [--checkpoint C] [--size 256]

Starts `echo-ihg serve` in a subprocess on a free loopback port, then runs N WebSocket clients in this process
at once. Each client streams a webcam-like 320×240 JPEG sequence (a real face animated by the renderer) and
microphone audio at 25 fps, uploads the avatar's speech (espeak-ng) once, and reads the avatar's frames.
Every run stops by itself after --duration seconds (≤ 120) with ≤ 8 sessions.

Per session: sustained fps (avatar frames received per second after a 2 s warm-up); latency = user frame
sent -> the avatar frame of the same tick received (client clock; includes JPEG encode, network, decode,
tracking, rendering and sending); the server's own part (user frame arrival -> avatar frame sent); the
model's reaction delay (age of the newest user frame behind an avatar frame: chunk t0 reads the user up to
t0 − L, so the delay is L + 1 + the frame's position in its hop); the hop and user lag L the session's pace
controller ended at (they start at `hop_frames` / `user_lag_frames` and grow when the machine cannot keep up:
inference/live_timing.py); late frames (motion not ready: image repeated), skipped ticks (clock behind: no
tracking / rendering) and dropped user frames.

Without --checkpoint and without a bundled default model, a randomly initialised model of the default size
("small") is used: the same computation as a trained one, so the timings hold; the motion is meaningless.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from echo_ihg.inference import protocol as P

MAX_SESSIONS, MAX_DURATION, WARMUP_S = 8, 120.0, 2.0


def random_checkpoint(dest: Path) -> Path:
    import torch

    from echo_ihg.model.checkpoint import save_model
    from echo_ihg.model.config import ModelConfig
    from echo_ihg.model.echo import EchoModel
    from echo_ihg.model.sdcm import canonical_centres
    from echo_ihg.motion.codec import default_codec

    torch.manual_seed(0)
    model = EchoModel(default_codec().layout, canonical_centres(), ModelConfig())
    save_model(dest, model, meta={"note": "random weights: serve load test (timings only)"})
    return dest


def user_jpegs(n: int = 100) -> list[bytes]:
    from echo_ihg.assets import default_user_portrait
    from echo_ihg.io.media import read_image
    from echo_ihg.render.base import RenderConfig
    from echo_ihg.render.edits import demo_motion
    from echo_ihg.render.meshwarp import MeshWarpRenderer

    r = MeshWarpRenderer(RenderConfig(size=240))
    st = r.setup(default_user_portrait())
    img = read_image(default_user_portrait())
    out = []
    for lm in demo_motion(st.landmarks, (img.shape[1], img.shape[0]), n_frames=n):
        canvas = np.full((240, 320, 3), 120, np.uint8)
        canvas[:, 40:280] = r.render_frame(st, lm)
        out.append(cv2.imencode(".jpg", canvas[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 75])[1].tobytes())
    return out


def espeak_wav(dest: Path, text: str) -> Path:
    subprocess.run(["espeak-ng", "-w", str(dest), text], check=True, capture_output=True)
    return dest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(x, q):
    return float(np.percentile(x, q)) if len(x) else float("nan")


async def client(url: str, jpegs: list[bytes], mic: np.ndarray, avatar_wav: bytes, duration: float) -> dict:
    import websockets

    sent: dict[int, float] = {}
    lat, recv_t, server_lat = [], [], []
    stats, errors = {}, []
    async with websockets.connect(url, max_size=8 * 1024 * 1024) as ws:
        await ws.send(json.dumps({"type": "hello", "client": "bench"}))
        ready = json.loads(await ws.recv())
        if ready.get("type") != "ready":
            return {"refused": ready}
        await ws.send(bytes([P.AVATAR_FILE]) + avatar_wav)
        started = asyncio.Event()
        t_start = [0.0]

        async def sender():
            k, t0 = 0, time.perf_counter()
            while True:
                now = time.perf_counter()
                sent[k] = now
                await ws.send(P.pack_video(k, now * 1000, jpegs[k % len(jpegs)]))
                a = (k * 640) % (len(mic) - 640)
                await ws.send(P.pack_audio(P.USER_AUDIO, mic[a:a + 640]))
                k += 1
                await asyncio.sleep(max(0.0, t0 + k / 25 - time.perf_counter()))

        async def receiver():
            async for msg in ws:
                now = time.perf_counter()
                if isinstance(msg, bytes):
                    f = P.unpack_frame(msg)
                    if started.is_set() and now - t_start[0] > WARMUP_S:
                        recv_t.append(now)
                        if f["user_seq"] is not None and f["user_seq"] in sent:
                            lat.append((now - sent[f["user_seq"]]) * 1000)
                            server_lat.append(f["latency_ms"])
                else:
                    m = json.loads(msg)
                    if m["type"] == "started":
                        started.set()
                        t_start[0] = now
                    elif m["type"] == "stats":
                        stats.update(m)
                    elif m["type"] == "error":
                        errors.append(m["code"])
                    elif m["type"] == "bye":
                        return

        send_task = asyncio.create_task(sender())
        recv_task = asyncio.create_task(receiver())
        await asyncio.wait_for(started.wait(), 120)
        await asyncio.sleep(duration)
        send_task.cancel()
        await ws.send(json.dumps({"type": "stop"}))
        try:
            await asyncio.wait_for(recv_task, 10)
        except asyncio.TimeoutError:
            recv_task.cancel()
    span = recv_t[-1] - recv_t[0] if len(recv_t) > 1 else float("nan")
    return {"fps": (len(recv_t) - 1) / span, "lat": lat, "server": server_lat, "stats": stats, "errors": errors}


def cpu_profile(checkpoint: Path | None, overrides: list[str], jpegs: list[bytes], n: int = 100) -> dict[str, float]:
    """CPU ms per frame of each stage of a tick, one thread, in this process (process CPU time: it holds on a
    loaded machine, where wall time does not): what one session costs a core at 25 fps."""
    from echo_ihg.audio.features import MelStreamer
    from echo_ihg.audio.vad import VadStreamer
    from echo_ihg.inference.live import LiveConfig, LiveModel
    from echo_ihg.inference.live_inputs import UserStream
    from echo_ihg.tracking.tracker import FaceTracker

    from echo_ihg.utils.config import load_config

    live = LiveModel(checkpoint, None, load_config(LiveConfig, None, overrides))
    user = UserStream(live, live.config, MelStreamer(), VadStreamer())
    gen = live.generator()
    cpu: dict[str, float] = {}

    def timed(stage, fn, *a):
        t = time.process_time()
        out = fn(*a)
        cpu[stage] = cpu.get(stage, 0.0) + time.process_time() - t
        return out

    with FaceTracker() as user.tracker:
        gen.push_avatar(np.full((n + 200, 320), -5.0, np.float32), np.zeros(n + 200, np.float32))
        produced = []
        for k in range(n):
            lm = timed("track", user.track, P.VideoFrame(k, 0.0, jpegs[k % len(jpegs)]), 10 ** 7, print)
            timed("user audio", user.add_audio, [np.zeros(640, np.float32)], 10)
            frame = timed("encode", user.frame, lm)            # None while the user stream's delay fills
            if frame is not None:
                gen.push_user(*frame)
            produced.extend(timed("model", gen.pull))
            if produced:
                lm_av = timed("decode", live.decoder.decode, np.asarray(produced[:1]))[0]
                produced = produced[1:]
                timed("jpeg", live.jpeg, timed("render", live.render, lm_av))
    live.close()
    out = {k: v * 1000 / n for k, v in cpu.items()}
    out["total"] = sum(out.values())
    return out


async def run_sessions(url: str, n: int, duration: float, jpegs, mic, avatar_wav) -> list[dict]:
    return await asyncio.gather(*[client(url, jpegs, mic, avatar_wav, duration) for _ in range(n)])


def start_server(checkpoint: Path | None, port: int, overrides: list[str], max_sessions: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "echo_ihg.cli.main", "serve", "--port", str(port), "--max-sessions",
           str(max_sessions)] + [a for o in overrides for a in ("--set", o)]
    if checkpoint is not None:
        cmd += ["--checkpoint", str(checkpoint)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        if "Ctrl-C stops" in line:
            break
    else:
        raise RuntimeError("the server did not start")
    end = time.monotonic() + 60
    while time.monotonic() < end:        # uvicorn binds after the banner
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return proc
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the server did not open its port")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--duration", type=float, default=20.0, help="seconds per run (after the first chunk)")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="LiveConfig override for the server (repeatable), e.g. --set hop_frames=12")
    args = ap.parse_args()
    if max(args.sessions) > MAX_SESSIONS or min(args.sessions) < 1 or not 1 <= args.duration <= MAX_DURATION:
        ap.error(f"sessions 1..{MAX_SESSIONS}, duration 1..{MAX_DURATION:.0f} s")
    from echo_ihg.inference.model_io import default_model_path
    from echo_ihg.io.media import load_audio

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ckpt, note = (Path(args.checkpoint), args.checkpoint) if args.checkpoint else (None, "bundled default")
        if ckpt is None and default_model_path() is None:
            ckpt, note = random_checkpoint(tmp / "random_small.safetensors"), "random weights, size small"
        jpegs = user_jpegs()
        mic = load_audio(espeak_wav(tmp / "user.wav", "Well, I think that sounds wonderful. Tell me more."))
        avatar = espeak_wav(tmp / "avatar.wav", "Hello! I am glad you could come today. Let me tell you about "
                            "the plan for next week, and what we still need to finish before then.").read_bytes()
        overrides = [f"size={args.size}", *args.overrides]
        print(f"model: {note}; {' '.join(overrides)}; {args.duration:.0f} s per run; cores: {os.cpu_count()}; "
              f"load average before: {os.getloadavg()[0]:.1f}")
        prof = cpu_profile(ckpt, overrides, jpegs)
        print("\nCPU per frame, one session (ms of CPU; at 25 fps a session needs total/40 cores):\n")
        print("| " + " | ".join(prof) + " |\n|" + "---|" * len(prof))
        print("| " + " | ".join(f"{v:.1f}" for v in prof.values()) + " |\n")
        rows = []
        for n in args.sessions:
            port = free_port()
            proc = start_server(ckpt, port, overrides, n)
            try:
                cpu0, t0 = cpu_seconds(proc.pid), time.perf_counter()
                results = asyncio.run(run_sessions(f"ws://127.0.0.1:{port}/ws", n, args.duration, jpegs, mic,
                                                   avatar))
                cores = (cpu_seconds(proc.pid) - cpu0) / (time.perf_counter() - t0)
            finally:
                proc.terminate()
                proc.wait(30)
            for i, r in enumerate(results):
                rows.append((n, i, r, cores))
        print(f"load average after: {os.getloadavg()[0]:.1f}\n")
        head = ("sessions", "session", "fps", "rendered fps", "server CPU cores", "latency p50", "latency p95", "server p50", "server p95",
                "reaction p50", "reaction p95", "chunk ms", "hop / lag (end)", "late", "skipped", "user dropped", "errors")
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for n, i, r, cores in rows:
            if "refused" in r:
                print(f"| {n} | {i} | refused: {r['refused'].get('code')} |")
                continue
            s = r["stats"]
            react = s.get("reaction_ms", {})
            rendered = s.get("rendered", 0) / max(1e-9, s.get("clock_s", 0))
            cells = (n, i, f"{r['fps']:.1f}", f"{rendered:.1f}", f"{cores:.2f}", f"{pct(r['lat'], 50):.0f} ms", f"{pct(r['lat'], 95):.0f} ms",
                     f"{pct(r['server'], 50):.0f} ms", f"{pct(r['server'], 95):.0f} ms",
                     f"{react.get('p50') or float('nan'):.0f} ms", f"{react.get('p95') or float('nan'):.0f} ms",
                     f"{s.get('chunk_ms') or float('nan'):.0f}", f"{s.get('hop_frames')} / {s.get('user_lag_frames')}",
                     s.get("late"), s.get("skipped"),
                     s.get("user_dropped"), ",".join(sorted(set(r["errors"]))) or "-")
            print("| " + " | ".join(str(c) for c in cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
