"""Per-chunk building blocks of generation, shared by the offline pipeline and the live server.

Each block works on any span of frames, so it runs on a whole file (offline, in blocks) or chunk by chunk
(streaming) with the same results:

    portrait = setup_portrait(path, renderer)    # the avatar's portrait: renderer state, landmarks, aspect
    timer = StageTimer()                         # exclusive wall time per stage (nested stages pause outer)
    feats = AudioFrames.of(audio, n_frames)      # per-frame log-mel (n, 320) + VAD (n,), silence-padded
    enc = UserMotionEncoder(codec, neutral, aspect)
    motion, attrs = enc.encode(landmarks, valid) # (n, Dm) normalised codec motion, {name: (n,)} NaN = absent
    enc.absent(n)                                # the same for frames without a user (beyond the video's end)
    dec = AvatarMotionDecoder(codec, portrait_landmarks, portrait_aspect)
    landmarks = dec.decode(motion)               # (n, 478, 3) in the portrait's normalised frame

Motion space: the model reads and writes `MotionCodec.normalise`d codec motion (as in training,
`echo_ihg.data.train_features`). The avatar's head pose is transferred *relative* to a reference pose (the
mean pose of the codec's fitting data), about the portrait's own pose, with translations scaled by the ratio
of face sizes (`render.retarget.retarget`): the model's absolute head position belongs to its training
videos, not to the portrait.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from echo_ihg.audio.features import SILENCE, frames_for_audio, log_mel
from echo_ihg.constants import MELS_PER_FRAME, N_MELS, SAMPLES_PER_FRAME
from echo_ihg.errors import InputError, NoFaceError
from echo_ihg.motion.attributes import ATTRIBUTE_NAMES, facial_attributes
from echo_ihg.motion.codec import MotionCodec, clip_neutral, rest_motion  # rest_motion: live.py, eval/runner.py
from echo_ihg.render.retarget import retarget



@dataclass
class Portrait:
    """The avatar's portrait, set up once for a renderer."""

    state: Any                                   # render.base.PortraitState
    landmarks: np.ndarray                        # (478, 3) normalised in the portrait image
    aspect: float                                # the image's width / height
    image: np.ndarray                            # (H, W, 3) uint8: the image the state was set up on


def face_crop(rgb: np.ndarray, landmarks: np.ndarray, face_fraction: float = 0.38) -> np.ndarray:
    """The largest square around the face in which the face is at least `face_fraction` of the side wide
    (the whole image when it already is), shifted to stay inside the image."""
    h, w = rgb.shape[:2]
    pts = landmarks[:468, :2] * np.array([w, h], np.float32)
    lo, hi = pts.min(0), pts.max(0)
    side = int(min(min(w, h), max(hi - lo) / face_fraction))
    cx, cy = (lo + hi) / 2
    x0 = int(np.clip(cx - side / 2, 0, w - side))
    y0 = int(np.clip(cy - side * 0.45, 0, h - side))      # a little more room below (neck, shoulders)
    return np.ascontiguousarray(rgb[y0:y0 + side, x0:x0 + side])


def setup_portrait(path: Path, renderer: Any, crop: bool = False) -> Portrait:
    """Read the portrait image at `path`, track its face and set `renderer` (a `render.base.Renderer`) up on it.

    crop: set up on a head-and-shoulders crop (`face_crop`) instead of the whole image (live frames are small,
    and a face that fills a fifth of a full photo would be a few dozen pixels wide). A portrait without a face
    or one the renderer refuses (e.g. a face too small) -> NoFaceError / InputError naming `path`.
    """
    from echo_ihg.render.base import load_portrait
    from echo_ihg.tracking.face_mesh import track_image

    rgb, _ = load_portrait(path, renderer.config)
    try:
        if crop:
            rgb = face_crop(rgb, track_image(rgb))
        landmarks = track_image(rgb)
    except NoFaceError:
        raise NoFaceError(path, "no face found in the portrait (a clear, roughly frontal face is needed)") \
            from None
    try:
        state = renderer.setup(rgb, landmarks=landmarks)
    except InputError as exc:
        if exc.path is None:        # the renderer was given an array: name the file
            raise InputError(path, exc.problem) from None
        raise
    return Portrait(state, landmarks, rgb.shape[1] / rgb.shape[0], rgb)


class StageTimer:
    """Exclusive wall-clock seconds per stage: entering a nested stage pauses the enclosing one, so the
    stages of a run add up to its total (e.g. "lcu" timed inside "motion" is not counted twice)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._stack: list[tuple[str, float]] = []

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        now = time.perf_counter()
        if self._stack:
            outer, since = self._stack[-1]
            self.seconds[outer] = self.seconds.get(outer, 0.0) + now - since
        self._stack.append((stage, now))
        try:
            yield
        finally:
            end = time.perf_counter()
            name, since = self._stack.pop()
            self.seconds[name] = self.seconds.get(name, 0.0) + end - since
            if self._stack:
                self._stack[-1] = (self._stack[-1][0], end)

    def wrap(self, fn, stage: str):
        """`fn` with each call timed as `stage`."""
        def timed(*args, **kwargs):
            with self(stage):
                return fn(*args, **kwargs)
        return timed

    @property
    def total(self) -> float:
        return float(sum(self.seconds.values()))


@dataclass
class AudioFrames:
    """Per-frame audio features of one speaker: mel (n, 4·80) log-mel of each video frame, vad (n,)."""

    mel: np.ndarray
    vad: np.ndarray

    @classmethod
    def of(cls, audio: np.ndarray, n_frames: int | None = None, vad_backend: str = "silero") -> "AudioFrames":
        """16 kHz mono audio (N,) -> features of `n_frames` frames (default floor(N / 640)); frames past the
        audio's end are silence (log-mel floor, VAD 0)."""
        from echo_ihg.audio.vad import speech_probability

        audio = np.asarray(audio, np.float32).reshape(-1)
        have = frames_for_audio(len(audio))
        n = have if n_frames is None else int(n_frames)
        audio = audio[: min(have, n) * SAMPLES_PER_FRAME]
        mel = log_mel(audio).reshape(-1, MELS_PER_FRAME * N_MELS) if len(audio) else \
            np.zeros((0, MELS_PER_FRAME * N_MELS), np.float32)
        vad = speech_probability(audio, backend=vad_backend) if len(audio) else np.zeros(0, np.float32)
        if len(mel) < n:
            mel = np.concatenate([mel, np.full((n - len(mel), mel.shape[1]), SILENCE, np.float32)])
            vad = np.concatenate([vad, np.zeros(n - len(vad), np.float32)])
        return cls(mel.astype(np.float32), vad.astype(np.float32))

    def __len__(self) -> int:
        return len(self.vad)


class UserMotionEncoder:
    """The user's tracked landmarks -> the model's user inputs, block by block.

    neutral (478, 3): the user's neutral face (`motion.codec.neutral_from_sequence` over the clip);
    aspect: the user video's width / height.
    """

    def __init__(self, codec: MotionCodec, neutral: np.ndarray, aspect: float):
        self.codec, self.neutral, self.aspect = codec, np.asarray(neutral, np.float32), float(aspect)
        self.rest = rest_motion(codec)

    @classmethod
    def of_clip(cls, codec: MotionCodec, landmarks: np.ndarray, valid: np.ndarray, aspect: float
                ) -> "UserMotionEncoder":
        """The encoder of a whole clip: its neutral by `motion.codec.clip_neutral`, the rule training features
        use, so a clip encodes to the codes the model was trained on."""
        return cls(codec, clip_neutral(landmarks, valid, aspect), aspect)

    def encode(self, landmarks: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """landmarks (n, 478, 3) finite (masked frames hold a nearby valid frame), valid (n,) ->
        motion (n, Dm) normalised, attributes {name: (n,)} with NaN on masked frames (as in training)."""
        lm = np.asarray(landmarks, np.float32)
        valid = np.asarray(valid, bool)
        motion = self.codec.normalise(self.codec.encode(lm, self.neutral, self.aspect, valid=valid))
        attrs = facial_attributes(lm, self.aspect)
        for v in attrs.values():
            v[~valid] = np.nan
        return motion, attrs

    def absent(self, n: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """n frames without a user (beyond the video's end): rest motion, NaN attributes (as training pads
        the history before a session starts)."""
        return (np.tile(self.rest, (n, 1)).astype(np.float32),
                {k: np.full(n, np.nan, np.float32) for k in ATTRIBUTE_NAMES})


class AvatarMotionDecoder:
    """Normalised avatar motion (n, Dm) -> landmarks (n, 478, 3) in the portrait's normalised frame.

    Expression and gaze are decoded on the portrait's own face (its tracked landmarks are its neutral);
    head pose changes relative to the codec's mean pose are applied about the portrait's pose.
    """

    def __init__(self, codec: MotionCodec, portrait_landmarks: np.ndarray, portrait_aspect: float,
                 pose_scale: float = 1.0):
        self.codec = codec
        self.portrait = np.asarray(portrait_landmarks, np.float32)
        self.aspect = float(portrait_aspect)
        self.pose_scale = float(pose_scale)
        ref = codec.denormalise(rest_motion(codec))[None]
        # the model's motion lives in its training videos' (square) frames: decode there (aspect 1)
        self.reference = codec.decode(ref, self.portrait, 1.0, neutral_aspect=self.aspect)[0]

    def decode(self, motion: np.ndarray) -> np.ndarray:
        raw = self.codec.denormalise(np.asarray(motion, np.float32))
        driver = self.codec.decode(raw, self.portrait, 1.0, neutral_aspect=self.aspect)
        return retarget(driver, self.portrait, driver_neutral=self.reference, driver_aspect=1.0,
                        portrait_aspect=self.aspect, pose_scale=self.pose_scale)


def blocks(n: int, size: int) -> Iterator[tuple[int, int]]:
    """[a, b) spans of `size` frames covering [0, n)."""
    for a in range(0, n, size):
        yield a, min(n, a + size)
