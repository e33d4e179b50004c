"""Plot SDCM's soft spatial masks over the canonical face: docs/sdcm_masks.png.

Each canonical landmark is coloured by the mask value of its region token (M_lip: driven by the avatar's own
audio only; M_face = 1 − M_lip: integrates user cues through the gate), for a few mask sharpness values; the
bar chart gives the values per token (head pose and gaze have no spatial centre: M_lip = 0).

    .venv/bin/python scripts/plot_sdcm_masks.py [--out docs/sdcm_masks.png] [--sharpness 2 4 8]
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from echo_ihg.model.config import ModelConfig  # noqa: E402
from echo_ihg.model.sdcm import canonical_centres, region_masks  # noqa: E402
from echo_ihg.motion.canonical import canonical_face  # noqa: E402
from echo_ihg.motion.regions import REGION_NAMES, region_index  # noqa: E402
from echo_ihg.utils.atomic import atomic_path  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/sdcm_masks.png")
    ap.add_argument("--sharpness", type=float, nargs="+", default=[2.0, ModelConfig().mask_sharpness, 8.0])
    args = ap.parse_args()
    centres = canonical_centres()
    tokens = [*REGION_NAMES, "pose", "gaze"]
    face = canonical_face()
    index = region_index()
    lip = ModelConfig().lip_region
    n = len(args.sharpness)
    fig, axes = plt.subplots(2, n + 1, figsize=(4.2 * (n + 1), 8.4),
                             gridspec_kw={"width_ratios": [1] * n + [1.3], "hspace": 0.45})
    for col, sharp in enumerate(args.sharpness):
        m_lip, _ = region_masks(tokens, centres, lip, sharp)
        for row, (name, values) in enumerate((("M_lip", m_lip), ("M_face", 1 - m_lip))):
            ax = axes[row, col]
            colour = np.zeros(len(face))
            for k, region in enumerate(REGION_NAMES):
                colour[index[region]] = float(values[k])
            pts = face[:468]
            sc = ax.scatter(pts[:, 0], -pts[:, 1], c=colour[:468], cmap="viridis", vmin=0, vmax=1, s=9)
            cx = np.array([centres[r] for r in REGION_NAMES])
            ax.scatter(cx[:, 0], -cx[:, 1], marker="x", c="red", s=40)
            ax.set_title(f"{name} (sharpness {sharp:g})", fontsize=10)
            ax.set_aspect("equal")
            ax.axis("off")
    fig.colorbar(sc, ax=axes[:, :n].ravel().tolist(), shrink=0.6, label="mask value")
    for row in range(2):
        ax = axes[row, n]
        width = 0.8 / n
        for col, sharp in enumerate(args.sharpness):
            m_lip, _ = region_masks(tokens, centres, lip, sharp)
            vals = m_lip.numpy() if row == 0 else 1 - m_lip.numpy()
            ax.bar(np.arange(len(tokens)) + (col - (n - 1) / 2) * width, vals, width, label=f"sharpness {sharp:g}")
        ax.set_xticks(range(len(tokens)), tokens, rotation=45, ha="right")
        ax.set_ylim(0, 1.05)
        ax.set_title("M_lip per token" if row == 0 else "M_face per token")
        ax.legend(fontsize=8)
    fig.suptitle("SDCM spatial masks from the canonical region centres (x = region centre); "
                 "M_face = 1 − M_lip")
    with atomic_path(args.out) as tmp:
        fig.savefig(tmp, dpi=80, bbox_inches="tight")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
