"""The evaluation runner behind `echo-ihg evaluate`: generate for a test split, score, write the report.

    variants = [Variant("ECHO", Path("runs/echo/model")), Variant("w/o SDCM", Path("runs/nosdcm/model"))]
    result = run_evaluation(Path("data/synth"), variants, Path("eval_out"), EvalConfig(samples=3))

For every session of the split and every participant whose face is tracked well enough (`min_valid`), that
participant is the avatar and the other one the user. Each variant generates the avatar's whole conversation
K = `samples` times (`model.engine.generate_offline`: chunk after chunk, causal conditions, seeds seed..seed+K-1)
from exactly what inference would have: the avatar's own audio, its neutral face, the user's audio, tracked
motion, attributes and VAD, and the transcript. The ground truth is the participant's recorded motion encoded
with the variant's codec. Scores (`eval.suite.evaluate_items`, per segment all / speaking / listening /
overlap) are computed on raw codec coefficients (the sync expert and the landmark decoder read those); the
row "GT" scores the ground truth as if it were a prediction (K = 1): the reference every variant is compared
with. Dependency metrics of the synthetic corpus (`eval.dependencies`) form the segment "dependencies"; the
SDCM gate (mean over the non-lip tokens, last sampler step, mean over blocks) is added per segment as
"SDCM_gate" (1 = the avatar's own audio drives the face, 0 = the user's cues).

Outputs (`eval.report.write_report`): OUT/metrics.json, OUT/report.html + OUT/figures/*.png, OUT/config.json
(the resolved EvalConfig and the variants), OUT/example.mp4 (side-by-side of the first item, when enabled).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from echo_ihg.constants import FPS, N_MELS
from echo_ihg.errors import InputError
from echo_ihg.eval.config import EvalConfig
from echo_ihg.eval.dependencies import DependencyItem, dependency_metrics
from echo_ihg.eval.inputs import AvatarInput, load_inputs, motion_of, shuffle_users, user_conditions
from echo_ihg.eval.report import AttributeCurves, GateTrace, write_report
from echo_ihg.eval.suite import SEGMENTS, EvalItem, evaluate_items
from echo_ihg.motion.identity import identity_vector
from echo_ihg.utils.atomic import write_json
from echo_ihg.utils.config import config_to_dict
from echo_ihg.utils.progress import progress

log = logging.getLogger(__name__)

GT = "GT"
CURVE_ATTRIBUTES = ("mouth_open", "smile", "brow_raise_l", "blink_l", "head_pitch", "head_yaw")
# the columns of ECHO's table first, then the rest of what the report shows
TABLE_METRICS = ("rPCC_expression", "rPCC_pose", "SID_expression", "SID_pose", "Var_expression", "Var_pose",
                 "FD_expression", "FD_pose", "PFD_expression", "L2_lips_jaw", "LSE-D", "LSE-C", "LVE",
                 "FRCorr", "FRDist", "FRDiv", "FRSyn", "SDCM_gate", "seam_ratio",
                 "lip_audio_corr", "overlap_lip_corr", "overlap_lip_leak", "nod_response", "brow_question",
                 "smile_mirror", "affect_follow", "affect_follow_text", "long_range_partial",
                 "long_range_control")
# bar plots: ECHO's columns, the gate and the dependency metrics (the tables keep everything)
BAR_METRICS = ("rPCC_expression", "SID_expression", "Var_expression", "FD_expression", "LSE-D", "LSE-C",
               "FRCorr", "FRSyn", "SDCM_gate", "lip_audio_corr", "overlap_lip_corr", "overlap_lip_leak",
               "nod_response", "smile_mirror", "affect_follow", "affect_follow_text", "long_range_partial")


@dataclass(frozen=True)
class Variant:
    name: str
    checkpoint: Path


@dataclass
class Generated:
    """K generations of one variant for one input: motion (K, T, Dm) normalised, borders, gate (T, K_tokens)."""

    motion: np.ndarray
    borders: tuple[int, ...]
    gate: np.ndarray | None = None


@dataclass
class EvalResult:
    results: dict[str, dict[str, dict[str, float]]]
    report: Path
    items: list[str] = field(default_factory=list)
    seconds: float = 0.0


# ---- generation -----------------------------------------------------------------------------------------

class GateRecorder:
    """Collects the SDCM gates g (B, T, K) of every block at every network call (forward hooks)."""

    def __init__(self, model) -> None:
        from echo_ihg.model.sdcm import SDCM

        self.calls: list[list[torch.Tensor]] = []
        self._current: list[torch.Tensor] = []
        mods = [b.fusion for b in model.generator.blocks if isinstance(b.fusion, SDCM)]
        self.depth = len(mods)
        self.handles = [m.register_forward_hook(self._hook) for m in mods]
        self.active = False

    def _hook(self, _module, _inputs, output) -> None:
        if not self.active:
            return
        self._current.append(output[1][0].detach().clone())     # row 0: the conditional pass
        if len(self._current) == self.depth:
            self.calls.append(self._current)
            self._current = []

    def per_frame(self, borders: Sequence[int], T: int, steps: int, overlap: int) -> np.ndarray | None:
        """(T, K) gate per frame: each chunk's last sampler step, mean over blocks, its new frames only."""
        if not self.depth or len(self.calls) != steps * len(borders):
            return None
        out = np.zeros((T, self.calls[0][0].shape[-1]), np.float32)
        ends = list(borders[1:]) + [T]
        for c, (a, b) in enumerate(zip(borders, ends)):
            g = torch.stack(self.calls[(c + 1) * steps - 1]).mean(0).numpy()     # (T_chunk, K)
            out[a:b] = g[overlap:overlap + (b - a)]
        return out

    def close(self) -> None:
        for h in self.handles:
            h.remove()


def generate_for(loaded, inp: AvatarInput, cfg: EvalConfig, bar=None) -> Generated:
    """K generations of the avatar's whole conversation (normalised motion) + the gate of the first one."""
    from echo_ihg.inference.stages import rest_motion
    from echo_ihg.model.engine import SamplerConfig, generate_offline

    codec, model = loaded.codec, loaded.model
    g = cfg.generation
    sampler = SamplerConfig(steps=g.steps, guidance=g.guidance, describe_window=int(g.history_s * FPS))
    user_mel, user_motion, user_attrs, user_vad, transcript = user_conditions(inp, codec)
    identity = identity_vector(inp.neutral, inp.aspect)
    rec = GateRecorder(model)
    motions, borders, gate = [], (), None
    try:
        for k in range(cfg.samples):
            rec.active = k == 0
            m, b = generate_offline(model, identity, inp.avatar_mel, inp.avatar_vad, user_mel, user_motion,
                                    user_attrs, user_vad, transcript, sampler,
                                    loaded.text_conditioner(inp.who), initial_motion=rest_motion(codec),
                                    seed=g.seed + k)
            if k == 0:
                borders = tuple(b)
                gate = rec.per_frame(b, inp.T, g.steps, sampler.overlap)
                rec.active = False
            motions.append(m)
            if bar is not None:
                bar.update(1)
    finally:
        rec.close()
    return Generated(np.stack(motions), borders, gate)


# ---- scoring --------------------------------------------------------------------------------------------

def _face_tokens(model) -> np.ndarray:
    """Tokens whose fusion the gate decides: not (mostly) the lips, which SDCM drives by audio alone."""
    return model.generator.m_lip.numpy() < 0.5


def _gate_by_segment(inputs: Sequence[AvatarInput], gens: Sequence[Generated], face: np.ndarray
                     ) -> dict[str, float]:
    from echo_ihg.eval.metrics import segment_masks

    sums = {seg: [0.0, 0] for seg in SEGMENTS}
    for inp, g in zip(inputs, gens):
        if g.gate is None:
            continue
        per_frame = g.gate[:, face].mean(1)
        masks = segment_masks(inp.avatar_vad, inp.user_vad)
        for seg in SEGMENTS:
            m = np.ones(inp.T, bool) if seg == "all" else masks[seg]
            sums[seg][0] += float(per_frame[m].sum())
            sums[seg][1] += int(m.sum())
    return {seg: s / n for seg, (s, n) in sums.items() if n}


def score_variant(inputs: Sequence[AvatarInput], gens: Sequence[Generated], codec, expert, cfg: EvalConfig,
                  model=None) -> dict[str, dict[str, float]]:
    """{segment: {metric: value}} of one variant (or the GT row: gens hold the ground truth, model=None)."""
    items, deps = [], []
    for inp, g in zip(inputs, gens):
        raw = codec.denormalise(g.motion)                               # (K, T, Dm)
        gt = codec.denormalise(motion_of(inp, inp.who, codec))
        user = codec.denormalise(motion_of(inp, inp.user, codec))
        items.append(EvalItem(inp.name, gt, raw, user, inp.avatar_mel.reshape(-1, N_MELS), inp.avatar_vad,
                              inp.user_vad, neutral=inp.neutral, neutral_aspect=inp.aspect, borders=g.borders[1:],
                              group=inp.group))
        user_lm = codec.decode(user, inp.user_neutral, 1.0, neutral_aspect=inp.user_aspect)   # square frame
        for k in range(len(raw)):
            avatar_lm = codec.decode(raw[k], inp.neutral, 1.0, neutral_aspect=inp.aspect)
            deps.append(DependencyItem(inp.session, inp.who, avatar_lm, user_lm))
    res = evaluate_items(items, codec.layout, expert=expert, seed=cfg.generation.seed, react_window=cfg.react_window,
                         codec=codec)
    if model is not None:
        for seg, v in _gate_by_segment(inputs, gens, _face_tokens(model)).items():
            if seg in res and "rPCC_expression" in res[seg]:
                res[seg]["SDCM_gate"] = v
    dep = dependency_metrics(deps, cfg.long_range_s)
    if dep:
        res["dependencies"] = dep
    return res


def _curves(inp: AvatarInput, gen: Generated, codec, variant: str) -> AttributeCurves:
    from echo_ihg.motion.attributes import facial_attributes

    def attributes(motion: np.ndarray, neutral: np.ndarray, aspect: float) -> dict[str, np.ndarray]:
        return facial_attributes(codec.decode(codec.denormalise(motion), neutral, aspect), aspect)

    gt = attributes(motion_of(inp, inp.who, codec), inp.neutral, inp.aspect)
    pred = attributes(gen.motion[0], inp.neutral, inp.aspect)
    user = attributes(motion_of(inp, inp.user, codec), inp.user_neutral, inp.user_aspect)
    pick = lambda d: {k: np.asarray(d[k]) for k in CURVE_ATTRIBUTES}  # noqa: E731
    return AttributeCurves(f"{inp.name} — {variant}: ground truth vs generated vs user", pick(gt), pick(pred),
                           pick(user), inp.avatar_vad, inp.user_vad)


# ---- the whole run --------------------------------------------------------------------------------------

def load_variants(variants: Sequence[Variant]) -> list:
    from echo_ihg.inference.model_io import load_inference_model

    if not variants:
        raise InputError(None, "no checkpoint to evaluate")
    names = [v.name for v in variants]
    if len(set(names)) != len(names) or GT in names:
        raise InputError(None, f"variant names must be unique and not {GT!r}: {names}")
    loaded = [load_inference_model(v.checkpoint) for v in variants]
    fps = {_codec_fingerprint(x.codec) for x in loaded}
    if len(fps) > 1:
        log.warning("the variants use different motion codecs: the GT row uses the first one's; "
                    "codec-space metrics of the others are not directly comparable")
    return loaded


def _codec_fingerprint(codec) -> str:
    from echo_ihg.data.train_features import codec_fingerprint

    return codec_fingerprint(codec)


def _expert(cfg: EvalConfig):
    from echo_ihg.eval.sync_expert import SyncExpert, default_sync_expert

    return SyncExpert.load(cfg.sync_expert) if cfg.sync_expert else default_sync_expert()


def run_evaluation(data: str | Path, variants: Sequence[Variant], out_dir: str | Path,
                   cfg: EvalConfig = EvalConfig(), notes: Sequence[str] = ()) -> EvalResult:
    """Generate, score and write the report (module docstring). Errors name the offending file."""
    with cfg.generation.threads():
        return _run(Path(data), variants, Path(out_dir), cfg, notes)


def _run(data: Path, variants: Sequence[Variant], out: Path, cfg: EvalConfig, notes: Sequence[str]) -> EvalResult:
    t_start = time.perf_counter()
    if out.exists() and not out.is_dir():
        raise InputError(out, "output path exists and is not a folder")
    loaded = load_variants(variants)
    expert = _expert(cfg)
    inputs = load_inputs(data, cfg)
    if cfg.shuffle_user:
        shuffle_users(inputs)
    resolved = {"eval": config_to_dict(cfg), "data": str(data),
                "variants": {v.name: {"checkpoint": str(v.checkpoint), "model": config_to_dict(x.model.cfg),
                                      "step": x.meta.get("step"), "stage": x.meta.get("stage")}
                             for v, x in zip(variants, loaded)},
                "items": [i.name for i in inputs]}
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", resolved)
    results: dict[str, dict[str, dict[str, float]]] = {}
    codec0 = loaded[0].codec
    gt_gens = [Generated(motion_of(i, i.who, codec0)[None], ()) for i in inputs]
    results[GT] = score_variant(inputs, gt_gens, codec0, expert, cfg)
    curves, gates, example = [], [], None
    bar = progress(total=len(variants) * len(inputs) * cfg.samples, desc="generate", unit="sample")
    try:
        for v, x in zip(variants, loaded):
            gens = [generate_for(x, i, cfg, bar) for i in inputs]
            results[v.name] = score_variant(inputs, gens, x.codec, expert, cfg, model=x.model)
            for inp, g in list(zip(inputs, gens))[:cfg.curves]:
                curves.append(_curves(inp, g, x.codec, v.name))
                if g.gate is not None:
                    names = list(x.model.layout)
                    gates.append(GateTrace(f"SDCM gate over time — {v.name}, {inp.name} (mean over blocks; "
                                           "1 = own audio, 0 = user cues)", g.gate, inp.avatar_vad, inp.user_vad,
                                           names))
            if example is None and cfg.video_seconds > 0:
                example = _example_video(out, inputs[0], gens[0], x.codec, cfg)
    finally:
        bar.close()
    notes = [f"{len(inputs)} (session, avatar) inputs of split {cfg.split!r}, {cfg.samples} generation(s) each, "
             f"{cfg.generation.steps} sampler steps; row {GT!r} = the ground truth scored as a prediction.", *notes]
    page = write_report(out, results, TABLE_METRICS, curves, gates, config=resolved, video=example, notes=notes,
                        reference=GT, bar_metrics=BAR_METRICS)
    return EvalResult(results, page, [i.name for i in inputs], time.perf_counter() - t_start)


def evaluate_generation(inp: AvatarInput, motion: np.ndarray, codec, out_dir: str | Path, name: str = "model",
                        cfg: EvalConfig = EvalConfig(samples=1), config: dict | None = None,
                        video: str | None = None, notes: Sequence[str] = (),
                        title: str = "echo-ihg evaluation") -> EvalResult:
    """Score motion generated elsewhere (e.g. by `inference.pipeline.Pipeline`) for one input against its
    ground truth, next to the GT row, and write the report (metrics.json, report.html, figures/) to out_dir.

    motion: (T, Dm) or (K, T, Dm) normalised motion in `codec`'s space, T = inp.T; video: a path relative to
    out_dir shown on the page. No SDCM gate or seam metric: they need the sampler's internals."""
    t_start = time.perf_counter()
    motion = np.asarray(motion, np.float32)
    motion = motion[None] if motion.ndim == 2 else motion
    if motion.ndim != 3 or motion.shape[1] != inp.T:
        raise InputError(None, f"{inp.name}: generated motion {motion.shape} does not cover the ground truth's "
                               f"{inp.T} frames")
    expert = _expert(cfg)
    gen = Generated(motion, ())
    results = {GT: score_variant([inp], [Generated(motion_of(inp, inp.who, codec)[None], ())], codec, expert, cfg),
               name: score_variant([inp], [gen], codec, expert, cfg)}
    curves = [_curves(inp, gen, codec, name)] if cfg.curves else []
    page = write_report(out_dir, results, TABLE_METRICS, curves, config=config, video=video, notes=notes,
                        title=title, reference=GT, bar_metrics=BAR_METRICS)
    return EvalResult(results, page, [inp.name], time.perf_counter() - t_start)


def _example_video(out: Path, inp: AvatarInput, gen: Generated, codec, cfg: EvalConfig
                   ) -> str | None:
    """Side-by-side example (user | generated avatar | attribute lanes) of the first seconds; None on failure
    of the optional renderer (logged), since the metrics do not depend on it."""
    from echo_ihg.eval.example import write_example

    try:
        return write_example(out / "example.mp4", inp, gen.motion[0], codec, cfg.video_seconds,
                             cfg.generation.size).name
    except (ImportError, InputError, RuntimeError) as exc:
        log.warning("example video skipped (%s: %s)", type(exc).__name__, exc)
        return None


def parse_variant(spec: str, index: int) -> Variant:
    """`name=path` or a bare path (named after its folder, or "model" for the first)."""
    name, sep, path = spec.partition("=")
    if not sep:
        path, name = spec, (Path(spec).name if index else "model") or f"model{index}"
    if not name or not path:
        raise InputError(None, f"bad --checkpoint {spec!r}: expected PATH or NAME=PATH")
    return Variant(name, Path(path))


def summary_rows(results: dict[str, dict[str, dict[str, float]]], metrics: Sequence[tuple[str, str]]
                 ) -> list[list[Any]]:
    """[[variant, value of (segment, metric) ...], ...] for printing (NaN where absent)."""
    return [[v] + [r.get(seg, {}).get(m, float("nan")) for seg, m in metrics] for v, r in results.items()]
