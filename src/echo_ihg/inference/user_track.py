"""Track the user's video in bounded memory: frames are streamed through the tracker and the landmarks go
to a memory-mapped file (5.7 KB per frame on disk, not in RAM), with the gap policy of `tracking.gaps`
applied on the fly (`GapFiller`: short gaps interpolated, long ones masked and hold-filled).

    track = track_user_video("user.mp4", max_frames=n, workdir=tmp)
    track.landmarks[a:b], track.valid[a:b], track.n_frames, track.masked_gaps
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from echo_ihg.constants import FPS, N_LANDMARKS
from echo_ihg.errors import InputError, NoFaceError
from echo_ihg.io.media import iter_frames_at_fps, video_info
from echo_ihg.tracking.gaps import Gap, format_time_ranges
from echo_ihg.tracking.face_mesh import same_frame_size
from echo_ihg.tracking.tracker import FaceTracker, TrackerConfig
from echo_ihg.utils.progress import progress as progress_bar

log = logging.getLogger(__name__)


class GapFiller:
    """Streaming form of `tracking.gaps.fill_gaps` (same output): push one tracker result per frame, get
    back the frames that are final. A run of missing frames is kept as a count only (O(1) memory, however
    long the gap); its values are decided when the face returns or the clip ends.

    push(landmarks (478, 3) or None) -> [(landmarks, valid), ...] in frame order; finish() -> the rest.
    """

    def __init__(self, max_gap: int):
        self.max_gap = int(max_gap)
        self.last: np.ndarray | None = None
        self.pending = 0          # missing frames since the last face
        self.n = 0                # frames pushed
        self.gaps: list[Gap] = []

    def push(self, landmarks: np.ndarray | None) -> list[tuple[np.ndarray, bool]]:
        self.n += 1
        if landmarks is None:
            self.pending += 1
            return []
        lm = np.asarray(landmarks, np.float32)
        out = self._resolve(lm) if self.pending else []
        out.append((lm, True))
        self.last, self.pending = lm, 0
        return out

    def _resolve(self, nxt: np.ndarray) -> list[tuple[np.ndarray, bool]]:
        end = self.n - 1                      # the frame just pushed has the face again
        start = end - self.pending
        if self.last is None:                 # leading gap: nothing before it, hold the first face
            self.gaps.append(Gap(start, end, False))
            return [(nxt, False)] * self.pending
        if self.pending <= self.max_gap:      # short interior gap: interpolate, valid
            self.gaps.append(Gap(start, end, True))
            w = (np.arange(start, end, dtype=np.float32) - (start - 1)) / (end - (start - 1))
            return [(self.last + wi * (nxt - self.last), True) for wi in w]
        self.gaps.append(Gap(start, end, False))   # long gap: masked, each side held up to the middle
        mid = (start + end) // 2
        return [(self.last, False)] * (mid - start) + [(nxt, False)] * (end - mid)

    def finish(self) -> list[tuple[np.ndarray, bool]] | None:
        """The trailing gap (held, masked). None when no frame had a face."""
        if self.last is None:
            return None
        out = [(self.last, False)] * self.pending
        if self.pending:
            self.gaps.append(Gap(self.n - self.pending, self.n, False))
            self.pending = 0
        return out


@dataclass
class UserTrack:
    """The tracked user clip. landmarks (T, 478, 3) float32 memory-mapped, finite; valid (T,) bool."""

    path: Path
    landmarks: np.ndarray
    valid: np.ndarray
    width: int
    height: int
    gaps: list[Gap] = field(default_factory=list)
    truncated: bool = False          # the video went on past max_frames (the rest was not read)

    @property
    def n_frames(self) -> int:
        return int(len(self.valid))

    @property
    def aspect(self) -> float:
        return self.width / self.height

    @property
    def masked_gaps(self) -> list[Gap]:
        return [g for g in self.gaps if not g.interpolated]

    def summary(self) -> dict:
        return {"source": str(self.path), "n_frames": self.n_frames, "n_valid": int(self.valid.sum()),
                "frame_size": [self.width, self.height], "read_to_end": not self.truncated,
                "gaps": [g.to_dict(FPS) for g in self.gaps]}


def track_user_video(path: str | Path, max_frames: int, workdir: str | Path,
                     config: TrackerConfig | None = None, progress: bool = True) -> UserTrack:
    """Track at most `max_frames` frames (25 fps) of the user's video into `workdir`/user_landmarks.npy.

    Raises InputError (missing / corrupt / no video stream / no frames / frame size change) and NoFaceError
    (no face in any frame), naming the file. Masked gaps are reported with a warning.
    """
    path = Path(path)
    config = config or TrackerConfig()
    info = video_info(path)
    n_max = max(1, int(max_frames))
    store = np.lib.format.open_memmap(Path(workdir) / "user_landmarks.npy", mode="w+", dtype=np.float32,
                                      shape=(n_max, N_LANDMARKS, 3))
    valid = np.zeros(n_max, bool)
    filler, k, truncated, size = GapFiller(config.max_gap), 0, False, None
    est = min(n_max, int(round(info.duration * FPS))) if info.duration > 0 else n_max
    frames = iter_frames_at_fps(path, FPS)
    bar = progress_bar(total=est, desc=f"tracking {path.name}", unit="frame", enabled=None if progress else False)
    try:
        with FaceTracker(config, static_image_mode=False) as tracker:
            for i, rgb in enumerate(frames):
                if i >= n_max:
                    truncated = True
                    break
                size = same_frame_size(size, rgb, i, path)
                for lm, ok in filler.push(tracker.process(rgb)):
                    store[k], valid[k] = lm, ok
                    k += 1
                bar.update(1)
    finally:
        frames.close()
        bar.close()
    if size is None:
        raise InputError(path, "the user video has no decodable frames")
    rest = filler.finish()
    if rest is None:
        raise NoFaceError(path, f"no face found in any of the {filler.n} frames of the user video "
                                f"({filler.n / FPS:.2f} s); the user must be visible")
    for lm, ok in rest:
        store[k], valid[k] = lm, ok
        k += 1
    assert k == filler.n, (k, filler.n)
    store.flush()
    track = UserTrack(path, store[:k], valid[:k], width=int(size[1]), height=int(size[0]), gaps=filler.gaps,
                      truncated=truncated)
    masked = track.masked_gaps
    if masked:
        log.warning("%s: no face for %d of %d frame(s) in %d stretch(es): the user's face is treated as "
                    "absent there: %s", path, sum(g.length for g in masked), k, len(masked),
                    format_time_ranges(masked, FPS))
    return track

