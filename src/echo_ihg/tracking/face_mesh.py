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

Small faces in large frames: the detector misses faces narrower than ~15 % of the longer image side
(~190 px in a 1280×720 frame). When no face is found, overlapping square tiles are searched (images:
at once; videos: every `search_every` frames while no face is seen), and a face found that way is then
tracked in a square crop that follows it (`echo_ihg.tracking.search`); landmarks are still normalised by
the whole frame.

The streaming class `FaceTracker` and `TrackerConfig` live in `echo_ihg.tracking.tracker`.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from echo_ihg.constants import FPS, N_LANDMARKS
from echo_ihg.errors import InputError, NoFaceError
from echo_ihg.io.media import iter_frames_at_fps, read_image, video_info
from echo_ihg.tracking.gaps import Gap, fill_gaps, format_time_ranges
from echo_ihg.tracking.tracker import FaceTracker, TrackerConfig, as_rgb, landmarks_to_array
from echo_ihg.utils.config import config_to_dict
from echo_ihg.utils.progress import progress as progress_bar

__all__ = ["FaceTracker", "TrackerConfig", "TrackResult", "landmarks_to_array", "track_frames", "track_image",
           "track_video"]

log = logging.getLogger(__name__)


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
    rgb = read_image(source) if source is not None else as_rgb(image)
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
        out = {"source": self.source, "fps": self.fps, "frame_size": [self.width, self.height],
               "n_frames": self.n_frames, "n_valid": int(self.valid.sum()),
               "gaps": [g.to_dict(self.fps) for g in self.gaps]}
        if config is not None:
            out["config"] = config_to_dict(config)
        return out


def frame_aspect(record: Mapping[str, Any] | None) -> float:
    """Frame width / height of landmarks from the record that describes them: `frame_size` [w, h] (the one
    field for it: meta.json's participants.<A|B>, track.json); 1.0 (a square frame) when it is absent."""
    size = (record or {}).get("frame_size")
    if not size or len(size) != 2 or not all(size):
        return 1.0
    return float(size[0]) / float(size[1])


def same_frame_size(size: tuple[int, int] | None, rgb: np.ndarray, k: int, source: str | Path | None
                    ) -> tuple[int, int]:
    """The clip's frame size (H, W), set by its first frame (size None); frame k of another size is an
    InputError naming `source` (landmarks are normalised by W, H: a size change would silently shift them)."""
    if size is None:
        return rgb.shape[:2]
    if rgb.shape[:2] != size:
        raise InputError(source, f"frame {k} is {rgb.shape[1]}×{rgb.shape[0]}, earlier frames {size[1]}×{size[0]}")
    return size


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
                rgb = as_rgb(frame, source)
                size = same_frame_size(size, rgb, k, source)
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
