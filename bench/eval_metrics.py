"""Timing of the heavier evaluation metrics at REACT-like sizes. Prints a table.

    .venv/bin/python bench/eval_metrics.py [--n 8] [--k 4] [--t 750] [--d 25]

DTW / FRDist / FRSyn / FRCorr on N inputs x K generations of T frames x D dims (REACT: T = 750, D = 25,
K = 10); FD in 2048 dims (FID features) by scipy sqrtm vs the exact sample form; SID with k = 40.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from echo_ihg.eval import metrics as M


def timed(fn, repeats: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--t", type=int, default=750)
    ap.add_argument("--d", type=int, default=25)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    preds = rng.normal(size=(a.n, a.k, a.t, a.d))
    refs = rng.normal(size=(a.n, a.t, a.d))
    appropriate = np.ones((a.n, a.n), bool)  # every reference appropriate: the worst case
    rows = []
    s, _ = timed(lambda: M.dtw(preds[0, 0], refs[0]))
    rows.append(("dtw, 1 pair", f"{a.t}x{a.d}", s))
    s, _ = timed(lambda: M.dtw_batch(preds[0, 0], refs))
    rows.append((f"dtw_batch, {a.n} refs", f"{a.t}x{a.d}", s))
    s, _ = timed(lambda: M.frdist(preds, refs, appropriate), 1)
    rows.append(("FRDist (all refs appropriate)", f"N={a.n} K={a.k}", s))
    s, _ = timed(lambda: M.frcorr(preds, refs, appropriate), 1)
    rows.append(("FRCorr (all refs appropriate)", f"N={a.n} K={a.k}", s))
    s, _ = timed(lambda: M.frsyn(preds, refs), 1)
    rows.append(("FRSyn (±50 lags)", f"N={a.n} K={a.k}", s))
    f1, f2 = rng.normal(size=(2, 3000, 2048))
    s, v1 = timed(lambda: M.frechet_distance(*M.gaussian_fit(f1), *M.gaussian_fit(f2)), 1)
    rows.append(("FD sqrtm, 3000 x 2048", "", s))
    s, v2 = timed(lambda: M.fd_from_samples(f1, f2), 1)
    rows.append((f"FD sample form (diff {abs(v1 - v2):.2e})", "3000 x 2048", s))
    g, p = rng.normal(size=(2, 5000, 16))
    s, _ = timed(lambda: M.sid(p, g, 40), 1)
    rows.append(("SID k=40 (fit + predict)", "5000 x 16", s))
    print("| metric | size | seconds |\n|---|---|---|")
    for name, size, sec in rows:
        print(f"| {name} | {size} | {sec:.3f} |")


if __name__ == "__main__":
    main()
