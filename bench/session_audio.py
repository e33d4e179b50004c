#!/usr/bin/env python
"""Session audio storage: size and decode speed of audio.wav vs audio.flac (lossless); prints a table.

    .venv/bin/python bench/session_audio.py CORPUS [--sessions 4] [--repeats 5]

CORPUS: a folder of sessions (e.g. `echo-ihg synth ... -o CORPUS`). For the first --sessions sessions, each
participant's stored audio is read with `data.session.read_audio` and re-encoded to the other format in a
temporary folder (write_wav / write_flac), so both rows hold exactly the same samples. Decode time is the
median over --repeats reads per file after a warm-up read, in wall-clock and in CPU time of this process
(the CPU column stays meaningful when other jobs load the machine); "x real time" = seconds of audio per
decode second (CPU).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from echo_ihg.constants import SAMPLE_RATE
from echo_ihg.data.session import audio_path, list_sessions, read_audio
from echo_ihg.io.media import write_flac, write_wav


def _decode_s(path: Path, repeats: int) -> tuple[float, float]:
    """(median wall-clock s, median CPU s) of read_audio(path)."""
    read_audio(path)
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        read_audio(path)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--sessions", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    rows = {"wav": [], "flac": []}  # (bytes, decode wall s, decode CPU s, audio s) per participant track
    with tempfile.TemporaryDirectory() as tmp:
        for k, ses in enumerate(list_sessions(args.corpus)[: args.sessions]):
            for who in ("A", "B"):
                audio = read_audio(audio_path(ses / who))
                for fmt, writer in (("wav", write_wav), ("flac", write_flac)):
                    dest = Path(tmp) / f"{k}{who}.{fmt}"
                    writer(dest, audio)
                    assert np.array_equal(read_audio(dest), audio)  # lossless: same samples both ways
                    rows[fmt].append((dest.stat().st_size, *_decode_s(dest, args.repeats), len(audio) / SAMPLE_RATE))
    print(f"{len(rows['wav'])} tracks of {rows['wav'][0][3]:.0f} s")
    print("| format | MB per track | MB per audio hour | decode ms per track (wall) | (CPU) | x real time (CPU) |")
    print("|---|---|---|---|---|---|")
    for fmt, r in rows.items():
        size, wall, cpu, secs = (np.array(c, float) for c in zip(*r))
        print(f"| {fmt} | {size.mean() / 1e6:.2f} | {size.sum() / secs.sum() * 3600 / 1e6:.0f} | "
              f"{1e3 * wall.mean():.1f} | {1e3 * cpu.mean():.1f} | {secs.sum() / max(cpu.sum(), 1e-9):.0f} |")


if __name__ == "__main__":
    main()
