"""MediaPipe face mesh tracking: 478 landmarks (468 face points + 2 × 5 iris points) per image or frame.

    lm = track_image("portrait.png")               # (478, 3) float32, static-image mode
    res = track_video("user.mp4")                  # TrackResult at 25 fps, tracking mode
    res.landmarks, res.valid, res.gaps             # (T, 478, 3), (T,), [Gap(start, end, interpolated)]

Coordinates: x, y normalised by the image width and height (0..1 inside the image; points of a face
at the border may lie slightly outside); z as MediaPipe gives it (relative depth, roughly the scale of x,
smaller = nearer the camera).

Several faces: the largest face is chosen in the first frame where a face is seen and then *followed*
(the face nearest to its previous position), so a bigger face entering the picture does not steal the
track. A face further than `match_radius` face-widths from the followed one counts as someone else: the
frame is treated as "no face" until the followed face returns, or, after `reacquire_after` frames
without it, the nearest face of similar size (within a factor `reacquire_size_ratio`) is taken as the
person reappearing elsewhere; a much smaller face (someone in the background) is never taken over.
MediaPipe only looks for new faces while it tracks fewer than `max_faces`: with max_faces=1 it keeps
tracking whoever it saw last, so the followed face is not found again after an occlusion.

Small inputs: on tiny images (e.g. 25×25 LFW crops) MediaPipe still finds the face but its landmarks
carry a systematic offset of about half a pixel (2 % of the width at 25 px; measured against the same
image upscaled). Images and frames whose shorter side is below `min_image_size` pixels are therefore
upscaled (bicubic) to that size first, which makes the normalised landmarks independent of the input
resolution (within 0.05 px); callers see no difference. In static-image mode a missed face is retried
once on a copy padded by `image_pad_retry` of its size (edge pixels repeated): the detector misses some
faces that fill the whole image.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from echo_ihg.constants import FPS, N_LANDMARKS
from echo_ihg.errors import InputError, NoFaceError
from echo_ihg.io.media import iter_frames_at_fps, read_image, to_rgb_uint8, video_info
from echo_ihg.motion.topology import N_FACE_POINTS
from echo_ihg.tracking.gaps import Gap, fill_gaps, format_time_ranges
from echo_ihg.utils.config import config_to_dict
from echo_ihg.utils.progress import progress as progress_bar

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrackerConfig:
    """Tracking defaults. YAML / CLI flags override them (`echo_ihg.utils.config`)."""

    max_gap: int = 5                         # frames (at 25 fps: 200 ms); longer gaps are masked, not filled
    max_faces: int = 4                       # faces MediaPipe tracks at once (the chosen one is followed)
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    min_image_size: int = 128                # px; a shorter side below this is upscaled to it
    image_pad_retry: float = 0.25            # static mode: retry a missed face with this much padding (0: off)
    match_radius: float = 1.0                # face widths; a face further away is another person
    reacquire_after: int = 25                # frames without the followed face before the nearest is accepted
    reacquire_size_ratio: float = 2.0        # ... if its size is within this factor of the followed face
    fast_path_after: int = 25                # frames alone in view before single-face tracking (0: never)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # YAML can carry anything: check types before comparing
            value, want = getattr(self, f.name), (int,) if f.type in ("int", int) else (int, float)
            if isinstance(value, bool) or not isinstance(value, want):
                raise InputError(None, f"invalid tracker config: {f.name} must be a number"
                                       f"{' (whole)' if want == (int,) else ''}, got {value!r}")
        problems = []
        if self.max_gap < 0:
            problems.append(f"max_gap must be >= 0 frames (got {self.max_gap})")
        if self.max_faces < 1:
            problems.append(f"max_faces must be >= 1 (got {self.max_faces})")
        for name in ("min_detection_confidence", "min_tracking_confidence"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                problems.append(f"{name} must be in [0, 1] (got {getattr(self, name)})")
        if self.min_image_size < 1:
            problems.append(f"min_image_size must be >= 1 px (got {self.min_image_size})")
        if not 0.0 <= self.image_pad_retry <= 2.0:
            problems.append(f"image_pad_retry must be in [0, 2] (got {self.image_pad_retry})")
        if self.match_radius <= 0:
            problems.append(f"match_radius must be > 0 (got {self.match_radius})")
        if self.reacquire_size_ratio < 1:
            problems.append(f"reacquire_size_ratio must be >= 1 (got {self.reacquire_size_ratio})")
        if self.fast_path_after < 0:
            problems.append(f"fast_path_after must be >= 0 (got {self.fast_path_after})")
        if self.reacquire_after < 0:
            problems.append(f"reacquire_after must be >= 0 (got {self.reacquire_after})")
        if problems:
            raise InputError(None, "invalid tracker config: " + "; ".join(problems))


# A serialised NormalizedLandmarkList whose landmarks carry only x, y, z is 478 records of 17 bytes:
# field-1 tag, length 15, then (tag, float32) for x, y and z. Decoding it with numpy is ~10× faster than
# reading 478 protobuf objects in Python; anything else (e.g. visibility set) takes the slow path.
_LM_RECORD = np.dtype([("tag", "u1"), ("len", "u1"), ("tx", "u1"), ("x", "<f4"),
                       ("ty", "u1"), ("y", "<f4"), ("tz", "u1"), ("z", "<f4")])
_LM_TAGS = {"tag": 0x0A, "len": 15, "tx": 0x0D, "ty": 0x15, "tz": 0x1D}


def landmarks_to_array(landmark_list) -> np.ndarray:
    """MediaPipe NormalizedLandmarkList -> (N, 3) float32 (x, y, z)."""
    raw = landmark_list.SerializeToString()
    if len(raw) % _LM_RECORD.itemsize == 0:
        rec = np.frombuffer(raw, _LM_RECORD)
        if all((rec[k] == v).all() for k, v in _LM_TAGS.items()):
            return np.stack([rec["x"], rec["y"], rec["z"]], axis=1).astype(np.float32)
    return np.array([(p.x, p.y, p.z) for p in landmark_list.landmark], dtype=np.float32)


_WARM_UP = np.zeros((64, 64, 3), np.uint8)  # a frame without a face: starts a graph, leaves no state


@contextlib.contextmanager
def _quiet_native_logs():
    """Silence file descriptor 2 while a MediaPipe graph starts or sees its first frame.

    Its C++ side prints start-up chatter (TFLite delegate, feedback-tensor and NORM_RECT warnings)
    straight to fd 2, ignoring GLOG_minloglevel; `echo-ihg -v` (debug logging) keeps it visible.
    """
    if log.isEnabledFor(logging.DEBUG):
        yield
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@dataclass(frozen=True)
class _Box:
    """A face's position in pixels: centre and size (geometric mean of the box sides)."""

    cx: float
    cy: float
    size: float


def _face_box(lm: np.ndarray, width: int, height: int) -> _Box:
    pts = lm[:N_FACE_POINTS, :2] * np.array([width, height], np.float32)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    w, h = np.maximum(hi - lo, 1e-3)
    return _Box(float((lo[0] + hi[0]) / 2), float((lo[1] + hi[1]) / 2), float(np.sqrt(w * h)))


def _as_rgb(image: np.ndarray, source: str | Path | None = None) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise InputError(source, f"expected an image array, got {type(image).__name__}")
    if image.size == 0:
        raise InputError(source, f"empty image (shape {image.shape})")
    if image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3:
        return np.ascontiguousarray(image)
    return to_rgb_uint8(image, source)


class FaceTracker:
    """Streaming face mesh: `process(rgb)` one image or frame at a time -> (478, 3) float32 or None.

    static_image_mode=True: every call is an independent photo (detection each time, largest face).
    static_image_mode=False: frames of one video in order; MediaPipe tracks between frames and the
    first chosen face is followed (see the module docstring). Use as a context manager or call close().

    Speed: MediaPipe runs its face detector on every frame while it tracks fewer than `max_faces` faces,
    i.e. always when one person is in view (~40 % of the time per frame at 256 px). So in video mode a
    second graph that tracks a single face is used once the followed face has been the only one in view
    for `fast_path_after` frames; as soon as that graph reports a face that is not the followed one, the
    same frame goes through the multi-face graph again, and tracking stays there until one face is left.
    """

    def __init__(self, config: TrackerConfig | None = None, static_image_mode: bool = False):
        self.config = config or TrackerConfig()
        self.static_image_mode = static_image_mode
        self._mesh = self._new_mesh(self.config.max_faces)
        cfg = self.config
        self._fast_path = not static_image_mode and cfg.max_faces > 1 and cfg.fast_path_after > 0
        self._single = None       # the single-face graph, made when first needed
        self._on_single = False   # the single-face graph is in use
        self._alone = 0           # consecutive frames where the followed face was the only one seen
        self._target: _Box | None = None
        self._missing = 0

    def _new_mesh(self, max_faces: int):
        import mediapipe as mp  # heavy import (~1 s): only when a tracker is made

        with _quiet_native_logs():
            mesh = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=self.static_image_mode, max_num_faces=max_faces,
                refine_landmarks=True,  # the 10 iris points: gaze
                min_detection_confidence=self.config.min_detection_confidence,
                min_tracking_confidence=self.config.min_tracking_confidence)
            mesh.process(_WARM_UP)  # the models load (and print) in worker threads: wait for them here
        mesh._echo_quiet = True  # the first frame with a face prints one more warning
        return mesh

    @staticmethod
    def _restart(mesh) -> None:
        """Forget MediaPipe's tracking state (restarts the graph, ~40 ms)."""
        with _quiet_native_logs():
            mesh.reset()
            mesh.process(_WARM_UP)
        mesh._echo_quiet = True

    # -- public API -------------------------------------------------------------------------------------
    def process(self, rgb: np.ndarray) -> np.ndarray | None:
        """rgb (H, W, 3) uint8 (other dtypes / grey / RGBA are converted) -> (478, 3) float32 or None."""
        rgb = _as_rgb(rgb)
        h, w = rgb.shape[:2]
        if self._on_single:
            faces = self._detect(rgb, self._single)
            best = self._choose(faces, w, h)
            if faces and best is None:  # MediaPipe now follows someone else: look at every face again
                self._on_single, self._alone = False, 0
                self._restart(self._mesh)  # its tracking state is stale (only at such switches)
                faces = self._detect(rgb, self._mesh)
                best = self._choose(faces, w, h)
        else:
            faces = self._detect(rgb, self._mesh)
            if not faces and self.static_image_mode and self.config.image_pad_retry > 0:
                faces = self._detect_padded(rgb)
            best = self._choose(faces, w, h)
            self._count_alone(len(faces) == 1 and best is not None)
        return self._commit(faces, best, w, h)

    def reset(self) -> None:
        """Forget the followed face: the largest of the faces MediaPipe reports next is chosen afresh."""
        self._target, self._missing, self._alone, self._on_single = None, 0, 0, False

    def close(self) -> None:
        for mesh in (self._mesh, self._single):
            if mesh is not None:
                mesh.close()
        self._mesh = self._single = None

    def __enter__(self) -> "FaceTracker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------------------------
    def _detect(self, rgb: np.ndarray, mesh) -> list[np.ndarray]:
        if mesh is None:
            raise RuntimeError("FaceTracker used after close()")
        h, w = rgb.shape[:2]
        if min(h, w) < self.config.min_image_size:
            scale = self.config.min_image_size / min(h, w)
            rgb = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))),
                             interpolation=cv2.INTER_CUBIC)
        if getattr(mesh, "_echo_quiet", False):
            with _quiet_native_logs():
                result = mesh.process(rgb)
            mesh._echo_quiet = not result.multi_face_landmarks
        else:
            result = mesh.process(rgb)
        faces = [landmarks_to_array(f) for f in (result.multi_face_landmarks or [])]
        return [f for f in faces if f.shape == (N_LANDMARKS, 3) and np.isfinite(f).all()]

    def _detect_padded(self, rgb: np.ndarray) -> list[np.ndarray]:
        h, w = rgb.shape[:2]
        p = max(1, round(self.config.image_pad_retry * max(h, w)))
        padded = cv2.copyMakeBorder(rgb, p, p, p, p, cv2.BORDER_REPLICATE)
        out = []
        for f in self._detect(padded, self._mesh):
            f = f.copy()  # back to the coordinates of the unpadded image; z scales like x
            f[:, 0] = (f[:, 0] * (w + 2 * p) - p) / w
            f[:, 1] = (f[:, 1] * (h + 2 * p) - p) / h
            f[:, 2] = f[:, 2] * (w + 2 * p) / w
            out.append(f)
        return out

    def _count_alone(self, alone: bool) -> None:
        """Switch to the single-face graph after `fast_path_after` frames with only the followed face."""
        if not self._fast_path or self._mesh is None:
            return
        self._alone = self._alone + 1 if alone else 0
        if self._alone >= self.config.fast_path_after:
            if self._single is None:
                self._single = self._new_mesh(1)
            else:
                self._restart(self._single)  # forget whoever it tracked before: pick up the face in view
            self._on_single, self._alone = True, 0

    def _choose(self, faces: list[np.ndarray], w: int, h: int) -> int | None:
        """Index of the face to return (reads the follow state, does not change it)."""
        if not faces:
            return None
        boxes = [_face_box(f, w, h) for f in faces]
        if self.static_image_mode or self._target is None:
            return int(np.argmax([b.size for b in boxes]))
        return self._nearest(boxes)

    def _commit(self, faces: list[np.ndarray], best: int | None, w: int, h: int) -> np.ndarray | None:
        if best is None:
            self._missing += 1  # nobody, or only someone else, is visible: the followed face is missing
            return None
        self._target, self._missing = _face_box(faces[best], w, h), 0
        return faces[best]

    def _nearest(self, boxes: list[_Box]) -> int | None:
        """Index of the face that continues the followed one, or None if none does."""
        t, cfg = self._target, self.config
        dist = np.array([np.hypot(b.cx - t.cx, b.cy - t.cy) / t.size for b in boxes])
        if dist.min() <= cfg.match_radius:
            return int(np.argmin(dist))
        if self._missing < cfg.reacquire_after:
            return None
        ratio = np.array([max(b.size / t.size, t.size / b.size) for b in boxes])
        dist[ratio > cfg.reacquire_size_ratio] = np.inf
        return int(np.argmin(dist)) if np.isfinite(dist).any() else None


# -- single images ---------------------------------------------------------------------------------------
_static_lock = threading.Lock()  # a MediaPipe graph must not run two images at once


@functools.lru_cache(maxsize=2)
def _static_tracker(config: TrackerConfig) -> FaceTracker:
    return FaceTracker(config, static_image_mode=True)  # kept: building the graph costs ~50 ms


def track_image(image: np.ndarray | str | Path, config: TrackerConfig | None = None) -> np.ndarray:
    """Landmarks of the largest face in a portrait. -> (478, 3) float32 (x, y normalised by W, H).

    `image`: a path (PNG, JPEG, ...) or an array (H, W), (H, W, 3) RGB or (H, W, 4) RGBA, uint8 or float.
    Small images are upscaled internally (see the module docstring). Raises NoFaceError naming the file.
    """
    source = Path(image) if isinstance(image, (str, Path)) else None
    rgb = read_image(source) if source is not None else _as_rgb(image)
    config = config or TrackerConfig()
    with _static_lock:
        landmarks = _static_tracker(config).process(rgb)
    if landmarks is None:
        h, w = rgb.shape[:2]
        raise NoFaceError(source, f"no face found in the {w}×{h} image (need a visible, roughly "
                                  f"frontal face; minimum detection confidence "
                                  f"{config.min_detection_confidence})")
    return landmarks


# -- videos ----------------------------------------------------------------------------------------------
@dataclass
class TrackResult:
    """A tracked clip. landmarks (T, 478, 3) float32, finite everywhere; valid (T,) bool.

    gaps: runs [start, end) of frames where no face was tracked; interpolated ones are valid, the others
    masked (landmarks hold the nearest valid frame). width, height: source frame size in px.
    """

    landmarks: np.ndarray
    valid: np.ndarray
    gaps: list[Gap]
    width: int
    height: int
    fps: float
    source: str | None = None

    @property
    def n_frames(self) -> int:
        return int(self.landmarks.shape[0])

    @property
    def masked_gaps(self) -> list[Gap]:
        return [g for g in self.gaps if not g.interpolated]

    def summary(self, config: TrackerConfig | None = None) -> dict:
        """JSON-ready description (for track.json)."""
        out = {"source": self.source, "fps": self.fps, "width": self.width, "height": self.height,
               "n_frames": self.n_frames, "n_valid": int(self.valid.sum()),
               "gaps": [g.to_dict(self.fps) for g in self.gaps]}
        if config is not None:
            out["config"] = config_to_dict(config)
        return out


def track_frames(frames: Iterable[np.ndarray], n_frames: int | None = None,
                 config: TrackerConfig | None = None, fps: float = FPS, progress: bool = True,
                 source: str | Path | None = None, max_gap: int | None = None) -> TrackResult:
    """Track the frames of one clip (RGB (H, W, 3) uint8, all the same size) in tracking mode.

    n_frames: expected count, only for the progress bar. max_gap: overrides config.max_gap (frames).
    source: the file the frames come from, used in errors and warnings.
    Raises InputError (no frames, size change) or NoFaceError (no face in any frame).
    """
    config = config or TrackerConfig()
    if max_gap is not None:
        config = dataclasses.replace(config, max_gap=max_gap)
    name = str(source) if source is not None else "<frames>"
    found: list[np.ndarray | None] = []
    size: tuple[int, int] | None = None
    with FaceTracker(config, static_image_mode=False) as tracker:
        bar = progress_bar(frames, total=n_frames, desc=f"tracking {Path(name).name}", unit="frame",
                           enabled=None if progress else False)
        try:
            for k, frame in enumerate(bar):
                rgb = _as_rgb(frame, source)
                if size is None:
                    size = rgb.shape[:2]
                elif rgb.shape[:2] != size:
                    raise InputError(source, f"frame {k} is {rgb.shape[1]}×{rgb.shape[0]}, "
                                             f"earlier frames {size[1]}×{size[0]}")
                found.append(tracker.process(rgb))
        finally:
            bar.close()
    return _assemble(found, size, config, fps, source, name)


def _assemble(found: list[np.ndarray | None], size: tuple[int, int] | None, config: TrackerConfig,
              fps: float, source: str | Path | None, name: str) -> TrackResult:
    if not found or size is None:
        raise InputError(source, "no video frames to track")
    mask = np.array([f is not None for f in found])
    if not mask.any():
        raise NoFaceError(source, f"no face found in any of the {len(found)} frames "
                                  f"({len(found) / fps:.2f} s)")
    stacked = np.zeros((len(found), N_LANDMARKS, 3), np.float32)
    for k, f in enumerate(found):
        if f is not None:
            stacked[k] = f
    landmarks, valid, gaps = fill_gaps(stacked, mask, config.max_gap)
    masked = [g for g in gaps if not g.interpolated]
    if masked:
        log.warning("%s: no face tracked for %d frame(s) in %d stretch(es) that could not be "
                    "interpolated (longer than %d frames or at the clip's start/end); masked as invalid: %s",
                    name, sum(g.length for g in masked), len(masked), config.max_gap,
                    format_time_ranges(masked, fps))
    filled = [g for g in gaps if g.interpolated]
    if filled:
        log.debug("%s: interpolated %d short gap(s): %s", name, len(filled), format_time_ranges(filled, fps))
    return TrackResult(landmarks, valid, gaps, width=int(size[1]), height=int(size[0]), fps=float(fps),
                       source=None if source is None else str(source))


def track_video(path: str | Path, fps: float = FPS, config: TrackerConfig | None = None,
                progress: bool = True, max_gap: int | None = None) -> TrackResult:
    """Track a video file resampled to `fps` (by timestamp, `iter_frames_at_fps`). -> TrackResult.

    Raises InputError for a missing / non-media / undecodable file and NoFaceError when no frame shows a
    face, both naming the file. Corrupt packets and a truncated tail are skipped with a warning.
    """
    path = Path(path)
    if fps <= 0:
        raise InputError(None, f"fps must be > 0 (got {fps})")
    info = video_info(path)  # fails early, naming the file, for missing / non-media / audio-only files
    total = int(round(info.duration * fps)) if info.duration > 0 else None
    result = track_frames(iter_frames_at_fps(path, fps), n_frames=total, config=config, fps=fps,
                          progress=progress, source=path, max_gap=max_gap)
    # slack: rounding, and the last source frame of a low-fps video lasts only 1/fps after resampling
    slack = max(2.0, 0.01 * total if total else 0.0) + fps / max(info.fps, 1e-3)
    if total is not None and result.n_frames < total - slack:
        # a truncated file decodes without an error up to where it was cut: say so
        log.warning("%s: decoded %.2f s of video (%d frames) but the container announces %.2f s; "
                    "the file is probably truncated or corrupt; tracked what could be decoded",
                    path, result.n_frames / fps, result.n_frames, info.duration)
    return result
