"""Plot one synthetic session: attributes of both participants over time with the speaking state.

    .venv/bin/python scripts/plot_synth_session.py [-o docs/synth_session.png] [--seconds 90] [--seed 0]
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from echo_ihg.constants import FPS  # noqa: E402
from echo_ihg.synth.detectors import attributes  # noqa: E402
from echo_ihg.synth.generate import SynthConfig, generate_session, identity_pool  # noqa: E402

ROWS = ("mouth_open", "smile", "brow_raise_l", "brow_furrow", "blink_l", "gaze_yaw", "head_pitch", "head_yaw")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-o", "--out", default="docs/synth_session.png")
    ap.add_argument("--seconds", type=float, default=90.0)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    s = generate_session(0, SynthConfig(seconds=a.seconds, seed=a.seed), identity_pool())
    att = attributes(s)
    t = np.arange(s.T) / FPS
    fig, axs = plt.subplots(len(ROWS) + 2, 1, figsize=(14, 16), sharex=True)
    for who, col in (("A", "tab:blue"), ("B", "tab:orange")):
        vad = np.asarray(s.participant(who).vad)
        axs[0].fill_between(t, 0, vad * (1 if who == "A" else -1), color=col, alpha=0.6, label=f"{who} speaking")
        axs[1].plot(t, s.participant(who).extra["engagement"], color=col, label=f"{who} engagement (latent)")
        axs[1].plot(t, s.participant(who).extra["mood"], color=col, ls="--", label=f"{who} mood shown")
        for ax, name in zip(axs[2:], ROWS):
            ax.plot(t, att[who][name], color=col, lw=0.8, label=who)
            ax.set_ylabel(name, rotation=0, ha="right")
    for u in s.meta["utterances"]:
        if u["question"]:
            axs[0].axvline(u["end"], color="k", lw=0.5, ls=":")
        if u["kind"] in ("good_news", "bad_news", "resolution"):
            axs[0].text(u["start"], 1.05, u["kind"], fontsize=7)
    axs[0].set_ylabel("speaking\n(A up, B down;\n: = question end)", rotation=0, ha="right")
    axs[0].legend(loc="upper right", fontsize=7)
    axs[1].legend(loc="upper right", fontsize=7, ncol=2)
    axs[-1].set_xlabel("seconds")
    fig.suptitle(f"{s.session_id}: attributes measured from the synthetic landmarks (A blue, B orange)")
    fig.tight_layout()
    fig.savefig(a.out, dpi=80)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
