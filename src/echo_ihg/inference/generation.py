"""One generation of `inference.pipeline.Pipeline`, written as any number of views.

    with pipe.generation(portrait, avatar_audio, user_video, transcript) as gen:
        avatar = gen.write("avatar.mp4")                         # the avatar with its speech
        side = gen.write("side_by_side.mp4", side_by_side=True)  # user | avatar | plots, both voices

Tracking, features and sampling ran once (`Pipeline.generation`); the avatar's motion is decoded to portrait
landmarks once (a memory-mapped file in the generation's work folder) and the user's attributes were kept from
sampling, so a second view costs only its rendering and encoding. The side-by-side view decodes the user's
video again for its panel (frames are streamed, never all held). Each view is written atomically with a
JSON sidecar (per-stage timings, warnings, the resolved config).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from echo_ihg.constants import FPS, N_LANDMARKS
from echo_ihg.errors import InputError
from echo_ihg.inference.stages import AudioFrames, AvatarMotionDecoder, Portrait, StageTimer, blocks
from echo_ihg.inference.user_track import UserTrack
from echo_ihg.io.media import fit_audio_length, iter_frames_at_fps, write_mp4
from echo_ihg.utils.atomic import write_json
from echo_ihg.utils.config import config_to_dict
from echo_ihg.utils.progress import progress


@dataclass
class GenerateResult:
    video: Path
    sidecar: Path
    n_frames: int
    duration_s: float
    timings: dict[str, float]
    real_time_factor: float                      # wall time / conversation time (< 1: faster than real time)
    motion: np.ndarray                           # (T, Dm) the avatar's normalised codec motion
    warnings: list[str] = field(default_factory=list)
    transcript_source: str = "none"


@dataclass(frozen=True)
class Inputs:
    portrait: Path
    avatar_audio: Path
    user_video: Path
    transcript: Path | None


def mp4_path(out: str | Path) -> Path:
    out = Path(out)
    if out.suffix.lower() != ".mp4":
        raise InputError(out, "the output must be an .mp4 file")
    return out


@dataclass
class Generation:
    """Everything one generation produced; `write` renders a view of it (valid inside `Pipeline.generation`)."""

    pipe: Any                                    # the Pipeline: renderer, codec, model description
    config: Any                                  # its PipelineConfig
    inputs: Inputs
    work: Path                                   # the temporary folder of this generation
    caught: Any                                  # the warnings collected so far
    bars: bool
    timer: StageTimer                            # the shared stages (setup ... motion)
    portrait: Portrait
    decoder: AvatarMotionDecoder
    motion: np.ndarray                           # (n, Dm) normalised
    avatar: AudioFrames
    avatar_audio: np.ndarray
    user_audio: np.ndarray
    user_attributes: dict[str, np.ndarray]       # (n,) each, NaN where the user is masked or absent
    track: UserTrack
    entries: list[dict]
    transcript_source: str
    _landmarks: np.ndarray | None = None
    _avatar_attributes: dict[str, np.ndarray] | None = None

    @property
    def n(self) -> int:
        return len(self.motion)

    def write(self, out: str | Path, side_by_side: bool | None = None) -> GenerateResult:
        """Render, encode and write `out` (+ its .json sidecar); side_by_side: None = the config's choice."""
        cfg = self.config if side_by_side is None else dataclasses.replace(self.config, side_by_side=side_by_side)
        out = mp4_path(out)
        timer = StageTimer()
        audio = self.avatar_audio if not cfg.side_by_side else _mix(self.avatar_audio, self.user_audio, self.n)
        with timer("encode"):
            write_mp4(out, self._frames(cfg, timer), fps=FPS, audio=audio, crf=cfg.crf)
        timings = dict(self.timer.seconds)
        for k, v in timer.seconds.items():
            timings[k] = timings.get(k, 0.0) + v
        sidecar = out.with_suffix(".json")
        try:
            write_json(sidecar, self._sidecar(cfg, out, timings))
        except BaseException:
            out.unlink(missing_ok=True)      # never a video without its sidecar
            raise
        duration = self.n / FPS
        return GenerateResult(out, sidecar, self.n, duration, timings, sum(timings.values()) / duration,
                              self.motion, list(self.caught.messages), self.transcript_source)

    def _sidecar(self, cfg, out: Path, timings: dict[str, float]) -> dict[str, Any]:
        pipe, track, n = self.pipe, self.track, self.n
        total, duration = sum(timings.values()), n / FPS
        return {
            "video": str(out), "frames": n, "fps": FPS, "duration_s": duration, "side_by_side": cfg.side_by_side,
            "inputs": {"portrait": str(self.inputs.portrait), "avatar_audio": str(self.inputs.avatar_audio),
                       "user_video": str(self.inputs.user_video), "transcript": self.transcript_source},
            "model": {"source": pipe.model_source, "config": config_to_dict(pipe.model.cfg),
                      "meta": {k: v for k, v in pipe.model_meta.items() if k != "train_config"}},
            "config": config_to_dict(cfg),
            "length": {"avatar_frames": n, "user_video_frames_used": track.n_frames,
                       "user_absent_after_s": track.n_frames / FPS if track.n_frames < n else None,
                       "user_video_longer": track.truncated},
            "user_track": track.summary(), "transcript_entries": len(self.entries),
            "timings_s": {k: round(v, 3) for k, v in timings.items()},
            "total_s": round(total, 3), "real_time_factor": round(total / duration, 4),
            "warnings": list(self.caught.messages),
        }

    def landmarks(self, timer: StageTimer) -> np.ndarray:
        """(n, 478, 3) the avatar's portrait landmarks, decoded once (memory-mapped in the work folder)."""
        if self._landmarks is None:
            with timer("render"):
                store = np.lib.format.open_memmap(self.work / "avatar_landmarks.npy", mode="w+", dtype=np.float32,
                                                  shape=(self.n, N_LANDMARKS, 3))
                for a, b in blocks(self.n, self.config.block_frames):
                    store[a:b] = self.decoder.decode(self.motion[a:b])
                store.flush()
            self._landmarks = store
        return self._landmarks

    def avatar_attributes(self, timer: StageTimer) -> dict[str, np.ndarray]:
        """Facial attributes of the avatar's landmarks (n,) each, for the side-by-side plots (computed once)."""
        if self._avatar_attributes is None:
            from echo_ihg.motion.attributes import facial_attributes

            landmarks = self.landmarks(timer)
            with timer("render"):
                parts = [facial_attributes(np.asarray(landmarks[a:b]), self.portrait.aspect)
                         for a, b in blocks(self.n, self.config.block_frames)]
            self._avatar_attributes = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        return self._avatar_attributes

    def _frames(self, cfg, timer: StageTimer) -> Iterator[np.ndarray]:
        """Rendered (and composed) frames, lazily: at most one block of landmarks is read at a time."""
        landmarks = self.landmarks(timer)
        composer = user_frames = None
        if cfg.side_by_side:
            from echo_ihg.render.video import ComposerConfig, SideBySide

            composer = SideBySide(self.avatar_attributes(timer), self.avatar.vad, self.user_attributes,
                                  ComposerConfig(panel=cfg.panel))
            user_frames = iter_frames_at_fps(self.inputs.user_video, FPS)
        renderer, state = self.pipe.renderer, self.portrait.state
        bar = progress(total=self.n, desc="render + encode", unit="frame", enabled=None if self.bars else False)
        try:
            for a, b in blocks(self.n, cfg.block_frames):
                block = np.asarray(landmarks[a:b])
                for i in range(b - a):
                    with timer("render"):
                        frame = renderer.render_frame(state, block[i])
                        if composer is not None:
                            user = next(user_frames, None) if a + i < self.track.n_frames else None
                            frame = composer.frame(a + i, frame, user)
                    bar.update(1)
                    yield frame
        finally:
            bar.close()
            if user_frames is not None:
                user_frames.close()


def _mix(avatar: np.ndarray, user: np.ndarray, n_frames: int) -> np.ndarray:
    """Both voices for the side-by-side view, fitted to the output length."""
    a, u = fit_audio_length(avatar, n_frames), fit_audio_length(user, n_frames)
    return np.clip(a + u, -1.0, 1.0)
