"""The inputs of a live session, frame by frame: the user's side (tracking, neutral face, motion codes, audio
features) and the avatar's committed audio (PCM for output, features for the model); the render worker
processes' functions. (The portrait's set-up, cropped for live frames, is `stages.setup_portrait`.)"""

from __future__ import annotations

import collections

import cv2
import numpy as np

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
    """The user's side of the clock: tracking, the neutral face, motion codes and audio features."""

    def __init__(self, shared, cfg, mel, vad):
        """shared: the LiveModel; cfg: its LiveConfig; mel, vad: a MelStreamer and a VadStreamer."""
        from echo_ihg.inference.stages import SILENCE, UserMotionEncoder

        self.m, self.cfg, self.mel_s, self.vad_s = shared, cfg, mel, vad
        self.silence = np.full(MEL_DIM, SILENCE, np.float32)
        self.absent = UserMotionEncoder(shared.codec, np.zeros((478, 3), np.float32), 1.0).absent
        self.tracker = None
        self.encoder = None
        self.size: tuple[int, int] | None = None
        self.first: list[np.ndarray] = []      # tracked frames until the neutral face is known
        self.last: np.ndarray | None = None
        self.mel = collections.deque()
        self.vad = collections.deque()
        self._pending_mel = np.zeros((0, MEL_DIM), np.float32)

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
            self.encoder, self.first, self.last = None, [], None
        self.size = img.shape[:2]
        return self.tracker.process(np.ascontiguousarray(img[:, :, ::-1]))

    def frame(self, landmarks: np.ndarray | None) -> tuple:
        """The model's inputs for one user frame: (mel (1, 320), motion (1, Dm), attrs, vad (1,))."""
        from echo_ihg.inference.stages import UserMotionEncoder
        from echo_ihg.motion.codec import neutral_from_sequence

        mel = self.mel.popleft() if self.mel else self.silence
        vad = self.vad.popleft() if self.vad else 0.0
        aspect = self.size[1] / self.size[0] if self.size else 1.0
        if landmarks is not None:
            self.last = landmarks
            if self.encoder is None:
                self.first.append(landmarks)
                if len(self.first) >= self.cfg.neutral_frames:
                    neutral = neutral_from_sequence(np.stack(self.first), None, aspect)
                    self.encoder, self.first = UserMotionEncoder(self.m.codec, neutral, aspect), []
        if self.encoder is None or self.last is None:
            motion, attrs = self.absent(1)
        else:        # a frame without a face holds the last one, masked (as offline tracking does)
            motion, attrs = self.encoder.encode(self.last[None], np.ones(1, bool))
            if landmarks is None:
                attrs = {k: np.full(1, np.nan, np.float32) for k in attrs}
        return mel[None], motion, attrs, np.array([vad], np.float32)

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

    renderer = MeshWarpRenderer(render_config)
    _WORKER = (renderer, renderer.setup(rgb, landmarks=landmarks), quality)


def render_worker_jpeg(landmarks: np.ndarray) -> bytes:
    """In a render worker: portrait landmarks (478, 3) -> the avatar frame as JPEG bytes."""
    renderer, state, quality = _WORKER
    rgb = renderer.render_frame(state, landmarks)
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()
