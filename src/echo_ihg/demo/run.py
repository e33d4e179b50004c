"""`echo-ihg demo`, the README's main job: the whole system once, on the bundled default model, with a
conversation whose truth is known.

    result = run_demo(DemoConfig(out_dir=Path("demo_out")))      # or DemoConfig(checkpoint=Path(...))

The demo is an application above the product and the grader: it imports `inference` (generation), `eval`
(the report) and `render` (the user's clip), and nothing imports it but the CLI (docs/architecture.md).

Stages (each timed; `result.timings`):
    model         load the motion model (the bundled default unless `checkpoint`) and its codec
    portrait      track the avatar's portrait (bundled astronaut) -> portrait_landmarks.png
    conversation  one synthetic dyadic session (`echo_ihg.synth`: espeak-ng speech, scripted dialogue, rig
                  landmarks with planted listening/speaking behaviour), from a held-out (test-split) slot
    user video    participant B's landmarks rendered onto the second bundled face (Grace Hopper) with B's voice
    avatar        `Pipeline.generation`, once: astronaut + A's speech + the user video + the transcript ->
                  the avatar's motion (tracking, features, sampling), rendered -> avatar.mp4
    side by side  the same generation (no second sampling) composed as user | avatar | attribute plots ->
                  side_by_side.mp4
    evaluation    the generated motion scored against participant A's synthetic ground truth (`eval.runner`)

Output folder (every file written atomically):
    config.json                  the resolved DemoConfig, and the pipeline / synth / eval configs built from it
    portrait_landmarks.png       the portrait and its 478 tracked landmarks coloured by codec region
    inputs/avatar_speech.wav     participant A's speech: what the avatar says
    inputs/user.mp4 (+ .json)    the user's clip (Grace Hopper animated with B's motion, B's voice)
    inputs/transcript.jsonl      both speakers' words with times
    inputs/session/              the synthetic session in the session format: the ground truth of both
    avatar.mp4 (+ .json)         the generated avatar with its speech; sidecar: timings, warnings, config
    side_by_side.mp4 (+ .json)   user | avatar | attribute plots, both voices
    report/                      metrics.json, report.html, figures/: generated vs ground truth (row "GT" =
                                 the ground truth scored as a prediction: the reference)
    demo.json                    stage timings, machine load, output paths, headline metrics; written
                                 last (removed when a run starts): its presence means a complete run
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from echo_ihg.constants import FPS
from echo_ihg.errors import InputError
from echo_ihg.eval.config import EvalConfig
from echo_ihg.inference.config import GenerationConfig
from echo_ihg.inference.stages import StageTimer
from echo_ihg.motion.regions import REGION_NAMES, region_index
from echo_ihg.utils.atomic import atomic_dir, atomic_path, write_json
from echo_ihg.utils.config import check_config, config_to_dict
from echo_ihg.utils.progress import progress

log = logging.getLogger(__name__)

STAGES = ("model", "portrait", "conversation", "user video", "avatar", "side by side", "evaluation")
# the report's headline (segment, metric): expression realism against the truth, lips against the truth and
# in sync with the avatar's own speech, and the planted speech -> lips dependency of the synthetic corpus
HEADLINE = (("all", "rPCC_expression"), ("all", "FD_expression"), ("all", "L2_lips_jaw"), ("all", "LSE-D"),
            ("all", "LSE-C"), ("dependencies", "lip_audio_corr"))

# BGR colours per region for the overlay (lips red, eyes blue/cyan, brows green/yellow, nose magenta, contour white)
REGION_COLOURS = {"lips_jaw": (40, 40, 230), "left_eye": (230, 120, 30), "right_eye": (230, 200, 30),
                  "left_brow": (40, 200, 40), "right_brow": (40, 220, 220), "nose_cheeks": (200, 60, 200),
                  "contour": (240, 240, 240)}


@dataclass(frozen=True)
class DemoConfig:
    """Demo settings; CLI flags and YAML (`--config`, `--set`) only override these defaults."""

    out_dir: Path = Path("demo_out")
    checkpoint: Path | None = None      # None: the bundled default model (echo_ihg/assets/default_model/)
    seconds: float = 20.0               # length of the conversation (≥ 20 s: two REACT windows)
    generation: GenerationConfig = GenerationConfig()   # steps, size, ...; its seed also picks the
                                        # conversation's content
    user_size: int = 256                # px of the user's clip: the pipeline only tracks it, and it is
                                        # shown in a 320-px panel, so larger costs time for nothing
    portrait: Path | None = None        # None: the bundled astronaut
    user_portrait: Path | None = None   # None: the bundled Grace Hopper photo

    def __post_init__(self) -> None:     # size and steps are checked by GenerationConfig
        check_config("demo", [(2.0 <= float(self.seconds) <= 600.0, f"seconds must be in 2..600 (got {self.seconds})"),
                              (64 <= int(self.user_size) <= 2048,
                               f"user_size must be 64..2048 px (got {self.user_size})")])


@dataclass
class DemoResult:
    out_dir: Path
    outputs: dict[str, Path]                 # name -> file or folder (see the module docstring)
    timings: dict[str, float]                # stage -> wall seconds
    metrics: dict[str, dict[str, float]]     # variant ("GT", "model") -> headline metric -> value
    load_average: tuple[float, float]        # 1-min load average before and after the run
    cpu_s: float                             # this process's CPU time over the stages (wall time depends on load)
    warnings: list[str] = field(default_factory=list)

    @property
    def total_s(self) -> float:
        return sum(self.timings.values())


def landmark_overlay(image: np.ndarray, landmarks: np.ndarray, panel: int = 512) -> np.ndarray:
    """Two panels side by side (RGB, panel × 2·panel): the portrait, and a zoom on the face with the 478
    landmarks coloured by codec region (irises orange) — in a full portrait the face is too small to read."""
    h, w = image.shape[:2]
    px = landmarks[:, :2] * [w, h]
    lo, hi = px.min(0), px.max(0)
    half = 0.65 * float((hi - lo).max())
    cx, cy = (lo + hi) / 2
    x0, y0 = int(max(0, cx - half)), int(max(0, cy - half))
    x1, y1 = int(min(w, cx + half)), int(min(h, cy + half))
    scale = panel / max(x1 - x0, y1 - y0)
    zoom = cv2.resize(image[y0:y1, x0:x1, ::-1], (round((x1 - x0) * scale), round((y1 - y0) * scale)),
                      interpolation=cv2.INTER_CUBIC)
    zoom = cv2.copyMakeBorder(zoom, 0, panel - zoom.shape[0], 0, panel - zoom.shape[1], cv2.BORDER_CONSTANT)
    zpx = np.round((px - [x0, y0]) * scale).astype(int)
    for name, idx in region_index().items():
        for x, y in zpx[idx]:
            cv2.circle(zoom, (int(x), int(y)), 2, REGION_COLOURS[name], -1, cv2.LINE_AA)
    for x, y in zpx[468:]:
        cv2.circle(zoom, (int(x), int(y)), 3, (0, 140, 255), -1, cv2.LINE_AA)
    for i, name in enumerate(REGION_NAMES):
        cv2.putText(zoom, name, (8, 20 + 18 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(zoom, name, (8, 20 + 18 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.5, REGION_COLOURS[name], 1,
                    cv2.LINE_AA)
    full = image[:, :, ::-1].copy()
    cv2.rectangle(full, (x0, y0), (x1, y1), (0, 140, 255), 2)
    fs = panel / max(h, w)
    full = cv2.resize(full, (round(w * fs), round(h * fs)), interpolation=cv2.INTER_AREA)
    full = cv2.copyMakeBorder(full, 0, panel - full.shape[0], 0, panel - full.shape[1], cv2.BORDER_CONSTANT)
    return np.concatenate([full, zoom], axis=1)[:, :, ::-1]


def write_overlay(portrait: Path, dest: Path) -> Path:
    """Track the portrait (NoFaceError naming it when there is no face) and write its landmark overlay."""
    from echo_ihg.io.media import read_image
    from echo_ihg.tracking.face_mesh import track_image

    image = read_image(portrait)
    landmarks = track_image(portrait)
    with atomic_path(dest) as tmp:
        cv2.imwrite(str(tmp), landmark_overlay(image, landmarks)[:, :, ::-1])
    return dest


def run_demo(cfg: DemoConfig = DemoConfig(), progress_bars: bool = True) -> DemoResult:
    """Run every stage (module docstring) and return where everything is. Errors (EchoError) name the
    missing or bad file: no default model bundled, a portrait without a face, an unreadable checkpoint."""
    from echo_ihg.assets import default_portrait, default_user_portrait
    from echo_ihg.inference.pipeline import Pipeline, PipelineConfig

    out = Path(cfg.out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(out, "the output path exists and is not a folder")
    portrait = Path(cfg.portrait) if cfg.portrait else default_portrait()
    user_portrait = Path(cfg.user_portrait) if cfg.user_portrait else default_user_portrait()
    for p in (portrait, user_portrait):
        if not p.is_file():
            raise InputError(p, "portrait file not found")
    load_before, cpu_before = os.getloadavg()[0], time.process_time()
    timer, files = StageTimer(), {}
    pipe_cfg = PipelineConfig(generation=cfg.generation)
    synth_cfg = _synth_config(cfg)
    eval_cfg = _eval_config(cfg)
    bar = progress(total=len(STAGES), desc="demo", unit="stage", enabled=None if progress_bars else False)
    stage = _stages(timer, bar)
    try:
        with stage("model"):
            pipe = Pipeline(cfg.checkpoint, pipe_cfg)
        out.mkdir(parents=True, exist_ok=True)
        (out / "demo.json").unlink(missing_ok=True)     # a failed run must not look like a complete one
        files["config"] = out / "config.json"
        write_json(files["config"], {"demo": config_to_dict(cfg), "model": pipe.model_source,
                                     "pipeline": config_to_dict(pipe_cfg), "synth": config_to_dict(synth_cfg),
                                     "eval": config_to_dict(eval_cfg)})
        with stage("portrait"):
            files["portrait_landmarks"] = write_overlay(portrait, out / "portrait_landmarks.png")
        with stage("conversation"):
            files.update(write_conversation(out / "inputs", synth_cfg))
        with stage("user video"):
            files["user_video"] = render_user_clip(files["session"], user_portrait, out / "inputs" / "user.mp4",
                                                   cfg.user_size, progress_bars)
        with contextlib.ExitStack() as views:        # one generation, two views of it
            with stage("avatar"):
                gen = views.enter_context(pipe.generation(portrait, files["avatar_speech"], files["user_video"],
                                                          files["transcript"], out, progress_bars))
                avatar = gen.write(out / "avatar.mp4", side_by_side=False)
            with stage("side by side"):
                side = gen.write(out / "side_by_side.mp4", side_by_side=True)
        with stage("evaluation"):
            report = evaluate_demo(files["session"], avatar.motion, pipe.codec, out / "report", eval_cfg,
                                   config=config_to_dict(cfg))
    finally:
        bar.close()
    files.update(avatar=avatar.video, avatar_sidecar=avatar.sidecar, side_by_side=side.video,
                 side_by_side_sidecar=side.sidecar, report=report.report,
                 metrics=report.report.parent / "metrics.json", summary=out / "demo.json")
    headline = {v: {m: float(r[seg][m]) for seg, m in HEADLINE if m in r.get(seg, {})}
                for v, r in report.results.items()}
    result = DemoResult(out, files, dict(timer.seconds), headline, (load_before, os.getloadavg()[0]),
                        time.process_time() - cpu_before, list(dict.fromkeys(avatar.warnings + side.warnings)))
    _write_summary(result, avatar, side, pipe.model_source)
    return result


def _write_summary(result: DemoResult, avatar, side, model_source: str) -> None:
    """demo.json: where everything is, stage timings with the machine's load, the headline metrics."""
    write_json(result.outputs["summary"], {
        "outputs": {k: str(v) for k, v in result.outputs.items()},
        "timings_s": {k: round(v, 2) for k, v in result.timings.items()}, "total_s": round(result.total_s, 2),
        "process_cpu_s": round(result.cpu_s, 2), "load_average_1min": [round(x, 2) for x in result.load_average],
        "cpu_count": os.cpu_count(), "conversation_s": avatar.duration_s, "model": model_source,
        "pipeline_timings_s": {"avatar": avatar.timings, "side_by_side": side.timings},
        "headline_metrics": result.metrics, "warnings": result.warnings})


def _stages(timer: StageTimer, bar):
    """stage(name): a context that times the stage and advances the demo's stage bar."""
    @contextlib.contextmanager
    def stage(name: str):
        bar.set_description(f"demo: {name}")
        log.info("demo stage %d/%d: %s", STAGES.index(name) + 1, len(STAGES), name)
        with timer(name):
            yield
        bar.update(1)

    return stage


def _synth_config(cfg: DemoConfig):
    from echo_ihg.synth.generate import SynthConfig

    return SynthConfig(sessions=1, seconds=float(cfg.seconds), seed=cfg.generation.seed, workers=1)


def _eval_config(cfg: DemoConfig):
    # one generation of participant A; the example video is the pipeline's side-by-side
    return EvalConfig(generation=cfg.generation, samples=1, participants=("A",), video_seconds=0.0)


def write_conversation(dest: Path, synth_cfg) -> dict[str, Path]:
    """One synthetic conversation into dest: session/ (ground truth), avatar_speech.wav (A's voice) and
    transcript.jsonl. The session comes from the first test-split slot of the corpus `synth_cfg` describes,
    so its faces and dialogue templates are held out from a model trained on that corpus's train split."""
    from echo_ihg.data.session import write_session
    from echo_ihg.data.transcript import write_transcript
    from echo_ihg.io.media import write_wav
    from echo_ihg.synth.generate import generate_session, identity_pool

    index = synth_cfg.test_every - 1            # generate.split_of: the first index of the test split
    session = generate_session(index, synth_cfg, identity_pool())
    dest.mkdir(parents=True, exist_ok=True)
    files = {"session": write_session(dest / "session", session), "avatar_speech": dest / "avatar_speech.wav",
             "transcript": dest / "transcript.jsonl"}
    write_wav(files["avatar_speech"], np.asarray(session.A.audio))
    write_transcript(files["transcript"], session.transcript)
    return files


def render_user_clip(session_dir: Path, portrait: Path, dest: Path, size: int, progress_bars: bool = True) -> Path:
    """Participant B of the session animated onto `portrait` with B's voice: the user's video (+ dest.json)."""
    from echo_ihg.render.base import RenderConfig
    from echo_ihg.render.files import render_to_file

    render_to_file(portrait, dest, RenderConfig(size=int(size)), session=session_dir, participant="B",
                   progress=progress_bars)
    return dest


def evaluate_demo(session_dir: Path, motion: np.ndarray, codec, dest: Path, eval_cfg, config: dict[str, Any]):
    """Participant A's generated motion (T, Dm, normalised) against A's ground truth -> dest/ (atomic)."""
    from echo_ihg.eval.inputs import session_inputs
    from echo_ihg.eval.runner import evaluate_generation

    inputs = session_inputs(session_dir, eval_cfg)
    if not inputs:
        raise InputError(session_dir, "participant A of the demo conversation is not usable as the avatar")
    notes = [f"The demo's conversation ({inputs[0].T / FPS:.1f} s, synthetic: its truth is known): the avatar "
             "(participant A) generated by the model from A's speech, the user's rendered video and the "
             "transcript, scored against A's ground-truth motion. Row 'GT' scores the ground truth itself "
             "(the reference). One generation: diversity metrics are not meaningful."]
    with atomic_dir(dest) as tmp:
        result = evaluate_generation(inputs[0], motion, codec, tmp, name="model", cfg=eval_cfg, config=config,
                                     video="../side_by_side.mp4", notes=notes,
                                     title="echo-ihg demo: generated avatar vs the synthetic ground truth")
    return replace(result, report=dest / result.report.name)     # the page, now under its final name
