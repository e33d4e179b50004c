#!/usr/bin/env python
"""Audio front end speed: log-mel and VAD real-time factors on 60 s of speech; prints a table.

    .venv/bin/python bench/audio.py [--threads N]

Real-time factor = seconds of audio processed per wall-clock second (higher is better; the target on the
2-core reference machine is >= 200x). "audio s per CPU s" divides by the process's CPU time instead, which
stays meaningful when other jobs load the machine. Audio: espeak-ng speech (silence-padded sentences) repeated to 60 s,
16 kHz mono. Each row is the median of 5 timed runs after one warm-up run; the first-call cost (model load)
is shown separately. Streaming rows feed 40 ms chunks (one video frame), as a live session would.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from echo_ihg.audio import features, vad
from echo_ihg.io.media import load_audio

SECONDS = 60.0


def speech_audio(seconds: float = SECONDS) -> np.ndarray:
    """espeak-ng sentences with pauses, repeated to `seconds` (white noise at -40 dB if espeak is missing)."""
    n = int(seconds * 16000)
    if shutil.which("espeak-ng") is None:
        return (0.01 * np.random.default_rng(0).standard_normal(n)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "s.wav"
        subprocess.run(["espeak-ng", "-w", str(wav), "Hello, thanks for coming today. I wanted to talk about "
                        "the plan for next week, and what we still need to finish."], check=True, capture_output=True)
        words = load_audio(wav)
    unit = np.concatenate([words, np.zeros(8000, np.float32)])
    return np.resize(unit, n).astype(np.float32)


def _time(fn, repeat: int = 5) -> tuple[float, float]:
    """-> (median wall seconds, median CPU seconds of this process, all threads)."""
    fn()  # warm-up
    wall, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def _stream(make, audio: np.ndarray, chunk: int = 640):
    def run():
        s = make()
        for i in range(0, len(audio), chunk):
            s.push(audio[i:i + chunk])
        s.flush()
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    audio = speech_audio()
    t0 = time.perf_counter()
    vad.silero_net()
    load_s = time.perf_counter() - t0
    rows = [
        ("log-mel (80 bins, 10 ms hop)", _time(lambda: features.log_mel(audio))),
        ("log-mel streaming, 40 ms chunks", _time(_stream(features.MelStreamer, audio), repeat=1)),
        ("VAD silero (batched torch)", _time(lambda: vad.speech_probability(audio))),
        ("VAD silero streaming, 40 ms chunks", _time(_stream(vad.VadStreamer, audio), repeat=1)),
        ("VAD webrtc (mode 2)", _time(lambda: vad.speech_probability(audio, backend="webrtc"))),
        ("log-mel + VAD silero", _time(lambda: (features.log_mel(audio), vad.speech_probability(audio)))),
    ]
    print(f"audio: {SECONDS:.0f} s speech at 16 kHz; torch threads {torch.get_num_threads()}; "
          f"silero model load {load_s * 1000:.0f} ms (once per process)\n")
    print("| step | wall ms for 60 s | real-time factor | CPU ms | audio s per CPU s |\n|---|---|---|---|---|")
    for name, (sec, cpu) in rows:
        print(f"| {name} | {sec * 1000:.1f} | {SECONDS / sec:,.0f}x | {cpu * 1000:.1f} | {SECONDS / max(cpu, 1e-9):,.0f} |")


if __name__ == "__main__":
    main()
