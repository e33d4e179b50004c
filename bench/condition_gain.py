#!/usr/bin/env python
"""What each condition buys a trained model, in denoising loss, per motion token (region).

For fixed windows of a split (default val), fixed diffusion times and noise, the v-loss of the model with
its full conditions is compared with the same model whose user context and c_emo are replaced by the null
tokens (the classifier-free-guidance drop it was trained with):

    gain(region) = 1 − loss_full(region) / loss_null(region)        (> 0: the user side helps)

"shuffle Δ" is the relative change of the prediction when every window gets another window's user side.
A user branch that learnt nothing has gain ≈ 0 everywhere; the lips should show ≈ 0 (SDCM keeps them on the
avatar's own audio) while brows, eyes, smile (nose_cheeks) and head pose are where reactions live. It is a
quick training diagnostic (a minute on one core); the behavioural test is `eval.dependencies`.

    .venv/bin/python bench/condition_gain.py --model runs/ablation/0/ECHO/model --data CORPUS [--windows 96]
    .venv/bin/python bench/condition_gain.py --model A --model B --data CORPUS          # side by side
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from echo_ihg.data.windows import DataConfig, WindowDataset, WindowSpec
from echo_ihg.model.affect import LexiconAffect
from echo_ihg.model.describe import BehaviourDescriber
from echo_ihg.model.diffusion import q_sample
from echo_ihg.model.checkpoint import load_model
from echo_ihg.train.losses import build_cond
from echo_ihg.model.text_encoder import make_text_encoder


def window_batch(ds: WindowDataset, n: int, seed: int) -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(ds), size=min(n, len(ds)), replace=False)
    items = [ds[int(i)] for i in sorted(idx)]
    return {k: torch.from_numpy(np.stack([it[k] for it in items])) for k in items[0]}


@torch.no_grad()
def predictions(model, batch: dict, x_t: torch.Tensor, t: torch.Tensor, drop: bool, chunk: int = 16
                ) -> torch.Tensor:
    """v̂ (B, T, Dm) in chunks of windows: the LPE scans each window's user span from the pre-roll (zero state:
    no carried history; the windows are not consecutive)."""
    out = []
    for a in range(0, len(t), chunk):
        sub = {k: v[a:a + chunk] for k, v in batch.items()}
        d = torch.full((len(sub["target"]),), drop)
        out.append(model(x_t[a:a + chunk], t[a:a + chunk], build_cond(model, sub, d)[0]))
    return torch.cat(out)


def region_losses(v_hat: torch.Tensor, v: torch.Tensor, valid: torch.Tensor) -> np.ndarray:
    """Per-dimension mean squared v error over valid frames (B, T), (Dm,)."""
    m = valid[..., None]
    return ((((v_hat - v) ** 2) * m).sum((0, 1)) / m.sum()).numpy()


def gains(model_dir: Path, data: Path, split: str, n: int, seed: int, encoder: str) -> dict[str, float]:
    model, codec, _ = load_model(model_dir)
    model.eval()
    m = model.cfg
    spec = WindowSpec(m.chunk_frames, m.prev_frames, m.audio_window, DataConfig(split=split, shards=1))
    ds = WindowDataset(data, spec, codec, make_text_encoder(encoder), encoder, BehaviourDescriber(),
                       LexiconAffect())
    batch = window_batch(ds, n, seed)
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(len(batch["target"]), generator=g) * 0.8 + 0.1     # skip the extremes: no information there
    noise = torch.randn(batch["target"].shape, generator=g)
    x_t, v = q_sample(batch["target"], t, noise)
    v_full = predictions(model, batch, x_t, t, drop=False)
    full = region_losses(v_full, v, batch["valid"])
    null = region_losses(predictions(model, batch, x_t, t, drop=True), v, batch["valid"])
    out = {}
    for name, sl in codec.layout.items():
        out[name] = float(1 - full[sl].sum() / max(null[sl].sum(), 1e-12))
    out["all"] = float(1 - full.sum() / max(null.sum(), 1e-12))
    out["shuffle Δ"] = shuffle_sensitivity(model, batch, x_t, t, v_full, seed)
    return out


def shuffle_sensitivity(model, batch: dict, x_t: torch.Tensor, t: torch.Tensor, v_own: torch.Tensor, seed: int
                        ) -> float:
    """mean |v̂(user of another window) − v̂(own user)| / mean |v̂|: how much the prediction depends on the user
    side at all (0 for a model without one). v_own: the predictions with each window's own user side."""
    perm = torch.from_numpy(np.random.default_rng(seed).permutation(len(t)))
    other = {**batch, **{k: batch[k][perm] for k in ("user_audio", "user_motion", "user_mask", "s_usr", "c_emo")}}
    v_other = predictions(model, other, x_t, t, drop=False)
    return float((v_own - v_other).abs().mean() / v_own.abs().mean().clamp_min(1e-12))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", action="append", required=True, help="exported model folder (repeatable)")
    p.add_argument("--data", required=True, help="corpus root (holding the split folders)")
    p.add_argument("--split", default="val")
    p.add_argument("--windows", type=int, default=96)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--text-encoder", default="minilm", choices=("minilm", "hashing"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    rows = {name: gains(Path(name), Path(args.data), args.split, args.windows, args.seed, args.text_encoder)
            for name in args.model}
    cols = list(next(iter(rows.values())))
    print(f"condition gain = 1 − loss(full) / loss(user + c_emo nulled), {args.split} split, "
          f"{args.windows} windows, seed {args.seed} (higher: the user side helps more)\n")
    print("| model | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for name, g in rows.items():
        cells = (f"{g[c]:.4f}" if c == "shuffle Δ" else f"{g[c]:+.4f}" for c in cols)
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
