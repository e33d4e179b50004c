"""Offline generation: portrait + the avatar's speech + the user's video (+ transcript) -> the avatar's video.

    pipe = Pipeline("runs/x/export", PipelineConfig(GenerationConfig(steps=8, seed=0)))   # Pipeline(): default
    result = pipe.generate("portrait.png", "answer.wav", "user.mp4", transcript=None, out="avatar.mp4")
    result.video, result.sidecar, result.timings, result.real_time_factor

    with pipe.generation("portrait.png", "answer.wav", "user.mp4") as gen:    # generate once, write views
        avatar = gen.write("avatar.mp4")
        side = gen.write("side_by_side.mp4", side_by_side=True)

Stages (each timed; exclusive wall time, they add up to the total):
    setup     track the portrait, build the renderer's mesh
    features  decode audio (any container / rate, stereo downmixed), log-mel + VAD of both speakers, the
              user's motion codes and facial attributes
    tracking  the user's video, streamed frame by frame into a memory-mapped landmark file
    asr       words of both tracks when no transcript is given (optional extra `asr`)
    lcu       user perception scan (LPE), behaviour and emotion texts + their embeddings, f_pu
    motion    the diffusion sampler, chunk after chunk
    render    motion -> portrait landmarks (decoded once per generation) -> frames (and the side-by-side
              composition)
    encode    H.264 + AAC
Every view written from one generation repeats the shared stages' timings (setup ... motion) in its sidecar
and adds its own render and encode.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from threadpoolctl import threadpool_limits

from echo_ihg.constants import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME
from echo_ihg.errors import InputError
from echo_ihg.inference.config import GenerationConfig
from echo_ihg.inference.generation import GenerateResult, Generation, Inputs, mp4_path
from echo_ihg.inference.model_io import load_inference_model
from echo_ihg.inference.stages import (AudioFrames, AvatarMotionDecoder, Portrait, StageTimer, UserMotionEncoder,
                                      blocks, setup_portrait)
from echo_ihg.inference.user_track import UserTrack, track_user_video
from echo_ihg.io.media import fit_audio_length, load_audio
from echo_ihg.motion.codec import rest_motion
from echo_ihg.motion.identity import identity_vector
from echo_ihg.utils.progress import progress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineConfig:
    """Offline generation settings; CLI flags and YAML only override these defaults."""

    generation: GenerationConfig = GenerationConfig()   # steps, seed, size, history, VAD, speaker, threads
    side_by_side: bool = False        # user video | avatar | attribute plots instead of the avatar alone
    panel: int = 320                  # px, side-by-side panel size
    asr: bool = True                  # transcribe when no transcript is given (if the `asr` extra is installed)
    max_gap: int = 5                  # frames: user-face gaps up to this long are interpolated, longer masked
    pose_scale: float = 1.0           # damp (< 1) or exaggerate (> 1) the avatar's head motion
    block_frames: int = 250           # frames per processing block (bounded memory)
    crf: int = 20                     # H.264 quality (lower = better, larger)
    blas_threads: int = 1             # BLAS threads for numpy (0 = default): the renderer's and codec's batched
                                      # 3×3 algebra (README, "Bench": threads)

    def __post_init__(self) -> None:
        if self.block_frames < 1 or self.max_gap < 0 or self.panel < 64 or self.blas_threads < 0:
            raise InputError(None, "invalid pipeline config: block_frames ≥ 1, max_gap ≥ 0, panel ≥ 64 and "
                                   "blas_threads ≥ 0 are required")


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
    """Loads the model once; `generate` runs one conversation (see the module docstring), `generation` runs
    it once for several views.

    checkpoint: a model folder / checkpoint folder / .safetensors (None: the bundled default model);
    text_encoder: the frozen sentence encoder for the LCU texts (None: the one the model was trained with,
    loaded when needed: `LoadedModel.text_conditioner`).
    """

    def __init__(self, checkpoint: str | Path | None = None, config: PipelineConfig | None = None,
                 text_encoder: Any = None, tracker_config: Any = None):
        from echo_ihg.render.base import RenderConfig
        from echo_ihg.render.meshwarp import MeshWarpRenderer

        self.config = config or PipelineConfig()
        self.loaded = load_inference_model(checkpoint)
        self.loaded.text_encoder = text_encoder
        self.model, self.codec, self.model_source, self.model_meta = (self.loaded.model, self.loaded.codec,
                                                                      self.loaded.source, self.loaded.meta)
        self.tracker_config = tracker_config
        self.renderer = MeshWarpRenderer(RenderConfig(size=int(self.config.generation.size)))

    # ---- the calls --------------------------------------------------------------------------------------
    def generate(self, portrait: str | Path, avatar_audio: str | Path, user_video: str | Path,
                 transcript: str | Path | None = None, out: str | Path = "avatar.mp4",
                 side_by_side: bool | None = None, progress_bars: bool = True) -> GenerateResult:
        """Generate and write one view (`out` + its sidecar)."""
        out = mp4_path(out)
        with self.generation(portrait, avatar_audio, user_video, transcript, out.parent, progress_bars) as gen:
            return gen.write(out, side_by_side)

    @contextlib.contextmanager
    def generation(self, portrait: str | Path, avatar_audio: str | Path, user_video: str | Path,
                   transcript: str | Path | None = None, work_dir: str | Path = ".",
                   progress_bars: bool = True) -> Iterator[Generation]:
        """Track, featurise and sample once; the `Generation` writes any number of views (`write`) inside
        the block. work_dir: where the temporary files go (next to the outputs: same disk)."""
        for p in (portrait, avatar_audio, user_video, transcript):
            if p is not None and not Path(p).is_file():
                raise InputError(p, "file not found" if not Path(p).exists() else "not a file")
        cfg = self.config
        caught = _WarningLog()
        logging.getLogger("echo_ihg").addHandler(caught)
        Path(work_dir).mkdir(parents=True, exist_ok=True)
        blas = threadpool_limits(cfg.blas_threads, user_api="blas") if cfg.blas_threads else contextlib.nullcontext()
        try:
            with blas, cfg.generation.threads(), \
                    tempfile.TemporaryDirectory(prefix=".echo-ihg-work-", dir=work_dir) as work:
                yield self._generate(cfg, Inputs(Path(portrait), Path(avatar_audio), Path(user_video),
                                                 None if transcript is None else Path(transcript)),
                                     Path(work), caught, progress_bars)
        finally:
            logging.getLogger("echo_ihg").removeHandler(caught)

    def _generate(self, cfg: PipelineConfig, paths: Inputs, work: Path, caught: _WarningLog, bars: bool
                  ) -> Generation:
        timer = StageTimer()
        with timer("setup"):
            portrait = setup_portrait(paths.portrait, self.renderer)
            conditioner = self.text_conditioner(cfg)
        with timer("features"):
            avatar_audio, avatar = self._avatar_audio(paths.avatar_audio, cfg)
        n = len(avatar)
        with timer("tracking"):
            track = track_user_video(paths.user_video, n, work, self._tracker_config(cfg), progress=bars)
        with timer("features"):
            user_audio, user = self._user_audio(paths.user_video, n, cfg)
            encoder = UserMotionEncoder.of_clip(self.codec, track.landmarks, track.valid, track.aspect)
        if track.n_frames < n:
            log.warning("%s: the user video ends at %.2f s but the avatar's audio lasts %.2f s; the user is "
                        "treated as absent after the video's end", paths.user_video, track.n_frames / FPS, n / FPS)
        elif track.truncated:
            log.info("%s: the user video is longer than the avatar's audio; only its first %.2f s are used",
                     paths.user_video, n / FPS)
        entries, source = self._transcript(paths.transcript, avatar_audio, user_audio, cfg, timer, bars)
        motion, user_attrs = self._motion(cfg, portrait, avatar, user, track, encoder, entries, conditioner,
                                          timer, bars)
        decoder = AvatarMotionDecoder(self.codec, portrait.landmarks, portrait.aspect, cfg.pose_scale)
        return Generation(self, cfg, paths, work, caught, bars, timer, portrait, decoder, motion, avatar,
                          avatar_audio, user_audio, user_attrs, track, entries, source)

    # ---- inputs -----------------------------------------------------------------------------------------
    def _avatar_audio(self, path: Path, cfg: PipelineConfig) -> tuple[np.ndarray, AudioFrames]:
        audio = load_audio(path)
        if len(audio) < SAMPLES_PER_FRAME:
            raise InputError(path, f"the avatar audio is {len(audio) / SAMPLE_RATE * 1000:.0f} ms long; at least "
                                   f"one frame ({1000 / FPS:.0f} ms) is needed")
        feats = AudioFrames.of(audio, vad_backend=cfg.generation.vad_backend)
        if float(np.abs(audio).max()) < 1e-4 or float(feats.vad.max()) < 0.5:
            log.warning("%s: the avatar audio contains no speech; the avatar only listens", path)
        return audio, feats

    def _user_audio(self, path: Path, n: int, cfg: PipelineConfig) -> tuple[np.ndarray, AudioFrames]:
        audio = load_audio(path, optional=True)
        if audio is None:
            log.warning("%s: the user video has no audio track; the user is treated as silent", path)
            audio = np.zeros(0, np.float32)
        audio = fit_audio_length(audio, n)
        return audio, AudioFrames.of(audio, n, vad_backend=cfg.generation.vad_backend)

    def _tracker_config(self, cfg: PipelineConfig):
        from echo_ihg.tracking.tracker import TrackerConfig

        base = self.tracker_config or TrackerConfig()
        return dataclasses.replace(base, max_gap=cfg.max_gap)

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
        gen = cfg.generation
        with timer("asr"):
            asr = WhisperASR()
            words = (asr.transcribe(avatar_audio, gen.avatar_speaker, progress=bars)
                     + asr.transcribe(user_audio, gen.user_speaker, progress=bars))
        log.info("ASR: %d words (avatar and user tracks)", len(words))
        return sorted(words, key=lambda e: (e["start"], e["end"])), "asr (faster-whisper tiny.en)"

    # ---- model ------------------------------------------------------------------------------------------
    def text_conditioner(self, cfg: PipelineConfig):
        """A new `model.engine.TextConditioner` for one run (`LoadedModel.text_conditioner`)."""
        return self.loaded.text_conditioner(cfg.generation.avatar_speaker)

    def _motion(self, cfg: PipelineConfig, portrait: Portrait, avatar: AudioFrames, user: AudioFrames,
                track: UserTrack, encoder: UserMotionEncoder, entries: list[dict], conditioner: Any,
                timer: StageTimer, bars: bool) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The avatar's motion (n, Dm) and the user's attributes (n,) each, block after block."""
        from echo_ihg.model.engine import SamplerConfig, StreamingGenerator

        n, g = len(avatar), cfg.generation
        sampler = SamplerConfig(steps=g.steps, guidance=g.guidance, describe_window=int(g.history_s * FPS))
        gen = StreamingGenerator(self.model, identity_vector(portrait.landmarks, portrait.aspect), sampler,
                                 conditioner, initial_motion=rest_motion(self.codec), seed=g.seed)
        if conditioner is not None:
            conditioner.embed = timer.wrap(conditioner.embed, "lcu")
        gen.push_transcript(entries)
        out: list[np.ndarray] = []
        attrs: list[dict[str, np.ndarray]] = []
        bar = progress(total=n, desc="motion", unit="frame", enabled=None if bars else False)
        try:
            with timer("motion"), _timed_methods(self.model, ("perceive", "user_context"), timer, "lcu"):
                for a, b in blocks(n, cfg.block_frames):
                    with timer("features"):
                        u_motion, u_attrs = user_block(track, encoder, a, b)
                    attrs.append(u_attrs)
                    gen.push_user(user.mel[a:b], u_motion, u_attrs, user.vad[a:b])
                    gen.push_avatar(avatar.mel[a:b], avatar.vad[a:b])
                    out.append(gen.pull())
                    bar.update(len(out[-1]))
                out.append(gen.finish())
        finally:
            bar.close()
        motion = np.concatenate(out)
        assert len(motion) == n, (len(motion), n)
        return motion, {k: np.concatenate([p[k] for p in attrs]) for k in attrs[0]}


def user_block(track: UserTrack, encoder: UserMotionEncoder, a: int, b: int
               ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The model's user inputs of frames [a, b): motion and attributes of the tracked frames, then absent ones
    past the video's end."""
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
