#!/usr/bin/env python
"""Training throughput: samples per second of the real training loop (data windows, LCU, generator, loss,
backward, AdamW, EMA) for the tiny and small sizes, stage 1 and stage 2, on a synthetic corpus.

    .venv/bin/python bench/train.py [--threads 2] [--steps 6] [--batch 16] [--sizes tiny small] [--corpus DIR]

One global batch = `--batch` windows of 2 s chunks (the model's chunk_frames). Stage 1 draws random windows;
stage 2 walks conversations window after window (`data.streams`), and the LPE scans only each window's user
span, carrying its state from the row's previous window (no rescan of the history). The last column,
"stage 2 / stage 1", is the ratio of the two stages' samples/s of the same size in this run. Samples/s is measured over the steps after the first (warm-up),
from the training log's timestamps; "per CPU s" divides by the process CPU time instead (meaningful on a shared,
loaded machine). "data only" iterates the data loader alone (windows from memory-mapped caches), the upper
bound of what the model could consume. The corpus is generated once (`echo_ihg.synth`, 4 × 120 s) unless given.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

from echo_ihg.data.streams import StreamBatchSampler
from echo_ihg.data.windows import DataConfig, ShardedBatchSampler
from echo_ihg.model.config import ModelConfig
from echo_ihg.train.config import TrainConfig
from echo_ihg.train.trainer import Trainer


def cpu_time() -> float:
    t = os.times()
    return t.user + t.system


def corpus(path: str | None) -> Path:
    if path:
        return Path(path)
    from echo_ihg.synth.generate import SynthConfig, generate_corpus

    root = Path(tempfile.mkdtemp(prefix="bench_train_corpus_"))
    generate_corpus(root, SynthConfig(sessions=4, seconds=120.0, seed=11, test_every=1000, val_every=1000))
    return root


def measure(data: Path, size: str, stage: int, steps: int, batch: int) -> dict:
    run = Path(tempfile.mkdtemp(prefix="bench_train_run_"))
    try:
        cfg = TrainConfig(stage=stage, model=ModelConfig(size=size), text_encoder="hashing", steps=steps,
                          batch=batch, warmup=1, log_interval=1, ckpt_interval=10 ** 9,
                          data=DataConfig(shards=batch if batch < 8 else 8))
        trainer = Trainer(data, run, cfg)
        trainer.data_root = data
        ds = trainer.dataset()                                  # builds/opens the caches (not timed)
        sampler = (StreamBatchSampler if stage == 2 else ShardedBatchSampler)(ds, batch, 0, 0, steps)
        t0 = time.perf_counter()
        n = 0
        for idx in sampler:
            torch.utils.data.default_collate([ds[i] for i in idx])
            n += len(idx)
        data_sps = n / (time.perf_counter() - t0)
        c0 = cpu_time()
        trainer.run(data)
        cpu = cpu_time() - c0
        log = [json.loads(s) for s in (run / "train_log.jsonl").read_text().splitlines()]
        wall = log[-1]["time"] - log[0]["time"]
        sps = (len(log) - 1) * batch / wall
        return {"size": size, "stage": stage, "params": sum(p.numel() for p in trainer.model.parameters()),
                "sps": sps, "ms_step": 1000 * wall / (len(log) - 1), "sps_cpu": steps * batch / cpu,
                "data_sps": data_sps, "loss": log[-1]["loss"]}
    finally:
        shutil.rmtree(run, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--sizes", nargs="+", default=["tiny", "small"])
    ap.add_argument("--corpus", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("ECHO_IHG_PROGRESS", "0")
    data = corpus(args.corpus)
    rows = [measure(data, size, stage, args.steps, args.batch) for size in args.sizes for stage in (1, 2)]
    print(f"\nTraining throughput ({args.threads} threads, batch {args.batch}, "
          f"load average {os.getloadavg()[0]:.1f})\n")
    print("| size | stage | params | samples/s | ms/step | samples per CPU s | data only samples/s | stage 2 / stage 1 |")
    print("|---|---|---|---|---|---|---|---|")
    s1 = {r["size"]: r["sps"] for r in rows if r["stage"] == 1}
    for r in rows:
        ratio = f"{r['sps'] / s1[r['size']]:.0%}" if r["stage"] == 2 else "–"
        print(f"| {r['size']} | {r['stage']} | {r['params'] / 1e6:.2f} M | {r['sps']:.1f} | {r['ms_step']:.0f} | "
              f"{r['sps_cpu']:.1f} | {r['data_sps']:.0f} | {ratio} |")


if __name__ == "__main__":
    main()
