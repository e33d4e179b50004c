"""Evaluation report: metrics.json + a self-contained HTML page with plots (the output side of
`echo-ihg evaluate`; generation and metric computation happen elsewhere).

    write_report(out_dir, results={"ECHO": suite_result, "audio-only": ...},
                 curves=[AttributeCurves(...)], gates=[GateTrace(...)], config={...}, video="example.mp4")

Figures are PNGs written next to the page (figures/*.png) and referenced relatively; all outputs are
written atomically. Plots: attribute curves of ground truth vs generated vs user over time with the
conversation segments shaded, metric bars per variant (one panel per metric, arrows give the better
direction), the SDCM gate over time.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from echo_ihg.constants import FPS
from echo_ihg.eval.dependencies import DEPENDENCY_HIGHER
from echo_ihg.eval.metrics import segment_masks
from echo_ihg.utils.atomic import atomic_path, write_json, write_text

# metric -> True if higher is better (for the arrows and the bar colours)
HIGHER_IS_BETTER = {"rPCC": False, "SID": True, "Var": True, "FD": False, "PFD": False, "L2": False,
                    "LSE-D": False, "LSE-C": True, "LSE-D0": False, "FRCorr": True, "FRDist": False,
                    "FRDiv": True, "FRDvs": True, "FRVar": True, "FRSyn": False}
HIGHER_IS_BETTER.update(DEPENDENCY_HIGHER)      # full metric names (looked up before the family)
SEGMENT_COLOURS = {"speaking": "#f4c7a1", "listening": "#a9cce3", "overlap": "#c39bd3"}


@dataclass
class AttributeCurves:
    """One session's attribute tracks (T,) per name: ground truth, generated, user; VAD tracks (T,)."""

    title: str
    gt: Mapping[str, np.ndarray]
    pred: Mapping[str, np.ndarray]
    user: Mapping[str, np.ndarray]
    avatar_vad: np.ndarray
    user_vad: np.ndarray


@dataclass
class GateTrace:
    """SDCM gate over time: (T,) or (T, R) per region (mean over blocks/heads is the caller's choice)."""

    title: str
    gate: np.ndarray
    avatar_vad: np.ndarray
    user_vad: np.ndarray
    regions: Sequence[str] = ()


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _shade_segments(ax, avatar_vad: np.ndarray, user_vad: np.ndarray) -> None:
    masks = segment_masks(avatar_vad, user_vad)
    for name, colour in SEGMENT_COLOURS.items():
        m = masks[name].astype(np.int8)
        edges = np.flatnonzero(np.diff(np.r_[0, m, 0]))
        for a, b in zip(edges[::2], edges[1::2]):
            ax.axvspan(a / FPS, b / FPS, color=colour, alpha=0.35, lw=0, label=name if a == edges[0] else None)


def _save(fig, dest: Path) -> None:
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    _plt().close(fig)


def plot_attribute_curves(dest: str | Path, c: AttributeCurves, names: Sequence[str] | None = None) -> Path:
    """One panel per attribute: ground truth (black), generated (red), user (blue, dashed)."""
    plt = _plt()
    names = list(names or c.gt.keys())
    fig, axes = plt.subplots(len(names), 1, figsize=(11, 1.6 * len(names) + 0.6), sharex=True, squeeze=False)
    for ax, name in zip(axes[:, 0], names):
        t = np.arange(len(c.gt[name])) / FPS
        _shade_segments(ax, c.avatar_vad, c.user_vad)
        ax.plot(t, c.gt[name], color="black", lw=1.1, label="ground truth")
        ax.plot(t, c.pred[name], color="#c0392b", lw=1.1, label="generated")
        if name in c.user:
            ax.plot(t, c.user[name], color="#2471a3", lw=0.9, ls="--", label="user")
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
        ax.tick_params(labelsize=8)
    axes[-1, 0].set_xlabel("time (s)")
    seen = {}
    for ax in axes[:, 0]:                        # every label once, whichever panel has it
        for h, lab in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(lab, h)
    # the page's heading carries the title; the legend sits right above the first panel
    axes[0, 0].legend(seen.values(), seen.keys(), loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=6,
                      fontsize=8, frameon=False)
    dest = Path(dest)
    _save(fig, dest)
    return dest


def _metric_family(key: str) -> str:
    return key.split("_")[0]


def _higher(metric: str) -> bool | None:
    """True/False: higher/lower is better; None: no direction (e.g. Var, closer to GT, or a gate)."""
    return HIGHER_IS_BETTER.get(metric, HIGHER_IS_BETTER.get(_metric_family(metric)))


def plot_metric_bars(dest: str | Path, results: Mapping[str, Mapping[str, float]], metrics: Sequence[str],
                     errors: Mapping[str, Mapping[str, float]] | None = None, reference: str | None = None) -> Path:
    """One panel per metric, one bar per variant (optional error bars, e.g. std over seeds). `reference`
    (e.g. the ground truth scored as a prediction) is drawn as a dashed line, not a bar, and is not a
    candidate for the best value (green)."""
    plt = _plt()
    variants = [v for v in results if v != reference]
    cols = min(4, len(metrics))
    rows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for ax, metric in zip(axes.flat, metrics):
        vals = [results[v].get(metric, np.nan) for v in variants]
        vals = [np.nan if x is None else float(x) for x in vals]
        err = [errors[v].get(metric, 0.0) for v in variants] if errors else None
        higher = _higher(metric)
        finite = [x for x in vals if np.isfinite(x)]
        best = (max(finite) if higher else min(finite)) if finite and higher is not None else None
        colours = ["#1e8449" if best is not None and x == best else "#7f8c8d" for x in vals]
        ax.bar(range(len(variants)), vals, yerr=err, color=colours, capsize=3)
        ref = results[reference].get(metric) if reference in results else None
        if ref is not None and np.isfinite(ref):
            ax.axhline(float(ref), color="black", ls="--", lw=1.0, label=reference)
            ax.legend(fontsize=7, loc="best", frameon=False)
        if not finite:
            ax.text(0.5, 0.5, "n/a", transform=ax.transAxes, ha="center", va="center", color="#7f8c8d")
            ax.set_yticks([])
        arrow = "" if higher is None else (" ↑" if higher else " ↓")
        ax.set_title(metric + arrow, fontsize=9)
        ax.set_xticks(range(len(variants)), variants, rotation=35, ha="right", fontsize=8)
        ax.tick_params(axis="y", labelsize=8)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    fig.tight_layout()
    dest = Path(dest)
    _save(fig, dest)
    return dest


def plot_gate(dest: str | Path, g: GateTrace) -> Path:
    """Gate g(t) in [0, 1] (1 = the avatar's own audio drives the face, 0 = the user's cues), segments shaded."""
    plt = _plt()
    gate = np.asarray(g.gate, float)
    gate = gate[:, None] if gate.ndim == 1 else gate
    fig, ax = plt.subplots(figsize=(11, 2.4))
    t = np.arange(len(gate)) / FPS
    _shade_segments(ax, g.avatar_vad, g.user_vad)
    labels = list(g.regions) or ([""] if gate.shape[1] == 1 else [f"r{i}" for i in range(gate.shape[1])])
    for i in range(gate.shape[1]):
        ax.plot(t, gate[:, i], lw=1.0, label=labels[i] or "gate")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("gate")
    # the page's heading carries the title; the legend (regions + segments) goes right of the axes
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), ncol=1, fontsize=7, frameon=False)
    dest = Path(dest)
    _save(fig, dest)
    return dest


def _table(results: Mapping[str, Mapping[str, float]], metrics: Sequence[str]) -> str:
    """Metrics as rows, variants as columns (a page-wide table even with many metrics)."""
    head = "".join(f"<th>{html.escape(v)}</th>" for v in results)
    rows = []
    for m in metrics:
        higher = _higher(m)
        arrow = "" if higher is None else (" ↑" if higher else " ↓")
        cells = "".join(f"<td>{vals[m]:.4g}</td>" if isinstance(vals.get(m), (int, float)) and np.isfinite(vals[m])
                        else "<td>–</td>" for vals in results.values())
        rows.append(f"<tr><th>{html.escape(m + arrow)}</th>{cells}</tr>")
    return f"<table><tr><th></th>{head}</tr>{''.join(rows)}</table>"


def _finite(obj):
    """JSON-safe copy: NaN/inf -> None, numpy scalars -> Python numbers."""
    if isinstance(obj, Mapping):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def write_report(out_dir: str | Path, results: Mapping[str, Mapping[str, Mapping[str, float]]],
                 table_metrics: Sequence[str], curves: Sequence[AttributeCurves] = (),
                 gates: Sequence[GateTrace] = (), config: Mapping | None = None, video: str | None = None,
                 notes: Sequence[str] = (), title: str = "echo-ihg evaluation", reference: str | None = None,
                 bar_metrics: Sequence[str] | None = None) -> Path:
    """results: {variant: {segment: {metric: value}}} (e.g. `evaluate_items` per variant).
    Writes out_dir/metrics.json, out_dir/figures/*.png and out_dir/report.html; returns the page path.
    reference: a variant drawn as a dashed line in the bar plots (e.g. "GT"); bar_metrics: the metrics
    plotted as bars (default: all table metrics)."""
    out = Path(out_dir)
    figs = out / "figures"
    figs.mkdir(parents=True, exist_ok=True)
    write_json(out / "metrics.json", _finite({"results": results, "config": config or {}}))
    segments = list(dict.fromkeys(seg for r in results.values() for seg in r))
    parts = [f"<h1>{html.escape(title)}</h1>"]
    parts += [f"<p>{html.escape(n)}</p>" for n in notes]
    for seg in segments:
        per_variant = {v: r.get(seg, {}) for v, r in results.items()}
        shown = [m for m in table_metrics if any(m in pv for pv in per_variant.values())]
        if not shown:
            continue
        frames = {v: int(pv.get("frames", 0)) for v, pv in per_variant.items()}
        parts.append(f"<h2>{html.escape(seg)} <small>({max(frames.values())} frames)</small></h2>")
        parts.append(_table(per_variant, shown))
        bars = [m for m in shown if bar_metrics is None or m in bar_metrics]
        if bars:
            img = plot_metric_bars(figs / f"bars_{seg}.png", per_variant, bars, reference=reference)
            parts.append(f'<img src="figures/{img.name}" alt="metric bars {html.escape(seg)}">')
    for i, c in enumerate(curves):
        img = plot_attribute_curves(figs / f"curves_{i}.png", c)
        parts.append(f"<h2>{html.escape(c.title)}</h2><img src=\"figures/{img.name}\" alt=\"attribute curves\">")
    for i, g in enumerate(gates):
        img = plot_gate(figs / f"gate_{i}.png", g)
        parts.append(f"<h2>{html.escape(g.title)}</h2><img src=\"figures/{img.name}\" alt=\"SDCM gate\">")
    if video:
        parts.append(f'<h2>Example</h2><video controls src="{html.escape(video)}" width="100%"></video>')
    if config:
        parts.append("<h2>Configuration</h2><pre>" + html.escape(json.dumps(_finite(config), indent=1)) + "</pre>")
    style = ("body{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em}"
             "table{border-collapse:collapse;font-size:13px;margin:0.5em 0}"
             "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}img{max-width:100%}"
             "tr:nth-child(even){background:#f6f6f6}th{white-space:nowrap}")
    page = f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>" \
           f"<style>{style}</style></head><body>{''.join(parts)}</body></html>"
    write_text(out / "report.html", page)
    return out / "report.html"
