"""One live session: the user's webcam frames and microphone in, the avatar's frames and audio out, at 25 fps.

Timeline. The avatar clock ticks at 25 fps from the moment the first motion chunk is ready. At tick n the
*clock thread* takes the newest user frame that arrived (older unprocessed ones are dropped: never queued),
tracks and encodes it, pops one frame of the user's audio features, hands both to the *generation thread*, and
sends avatar frame n with its 640 samples of avatar audio. It never waits for the user or the model: a missing
user frame is pushed as an absent (masked) frame; a frame not rendered in time is replaced by the last image
sent (counted as late); when the clock itself falls behind, ticks skip tracking (counted as skipped) so that
the audio and the frame count stay on time.

The *generation thread* owns the `StreamingGenerator` and runs its chunks; the *render thread* turns their
motion into JPEGs as soon as it exists (a chunk ahead of the clock), so rendering is not on the tick's path.
Chunk t0 (its new frames [t0, t0 + hop), hop = chunk − overlap) reads the user per frame up to its known horizon
t0 − L (`SamplerConfig.user_horizon` = −L, a horizon the model is trained for), so it can be generated while
ticks t0 − L … t0 − 1 run and is ready when frame t0 is due. L and the hop start at `user_lag_frames` and
`hop_frames` and grow, up to `max_user_lag_frames` and `max_hop_frames`, when chunks come late or the model
cannot keep up, and come back when there is room (`live_timing.PaceController`). The avatar frame n is therefore
sent right after user frame n was processed (the display latency); the model's reaction delay — the age of the
newest user frame behind an avatar frame — is L + 1 + (n − t0) frames: on average L + (hop + 1) / 2. The user's
side hands each frame on max(max_gap, 1) ticks after tracking it, so that it fills tracking gaps and pairs each
frame with its complete audio as the offline pipeline does; those ticks come out of L (`live_inputs.UserStream`;
docs/architecture.md, "Offline and live").

The avatar's speech is known ahead (a file or a TTS stream): it is committed to the timeline
max L + max hop + window frames ahead of the clock (the look-ahead the model's audio attention needs), so audio
pushed now is heard after ~that many frames; before and after it the avatar's audio is silence (it listens).
"""

from __future__ import annotations

import bisect
import collections
import logging
import queue
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from echo_ihg.constants import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME
from echo_ihg.errors import EchoError, InputError
from echo_ihg.inference.config import GenerationConfig
from echo_ihg.inference.live_inputs import AvatarStream, UserStream, render_worker_jpeg, render_worker_setup
from echo_ihg.inference.live_timing import PaceController, Stats
from echo_ihg.inference.model_io import LoadedModel, load_inference_model

log = logging.getLogger(__name__)

GEN_QUEUE = 10 * FPS * 3 + 100      # 10 s of per-frame inputs (user, avatar audio, transcript) + slack



@dataclass(frozen=True)
class LiveConfig:
    """Live generation settings (CLI flags override them)."""

    generation: GenerationConfig = GenerationConfig(size=256, steps=4)   # smaller frames, fewer steps than
                                    # offline: a chunk must be ready within the user lag
    hop_frames: int = 16            # new frames per chunk (640 ms); the chunk's other frames are inpainted
                                    # (overlap = chunk − hop), so reactions wait half a hop on average. Hop 8
                                    # needs > 1 core for the model alone (bench/serve_load.py, docs/listening.md)
    max_hop_frames: int = 32        # the hop grows up to this when the model cannot keep up (= hop_frames: fixed)
    user_lag_frames: int = 8        # L (module docstring): the smallest user lag, room for a chunk's generation
    max_user_lag_frames: int = 16   # L grows up to this when chunks come late (= user_lag_frames: a fixed L)
    neutral_frames: int = 25        # tracked user frames that define the user's neutral face (module docstring)
    max_gap: int = 0                # frames: user-face gaps up to this long are interpolated as offline
                                    # (PipelineConfig.max_gap); each costs a frame of the lag L, so by default
                                    # a lost face is held, masked (live_inputs.UserStream)
    jpeg_quality: int = 80
    max_audio_lag_frames: int = 10  # user audio frames buffered beyond the clock before the oldest are dropped
    max_behind_frames: int = 2      # the clock this far behind: ticks skip tracking and rendering
    stats_every_s: float = 1.0
    render_processes: int = 1       # render in that many worker processes shared by the sessions, outside this
                                    # process's GIL (README, "Bench": live); 0: in each session's render thread

    def __post_init__(self) -> None:
        if not 64 <= self.generation.size <= 1024 or not 1 <= self.hop_frames <= self.max_hop_frames \
                or self.neutral_frames < 1 \
                or not 0 <= self.max_gap < self.user_lag_frames <= self.max_user_lag_frames \
                or self.max_audio_lag_frames <= max(self.max_gap, 1) + 1 \
                or not 10 <= self.jpeg_quality <= 100 or not 0 <= self.render_processes <= 8:
            raise InputError(None, "invalid live config: generation.size 64..1024, "
                                   "1 ≤ hop_frames ≤ max_hop_frames, "
                                   "neutral_frames ≥ 1, 0 ≤ max_gap < user_lag_frames ≤ max_user_lag_frames, "
                                   "max_audio_lag_frames > "
                                   "max(max_gap, 1) + 1, jpeg_quality 10..100, render_processes 0..8")


class LiveModel:
    """What all sessions share: the model, its codec, the renderer and the set-up portrait (read-only).

    model: the loaded model (`inference.model_io.LoadedModel`), or a checkpoint path to load (None: the
    bundled default model)."""

    def __init__(self, model: LoadedModel | str | Path | None, portrait: str | Path | None, config: LiveConfig,
                 text_encoder: Any = None):
        from echo_ihg.assets import default_portrait
        from echo_ihg.inference.stages import AvatarMotionDecoder, rest_motion, setup_portrait
        from echo_ihg.motion.identity import identity_vector
        from echo_ihg.render.base import RenderConfig
        from echo_ihg.render.meshwarp import MeshWarpRenderer

        self.config = config
        if config.generation.torch_threads:          # process-wide: the sessions' threads share it
            import torch

            torch.set_num_threads(config.generation.torch_threads)
        from threadpoolctl import threadpool_limits

        # process-wide too: numpy's BLAS threads spin between the small per-frame products (motion decoding,
        # tracking) and take CPU from the model; the model's own threads are torch's, not BLAS
        threadpool_limits(1, user_api="blas")
        self.loaded = model if isinstance(model, LoadedModel) else load_inference_model(model)
        if text_encoder is not None:
            self.loaded.text_encoder = text_encoder
        self.model, self.codec = self.loaded.model, self.loaded.codec
        chunk = self.model.cfg.chunk_frames
        if not config.max_hop_frames < chunk:
            raise InputError(None, f"hop_frames and max_hop_frames ({config.max_hop_frames}) must be below the "
                                   f"model's chunk of {chunk} frames")
        deepest = chunk - config.max_hop_frames + self.model.cfg.user_lag_max
        if config.max_user_lag_frames > deepest:
            raise InputError(None, f"max_user_lag_frames {config.max_user_lag_frames}: this model is trained for "
                                   f"user lags up to {deepest} frames at a hop of {config.max_hop_frames}")
        self.renderer = MeshWarpRenderer(RenderConfig(size=int(config.generation.size)))
        self.portrait_path = Path(portrait) if portrait is not None else default_portrait()
        self.portrait = setup_portrait(self.portrait_path, self.renderer, crop=True)
        self.pool, self._pool_lock = None, threading.Lock()
        if config.render_processes:
            self._start_pool()
        self.identity = identity_vector(self.portrait.landmarks, self.portrait.aspect)
        self.decoder = AvatarMotionDecoder(self.codec, self.portrait.landmarks, self.portrait.aspect)
        self.rest = rest_motion(self.codec)
        self.rest_jpeg = self.jpeg(self.render(self.decoder.decode(self.rest[None])[0]))
        self.text_conditioner()      # loads the text encoder now, not in a session

    def text_conditioner(self):
        return self.loaded.text_conditioner(self.config.generation.avatar_speaker)

    @property
    def chunk_new_frames(self) -> int:
        return self.config.hop_frames

    @property
    def lookahead(self) -> int:
        """Frames of avatar audio committed ahead of the clock (see the module docstring)."""
        return self.config.max_user_lag_frames + self.config.max_hop_frames + self.model.cfg.audio_window + 3

    def _start_pool(self) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.pool = ProcessPoolExecutor(self.config.render_processes, multiprocessing.get_context("spawn"),
                                        initializer=render_worker_setup,
                                        initargs=(self.portrait.image, self.portrait.landmarks,
                                                  self.renderer.config, self.config.jpeg_quality))

    def render_jpeg(self, landmarks: np.ndarray) -> bytes:
        """Portrait landmarks (478, 3) -> the avatar frame as JPEG (in a worker process when configured)."""
        from concurrent.futures.process import BrokenProcessPool

        pool = self.pool
        if pool is not None:
            try:
                return pool.submit(render_worker_jpeg, landmarks).result()
            except BrokenProcessPool:    # a worker died: a new pool for later frames, this one rendered here
                log.warning("a render worker process died; restarting the render workers")
                with self._pool_lock:
                    if self.pool is pool:
                        self._start_pool()
        return self.jpeg(self.render(landmarks))

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
            self.pool = None

    def render(self, landmarks: np.ndarray) -> np.ndarray:
        return self.renderer.render_frame(self.portrait.state, landmarks)

    def jpeg(self, rgb: np.ndarray) -> bytes:
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]),
                               [cv2.IMWRITE_JPEG_QUALITY, self.config.jpeg_quality])
        assert ok
        return buf.tobytes()

    def generator(self):
        from echo_ihg.model.engine import SamplerConfig, StreamingGenerator

        c, g = self.config, self.config.generation
        chunk = self.model.cfg.chunk_frames
        sampler = SamplerConfig(steps=g.steps, guidance=g.guidance, overlap=chunk - c.hop_frames,
                                describe_window=int(g.history_s * FPS), user_horizon=-c.user_lag_frames)
        return StreamingGenerator(self.model, self.identity, sampler, self.text_conditioner(),
                                  initial_motion=self.rest, seed=g.seed, max_overlap=chunk - c.hop_frames)


class LiveSession:
    """A session's threads and queues. `send(kind, payload)` delivers to the client (thread-safe, never
    blocks): kind "frame" (bytes, with the user frame's arrival time) or "json" (dict)."""

    def __init__(self, shared: LiveModel, send: Callable[[str, Any], None], max_avatar_audio_s: float = 300.0,
                 max_frame_pixels: int = 1280 * 720):
        self.m, self.cfg, self.send = shared, shared.config, send
        self.max_avatar_samples = int(max_avatar_audio_s * SAMPLE_RATE)
        self.max_frame_pixels = max_frame_pixels
        self.stats = Stats()
        self.ready = threading.Event()
        self.stopped = threading.Event()
        self.failed: str | None = None
        self._lock = threading.Lock()
        self._slot = None                                   # newest user frame: (VideoFrame, arrival)
        self._user_pcm: list[np.ndarray] = []               # user audio chunks not yet featurised
        self._user_pcm_n = 0
        self._avatar_pcm = collections.deque()              # avatar speech not yet committed (float32 chunks)
        self._avatar_queued = 0
        # the generator's inputs: drained before every chunk, so they hold about one chunk's worth while the
        # model keeps up with real time; a model that cannot (10 s behind) ends the session with an error
        self._gen_q: queue.Queue = queue.Queue(maxsize=GEN_QUEUE)
        self._motion: dict[int, tuple[np.ndarray, int]] = {}   # frame -> (landmarks, newest user frame read)
        self._rendered: dict[int, tuple[bytes, int]] = {}      # frame -> (JPEG, newest user frame read)
        c = self.cfg
        self.pace = PaceController(c.hop_frames, c.user_lag_frames, (c.hop_frames, c.max_hop_frames),
                                   (c.user_lag_frames, c.max_user_lag_frames))
        self.stats.hop, self.stats.user_lag = self.pace.hop, self.pace.lag
        self._new_motion = threading.Condition(self._lock)
        self._tick_now = 0                                      # the clock's current frame
        self._threads = [threading.Thread(target=self._guard(fn), daemon=True, name=f"live-{name}")
                         for name, fn in (("clock", self._clock), ("gen", self._generate),
                                          ("render", self._render))]

    # ---- inputs (called from the server's event loop; cheap) ----------------------------------------------
    def start(self) -> None:
        for t in self._threads:
            t.start()

    def on_video(self, frame, arrival: float) -> None:
        with self._lock:
            if self._slot is not None:
                self.stats.user_dropped += 1
            self._slot = (frame, arrival)
            self.stats.user_frames += 1

    def on_user_audio(self, samples: np.ndarray) -> None:
        with self._lock:
            self._user_pcm.append(np.asarray(samples, np.float32) / 32768.0)
            self._user_pcm_n += len(samples)
            while self._user_pcm_n > SAMPLE_RATE:     # > 1 s between two ticks: keep the newest second
                n = len(self._user_pcm.pop(0))
                self._user_pcm_n -= n
                self.stats.audio_dropped += round(n / SAMPLES_PER_FRAME)     # in frames, as elsewhere

    def on_avatar_audio(self, samples: np.ndarray) -> None:
        """float32 16 kHz mono samples (or int16) of the avatar's speech, appended after what is queued."""
        x = np.asarray(samples)
        x = x.astype(np.float32) / 32768.0 if x.dtype == np.int16 else x.astype(np.float32)
        if not np.isfinite(x).all():
            raise InputError(None, "the avatar audio contains NaN or infinite samples")
        with self._lock:
            if self._avatar_queued + len(x) > self.max_avatar_samples:
                raise InputError(None, f"more than {self.max_avatar_samples / SAMPLE_RATE:.0f} s of avatar audio "
                                       "queued")
            self._avatar_pcm.append(x)
            self._avatar_queued += len(x)

    def on_avatar_file(self, data: bytes) -> float:
        """An audio file's bytes (any container) -> queued; returns its duration in seconds. Blocking
        (decoding): call it off the event loop."""
        from echo_ihg.io.media import load_audio

        with tempfile.TemporaryDirectory(prefix="echo-ihg-live-") as tmp:
            path = Path(tmp) / "avatar_audio"
            path.write_bytes(data)
            try:
                audio = load_audio(path)
            except InputError as exc:
                raise InputError(None, f"the avatar audio file could not be decoded: {exc.problem}") from None
        self.on_avatar_audio(audio)
        return len(audio) / SAMPLE_RATE

    def on_transcript(self, entries: list[dict]) -> None:
        self._feed(("transcript", entries))

    def signal_stop(self) -> None:
        """Ask the threads to end (returns at once; they finish their current tick or chunk)."""
        self.stopped.set()
        try:
            self._gen_q.put_nowait(("stop", None))
        except queue.Full:      # the generator checks `stopped` after its chunk
            pass
        with self._new_motion:
            self._new_motion.notify_all()

    def stop(self, timeout: float = 10.0) -> None:
        self.signal_stop()
        for t in self._threads:
            if t.is_alive() and t is not threading.current_thread():
                t.join(timeout)

    # ---- threads --------------------------------------------------------------------------------------
    def _guard(self, fn):
        def run():
            try:
                fn()
            except Exception as exc:   # a session's failure ends this session only: report it, stop it
                log.exception("live session failed")
                self.failed = f"{type(exc).__name__}: {exc}"
                self.stopped.set()
                self.send("json", {"type": "error", "code": "session_failed", "message": self.failed,
                                   "fatal": True})
        return run

    def _generate(self) -> None:
        gen = self.m.generator()
        produced = 0
        while not self.stopped.is_set():
            items = [self._gen_q.get()]
            while True:                        # take everything queued before generating
                try:
                    items.append(self._gen_q.get_nowait())
                except queue.Empty:
                    break
            for kind, payload in items:
                if kind == "stop":
                    return
                if kind == "user":
                    gen.push_user(*payload)
                elif kind == "avatar":
                    gen.push_avatar(*payload)
                elif kind == "transcript":
                    gen.push_transcript(payload)
            t = time.perf_counter()
            motion = gen.pull()
            if len(motion):
                starts = gen.state.emitted                 # first frame of every chunk so far
                n_chunks = sum(1 for b in starts if b >= produced)
                landmarks = self.m.decoder.decode(motion)
                chunk_s = (time.perf_counter() - t) / max(1, n_chunks)
                self.stats.chunk_ms.append(chunk_s * 1000)
                newest = gen.sampler.user_horizon - 1     # chunk t0 read user frames up to t0 − L − 1
                with self._new_motion:
                    for i, lm in enumerate(landmarks):
                        f = produced + i
                        self._motion[f] = (lm, starts[bisect.bisect_right(starts, f) - 1] + newest)
                    self._new_motion.notify_all()
                    slack = produced - self._tick_now      # ticks left before the first new frame is due
                if self.ready.is_set():
                    self.stats.hop, self.stats.user_lag = self.pace.update(slack, chunk_s)
                    gen.set_pace(self.m.model.cfg.chunk_frames - self.pace.hop, -self.pace.lag)
                produced += len(motion)

    def _render(self) -> None:
        """Render motion frames into JPEGs as soon as they exist (the avatar's motion is known a chunk ahead,
        so rendering is off the tick's critical path). Frames whose tick has passed are skipped."""
        nxt, first, wall = 0, min(3, self.m.chunk_new_frames), 0.0
        while not self.stopped.is_set():
            with self._new_motion:
                # a frame must be ready by its tick: when behind, aim at the tick the render will finish by
                nxt = max(nxt, self._tick_now + int(np.ceil(wall * FPS)) if self.ready.is_set() else 0)
                for f in [f for f in self._motion if f < nxt]:
                    del self._motion[f]
                entry = self._motion.pop(nxt, None)
                if entry is None:
                    self._new_motion.wait(0.1)
                    continue
            t = time.perf_counter()
            jpeg = self.m.render_jpeg(entry[0])
            wall = 0.8 * wall + 0.2 * (time.perf_counter() - t)     # recent render wall time (s)
            with self._lock:
                self._rendered[nxt] = (jpeg, entry[1])
                self.stats.rendered += 1
            nxt += 1
            if nxt >= first:
                self.ready.set()

    def _clock(self) -> None:
        from echo_ihg.audio.features import MelStreamer
        from echo_ihg.audio.vad import VadStreamer
        from echo_ihg.tracking.tracker import FaceTracker

        self._user = UserStream(self.m, self.cfg, MelStreamer(), VadStreamer(self.cfg.generation.vad_backend))
        self._avatar = AvatarStream(MelStreamer(), VadStreamer(self.cfg.generation.vad_backend))
        with FaceTracker(static_image_mode=False) as tracker:
            self._user.tracker = tracker
            self._commit_avatar(self.m.lookahead)
            while not self.ready.wait(0.05):               # the first chunk: the clock starts when it is ready
                if self.stopped.is_set():
                    return
            self.send("json", {"type": "started", "fps": FPS, "size": self.cfg.generation.size})
            self._run_ticks()

    def _run_ticks(self) -> None:
        t0, n, last_jpeg, last_stats = time.perf_counter(), 0, self.m.rest_jpeg, time.perf_counter()
        self.stats.clock_started = t0
        while not self.stopped.is_set():
            now = time.perf_counter()
            due = t0 + n / FPS
            if now < due:
                time.sleep(due - now)
            cheap = (time.perf_counter() - due) * FPS > self.cfg.max_behind_frames
            last_jpeg = self._tick(n, cheap, last_jpeg)
            n += 1
            if time.perf_counter() - last_stats >= self.cfg.stats_every_s:
                last_stats = time.perf_counter()
                self.send("json", self.stats.snapshot())

    def _tick(self, n: int, cheap: bool, last_jpeg: bytes) -> bytes:
        from echo_ihg.inference.protocol import pack_frame

        with self._lock:
            slot, self._slot = self._slot, None
            pcm, self._user_pcm, self._user_pcm_n = self._user_pcm, [], 0
        user = None
        if slot is not None and not cheap:
            user = self._user.track(slot[0], self.max_frame_pixels, self.send)
            self.stats.user_tracked += user is not None
        elif slot is not None:
            self.stats.user_dropped += 1
        self.stats.audio_dropped += self._user.add_audio(pcm, self.cfg.max_audio_lag_frames)
        item = self._user.frame(user)        # the user frame `delay` ticks back (None in the first ticks)
        if item is not None:
            self._feed(("user", item))
        self._commit_avatar(n + self.m.lookahead)
        with self._lock:
            self._tick_now = n + 1
            entry = self._rendered.pop(n, None)
            for f in [f for f in self._rendered if f < n]:
                del self._rendered[f]
        self.stats.skipped += cheap
        if entry is not None:
            last_jpeg = entry[0]
        else:
            self.stats.late += 1
        if entry is not None:
            self.stats.reaction_ms.append((n - entry[1]) * 1000 / FPS)
        audio = self._avatar.pcm.pop(n, np.zeros(SAMPLES_PER_FRAME, np.int16))
        arrival = slot[1] if slot is not None and not cheap else None
        latency = (time.perf_counter() - arrival) * 1000 if arrival is not None else float("nan")
        msg = pack_frame(n, slot[0].seq if arrival else None, slot[0].client_ms if arrival else None,
                         latency, audio, last_jpeg)
        self.send("frame", (msg, arrival))
        return last_jpeg

    def _feed(self, item: tuple) -> None:
        try:
            self._gen_q.put_nowait(item)
        except queue.Full:
            raise EchoError("the motion model cannot keep up with real time on this machine (10 s behind); "
                            "use a smaller model, fewer sampler steps or fewer sessions") from None

    def _commit_avatar(self, upto: int) -> None:
        """Commit avatar audio (queued speech, else silence) for frames up to `upto` and feed its features."""
        a = self._avatar
        while a.committed < upto:
            need = SAMPLES_PER_FRAME
            parts = []
            with self._lock:
                while need and self._avatar_pcm:
                    head = self._avatar_pcm.popleft()
                    take, rest = head[:need], head[need:]
                    if len(rest):
                        self._avatar_pcm.appendleft(rest)
                    parts.append(take)
                    need -= len(take)
                    self._avatar_queued -= len(take)
            x = np.concatenate(parts + [np.zeros(need, np.float32)])
            mel, vad = a.push(x)
            if len(mel):
                self._feed(("avatar", (mel, vad)))

    def snapshot(self) -> dict[str, Any]:
        snap = self.stats.snapshot()
        with self._lock:
            snap["avatar_audio_queued_s"] = round(self._avatar_queued / SAMPLE_RATE, 2)
        return snap


def check_session_error(exc: BaseException) -> tuple[str, str]:
    """An exception from a session input -> (code, message) for an error frame."""
    if isinstance(exc, InputError):
        return "bad_input", exc.problem
    if isinstance(exc, EchoError):
        return "error", str(exc)
    return "internal", f"{type(exc).__name__}"
