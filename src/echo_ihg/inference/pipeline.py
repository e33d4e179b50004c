"""Offline generation: portrait + the avatar's speech + the user's video (+ transcript) -> the avatar's video.

    pipe = Pipeline("runs/x/export", PipelineConfig(steps=8, seed=0, size=512))   # or Pipeline() = default model
    result = pipe.generate("portrait.png", "answer.wav", "user.mp4", transcript=None, out="avatar.mp4")
    result.video, result.sidecar, result.timings, result.real_time_factor

Stages (each timed; exclusive wall time, they add up to the total):
    setup     track the portrait, build the renderer's mesh
    features  decode audio (any container / rate, stereo downmixed), log-mel + VAD of both speakers, the
              user's motion codes and facial attributes
    tracking  the user's video, streamed frame by frame into a memory-mapped landmark file
    asr       words of both tracks when no transcript is given (optional extra `asr`)
    lcu       user perception scan (LPE), behaviour and emotion texts + their embeddings, f_pu
    motion    the diffusion sampler, chunk after chunk
    render    motion -> portrait landmarks -> frames (and the side-by-side composition)
    encode    H.264 + AAC

Memory: video frames are streamed (decode -> track, render -> encode; never all held), the user's landmarks go
to a memory-mapped temporary file next to the output, and the model's streaming generator keeps only its
windows. What stays in memory grows slowly with the length: the audio tracks (64 KB per second each, float32)
and the per-frame log-mel and motion (~70 KB per second): about 250 KB per second of conversation, ~0.9 GB
per hour.

Length policy (the output always spans the avatar's audio, frame for frame):
- the user's video is longer: the rest of it is not read (nothing after the avatar's last word matters);
- the user's video is shorter: after its end the user counts as absent (the model's inputs hold the rest pose
  and missing attributes, as before a conversation starts) and a warning says from when; the user's audio
  track is used as far as it goes (silence after);
- no audio track in the user's video: the user is silent (warning);
- silent avatar audio: the avatar only listens (warning);
- the user's face is lost: short gaps are interpolated, longer ones masked (warning with the time ranges);
  no face in any frame, a portrait without a face, or a corrupt / unreadable input is an error naming the file.
The output (mp4 + JSON sidecar) is written atomically: on any error nothing is left under the output name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from echo_ihg.constants import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME
from echo_ihg.errors import InputError
from echo_ihg.inference.model_io import load_inference_model
from echo_ihg.inference.stages import (AudioFrames, AvatarMotionDecoder, Portrait, StageTimer, UserMotionEncoder,
                                      blocks, setup_portrait)
from echo_ihg.inference.user_track import UserTrack, neutral_sample, track_user_video
from echo_ihg.io.media import fit_audio_length, load_audio, probe_has_audio, write_mp4
from echo_ihg.motion.codec import rest_motion
from echo_ihg.utils.atomic import write_json
from echo_ihg.utils.config import config_to_dict
from echo_ihg.utils.progress import progress

log = logging.getLogger(__name__)

SPEAKERS = ("A", "B")


@dataclass(frozen=True)
class PipelineConfig:
    """Generation settings; CLI flags and YAML only override these defaults."""

    steps: int = 8                    # sampler steps per chunk (the model is trained for ≤ 10)
    guidance: float = 1.0             # classifier-free guidance on the user / emotion conditions (1 = off)
    seed: int = 0
    size: int = 512                   # rendered avatar frames, px (square)
    side_by_side: bool = False        # user video | avatar | attribute plots instead of the avatar alone
    panel: int = 320                  # px, side-by-side panel size
    history_s: float = 60.0           # seconds of the user's behaviour the describer reads (the LPE scan
                                      # itself summarises the whole conversation in a fixed-size state)
    avatar_speaker: str = "A"         # the avatar's speaker label in transcripts (the user is the other)
    asr: bool = True                  # transcribe when no transcript is given (if the `asr` extra is installed)
    vad_backend: str = "silero"
    max_gap: int = 5                  # frames: user-face gaps up to this long are interpolated, longer masked
    pose_scale: float = 1.0           # damp (< 1) or exaggerate (> 1) the avatar's head motion
    block_frames: int = 250           # frames per processing block (bounded memory)
    crf: int = 20                     # H.264 quality (lower = better, larger)
    torch_threads: int = 1            # intra-op threads for the model (0 = torch's default): per-chunk tensors
                                      # are small, and a second thread mostly adds waiting (30x slower measured
                                      # on a loaded 2-core machine)
    blas_threads: int = 1             # BLAS threads for numpy (0 = default): the renderer's and codec's batched
                                      # 3×3 algebra runs 30x slower with 2 OpenBLAS threads on a busy machine

    def __post_init__(self) -> None:
        problems = []
        if not 1 <= self.steps <= 50:
            problems.append(f"steps must be in 1..50 (got {self.steps})")
        if not 64 <= int(self.size) <= 2048:
            problems.append(f"size must be 64..2048 px (got {self.size})")
        if self.avatar_speaker not in SPEAKERS:
            problems.append(f"avatar_speaker must be 'A' or 'B' (got {self.avatar_speaker!r})")
        if self.history_s <= 0 or self.block_frames < 1 or self.max_gap < 0 or self.panel < 64 \
                or self.torch_threads < 0 or self.blas_threads < 0:
            problems.append("history_s > 0, block_frames ≥ 1, max_gap ≥ 0, panel ≥ 64 and torch_threads, "
                            "blas_threads ≥ 0 are required")
        if self.vad_backend not in ("silero", "webrtc"):
            problems.append(f"vad_backend must be 'silero' or 'webrtc' (got {self.vad_backend!r})")
        if problems:
            raise InputError(None, "invalid pipeline config: " + "; ".join(problems))


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


class _WarningLog(logging.Handler):
    """Collects the package's warnings during one run, for the sidecar."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _timed_methods(obj: Any, names: tuple[str, ...], timer: StageTimer, stage: str) -> Iterator[None]:
    """Time calls of obj's methods as `stage` for the duration of the block (instance attributes, removed
    afterwards)."""
    for name in names:
        setattr(obj, name, timer.wrap(getattr(obj, name), stage))
    try:
        yield
    finally:
        for name in names:
            with contextlib.suppress(AttributeError):
                delattr(obj, name)


class Pipeline:
    """Loads the model once; `generate` runs one conversation (see the module docstring).

    checkpoint: a model folder / checkpoint folder / .safetensors (None: the bundled default model);
    text_encoder: the frozen sentence encoder for the LCU texts (None: all-MiniLM-L6-v2, loaded when needed).
    """

    def __init__(self, checkpoint: str | Path | None = None, config: PipelineConfig | None = None,
                 text_encoder: Any = None, tracker_config: Any = None):
        from echo_ihg.render.base import RenderConfig
        from echo_ihg.render.meshwarp import MeshWarpRenderer

        self.config = config or PipelineConfig()
        loaded = load_inference_model(checkpoint)
        self.model, self.codec, self.model_source, self.model_meta = (loaded.model, loaded.codec, loaded.source,
                                                                      loaded.meta)
        self.text_encoder = text_encoder
        self.tracker_config = tracker_config
        self.renderer = MeshWarpRenderer(RenderConfig(size=int(self.config.size)))

    # ---- the one call -----------------------------------------------------------------------------------
    def generate(self, portrait: str | Path, avatar_audio: str | Path, user_video: str | Path,
                 transcript: str | Path | None = None, out: str | Path = "avatar.mp4",
                 side_by_side: bool | None = None, progress_bars: bool = True) -> GenerateResult:
        cfg = self.config if side_by_side is None else dataclasses.replace(self.config, side_by_side=side_by_side)
        out = Path(out)
        if out.suffix.lower() != ".mp4":
            raise InputError(out, "the output must be an .mp4 file")
        for p in (portrait, avatar_audio, user_video, transcript):
            if p is not None and not Path(p).is_file():
                raise InputError(p, "file not found" if not Path(p).exists() else "not a file")
        caught = _WarningLog()
        logging.getLogger("echo_ihg").addHandler(caught)
        out.parent.mkdir(parents=True, exist_ok=True)
        threads = torch.get_num_threads()
        if cfg.torch_threads:
            torch.set_num_threads(cfg.torch_threads)
        blas = threadpool_limits(cfg.blas_threads, user_api="blas") if cfg.blas_threads else contextlib.nullcontext()
        try:
            with blas, tempfile.TemporaryDirectory(prefix=".echo-ihg-work-", dir=out.parent) as work:
                return self._run(cfg, Path(portrait), Path(avatar_audio), Path(user_video),
                                 None if transcript is None else Path(transcript), out, Path(work), caught,
                                 progress_bars)
        finally:
            logging.getLogger("echo_ihg").removeHandler(caught)
            torch.set_num_threads(threads)

    def _run(self, cfg: PipelineConfig, portrait_path: Path, avatar_path: Path, user_path: Path,
             transcript_path: Path | None, out: Path, work: Path, caught: _WarningLog, bars: bool
             ) -> GenerateResult:
        timer = StageTimer()
        with timer("setup"):
            portrait = setup_portrait(portrait_path, self.renderer)
            conditioner = self.text_conditioner(cfg)
        with timer("features"):
            avatar_audio, avatar = self._avatar_audio(avatar_path, cfg)
        n = len(avatar)
        with timer("tracking"):
            track = track_user_video(user_path, n, work, self._tracker_config(cfg), progress=bars)
        with timer("features"):
            user_audio, user = self._user_audio(user_path, n, cfg)
            encoder = UserMotionEncoder(self.codec, self._user_neutral(track), track.aspect)
        if track.n_frames < n:
            log.warning("%s: the user video ends at %.2f s but the avatar's audio lasts %.2f s; the user is "
                        "treated as absent after the video's end", user_path, track.n_frames / FPS, n / FPS)
        elif track.truncated:
            log.info("%s: the user video is longer than the avatar's audio; only its first %.2f s are used",
                     user_path, n / FPS)
        entries, source = self._transcript(transcript_path, avatar_audio, user_audio, cfg, timer, bars)
        motion = self._motion(cfg, portrait, avatar, user, track, encoder, entries, conditioner, timer, bars)
        decoder = AvatarMotionDecoder(self.codec, portrait.landmarks, portrait.aspect, cfg.pose_scale)
        frames = self._frames(cfg, portrait, decoder, motion, avatar, track, encoder, user_path, timer, bars)
        audio = avatar_audio if not cfg.side_by_side else _mix(avatar_audio, user_audio, n)
        with timer("encode"):
            write_mp4(out, frames, fps=FPS, audio=audio, crf=cfg.crf)
        sidecar = out.with_suffix(".json")
        duration = n / FPS
        info = {
            "video": str(out), "frames": n, "fps": FPS, "duration_s": duration, "side_by_side": cfg.side_by_side,
            "inputs": {"portrait": str(portrait_path), "avatar_audio": str(avatar_path),
                       "user_video": str(user_path), "transcript": source},
            "model": {"source": self.model_source, "config": config_to_dict(self.model.cfg),
                      "meta": {k: v for k, v in self.model_meta.items() if k != "train_config"}},
            "config": config_to_dict(cfg),
            "length": {"avatar_frames": n, "user_video_frames_used": track.n_frames,
                       "user_absent_after_s": track.n_frames / FPS if track.n_frames < n else None,
                       "user_video_longer": track.truncated},
            "user_track": track.summary(), "transcript_entries": len(entries),
            "timings_s": {k: round(v, 3) for k, v in timer.seconds.items()},
            "total_s": round(timer.total, 3), "real_time_factor": round(timer.total / duration, 4),
            "warnings": list(caught.messages),
        }
        try:
            write_json(sidecar, info)
        except BaseException:
            out.unlink(missing_ok=True)      # never a video without its sidecar
            raise
        return GenerateResult(out, sidecar, n, duration, dict(timer.seconds), timer.total / duration, motion,
                              list(caught.messages), source)

    # ---- inputs -----------------------------------------------------------------------------------------
    def _avatar_audio(self, path: Path, cfg: PipelineConfig) -> tuple[np.ndarray, AudioFrames]:
        audio = load_audio(path)
        if len(audio) < SAMPLES_PER_FRAME:
            raise InputError(path, f"the avatar audio is {len(audio) / SAMPLE_RATE * 1000:.0f} ms long; at least "
                                   f"one frame ({1000 / FPS:.0f} ms) is needed")
        feats = AudioFrames.of(audio, vad_backend=cfg.vad_backend)
        if float(np.abs(audio).max()) < 1e-4 or float(feats.vad.max()) < 0.5:
            log.warning("%s: the avatar audio contains no speech; the avatar only listens", path)
        return audio, feats

    def _user_audio(self, path: Path, n: int, cfg: PipelineConfig) -> tuple[np.ndarray, AudioFrames]:
        if probe_has_audio(path):
            audio = load_audio(path)
        else:
            log.warning("%s: the user video has no audio track; the user is treated as silent", path)
            audio = np.zeros(0, np.float32)
        audio = fit_audio_length(audio, n)
        return audio, AudioFrames.of(audio, n, vad_backend=cfg.vad_backend)

    def _tracker_config(self, cfg: PipelineConfig):
        from echo_ihg.tracking.tracker import TrackerConfig

        base = self.tracker_config or TrackerConfig()
        return dataclasses.replace(base, max_gap=cfg.max_gap)

    @staticmethod
    def _user_neutral(track: UserTrack) -> np.ndarray:
        from echo_ihg.motion.codec import neutral_from_sequence

        idx = neutral_sample(track)
        return neutral_from_sequence(np.asarray(track.landmarks[idx]), None, track.aspect)

    def _transcript(self, path: Path | None, avatar_audio: np.ndarray, user_audio: np.ndarray,
                    cfg: PipelineConfig, timer: StageTimer, bars: bool) -> tuple[list[dict], str]:
        from echo_ihg.data.transcript import load_transcript_file
        from echo_ihg.inference.asr import INSTALL_HINT, WhisperASR, asr_available

        if path is not None:
            with timer("features"):
                return load_transcript_file(path), str(path)
        if not self.model.cfg.uses_emotion:
            return [], "none (the model does not use the dialogue)"
        if not cfg.asr:
            log.warning("no transcript given and ASR is off: the affect model (LAU) runs without the dialogue")
            return [], "none"
        if not asr_available():
            log.warning("no transcript given and offline ASR is not installed (%s): the affect model (LAU) "
                        "runs without the dialogue", INSTALL_HINT)
            return [], "none"
        user_speaker = "B" if cfg.avatar_speaker == "A" else "A"
        with timer("asr"):
            asr = WhisperASR()
            words = (asr.transcribe(avatar_audio, cfg.avatar_speaker, progress=bars)
                     + asr.transcribe(user_audio, user_speaker, progress=bars))
        log.info("ASR: %d words (avatar and user tracks)", len(words))
        return sorted(words, key=lambda e: (e["start"], e["end"])), "asr (faster-whisper tiny.en)"

    # ---- model ------------------------------------------------------------------------------------------
    def text_conditioner(self, cfg: PipelineConfig):
        """A new `model.engine.TextConditioner` for one run (None when the model reads no text); the text
        encoder is loaded once, on the first call that needs it."""
        from echo_ihg.model.engine import build_text_conditioner

        return build_text_conditioner(self.model.cfg, self._loaded_text_encoder, avatar=cfg.avatar_speaker)

    def _loaded_text_encoder(self):
        if self.text_encoder is None:
            from echo_ihg.model.text_encoder import default_text_encoder

            self.text_encoder = default_text_encoder()
            self.text_encoder.encode(["the user is listening"])   # load the weights now, not in the first chunk
        return self.text_encoder

    def _motion(self, cfg: PipelineConfig, portrait: Portrait, avatar: AudioFrames, user: AudioFrames,
                track: UserTrack, encoder: UserMotionEncoder, entries: list[dict], conditioner: Any,
                timer: StageTimer, bars: bool) -> np.ndarray:
        from echo_ihg.data.train_features import identity_vector
        from echo_ihg.model.engine import SamplerConfig, StreamingGenerator

        n = len(avatar)
        sampler = SamplerConfig(steps=cfg.steps, guidance=cfg.guidance, describe_window=int(cfg.history_s * FPS))
        gen = StreamingGenerator(self.model, identity_vector(portrait.landmarks, portrait.aspect), sampler,
                                 conditioner, initial_motion=rest_motion(self.codec), seed=cfg.seed)
        if conditioner is not None:
            conditioner.embed = timer.wrap(conditioner.embed, "lcu")
        gen.push_transcript(entries)
        out: list[np.ndarray] = []
        bar = progress(total=n, desc="motion", unit="frame", enabled=None if bars else False)
        try:
            with timer("motion"), _timed_methods(self.model, ("perceive", "user_context"), timer, "lcu"):
                for a, b in blocks(n, cfg.block_frames):
                    with timer("features"):
                        u_motion, u_attrs = self._user_block(track, encoder, a, b)
                    gen.push_user(user.mel[a:b], u_motion, u_attrs, user.vad[a:b])
                    gen.push_avatar(avatar.mel[a:b], avatar.vad[a:b])
                    out.append(gen.pull())
                    bar.update(len(out[-1]))
                out.append(gen.finish())
        finally:
            bar.close()
        motion = np.concatenate(out)
        assert len(motion) == n, (len(motion), n)
        return motion

    @staticmethod
    def _user_block(track: UserTrack, encoder: UserMotionEncoder, a: int, b: int
                    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """User motion and attributes of frames [a, b): tracked frames, then absent ones past the video."""
        parts = []
        if a < track.n_frames:
            e = min(b, track.n_frames)
            parts.append(encoder.encode(np.asarray(track.landmarks[a:e]), track.valid[a:e]))
        if b > track.n_frames:
            parts.append(encoder.absent(b - max(a, track.n_frames)))
        if len(parts) == 1:
            return parts[0]
        return (np.concatenate([p[0] for p in parts]),
                {k: np.concatenate([p[1][k] for p in parts]) for k in parts[0][1]})

    # ---- output -----------------------------------------------------------------------------------------
    def _frames(self, cfg: PipelineConfig, portrait: Portrait, decoder: AvatarMotionDecoder, motion: np.ndarray,
                avatar: AudioFrames, track: UserTrack, encoder: UserMotionEncoder, user_path: Path,
                timer: StageTimer, bars: bool) -> Iterator[np.ndarray]:
        """Rendered (and composed) frames, lazily: at most one block of landmarks is held."""
        n = len(motion)
        composer = user_frames = None
        if cfg.side_by_side:
            with timer("render"):
                composer = self._composer(cfg, portrait, decoder, motion, avatar, track, encoder)
            from echo_ihg.io.media import iter_frames_at_fps

            user_frames = iter_frames_at_fps(user_path, FPS)
        bar = progress(total=n, desc="render + encode", unit="frame", enabled=None if bars else False)
        try:
            for a, b in blocks(n, cfg.block_frames):
                with timer("render"):
                    landmarks = decoder.decode(motion[a:b])
                for i in range(b - a):
                    t = a + i
                    with timer("render"):
                        frame = self.renderer.render_frame(portrait.state, landmarks[i])
                        if composer is not None:
                            user = next(user_frames, None) if t < track.n_frames else None
                            frame = composer.frame(t, frame, user)
                    bar.update(1)
                    yield frame
        finally:
            bar.close()
            if user_frames is not None:
                user_frames.close()

    def _composer(self, cfg: PipelineConfig, portrait: Portrait, decoder: AvatarMotionDecoder,
                  motion: np.ndarray, avatar: AudioFrames, track: UserTrack, encoder: UserMotionEncoder):
        from echo_ihg.motion.attributes import facial_attributes
        from echo_ihg.render.video import ComposerConfig, SideBySide

        n = len(motion)
        av_parts, us_parts = [], []
        for a, b in blocks(n, cfg.block_frames):
            av_parts.append(facial_attributes(decoder.decode(motion[a:b]), portrait.aspect))
            us_parts.append(self._user_block(track, encoder, a, b)[1])
        cat = (lambda parts: {k: np.concatenate([p[k] for p in parts]) for k in parts[0]})
        return SideBySide(cat(av_parts), avatar.vad, cat(us_parts), ComposerConfig(panel=cfg.panel))


def _mix(avatar: np.ndarray, user: np.ndarray, n_frames: int) -> np.ndarray:
    """Both voices for the side-by-side view, fitted to the output length."""
    a, u = fit_audio_length(avatar, n_frames), fit_audio_length(user, n_frames)
    return np.clip(a + u, -1.0, 1.0)
