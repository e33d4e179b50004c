"""Motion metrics with pinned definitions (see docs/metrics.md for the conventions and sources).

All functions are pure: numpy arrays in, Python floats (or small dicts / arrays) out. Shapes use
T frames, D feature dims, N samples (inputs), K generations per input, V vertices/landmarks.
Wrong shapes raise `ValueError` naming the argument; NaNs are rejected rather than propagated.

The REACT set (FRCorr, FRDist, FRDiv, FRDvs, FRVar, FRSyn) and DTW live in `echo_ihg.eval.react`
and are re-exported here so that `echo_ihg.eval.metrics` is the one import for every metric.
"""

from __future__ import annotations

import logging
from typing import Mapping, Sequence

import numpy as np
from scipy import linalg

from echo_ihg.eval.react import (  # re-exported, see __all__
    REACT_EMOTION_GROUPS,
    ccc,
    dtw,
    dtw_batch,
    frcorr,
    frdist,
    frdiv,
    frdvs,
    frsyn,
    frvar,
    lagged_correlation,
)

log = logging.getLogger(__name__)

__all__ = [
    # this module
    "SID_K_EXPRESSION", "SID_K_POSE", "pcc", "rpcc", "fit_clusters", "sid", "variance", "gaussian_fit",
    "frechet_distance", "fd", "fd_from_samples", "pfd", "l2", "group_indices", "group_l2", "lve",
    "mouth_landmark_distance", "seam_metric", "segment_masks", "sync_scores",
    # re-exported from echo_ihg.eval.react
    "REACT_EMOTION_GROUPS", "ccc", "dtw", "dtw_batch", "frcorr", "frdist", "frdiv", "frdvs", "frsyn", "frvar",
    "lagged_correlation",
]

SID_K_EXPRESSION = 40
SID_K_POSE = 20


def _check(name: str, x: np.ndarray, ndim: int | tuple[int, ...]) -> np.ndarray:
    """Validate rank and finiteness; return float64 (metrics accumulate sums over many frames)."""
    x = np.asarray(x, dtype=np.float64)
    ndims = (ndim,) if isinstance(ndim, int) else ndim
    if x.ndim not in ndims:
        raise ValueError(f"{name}: expected {' or '.join(f'{n}-D' for n in ndims)} array, got shape {x.shape}")
    if x.size == 0:
        raise ValueError(f"{name}: empty array (shape {x.shape})")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: contains NaN or inf")
    return x


def _frames(name: str, x: np.ndarray) -> np.ndarray:
    """(T, D) or (N, T, D) -> (frames, D): frame-level metrics pool all frames of all sequences."""
    x = _check(name, x, (2, 3))
    return x.reshape(-1, x.shape[-1])


# ----------------------------------------------------------------------------------------------
# Correlation with the user
# ----------------------------------------------------------------------------------------------

def pcc(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of the two arrays flattened: cov(a, b) / (std(a) std(b)).

    Returns 0.0 when either array is constant (correlation undefined; no linear relation to report).
    """
    a = _check("a", a, tuple(range(1, 5))).ravel()
    b = _check("b", b, tuple(range(1, 5))).ravel()
    if a.shape != b.shape:
        raise ValueError(f"pcc: flattened sizes differ ({a.size} vs {b.size})")
    a = a - a.mean()
    b = b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else 0.0


def rpcc(gt: np.ndarray, pred: np.ndarray, user: np.ndarray) -> float:
    """Residual Pearson correlation (lower is better):

        rPCC = | PCC(gt, user) - PCC(pred, user) |

    where PCC is taken over the flattened arrays (all frames and dims at once; `pcc`).
    gt, pred, user: (T, D) or (N, T, D), all the same shape (the avatar's and the user's features must
    live in the same space, e.g. both `attributes_array` or both motion codes).
    """
    gt, pred, user = (np.asarray(x) for x in (gt, pred, user))
    if not (gt.shape == pred.shape == user.shape):
        raise ValueError(f"rpcc: shapes differ: gt {gt.shape}, pred {pred.shape}, user {user.shape}")
    return abs(pcc(gt, user) - pcc(pred, user))


# ----------------------------------------------------------------------------------------------
# Diversity: SID and Var
# ----------------------------------------------------------------------------------------------

def fit_clusters(gt: np.ndarray, k: int, seed: int = 0):
    """k-means (sklearn, n_init=10, `random_state=seed`) on ground-truth frames (T, D) or (N, T, D).

    When the ground truth has fewer distinct frames than k, k is lowered to that number (warning).
    """
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    x = _frames("gt", gt)
    n_distinct = len(np.unique(x, axis=0))
    if n_distinct < k:
        log.warning("SID: ground truth has only %d distinct frames; using k=%d instead of %d",
                    n_distinct, n_distinct, k)
        k = n_distinct
    # one OpenMP thread: these fits are small, and on a shared CPU sklearn's thread pool made them ~8x
    # slower (measured 2.4 s vs 0.3 s for 900 frames, k = 40); the result does not depend on threads
    with threadpool_limits(1):
        return KMeans(n_clusters=k, n_init=10, random_state=seed).fit(x)


def sid(pred: np.ndarray, gt: np.ndarray, k: int, seed: int = 0, clusters=None) -> float:
    """Shannon index of diversity (higher is better):

        SID = - sum_c p_c log2 p_c,   p_c = #{pred frames assigned to cluster c} / #{pred frames}

    with clusters from k-means **fitted on the ground-truth frames** (`fit_clusters`; k = 40 for
    expression features, 20 for head pose by convention: `SID_K_EXPRESSION`, `SID_K_POSE`).
    Range [0, log2 k]; 0 when every predicted frame falls in one cluster. Pass `clusters` (a fitted
    KMeans) to reuse one clustering for several predictions (e.g. all ablation variants).
    """
    p = _frames("pred", pred)
    km = clusters if clusters is not None else fit_clusters(gt, k, seed)
    if p.shape[1] != km.cluster_centers_.shape[1]:
        raise ValueError(f"sid: pred has {p.shape[1]} dims, clusters {km.cluster_centers_.shape[1]}")
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        labels = km.predict(p)
    counts = np.bincount(labels, minlength=km.n_clusters).astype(np.float64)
    prob = counts[counts > 0] / counts.sum()
    return float(max(0.0, -(prob * np.log2(prob)).sum()))


def variance(x: np.ndarray) -> float:
    """Var (higher = livelier motion): mean over dims (and sequences) of the variance over time,

        Var = mean_{n, d} ( 1/T sum_t (x[n, t, d] - mean_t x[n, t, d])^2 )

    population variance (ddof = 0). x: (T, D) or (N, T, D). Not REACT's FRVar, which uses ddof = 1.
    """
    x = _check("x", x, (2, 3))
    return float(np.var(x, axis=-2, ddof=0).mean())


# ----------------------------------------------------------------------------------------------
# Fréchet distances
# ----------------------------------------------------------------------------------------------

def gaussian_fit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and covariance (D, D) of frames (T, D) or (N, T, D); covariance with ddof = 1
    (np.cov, as pytorch-fid)."""
    f = _frames("x", x)
    if len(f) < 2:
        raise ValueError(f"gaussian_fit: need at least 2 frames, got {len(f)}")
    return f.mean(0), np.atleast_2d(np.cov(f, rowvar=False))


def _sqrtm(a: np.ndarray) -> np.ndarray:
    """scipy's matrix square root; NaNs instead of an exception when it fails (singular input), so
    that the caller can retry with a regularised matrix. (scipy >= 1.16 dropped `disp=False`.)"""
    import warnings

    try:
        # singular inputs are expected (constant dims, few frames); the caller checks the result
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", linalg.LinAlgWarning)
            return np.asarray(linalg.sqrtm(a))
    except (linalg.LinAlgError, ValueError):
        return np.full_like(a, np.nan)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2):

        FD = ||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^{1/2})

    As in pytorch-fid / the TTUR reference: if sqrtm is not finite (singular product), eps * I is
    added to both covariances and it is retried; a complex result whose imaginary diagonal is
    negligible (|imag| <= 1e-3) is replaced by its real part, a larger imaginary part is kept real
    with a warning (pytorch-fid raises there). Tiny negative results from round-off are clipped to 0.
    """
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    s1, s2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise ValueError(f"frechet_distance: inconsistent shapes mu {mu1.shape}/{mu2.shape}, "
                         f"sigma {s1.shape}/{s2.shape}")
    diff = mu1 - mu2
    covmean = _sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():
        log.warning("frechet_distance: singular product of covariances; adding %g to the diagonals", eps)
        offset = np.eye(s1.shape[0]) * eps
        covmean = _sqrtm((s1 + offset) @ (s2 + offset))
    if np.iscomplexobj(covmean):
        max_imag = float(np.max(np.abs(np.diagonal(covmean).imag)))
        if max_imag > 1e-3:
            log.warning("frechet_distance: sqrtm has an imaginary component %.3g; using its real part",
                        max_imag)
        covmean = covmean.real
    value = diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean)
    return float(max(value, 0.0))


def fd(pred: np.ndarray, gt: np.ndarray) -> float:
    """FD between Gaussian fits of predicted and ground-truth frames, (T, D) or (N, T, D) each
    (frame counts may differ). With fewer frames than dims (e.g. FID on a few images) the exact
    sample form `fd_from_samples` is used instead of sqrtm of a singular D x D product."""
    p, g = _frames("pred", pred), _frames("gt", gt)
    if min(len(p), len(g)) < p.shape[1]:
        return fd_from_samples(p, g)
    return frechet_distance(*gaussian_fit(p), *gaussian_fit(g))


def fd_from_samples(a: np.ndarray, b: np.ndarray) -> float:
    """The same Fréchet distance computed from the samples, without a D x D matrix square root.

    With A = (a - mean a) / sqrt(n_a - 1) (rows = samples), sigma_a = A^T A, likewise B: the non-zero
    eigenvalues of sigma_a sigma_b are those of (A B^T)(A B^T)^T, so
    Tr (sigma_a sigma_b)^{1/2} = sum of singular values of A B^T (n_a x n_b), and

        FD = ||mean a - mean b||^2 + ||A||_F^2 + ||B||_F^2 - 2 ||A B^T||_*

    exact (no eps regularisation), cheap when n << D. a: (n_a, D), b: (n_b, D), n >= 2.
    """
    a, b = _check("a", a, 2), _check("b", b, 2)
    if a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"fd_from_samples: need >= 2 samples of equal dims, got {a.shape}, {b.shape}")
    ca = (a - a.mean(0)) / np.sqrt(len(a) - 1)
    cb = (b - b.mean(0)) / np.sqrt(len(b) - 1)
    diff = a.mean(0) - b.mean(0)
    nuclear = np.linalg.svd(ca @ cb.T, compute_uv=False).sum()
    return float(max(diff @ diff + (ca * ca).sum() + (cb * cb).sum() - 2 * nuclear, 0.0))


def pfd(pred: np.ndarray, gt: np.ndarray, user: np.ndarray) -> float:
    """Paired FD: FD between the frames [user_t ; pred_t] and [user_t ; gt_t] (features concatenated
    per frame), so the distribution of the avatar's behaviour *given* the user's is compared.
    pred, gt: (T, D) or (N, T, D); user: same leading shape, any last dim."""
    pred, gt, user = (_check(n, x, (2, 3)) for n, x in (("pred", pred), ("gt", gt), ("user", user)))
    if pred.shape[:-1] != user.shape[:-1] or gt.shape[:-1] != user.shape[:-1]:
        raise ValueError(f"pfd: frame shapes differ: pred {pred.shape}, gt {gt.shape}, user {user.shape}")
    return fd(np.concatenate([user, pred], -1), np.concatenate([user, gt], -1))


# ----------------------------------------------------------------------------------------------
# Reconstruction errors
# ----------------------------------------------------------------------------------------------

def l2(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean over frames of the Euclidean distance ||pred_t - gt_t||_2 (over the D dims).
    pred, gt: (T, D) or (N, T, D), same shape."""
    p, g = _frames("pred", pred), _frames("gt", gt)
    if p.shape != g.shape:
        raise ValueError(f"l2: shapes differ: pred {np.shape(pred)}, gt {np.shape(gt)}")
    return float(np.linalg.norm(p - g, axis=-1).mean())


def group_indices(layout: Mapping[str, slice]) -> dict[str, np.ndarray]:
    """Dim indices of the L2 groups from a motion codec layout (name -> slice over D):
    "expression" = every region (all entries but "pose" and "gaze"), "lips_jaw", "pose"."""
    missing = {"lips_jaw", "pose"} - set(layout)
    if missing:
        raise ValueError(f"group_indices: layout lacks {sorted(missing)} (has {sorted(layout)})")

    def idx(s: slice) -> np.ndarray:
        return np.arange(s.start, s.stop)

    expr = [idx(s) for name, s in layout.items() if name not in ("pose", "gaze")]
    return {"expression": np.concatenate(expr), "lips_jaw": idx(layout["lips_jaw"]), "pose": idx(layout["pose"])}


def group_l2(pred: np.ndarray, gt: np.ndarray, groups: Mapping[str, np.ndarray | slice]) -> dict[str, float]:
    """`l2` restricted to each group's dims (e.g. `group_indices(codec.layout)`): {group: L2}."""
    pred, gt = np.asarray(pred), np.asarray(gt)
    return {name: l2(pred[..., ix], gt[..., ix]) for name, ix in groups.items()}


def _lip_indices(lips: Sequence[int] | None) -> np.ndarray:
    if lips is not None:
        return np.asarray(lips, dtype=np.int64)
    from echo_ihg.motion.topology import landmark_sets

    return landmark_sets()["lips"]


def _check_vertices(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, gt = _check("pred", pred, 3), _check("gt", gt, 3)
    if pred.shape != gt.shape:
        raise ValueError(f"vertex shapes differ: pred {pred.shape}, gt {gt.shape}")
    return pred, gt


def lve(pred: np.ndarray, gt: np.ndarray, lips: Sequence[int] | None = None) -> float:
    """Lip vertex error (FaceFormer / MeshTalk convention):

        LVE = 1/T sum_t max_{v in lips} ||pred[t, v] - gt[t, v]||_2^2

    i.e. the *squared* L2 error of the worst lip vertex per frame, averaged over frames, in the
    squared units of the input (pass pose-normalised canonical landmarks so that head motion does not
    count). pred, gt: (T, V, 3); lips: vertex indices (default: MediaPipe's lip set, 40 points).
    """
    pred, gt = _check_vertices(pred, gt)
    ix = _lip_indices(lips)
    err = ((pred[:, ix] - gt[:, ix]) ** 2).sum(-1)  # (T, L) squared distances
    return float(err.max(1).mean())


def mouth_landmark_distance(pred: np.ndarray, gt: np.ndarray, lips: Sequence[int] | None = None) -> float:
    """Mouth-landmark distance (LMD-style): mean over frames and lip landmarks of the Euclidean
    distance ||pred[t, v] - gt[t, v]||_2, in the units of the input. pred, gt: (T, V, 2 or 3)."""
    pred, gt = _check_vertices(pred, gt)
    ix = _lip_indices(lips)
    return float(np.linalg.norm(pred[:, ix] - gt[:, ix], axis=-1).mean())


# ----------------------------------------------------------------------------------------------
# Chunk seams
# ----------------------------------------------------------------------------------------------

def seam_metric(x: np.ndarray, borders: Sequence[int]) -> dict[str, float]:
    """How much motion jumps where one generated chunk ends and the next begins.

    With velocities v_t = x_t - x_{t-1} (t = 1..T-1), steps s_t = ||v_t||_2 and chunk borders b (the
    first frame of each chunk after the first, 0 < b < T):

        border_step = mean_b s_b                  (the step across each border)
        within_step = mean_{t not a border} s_t   (ordinary frame-to-frame steps)
        seam_ratio  = border_step / within_step
        jump_ratio  = mean_b ||v_b - v_{b-1}|| / mean_{t not a border} ||v_t - v_{t-1}||
                      (velocity jump, i.e. acceleration, at borders vs elsewhere; borders b >= 2)

    A seamless generator has ratios ≈ 1; a jump at the borders gives >> 1. x: (T, D) motion.
    Returns {"seam_ratio", "border_step", "within_step", "max_border_ratio", "jump_ratio"}.
    """
    x = _check("x", x, 2)
    b = np.unique(np.asarray(borders, dtype=np.int64))
    if b.size == 0 or b.min() < 1 or b.max() > len(x) - 1:
        raise ValueError(f"seam_metric: borders must be non-empty and inside 1..{len(x) - 1}, got {b.tolist()}")
    v = np.diff(x, axis=0)                       # v[t-1] = v_t
    steps = np.linalg.norm(v, axis=-1)
    inside = np.ones(len(steps), bool)
    inside[b - 1] = False
    if not inside.any():
        raise ValueError("seam_metric: every step is a border; chunks must be at least 2 frames long")
    within = float(steps[inside].mean())
    border = steps[b - 1]
    tiny = np.finfo(np.float64).tiny
    acc = np.linalg.norm(np.diff(v, axis=0), axis=-1)  # acc[t-2] = ||v_t - v_{t-1}||
    b2 = b[b >= 2]
    acc_inside = np.ones(len(acc), bool)
    acc_inside[b2 - 2] = False
    if b2.size and acc_inside.any():
        jump = float(acc[b2 - 2].mean() / max(acc[acc_inside].mean(), tiny))
    else:
        jump = float("nan")
    return {"seam_ratio": float(border.mean() / max(within, tiny)), "border_step": float(border.mean()),
            "within_step": within, "max_border_ratio": float(border.max() / max(within, tiny)),
            "jump_ratio": jump}


# ----------------------------------------------------------------------------------------------
# Conversation segments
# ----------------------------------------------------------------------------------------------

def segment_masks(avatar_vad: np.ndarray, user_vad: np.ndarray, threshold: float = 0.5) -> dict[str, np.ndarray]:
    """Per-frame conversation states from two speech-probability tracks (T,) at 25 fps:

        speaking  = avatar speaks and the user does not
        listening = the user speaks and the avatar does not
        overlap   = both speak
        silence   = neither speaks

    "speaks" = probability >= threshold. The four boolean masks (T,) partition the frames.
    """
    a, u = _check("avatar_vad", avatar_vad, 1), _check("user_vad", user_vad, 1)
    if a.shape != u.shape:
        raise ValueError(f"segment_masks: VAD lengths differ ({len(a)} vs {len(u)})")
    a, u = a >= threshold, u >= threshold
    return {"speaking": a & ~u, "listening": u & ~a, "overlap": a & u, "silence": ~a & ~u}


# ----------------------------------------------------------------------------------------------
# Lip-sync scores from embeddings (SyncNet-style LSE-D / LSE-C)
# ----------------------------------------------------------------------------------------------

def sync_scores(video_emb: np.ndarray, audio_emb: np.ndarray, max_offset: int = 15,
                mask: np.ndarray | None = None) -> dict:
    """LSE-D / LSE-C from per-frame embeddings (any sync model: SyncNet or this project's expert).

        d(s) = mean_{t in F(s)} ||v_t - a_{t+s}||_2,   s in [-max_offset, max_offset]
        F(s) = frames t with mask[t] (default all) and 0 <= t+s < T
        LSE-D = min_s d(s),   LSE-C = median_s d(s) - min_s d(s),   offset = argmin_s d(s)
        d_zero = d(0)   (the distance without searching the offset: an out-of-sync input scores badly
                         here even when LSE-D finds its shift)

    Embeddings are L2-normalised here first (as SyncNet's distances assume). Unlike syncnet_python,
    which zero-pads the audio features at the clip ends and reports offset = -s, only overlapping
    frames are averaged and the offset is reported as the audio shift s itself (s > 0: the video
    matches later audio, i.e. the video leads). video_emb, audio_emb: (T, E); mask: (T,) bool, e.g. the
    avatar's speaking frames from `segment_masks`.
    """
    v, a = _check("video_emb", video_emb, 2), _check("audio_emb", audio_emb, 2)
    if v.shape != a.shape:
        raise ValueError(f"sync_scores: shapes differ: video {v.shape}, audio {a.shape}")
    if len(v) <= max_offset:
        raise ValueError(f"sync_scores: need more than max_offset={max_offset} frames, got {len(v)}")
    m = np.ones(len(v), bool) if mask is None else np.asarray(mask, bool)
    if m.shape != (len(v),):
        raise ValueError(f"sync_scores: mask shape {m.shape} != ({len(v)},)")
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    shifts = np.arange(-max_offset, max_offset + 1)
    dists = np.full(len(shifts), np.nan)
    t = np.arange(len(v))
    for i, s in enumerate(shifts):
        sel = t[m & (t + s >= 0) & (t + s < len(v))]
        if len(sel):
            dists[i] = np.linalg.norm(v[sel] - a[sel + s], axis=1).mean()
    if np.isnan(dists).any():
        raise ValueError("sync_scores: mask leaves no frame for some offsets (too few masked frames)")
    best = int(np.argmin(dists))
    return {"lse_d": float(dists[best]), "lse_c": float(np.median(dists) - dists[best]),
            "offset": int(shifts[best]), "d_zero": float(dists[max_offset]), "n_frames": int(m.sum()),
            "dists": dists.tolist()}
