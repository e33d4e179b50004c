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

from echo_ihg.constants import N_MELS
from echo_ihg.data.session import Session, list_sessions, read_session
from echo_ihg.errors import InputError
from echo_ihg.eval.dependencies import DependencyItem, dependency_metrics
from echo_ihg.eval.report import AttributeCurves, GateTrace, write_report
from echo_ihg.eval.suite import SEGMENTS, EvalItem, evaluate_items
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
class EvalConfig:
    split: str = "test"
    samples: int = 3                 # generations per input (diversity metrics need ≥ 2)
    seed: int = 0
    max_sessions: int = 0            # 0 = every session of the split (sorted by id)
    sessions: tuple[str, ...] = ()   # these session ids of the split only (e.g. to include masked-face
                                     # sessions, which the first N may lack); () = all (max_sessions applies)
    steps: int = 6                   # sampler steps per chunk
    guidance: float = 1.0            # classifier-free guidance (1 = off)
    participants: tuple[str, ...] = ("A", "B")   # who may be the avatar
    min_valid: float = 0.9           # fraction of tracked frames an avatar needs to be evaluated
    react_window: int = 250          # frames per REACT window (10 s)
    long_range_s: int = 60           # history of the long-range dependency metric
    sync_expert: str = ""            # lip-sync expert file; "" = the bundled one
    video_seconds: float = 10.0      # example side-by-side video of the first item; 0 = none
    curves: int = 1                  # items with attribute-curve and gate plots
    torch_threads: int = 1           # intra-op threads while generating (0 = torch's default). 1: the models
                                     # are small; on the shared 2-core machine 1 thread ran 5x faster than 2
    shuffle_user: bool = False       # control: each avatar is generated against the user of another session
                                     # (scores still compare with its own session's user): reactions that
                                     # come from the user must vanish

    def __post_init__(self) -> None:
        if self.samples < 1 or self.steps < 1 or self.max_sessions < 0 or self.curves < 0:
            raise ValueError("samples ≥ 1, steps ≥ 1, max_sessions ≥ 0 and curves ≥ 0 are required")
        if not self.participants or not set(self.participants) <= {"A", "B"}:
            raise ValueError(f"participants must be a non-empty subset of ('A', 'B'), got {self.participants}")
        if not 0.0 <= self.min_valid <= 1.0:
            raise ValueError("min_valid must be in [0, 1]")
        if self.torch_threads < 0:
            raise ValueError("torch_threads must be ≥ 0 (0 = torch's default)")


@dataclass(frozen=True)
class Variant:
    name: str
    checkpoint: Path


@dataclass
class AvatarInput:
    """One (session, avatar) pair: everything the generator may read, plus the ground truth (all per frame)."""

    name: str
    session_dir: Path
    session: Session
    who: str
    group: str
    neutral: np.ndarray          # (478, 3) avatar neutral face
    user_neutral: np.ndarray     # (478, 3)
    avatar_mel: np.ndarray       # (T, 320)
    user_mel: np.ndarray         # (T, 320)
    avatar_vad: np.ndarray       # (T,)
    user_vad: np.ndarray         # (T,)
    user_attributes: dict[str, np.ndarray]   # name -> (T,), NaN on untracked frames
    user_source: "AvatarInput | None" = None   # whose user conditions the generation (shuffle_user control)

    @property
    def T(self) -> int:
        return len(self.avatar_vad)

    @property
    def user(self) -> str:
        return "B" if self.who == "A" else "A"


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


# ---- inputs ---------------------------------------------------------------------------------------------

def load_inputs(data: Path, cfg: EvalConfig) -> list[AvatarInput]:
    """The (session, avatar) pairs of the split; sessions whose avatar is tracked on < min_valid are skipped."""
    if not Path(data).is_dir():
        raise InputError(data, "data folder not found")
    sessions = list_sessions(data, cfg.split)
    if not sessions:
        raise InputError(Path(data) / cfg.split, f"no sessions in split {cfg.split!r}")
    if cfg.sessions:
        by_id = {d.name: d for d in sessions}
        missing = [i for i in cfg.sessions if i not in by_id]
        if missing:
            raise InputError(Path(data) / cfg.split, f"no session {', '.join(missing)} in split {cfg.split!r}")
        sessions = [by_id[i] for i in cfg.sessions]
    if cfg.max_sessions:
        sessions = sessions[:cfg.max_sessions]
    out = []
    for d in progress(sessions, desc="features", unit="session"):
        out.extend(session_inputs(d, cfg))
    if not out:
        raise InputError(Path(data) / cfg.split, f"no participant of the {len(sessions)} session(s) is tracked "
                                                 f"on ≥ {cfg.min_valid:.0%} of its frames")
    return out


def session_inputs(session_dir: Path, cfg: EvalConfig) -> list[AvatarInput]:
    """The (session, avatar) pairs of one session: one per participant in cfg.participants tracked on
    ≥ min_valid of its frames (the others are skipped with a warning)."""
    from echo_ihg.data.train_features import participant_attributes, participant_mel, participant_neutral
    from echo_ihg.motion.attributes import ATTRIBUTE_NAMES

    d = Path(session_dir)
    s = read_session(d, mmap=True)
    out = []
    for who in cfg.participants:
        user = "B" if who == "A" else "A"
        valid = float(np.mean(np.asarray(s.participant(who).valid, bool)))
        if valid < cfg.min_valid:
            log.warning("%s: participant %s tracked on %.0f%% of frames (< %.0f%%): not evaluated as the "
                        "avatar", d, who, 100 * valid, 100 * cfg.min_valid)
            continue
        attrs = participant_attributes(d, user)
        out.append(AvatarInput(
            name=f"{s.session_id}:{who}", session_dir=d, session=s, who=who,
            group=str(s.meta.get("appropriate_group", "")), neutral=participant_neutral(d, who),
            user_neutral=participant_neutral(d, user), avatar_mel=np.asarray(participant_mel(d, who)),
            user_mel=np.asarray(participant_mel(d, user)),
            avatar_vad=np.asarray(s.participant(who).vad, np.float32),
            user_vad=np.asarray(s.participant(user).vad, np.float32),
            user_attributes={k: np.asarray(attrs[:, i]) for i, k in enumerate(ATTRIBUTE_NAMES)}))
    return out


def shuffle_users(inputs: Sequence[AvatarInput]) -> None:
    """Pair every input with the user of the next input from another session (`EvalConfig.shuffle_user`)."""
    n = len(inputs)
    for i, inp in enumerate(inputs):
        donor = next((inputs[(i + k) % n] for k in range(1, n)
                      if inputs[(i + k) % n].session_dir != inp.session_dir), None)
        if donor is None:
            raise InputError(inp.session_dir, "shuffle_user needs inputs from at least two sessions")
        inp.user_source = donor


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    """The first n frames of a per-frame array, its last frame repeated when it is shorter."""
    x = np.asarray(x)[:n]
    return np.concatenate([x, np.repeat(x[-1:], n - len(x), axis=0)]) if len(x) < n else x


def user_conditions(inp: AvatarInput, codec) -> tuple:
    """What the generator reads of the user: (mel, motion, attributes, vad, transcript), from the input's own
    session or, under the shuffle control, from `user_source` (cut or held to the avatar's length; the
    source's user words relabelled as this user's)."""
    src = inp.user_source or inp
    words = [e for e in inp.session.transcript if e.get("speaker") == inp.who]
    words += [{**e, "speaker": inp.user} for e in src.session.transcript if e.get("speaker") == src.user]
    t = inp.T
    return (_fit(src.user_mel, t), _fit(motion_of(src, src.user, codec), t),
            {k: _fit(v, t) for k, v in src.user_attributes.items()}, _fit(src.user_vad, t),
            sorted(words, key=lambda e: float(e["start"])))


def motion_of(inp: AvatarInput, who: str, codec) -> np.ndarray:
    """(T, Dm) normalised codec motion of a participant (cached per codec next to the session)."""
    from echo_ihg.data.train_features import participant_motion

    return np.asarray(participant_motion(inp.session_dir, who, codec))


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


def text_conditioner(loaded, who: str):
    """A new TextConditioner for avatar `who` with the text encoder the model was trained with (created once
    per loaded model); None when the model reads no text."""
    from echo_ihg.model.engine import build_text_conditioner
    from echo_ihg.train.trainer import make_text_encoder

    def encoder():
        # exported models keep their TrainConfig; a lone weights file may name it in its meta; unit-test models
        # use the hashing encoder, real ones MiniLM
        if loaded.text_encoder is None:
            meta = loaded.meta
            name = str(meta.get("train_config", {}).get("text_encoder", meta.get("text_encoder", "minilm")))
            loaded.text_encoder = make_text_encoder(name)
        return loaded.text_encoder

    return build_text_conditioner(loaded.model.cfg, encoder, avatar=who)


def generate_for(loaded, inp: AvatarInput, cfg: EvalConfig, bar=None) -> Generated:
    """K generations of the avatar's whole conversation (normalised motion) + the gate of the first one."""
    from echo_ihg.data.train_features import identity_vector
    from echo_ihg.inference.stages import rest_motion
    from echo_ihg.model.engine import SamplerConfig, generate_offline

    codec, model = loaded.codec, loaded.model
    sampler = SamplerConfig(steps=cfg.steps, guidance=cfg.guidance)
    user_mel, user_motion, user_attrs, user_vad, transcript = user_conditions(inp, codec)
    identity = identity_vector(inp.neutral)
    rec = GateRecorder(model)
    motions, borders, gate = [], (), None
    try:
        for k in range(cfg.samples):
            rec.active = k == 0
            m, b = generate_offline(model, identity, inp.avatar_mel, inp.avatar_vad, user_mel, user_motion,
                                    user_attrs, user_vad, transcript, sampler,
                                    text_conditioner(loaded, inp.who), initial_motion=rest_motion(codec),
                                    seed=cfg.seed + k)
            if k == 0:
                borders = tuple(b)
                gate = rec.per_frame(b, inp.T, cfg.steps, sampler.overlap)
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
                              inp.user_vad, neutral=inp.neutral, borders=g.borders[1:], group=inp.group))
        user_lm = codec.decode(user, inp.user_neutral)
        for k in range(len(raw)):
            deps.append(DependencyItem(inp.session, inp.who, codec.decode(raw[k], inp.neutral), user_lm))
    res = evaluate_items(items, codec.layout, expert=expert, seed=cfg.seed, react_window=cfg.react_window,
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

    gt = facial_attributes(codec.decode(codec.denormalise(motion_of(inp, inp.who, codec)), inp.neutral))
    pred = facial_attributes(codec.decode(codec.denormalise(gen.motion[0]), inp.neutral))
    user = facial_attributes(codec.decode(codec.denormalise(motion_of(inp, inp.user, codec)), inp.user_neutral))
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
    threads = torch.get_num_threads()
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    try:
        return _run(Path(data), variants, Path(out_dir), cfg, notes)
    finally:
        torch.set_num_threads(threads)


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
                example = _example_video(out, inputs[0], gens[0], x.codec, v.name, cfg.video_seconds)
    finally:
        bar.close()
    notes = [f"{len(inputs)} (session, avatar) inputs of split {cfg.split!r}, {cfg.samples} generation(s) each, "
             f"{cfg.steps} sampler steps; row {GT!r} = the ground truth scored as a prediction.", *notes]
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


def _example_video(out: Path, inp: AvatarInput, gen: Generated, codec, variant: str, seconds: float
                   ) -> str | None:
    """Side-by-side example (user | generated avatar | attribute lanes) of the first seconds; None on failure
    of the optional renderer (logged), since the metrics do not depend on it."""
    from echo_ihg.eval.example import write_example

    try:
        return write_example(out / "example.mp4", inp, gen.motion[0], codec, seconds).name
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
