"""Plot the training curves of a model folder (its stage1/stage2 train logs): docs/default_model_training.png.

Per stage: the total loss, its v-prediction and velocity terms (a running median over `--smooth` logged steps,
raw values faint behind it), and the learning rate; the x axis is the optimiser step of that stage.

    .venv/bin/python scripts/plot_training_log.py [--model src/echo_ihg/assets/default_model]
        [--out docs/default_model_training.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from echo_ihg.errors import InputError  # noqa: E402
from echo_ihg.utils.atomic import atomic_path  # noqa: E402


def read_log(path: Path) -> dict[str, np.ndarray]:
    """train_log.jsonl -> {field: (N,) array} over the logged steps (non-numeric fields left out)."""
    if not path.is_file():
        raise InputError(path, "training log not found")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not rows:
        raise InputError(path, "the training log is empty")
    keys = [k for k, v in rows[0].items() if isinstance(v, (int, float))]
    return {k: np.array([r.get(k, np.nan) for r in rows], float) for k in keys}


def running_median(x: np.ndarray, k: int) -> np.ndarray:
    half = k // 2
    return np.array([np.nanmedian(x[max(0, i - half):i + half + 1]) for i in range(len(x))])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="src/echo_ihg/assets/default_model")
    ap.add_argument("--out", default="docs/default_model_training.png")
    ap.add_argument("--smooth", type=int, default=9, help="running-median width in logged steps")
    args = ap.parse_args()
    folder = Path(args.model)
    stages = [(s, read_log(folder / f"{s}_train_log.jsonl")) for s in ("stage1", "stage2")
              if (folder / f"{s}_train_log.jsonl").is_file()]
    if not stages:
        raise SystemExit(f"{folder}: no stage1_train_log.jsonl / stage2_train_log.jsonl")
    fig, axes = plt.subplots(2, len(stages), figsize=(6 * len(stages), 6), squeeze=False,
                             gridspec_kw={"height_ratios": [3, 1]})
    for col, (name, log) in enumerate(stages):
        ax, lr = axes[0, col], axes[1, col]
        for key, colour in (("loss", "k"), ("v", "tab:blue"), ("velocity", "tab:orange")):
            if key in log:
                ax.plot(log["step"], log[key], color=colour, alpha=0.2, lw=0.8)
                ax.plot(log["step"], running_median(log[key], args.smooth), color=colour, lw=1.6, label=key)
        ax.set_title(f"{name}: {int(log['step'][-1])} steps, {np.nanmedian(log['samples_per_s']):.1f} samples/s")
        ax.set_yscale("log")
        ax.set_ylabel("loss (log scale)")
        ax.grid(alpha=0.3)
        ax.legend()
        lr.plot(log["step"], log["lr"], color="tab:green")
        lr.set_xlabel("optimiser step")
        lr.set_ylabel("learning rate")
        lr.grid(alpha=0.3)
    fig.suptitle(f"training curves of {folder}")
    fig.tight_layout()
    out = Path(args.out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
