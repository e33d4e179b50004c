"""The inputs of a live session, frame by frame: the user's side (tracking, neutral face, motion codes, audio
features) and the avatar's committed audio (PCM for output, features for the model); the render worker
processes' functions. (The portrait's set-up, cropped for live frames, is `stages.setup_portrait`.)"""

from __future__ import annotations

import collections

import cv2
import numpy as np

from echo_ihg.audio.features import SILENCE
from echo_ihg.constants import MELS_PER_FRAME, N_MELS

MEL_DIM = MELS_PER_FRAME * N_MELS


class AvatarStream:
    """The avatar's committed audio: per-frame PCM for output and per-frame features for the model."""

    def __init__(self, mel, vad):
        self.mel_s, self.vad_s = mel, vad
        self.committed = 0
        self.pcm: dict[int, np.ndarray] = {}
        self._mel = np.zeros((0, MEL_DIM), np.float32)
        self._vad = np.zeros(0, np.float32)

    def push(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One frame (640 samples) -> the (mel (k, 320), vad (k,)) frames now complete in both streams."""
        self.pcm[self.committed] = (np.clip(x, -1, 1) * 32767).astype(np.int16)
        self.committed += 1
        self._mel = np.concatenate([self._mel, self.mel_s.push(x).reshape(-1, MEL_DIM)])
        self._vad = np.concatenate([self._vad, self.vad_s.push(x)])
        k = min(len(self._mel), len(self._vad))
        out = self._mel[:k], self._vad[:k]
        self._mel, self._vad = self._mel[k:], self._vad[k:]
        return out


class UserStream:
    """The user's side of the clock: tracking, gap filling, the neutral face, motion codes and audio features.

    The model's per-frame user inputs follow the offline pipeline's rules (`inference.pipeline.user_block`):
    the same gap policy (`user_track.GapFiller`: gaps up to `max_gap` frames interpolated, longer ones masked)
    and the same encoder, with its audio features. To interpolate, a frame is handed on `delay` = max(max_gap, 1)
    ticks after it was tracked, with its audio (a frame's log-mel is complete one frame later), inside the user
    lag L. Differences remain because a live stream cannot see the future: the neutral face comes from the
    first `neutral_frames` tracked frames (offline: the whole clip, as in training; the user is absent until
    then); the masked frames of a long gap hold the face before it (offline: the second half holds the face
    after it); and LiveConfig.max_gap defaults to 0 (a lost face is held, masked), because every frame of
    interpolation costs a frame of the lag. docs/architecture.md, "Offline and live".
    """

    def __init__(self, shared, cfg, mel, vad):
        """shared: the LiveModel (its codec); cfg: its LiveConfig; mel, vad: a MelStreamer and a VadStreamer."""
        from echo_ihg.inference.stages import UserMotionEncoder

        self.m, self.cfg, self.mel_s, self.vad_s = shared, cfg, mel, vad
        self.silence = np.full(MEL_DIM, SILENCE, np.float32)
        self.absent = UserMotionEncoder(shared.codec, np.zeros((478, 3), np.float32), 1.0).absent
        self.delay = max(cfg.max_gap, 1)
        self.tracker = None
        self.size: tuple[int, int] | None = None
        self.mel = collections.deque()
        self.vad = collections.deque()
        self._pending_mel = np.zeros((0, MEL_DIM), np.float32)
        self.n_in = self.n_out = 0              # frames tracked / handed on
        self.restart()

    def restart(self) -> None:
        """Forget the face (a new camera): gap filling and the neutral face start over; the frames not handed on
        yet go out as absent (with their audio)."""
        from echo_ihg.inference.user_track import GapFiller

        self.filler = GapFiller(self.cfg.max_gap)
        self.encoder = None
        self.first: list[np.ndarray] = []      # valid frames until the neutral face is known
        self.done: dict[int, tuple[np.ndarray, bool]] = {}    # gap-filled frames not yet handed on

    def track(self, frame, max_pixels: int, send) -> np.ndarray | None:
        """A user VideoFrame -> landmarks (478, 3) or None (no face / undecodable: an error frame is sent)."""
        img = cv2.imdecode(np.frombuffer(frame.jpeg, np.uint8), cv2.IMREAD_COLOR)
        if img is None or img.shape[0] * img.shape[1] > max_pixels:
            send("json", {"type": "error", "code": "bad_video",
                          "message": f"frame {frame.seq}: " + ("not a decodable JPEG" if img is None else
                                                               f"{img.shape[1]}×{img.shape[0]} is over the limit")})
            return None
        if self.size is not None and img.shape[:2] != self.size:   # the camera changed: start over
            self.tracker.reset()
            self.restart()
        self.size = img.shape[:2]
        return self.tracker.process(np.ascontiguousarray(img[:, :, ::-1]))

    @property
    def aspect(self) -> float:
        return self.size[1] / self.size[0] if self.size else 1.0

    def frame(self, landmarks: np.ndarray | None) -> tuple | None:
        """This tick's tracking result in; the model's inputs for the frame `delay` ticks back out:
        (mel (1, 320), motion (1, Dm), attrs, vad (1,)); None in the first `delay` ticks."""
        items = self.filler.push(landmarks)
        for k, item in enumerate(items, start=self.n_in + 1 - len(items)):
            if k >= self.n_out:
                self.done[k] = item
        self.n_in += 1
        if self.n_in - self.n_out <= self.delay:
            return None
        mel = self.mel.popleft() if self.mel else self.silence     # the audio of the same frame (its mel is
        vad = self.vad.popleft() if self.vad else 0.0             # complete one frame later: within the delay)
        face = self.done.pop(self.n_out, None)
        if face is None and self.filler.last is not None:    # inside a gap longer than max_gap: masked
            face = (self.filler.last, False)
        self.n_out += 1
        motion, attrs = self._encode(face)
        return mel[None], motion, attrs, np.array([vad], np.float32)

    def _encode(self, face: tuple[np.ndarray, bool] | None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        from echo_ihg.inference.stages import UserMotionEncoder
        from echo_ihg.motion.codec import neutral_from_sequence

        if face is not None and face[1] and self.encoder is None:
            self.first.append(face[0])
            if len(self.first) >= self.cfg.neutral_frames:
                neutral = neutral_from_sequence(np.stack(self.first), None, self.aspect)
                self.encoder, self.first = UserMotionEncoder(self.m.codec, neutral, self.aspect), []
        if self.encoder is None or face is None:
            return self.absent(1)
        motion, attrs = self.encoder.encode(face[0][None], np.ones(1, bool))
        if not face[1]:
            attrs = {k: np.full(1, np.nan, np.float32) for k in attrs}
        return motion, attrs

    def add_audio(self, chunks: list[np.ndarray], max_lag: int) -> int:
        """Featurise the user's new audio; returns the frames dropped because they ran too far ahead."""
        if chunks:
            x = np.concatenate(chunks)
            mel = self.mel_s.push(x).reshape(-1, MEL_DIM)
            vad = self.vad_s.push(x)
            self._pending_mel = np.concatenate([self._pending_mel, mel])
            self.vad.extend(vad.tolist())
            self.mel.extend(self._pending_mel)
            self._pending_mel = self._pending_mel[:0]
        dropped = 0
        while len(self.mel) > max_lag:
            self.mel.popleft()
            dropped += 1
        while len(self.vad) > max_lag:
            self.vad.popleft()
        return dropped


_WORKER: tuple | None = None     # a render worker process's renderer, portrait state and JPEG quality


def render_worker_setup(rgb: np.ndarray, landmarks: np.ndarray, render_config, quality: int) -> None:
    """Initializer of a render worker process: the renderer set up on the (cropped) portrait."""
    global _WORKER
    import os
    import threading
    import time

    from echo_ihg.render.meshwarp import MeshWarpRenderer

    parent = os.getppid()

    def exit_with_parent():     # a killed server must not leave its render workers behind
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=exit_with_parent, daemon=True).start()
    # one frame at a time is too small to share between threads: numpy's BLAS and cv2's threads spin, and
    # a frame cost 17 ms of CPU at 256 px against 7 ms on one thread, CPU the model and the tracker need
    import cv2
    from threadpoolctl import threadpool_limits

    cv2.setNumThreads(1)
    threadpool_limits(1)
    renderer = MeshWarpRenderer(render_config)
    _WORKER = (renderer, renderer.setup(rgb, landmarks=landmarks), quality)


def render_worker_jpeg(landmarks: np.ndarray) -> bytes:
    """In a render worker: portrait landmarks (478, 3) -> the avatar frame as JPEG bytes."""
    renderer, state, quality = _WORKER
    rgb = renderer.render_frame(state, landmarks)
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()
