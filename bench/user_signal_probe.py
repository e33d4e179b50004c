#!/usr/bin/env python
"""How much of the avatar's next chunk the user's behaviour predicts beyond the avatar's own past (a data probe).

For training windows of a corpus (the trainer's `WindowDataset`: chunk of 2 s, the avatar's previous 2 s and the
user's history, both up to the chunk's `--known` frame), ridge regressions predict the avatar's motion change
after its first `--known` frames (means of the two halves of the rest minus the last known frame, every
token except the lips) from

    base:        the avatar's previous motion (last frame, last 0.4 s, 2 s mean, last velocity) and audio
    base + user: the same plus the user's motion (last frame, last 0.5 s, 2 s and 60 s means, last velocity)
                 and voice energy (last 0.5 s, 2 s, 60 s)

and report the held-out R² per token. A gain says the user side carries linearly readable information about
what follows; no gain proves little: event-like reactions (a nod 0.3 s after the user's phrase ends) are
beyond these summary features (on a corpus with 2.5× stronger reactions it also finds none; docs/evaluation.md).

    .venv/bin/python bench/user_signal_probe.py --data CORPUS [--codec FILE] [--windows 3000]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from echo_ihg.data.windows import DataConfig, WindowDataset, WindowSpec
from echo_ihg.model.affect import LexiconAffect
from echo_ihg.model.config import ModelConfig
from echo_ihg.model.describe import BehaviourDescriber
from echo_ihg.motion.codec import MotionCodec, default_codec
from echo_ihg.model.text_encoder import make_text_encoder


def features(it: dict, lip: slice, known: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One window -> (target (2·Dm'), base features, user features). The chunk's first `known` frames are in
    the past (`prev` ends where the user history ends); the target is what comes after them."""
    tgt, prev, audio = it["target"], it["prev"], it["avatar_audio"]
    keep = np.r_[0:lip.start, lip.stop:tgt.shape[1]]
    mid = (known + len(tgt)) // 2
    y = np.concatenate([tgt[known:mid].mean(0) - prev[-1], tgt[mid:].mean(0) - prev[-1]])
    base = np.concatenate([prev[-1], prev[-10:].mean(0), prev.mean(0), prev[-1] - prev[-10],
                           audio.reshape(len(audio), -1).mean(0)[::8], it["avatar_vad"][[0, 25, 49]]])
    um, energy = it["user_motion"], it["user_audio"].mean(1)
    user = np.concatenate([um[-1], um[-12:].mean(0), um[-50:].mean(0), um[-1500:].mean(0), um[-1] - um[-12],
                           [energy[-12:].mean(), energy[-50:].mean(), energy[-1500:].mean()]])
    return np.concatenate([y[keep], y[keep + tgt.shape[1]]]), base, user


def ridge_r2(x: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    """Held-out R² per output (first 2/3 train, last 1/3 test), inputs standardised on the training part."""
    n = len(x)
    tr, te = slice(0, 2 * n // 3), slice(2 * n // 3, n)
    mu, sd = x[tr].mean(0), x[tr].std(0) + 1e-6
    xs = np.c_[(x - mu) / sd, np.ones(n)]
    w = np.linalg.solve(xs[tr].T @ xs[tr] + lam * np.eye(xs.shape[1]), xs[tr].T @ y[tr])
    res = y[te] - xs[te] @ w
    return 1 - (res ** 2).sum(0) / ((y[te] - y[tr].mean(0)) ** 2).sum(0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="corpus root")
    p.add_argument("--codec", default="", help="motion codec file (default: the packaged one)")
    p.add_argument("--split", default="train")
    p.add_argument("--windows", type=int, default=3000)
    p.add_argument("--ridge", type=float, default=200.0, help="ridge penalty (on standardised inputs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--known", type=int, default=4,
                   help="frames of the chunk already in the past (DataConfig.overlap; 4 offline, chunk − hop = 42 "
                        "when streaming at 320-ms hops): the user history and the avatar's past end there")
    args = p.parse_args(argv)
    codec = MotionCodec.load(args.codec) if args.codec else default_codec()
    m = ModelConfig()                   # the windows the trainer builds for the default model
    spec = WindowSpec(m.chunk_frames, m.prev_frames, m.audio_window,
                      DataConfig(split=args.split, shards=1, overlap=args.known))
    ds = WindowDataset(args.data, spec, codec, make_text_encoder("minilm"), "minilm", BehaviourDescriber(),
                       LexiconAffect())
    idx = np.random.default_rng(args.seed).choice(len(ds), min(args.windows, len(ds)), replace=False)
    lip = codec.layout["lips_jaw"]
    rows = [features(ds[int(i)], lip, args.known) for i in idx]
    y, base, user = (np.asarray(v) for v in zip(*rows))
    r_base, r_full = ridge_r2(base, y, args.ridge), ridge_r2(np.c_[base, user], y, args.ridge)
    half = y.shape[1] // 2
    print(f"held-out R² of the avatar's motion change over chunk frames {args.known}–50 (two halves; "
          f"{len(idx)} {args.split} windows, ridge {args.ridge})\n")
    print("| token | base | base + user |")
    print("|---|---|---|")
    offset = 0
    for name, sl in codec.layout.items():
        if name == "lips_jaw":
            continue
        cols = np.r_[offset:offset + sl.stop - sl.start]
        cols = np.r_[cols, cols + half]
        offset += sl.stop - sl.start
        print(f"| {name} | {r_base[cols].mean():.3f} | {r_full[cols].mean():.3f} |")
    print(f"| all | {r_base.mean():.3f} | {r_full.mean():.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
