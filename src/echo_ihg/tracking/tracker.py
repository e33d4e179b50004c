"""FaceTracker: MediaPipe face mesh one image or frame at a time, choosing and following one face.

The behaviour (coordinates, face choice, small inputs, small faces in large frames) is described in
`echo_ihg.tracking.face_mesh`, which builds the image and video functions on top of this class.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from echo_ihg.constants import N_FACE_POINTS, N_LANDMARKS
from echo_ihg.errors import InputError
from echo_ihg.io.media import to_rgb_uint8
from echo_ihg.tracking.search import crop_around, cut_square, square_tiles, square_to_frame

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrackerConfig:
    """Tracking defaults. YAML / CLI flags override them (`echo_ihg.utils.config`)."""

    max_gap: int = 5                         # frames (at 25 fps: 200 ms); longer gaps are masked, not filled
    max_faces: int = 4                       # faces MediaPipe tracks at once (the chosen one is followed)
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    min_image_size: int = 128                # px; a shorter side below this is upscaled to it
    image_pad_retry: float = 0.25            # static mode: retry a missed face this much padded (0: off)
    match_radius: float = 1.0                # face widths; a face further away is another person
    reacquire_after: int = 25                # frames without the followed face before the nearest is accepted
    reacquire_size_ratio: float = 2.0        # ... if its size is within this factor of the followed face
    fast_path_after: int = 25                # frames alone in view before single-face tracking (0: never)
    search_every: int = 10                   # frames between tiled searches for small faces while none is
                                             # seen (video; images: always); 0: never (tracking.search)

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
        if self.search_every < 0:
            problems.append(f"search_every must be >= 0 (got {self.search_every})")
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


def as_rgb(image: np.ndarray, source: str | Path | None = None) -> np.ndarray:
    """An image array -> contiguous RGB uint8 (H, W, 3) for MediaPipe (no copy when it already is one);
    not an array, empty or an unsupported dtype / shape -> InputError naming `source`."""
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
    i.e. always when one person is in view (30–40 % of the time per frame at 256 px). So in video mode a
    second graph that tracks a single face is used once the followed face has been the only one in view
    for `fast_path_after` frames; as soon as that graph reports a face that is not the followed one, the
    same frame goes through the multi-face graph again, and tracking stays there until one face is left.

    Small faces: when no face is seen, square tiles are searched (`search_every`); a face found so is
    tracked by the single-face graph in a square crop that follows it, until lost for `max_gap` frames.
    """

    def __init__(self, config: TrackerConfig | None = None, static_image_mode: bool = False):
        self.config = config or TrackerConfig()
        self.static_image_mode = static_image_mode
        self._mesh = self._new_mesh(self.config.max_faces)
        cfg = self.config
        self._fast_path = not static_image_mode and cfg.max_faces > 1 and cfg.fast_path_after > 0
        self._single = None       # the single-face graph (fast path and crops), made when first needed
        self._searcher = None     # video mode: a static-image graph for tiled searches, made when needed
        self._on_single = False   # the single-face graph is in use on whole frames
        self._alone = 0           # consecutive frames where the followed face was the only one seen
        self._crop: tuple[int, int, int] | None = None  # (x0, y0, side): tracking in a square around a face
        self._crop_misses = 0
        self._since_search = cfg.search_every  # frames since the last tiled search
        self._target: _Box | None = None
        self._missing = 0

    def _new_mesh(self, max_faces: int, static: bool | None = None):
        import mediapipe as mp  # heavy import (~1 s): only when a tracker is made

        with _quiet_native_logs():
            mesh = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=self.static_image_mode if static is None else static,
                max_num_faces=max_faces,
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
        rgb = as_rgb(rgb)
        h, w = rgb.shape[:2]
        if self._crop is not None:
            faces, best = self._process_crop(rgb, w, h)
        elif self._on_single:
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
        if not faces and self._crop is None and self._search_due():
            faces = self._search_tiles(rgb)
            best = self._choose(faces, w, h)
            if best is not None and not self.static_image_mode:
                self._enter_crop(faces[best], w, h)
        return self._commit(faces, best, w, h)

    def reset(self) -> None:
        """Forget the followed face: the largest of the faces MediaPipe reports next is chosen afresh."""
        self._target, self._missing, self._alone, self._on_single = None, 0, 0, False
        self._crop, self._since_search = None, self.config.search_every

    def close(self) -> None:
        for mesh in (self._mesh, self._single, self._searcher):
            if mesh is not None:
                mesh.close()
        self._mesh = self._single = self._searcher = None

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

    # -- small faces in large frames (see echo_ihg.tracking.search) ------------------------------------
    def _search_due(self) -> bool:
        if self.config.search_every == 0:
            return False
        if self.static_image_mode:
            return True
        self._since_search += 1
        if self._since_search < self.config.search_every:
            return False
        self._since_search = 0
        return True

    def _search_tiles(self, rgb: np.ndarray) -> list[np.ndarray]:
        """Faces found in overlapping square tiles of the frame (frame-normalised landmarks)."""
        h, w = rgb.shape[:2]
        tiles = square_tiles(h, w)
        if not tiles:
            return []
        if self.static_image_mode:
            graph = self._mesh
        else:
            if self._searcher is None:
                self._searcher = self._new_mesh(self.config.max_faces, static=True)
            graph = self._searcher
        return [square_to_frame(f, x0, y0, side, w, h)
                for x0, y0, side in tiles for f in self._detect(cut_square(rgb, x0, y0, side), graph)]

    def _enter_crop(self, face: np.ndarray, w: int, h: int) -> None:
        """Track from now on in a square that follows this face (a single-face graph, restarted)."""
        b = _face_box(face, w, h)
        self._crop, self._crop_misses = crop_around(b.cx, b.cy, b.size), 0
        self._on_single, self._alone = False, 0
        if self._single is None:
            self._single = self._new_mesh(1)
        else:
            self._restart(self._single)

    def _process_crop(self, rgb: np.ndarray, w: int, h: int) -> tuple[list[np.ndarray], int | None]:
        x0, y0, side = self._crop
        faces = [square_to_frame(f, x0, y0, side, w, h)
                 for f in self._detect(cut_square(rgb, x0, y0, side), self._single)]
        best = self._choose(faces, w, h)
        if best is None:
            self._crop_misses += 1
            if self._crop_misses > self.config.max_gap:  # lost: back to whole frames (and searches)
                self._crop, self._since_search = None, self.config.search_every
            return faces, None
        b = _face_box(faces[best], w, h)
        nx0, ny0, nside = crop_around(b.cx, b.cy, b.size)
        if abs(nside - side) < 0.15 * side:  # keep the scale steady: MediaPipe tracks in crop coordinates
            nx0, ny0, nside = int(round(b.cx - side / 2)), int(round(b.cy - side / 2)), side
        self._crop, self._crop_misses = (nx0, ny0, nside), 0
        return faces, best

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
