"""The REACT challenge metric set (FRCorr, FRDist, FRDiv, FRDvs, FRVar, FRSyn) and DTW, in numpy.

Definitions follow the REACT 2023/2024 challenge papers and the official baseline repository
(reactmultimodalchallenge/baseline_react2023, metric/*.py); the differences are deliberate and listed
in docs/metrics.md (constant dims, FRSyn over all generations, lag range, DTW without tslearn).

Shapes: preds (N, K, T, D) = K generated reactions for each of N inputs; refs (M, T, D) = real
reactions; appropriate (N, M) bool = which real reactions are appropriate for input n (REACT's
"neighbour" matrix; the identity matrix when each input has only its own ground truth).
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

log = logging.getLogger(__name__)

# REACT's 25-d emotion vector: 15 AUs, valence + arousal, 8 expression probabilities; FRDist weights
# each group's DTW by 1 / group size (AU 1/15, VA 1, FER 1/8), as in the official metric/FRD.py.
REACT_EMOTION_GROUPS: tuple[tuple[slice, float], ...] = (
    (slice(0, 15), 1.0 / 15.0), (slice(15, 17), 1.0), (slice(17, 25), 1.0 / 8.0))


def _arr(name: str, x: np.ndarray, ndim: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D array, got shape {x.shape}")
    if x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: empty or contains NaN/inf (shape {x.shape})")
    return x


def _check_react(preds: np.ndarray, refs: np.ndarray, appropriate: np.ndarray | None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    preds, refs = _arr("preds", preds, 4), _arr("refs", refs, 3)
    n, m = preds.shape[0], refs.shape[0]
    if appropriate is None:
        if n != m:
            raise ValueError(f"appropriate=None needs one ref per input; got N={n}, M={m}")
        appropriate = np.eye(n, dtype=bool)
    appropriate = np.asarray(appropriate).astype(bool)
    if appropriate.shape != (n, m):
        raise ValueError(f"appropriate: expected shape {(n, m)}, got {appropriate.shape}")
    empty = np.flatnonzero(~appropriate.any(1))
    if empty.size:
        raise ValueError(f"appropriate: inputs {empty[:10].tolist()} have no appropriate reference")
    if preds.shape[-1] != refs.shape[-1]:
        raise ValueError(f"feature dims differ: preds {preds.shape}, refs {refs.shape}")
    return preds, refs, appropriate


# ----------------------------------------------------------------------------------------------
# FRCorr: concordance
# ----------------------------------------------------------------------------------------------

def ccc(x: np.ndarray, refs: np.ndarray) -> np.ndarray:
    """Concordance correlation coefficient (Lin 1989) per dim, averaged over dims:

        CCC_d = 2 cov(x_d, y_d) / (var(x_d) + var(y_d) + (mean x_d - mean y_d)^2)

    population (co)variances over time. Dims where the denominator is 0 (both constant and equal)
    are left out of the mean; a dim where only one side is constant has CCC 0. The official code gives
    NaN in both cases (np.corrcoef of a constant), which poisons the whole sample.
    x: (T, D); refs: (T, D) or (M, T, D) -> float or (M,).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(refs, dtype=np.float64)
    single = y.ndim == 2
    y = y[None] if single else y
    if x.ndim != 2 or y.shape[1:] != x.shape:
        raise ValueError(f"ccc: shapes differ: x {x.shape}, refs {np.shape(refs)}")
    mx, my = x.mean(0), y.mean(1)
    xc, yc = x - mx, y - my[:, None]
    cov = (xc[None] * yc).mean(1)
    den = x.var(0)[None] + y.var(1) + (mx[None] - my) ** 2
    valid = den > 1e-12
    per_dim = np.where(valid, 2 * cov / np.where(valid, den, 1.0), 0.0)
    n_valid = valid.sum(1)
    out = np.where(n_valid > 0, per_dim.sum(1) / np.maximum(n_valid, 1), 0.0)
    return float(out[0]) if single else out


def frcorr(preds: np.ndarray, refs: np.ndarray, appropriate: np.ndarray | None = None) -> float:
    """FRCorr (appropriateness, higher better):

        FRCorr = 1/N sum_n sum_k max_{m in A(n)} CCC(preds[n, k], refs[m])

    CCC = `ccc` (mean over dims). Summed over the K generations, so its range is [-K, K] (REACT
    reports it this way: ground truth with K = 10 scores ≈ 8). appropriate=None: A(n) = {n}.
    """
    preds, refs, appropriate = _check_react(preds, refs, appropriate)
    total = 0.0
    for n in range(len(preds)):
        cand = refs[appropriate[n]]
        total += sum(ccc(p, cand).max() for p in preds[n])
    return total / len(preds)


# ----------------------------------------------------------------------------------------------
# FRDist: DTW
# ----------------------------------------------------------------------------------------------

def dtw_batch(x: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """DTW distance between x (T1, D) and each of ys (B, T2, D), tslearn's convention:

        DTW(x, y) = sqrt( min_paths sum_{(i, j) in path} ||x_i - y_j||_2^2 )

    paths from (0, 0) to (T1-1, T2-1) with steps (1,0), (0,1), (1,1), no window constraint.
    The dynamic programme runs over anti-diagonals (cells i + j = const depend only on the two
    previous anti-diagonals), vectorised over the cells of a diagonal and over the batch:
    T1 + T2 numpy steps instead of T1 * T2 Python steps.
    """
    x = np.asarray(x, dtype=np.float64)
    ys = np.asarray(ys, dtype=np.float64)
    if x.ndim == 1:  # univariate: x (T1,), ys (B, T2)
        x, ys = x[:, None], ys[..., None]
    if ys.ndim != 3 or ys.shape[-1] != x.shape[-1]:
        raise ValueError(f"dtw_batch: x {x.shape} and ys {ys.shape} are not (T1, D), (B, T2, D)")
    n, m = len(x), ys.shape[1]
    # squared distances via ||x||^2 + ||y||^2 - 2 x.y: (n, m, B) without a (B, n, m, D) temporary
    cost = ((x * x).sum(-1)[:, None, None] + (ys * ys).sum(-1).T[None]
            - 2 * np.einsum("id,bjd->ijb", x, ys))
    np.maximum(cost, 0.0, out=cost)
    # prev2 / prev1 hold anti-diagonals d-2 / d-1 indexed by i: entry i = acc[i, d - i] (1-based cells,
    # row/column 0 = the infinite border, acc[0, 0] = 0)
    prev2 = np.full((n + 1, len(ys)), np.inf)
    prev1 = np.full((n + 1, len(ys)), np.inf)
    prev2[0] = 0.0
    for d in range(2, n + m + 1):
        lo, hi = max(1, d - m), min(n, d - 1)
        i = np.arange(lo, hi + 1)
        best = np.minimum(np.minimum(prev1[lo - 1:hi], prev1[lo:hi + 1]), prev2[lo - 1:hi])
        cur = np.full_like(prev1, np.inf)
        cur[lo:hi + 1] = cost[i - 1, d - i - 1] + best
        prev2, prev1 = prev1, cur
    return np.sqrt(prev1[n])


def dtw(x: np.ndarray, y: np.ndarray) -> float:
    """DTW distance between two sequences (T1, D) and (T2, D); see `dtw_batch`."""
    return float(dtw_batch(x, np.asarray(y, dtype=np.float64)[None])[0])


def frdist(preds: np.ndarray, refs: np.ndarray, appropriate: np.ndarray | None = None,
           groups: Sequence[tuple[slice, float]] | None = None) -> float:
    """FRDist (appropriateness, lower better):

        FRDist = 1/N sum_n sum_k min_{m in A(n)} sum_g w_g DTW(preds[n, k, :, g], refs[m, :, g])

    groups: (dim slice, weight) pairs; default one group of all dims with weight 1. Use
    `REACT_EMOTION_GROUPS` for REACT's 25-d emotion features. Summed over K like FRCorr.
    """
    preds, refs, appropriate = _check_react(preds, refs, appropriate)
    groups = groups if groups is not None else ((slice(0, preds.shape[-1]), 1.0),)
    total = 0.0
    for n in range(len(preds)):
        cand = refs[appropriate[n]]
        for p in preds[n]:
            dist = sum(w * dtw_batch(p[:, g], cand[:, :, g]) for g, w in groups)
            total += float(np.min(dist))
    return total / len(preds)


# ----------------------------------------------------------------------------------------------
# Diversity: FRDiv, FRDvs, FRVar
# ----------------------------------------------------------------------------------------------

def _pairwise_sq_sum(z: np.ndarray) -> float:
    """sum_{a != b} ||z_a - z_b||^2 over the rows of z (P, F) = 2 P sum_a ||z_a||^2 - 2 ||sum_a z_a||^2."""
    s = z.sum(0)
    return float(2 * len(z) * (z * z).sum() - 2 * s @ s)


def frdiv(preds: np.ndarray) -> float:
    """FRDiv (diversity among the K generations for one input, higher better; REACT's S-MSE):

        FRDiv = 1/N sum_n [ sum_{a != b} ||z_{n,a} - z_{n,b}||^2 / (K (K-1) T D) ]

    z_{n,k} = preds[n, k] flattened to T*D; ordered pairs. 0 when K = 1. preds: (N, K, T, D).
    """
    preds = _arr("preds", preds, 4)
    n, k, t, d = preds.shape
    if k < 2:
        return 0.0
    flat = preds.reshape(n, k, t * d)
    return float(np.mean([_pairwise_sq_sum(z) for z in flat]) / (k * (k - 1) * t * d))


def frdvs(preds: np.ndarray) -> float:
    """FRDvs (diversity across inputs, higher better):

        FRDvs = sum_k sum_{n != m} ||z_{n,k} - z_{m,k}||^2 / (N (N-1) K T D)

    comparing the k-th generation of different inputs. 0 when N = 1. preds: (N, K, T, D).
    """
    preds = _arr("preds", preds, 4)
    n, k, t, d = preds.shape
    if n < 2:
        return 0.0
    flat = preds.reshape(n, k, t * d)
    return sum(_pairwise_sq_sum(flat[:, j]) for j in range(k)) / (n * (n - 1) * k * t * d)


def frvar(preds: np.ndarray) -> float:
    """FRVar (temporal variation, higher better):

        FRVar = mean_{n, k, d} Var_t(preds[n, k, t, d])   with ddof = 1 (torch.var's default, as official)
    """
    preds = _arr("preds", preds, 4)
    if preds.shape[2] < 2:
        raise ValueError(f"frvar: need at least 2 frames, got shape {preds.shape}")
    return float(np.var(preds, axis=2, ddof=1).mean())


# ----------------------------------------------------------------------------------------------
# FRSyn: time-lagged cross-correlation
# ----------------------------------------------------------------------------------------------

def lagged_correlation(x: np.ndarray, y: np.ndarray, max_lag: int) -> np.ndarray:
    """r(l) for l = -max_lag..max_lag: the mean over dims of the Pearson correlation between
    x[t + l] and y[t] over the overlapping frames (l > 0: x lags behind y by l frames).
    Dims that are constant over an overlap are left out of that lag's mean; a lag with no usable
    dim is NaN. x, y: (T, D) -> (2 max_lag + 1,).
    """
    x, y = _arr("x", x, 2), _arr("y", y, 2)
    if x.shape != y.shape:
        raise ValueError(f"lagged_correlation: shapes differ: {x.shape} vs {y.shape}")
    if len(x) - max_lag < 2:
        raise ValueError(f"lagged_correlation: {len(x)} frames is too short for max_lag={max_lag}")
    out = np.full(2 * max_lag + 1, np.nan)
    for i, lag in enumerate(range(-max_lag, max_lag + 1)):
        a, b = (x[lag:], y[: len(y) - lag]) if lag >= 0 else (x[:lag], y[-lag:])
        a = a - a.mean(0)
        b = b - b.mean(0)
        den = np.sqrt((a * a).sum(0) * (b * b).sum(0))
        ok = den > 1e-12
        if ok.any():
            out[i] = ((a * b).sum(0)[ok] / den[ok]).mean()
    return out


def frsyn(preds: np.ndarray, speakers: np.ndarray, max_lag: int = 50) -> float:
    """FRSyn (synchrony with the other person, lower better):

        FRSyn = mean over ALL (n, k) of |argmax_l r_{n,k}(l)|,   r = lagged_correlation(preds[n, k], speakers[n])

    lags l in [-max_lag, max_lag] frames (default 50 = ±2 s at 25 fps). The official script's
    parallel path (compute_TLCC_mp) returns after the first generation of each input, and its lag
    range is ±49; here every generation counts and the range is symmetric ±max_lag. Generations whose
    correlation is undefined at every lag (constant) are skipped with a warning; NaN if all are.
    preds: (N, K, T, D); speakers: (N, T, D).
    """
    preds, speakers = _arr("preds", preds, 4), _arr("speakers", speakers, 3)
    if preds.shape[0] != speakers.shape[0] or preds.shape[2:] != speakers.shape[1:]:
        raise ValueError(f"frsyn: shapes differ: preds {preds.shape}, speakers {speakers.shape}")
    offsets = []
    skipped = 0
    for n in range(len(preds)):
        for p in preds[n]:
            r = lagged_correlation(p, speakers[n], max_lag)
            if np.all(np.isnan(r)):
                skipped += 1
                continue
            offsets.append(abs(int(np.nanargmax(r)) - max_lag))
    if skipped:
        log.warning("FRSyn: %d of %d generations are constant (no defined correlation); skipped",
                    skipped, preds.shape[0] * preds.shape[1])
    return float(np.mean(offsets)) if offsets else float("nan")
