"""All motion metrics of a test split at once, per conversation segment: the numeric core of
`echo-ihg evaluate` (which generates the predictions and writes the report around this).

    items = [EvalItem(...), ...]            # one per test session (the avatar's side)
    result = evaluate_items(items, codec.layout, expert=default_sync_expert())
    result["speaking"]["FD_expression"], result["all"]["FRSyn"], ...

Conventions (docs/metrics.md): frame-level metrics pool the selected frames of all items (one Gaussian
fit, one k-means on ground truth, one flattened PCC); with K generations per input they are averaged
over the K sample sets. Segments come from the two VAD tracks (`segment_masks`): "all", "speaking"
(avatar only), "listening" (user only), "overlap" (both). Lip sync (LSE-D/C of the motion expert) is
only meaningful while the avatar speaks: reported for "all", "speaking" and "overlap" on the avatar's
speech frames. The REACT set works on fixed-length windows (`react_window` frames) cut from each item:
N windows x K generations, the ground-truth window as the only appropriate reference, the user's
window as the "speaker".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from echo_ihg.eval import metrics as M

log = logging.getLogger(__name__)

SEGMENTS = ("all", "speaking", "listening", "overlap")


@dataclass
class EvalItem:
    """One test input, avatar side. gt (T, D) motion codes; preds (K, T, D) K generations; user (T, D)
    the user's motion codes (same codec); avatar_mel (4T, 80) the avatar's log-mel; avatar_vad,
    user_vad (T,) speech probabilities."""

    name: str
    gt: np.ndarray
    preds: np.ndarray
    user: np.ndarray
    avatar_mel: np.ndarray
    avatar_vad: np.ndarray
    user_vad: np.ndarray
    neutral: np.ndarray | None = None  # (478, 3) the avatar's neutral face: enables LVE / mouth distance
    neutral_aspect: float = 1.0        # width / height of the neutral's frame (decoded in a square frame)
    borders: tuple[int, ...] = ()      # chunk borders of the generation: enables the seam metric
    group: str = ""                    # REACT appropriate-listener group (meta "appropriate_group"); "" = own GT only

    def __post_init__(self) -> None:
        t = len(self.gt)
        if self.preds.ndim != 3 or self.preds.shape[1:] != self.gt.shape:
            raise ValueError(f"{self.name}: preds must be (K, {t}, {self.gt.shape[1]}), got {self.preds.shape}")
        if self.user.shape != self.gt.shape:
            raise ValueError(f"{self.name}: user motion {self.user.shape} != gt {self.gt.shape}")
        if len(self.avatar_vad) != t or len(self.user_vad) != t or len(self.avatar_mel) != 4 * t:
            raise ValueError(f"{self.name}: VAD/mel lengths do not match T={t}")


def _groups(layout: Mapping[str, slice]) -> dict[str, np.ndarray]:
    g = M.group_indices(layout)
    return {"expression": g["expression"], "lips_jaw": g["lips_jaw"], "pose": g["pose"]}


def _frame_metrics(gt: np.ndarray, preds: np.ndarray, user: np.ndarray, groups: Mapping[str, np.ndarray],
                   seed: int) -> dict[str, float]:
    """gt, user (F, D), preds (K, F, D) of the selected frames -> rPCC/SID/Var/FD/P-FD/L2 per group."""
    out: dict[str, float] = {}
    for name, ix in groups.items():
        g, u, p = gt[:, ix], user[:, ix], preds[..., ix]
        out[f"rPCC_{name}"] = float(np.mean([M.rpcc(g, pk, u) for pk in p]))
        out[f"Var_{name}"] = float(np.mean([M.variance(pk) for pk in p]))
        out[f"Var_{name}_gt"] = M.variance(g)
        out[f"FD_{name}"] = float(np.mean([M.fd(pk, g) for pk in p]))
        out[f"PFD_{name}"] = float(np.mean([M.pfd(pk, g, u) for pk in p]))
        out[f"L2_{name}"] = float(np.mean([M.l2(pk, g) for pk in p]))
        if name in ("expression", "pose"):
            k = M.SID_K_EXPRESSION if name == "expression" else M.SID_K_POSE
            km = M.fit_clusters(g, k, seed)
            out[f"SID_{name}"] = float(np.mean([M.sid(pk, g, k, clusters=km) for pk in p]))
            out[f"SID_{name}_gt"] = M.sid(g, g, k, clusters=km)
    return out


def _sync_embeddings(items, layout, expert, codec=None) -> list[tuple[tuple, list[tuple]]]:
    """Per item: the expert's (lip, audio) embeddings of the whole ground truth and of each generation, computed
    once for every segment. With `codec`, lips are converted to the expert's codec space (`expert_lips`)."""
    from echo_ihg.eval.sync_expert import embed_sequence, expert_lips

    def embed(it, motion):
        lips = motion[:, layout["lips_jaw"]] if codec is None else expert_lips(expert, motion, codec, it.neutral,
                                                                                       it.neutral_aspect)
        return embed_sequence(expert, it.avatar_mel, lips)

    return [(embed(it, it.gt), [embed(it, p) for p in it.preds]) for it in items]


def _sync(items, masks, embeddings, max_offset: int) -> dict[str, float]:
    """LSE of the expert over each item's speaking frames within `masks` (embeddings: `_sync_embeddings`)."""
    rows = {"gt": [], "pred": []}
    for it, m, (gt, preds) in zip(items, masks, embeddings):
        m = m & (np.asarray(it.avatar_vad) >= 0.5)
        if m.sum() < 2 * max_offset + 1:
            continue
        rows["gt"].append(M.sync_scores(*gt, max_offset, m))
        rows["pred"].extend(M.sync_scores(*p, max_offset, m) for p in preds)
    out: dict[str, float] = {}
    for who, rs in rows.items():
        if not rs:
            continue
        suffix = "" if who == "pred" else "_gt"
        out[f"LSE-D{suffix}"] = float(np.mean([r["lse_d"] for r in rs]))
        out[f"LSE-C{suffix}"] = float(np.mean([r["lse_c"] for r in rs]))
        out[f"LSE-D0{suffix}"] = float(np.mean([r["d_zero"] for r in rs]))
        out[f"sync_offset_abs{suffix}"] = float(np.mean([abs(r["offset"]) for r in rs]))
    return out


def _canonical_lips(codec, motion: np.ndarray, neutral: np.ndarray, neutral_aspect: float = 1.0) -> np.ndarray:
    """Decoded landmarks with the head pose removed (canonical units), (T, 478, 3)."""
    from echo_ihg.motion.codec import canonical_points

    return canonical_points(codec.decode(motion, neutral, 1.0, neutral_aspect=neutral_aspect))[0]


def _lip_errors(items, masks, codec) -> dict[str, float]:
    """LVE and mouth-landmark distance of the generated lips vs ground truth, pose removed."""
    lve, mld = [], []
    for it, m in zip(items, masks):
        if it.neutral is None or not m.any():
            continue
        gt = _canonical_lips(codec, it.gt[m], it.neutral, it.neutral_aspect)
        for p in it.preds:
            pred = _canonical_lips(codec, p[m], it.neutral, it.neutral_aspect)
            lve.append((M.lve(pred, gt), int(m.sum())))
            mld.append((M.mouth_landmark_distance(pred, gt), int(m.sum())))
    if not lve:
        return {}
    w = np.array([n for _, n in lve], float)
    return {"LVE": float(np.average([v for v, _ in lve], weights=w)),
            "mouth_distance": float(np.average([v for v, _ in mld], weights=w))}


def _react(items, groups, window: int, max_lag: int) -> dict[str, float]:
    """REACT metrics on non-overlapping `window`-frame windows of the expression + pose features."""
    ix = np.concatenate([groups["expression"], groups["pose"]])
    preds, refs, spk, keys = [], [], [], []
    for i, it in enumerate(items):
        for s in range(0, len(it.gt) - window + 1, window):
            preds.append(it.preds[:, s:s + window][..., ix])
            refs.append(it.gt[s:s + window][:, ix])
            spk.append(it.user[s:s + window][:, ix])
            keys.append((it.group or f"#{i}", s))
    if len(preds) < 2:
        log.warning("REACT metrics skipped: fewer than 2 windows of %d frames", window)
        return {}
    p, r, u = np.stack(preds), np.stack(refs), np.stack(spk)
    # REACT: every listener of the same group at the same time is an appropriate reaction (identity without groups)
    appr = np.array([[a == b for b in keys] for a in keys], bool)
    return {"FRCorr": M.frcorr(p, r, appr), "FRDist": M.frdist(p, r, appr), "FRDiv": M.frdiv(p), "FRDvs": M.frdvs(p),
            "FRVar": M.frvar(p), "FRSyn": M.frsyn(p, u, max_lag), "FRSyn_gt": M.frsyn(r[:, None], u, max_lag),
            "react_windows": float(len(p))}


def evaluate_items(items: list[EvalItem], layout: Mapping[str, slice], expert=None, seed: int = 0,
                   react_window: int = 250, max_lag: int = 50, max_offset: int = 15,
                   min_frames: int = 50, codec=None) -> dict[str, dict[str, float]]:
    """{segment: {metric: value}} for segments in SEGMENTS, plus {"all": REACT metrics}. A segment
    with fewer than min_frames frames is reported as {"frames": n} only. expert=None: no lip sync;
    codec (the MotionCodec of the motion codes) + item.neutral: LVE and mouth distance (frame-weighted
    means over items and generations) on landmarks decoded with the head pose removed."""
    if not items:
        raise ValueError("evaluate_items: no items")
    groups = _groups(layout)
    seg_masks = [M.segment_masks(it.avatar_vad, it.user_vad) for it in items]
    embeddings = _sync_embeddings(items, layout, expert, codec) if expert is not None else None
    out: dict[str, dict[str, float]] = {}
    for seg in SEGMENTS:
        masks = [np.ones(len(it.gt), bool) if seg == "all" else sm[seg] for it, sm in zip(items, seg_masks)]
        n = int(sum(m.sum() for m in masks))
        res: dict[str, float] = {"frames": float(n)}
        if n >= min_frames:
            gt = np.concatenate([it.gt[m] for it, m in zip(items, masks)])
            user = np.concatenate([it.user[m] for it, m in zip(items, masks)])
            preds = np.concatenate([it.preds[:, m] for it, m in zip(items, masks)], axis=1)
            res.update(_frame_metrics(gt, preds, user, groups, seed))
            if expert is not None and seg in ("all", "speaking", "overlap"):
                res.update(_sync(items, masks, embeddings, max_offset))
            if codec is not None:
                res.update(_lip_errors(items, masks, codec))
        out[seg] = res
    out["all"].update(_react(items, groups, react_window, max_lag))
    seams = [M.seam_metric(p, it.borders) for it in items if len(it.borders) for p in it.preds]
    if seams:
        out["all"]["seam_ratio"] = float(np.mean([r["seam_ratio"] for r in seams]))
        out["all"]["seam_jump_ratio"] = float(np.nanmean([r["jump_ratio"] for r in seams]))
    return out
