"""Shared machinery of the dataset adapters: what an adapter describes, and how it becomes a session.

An adapter only *discovers*: `plan(root, config)` walks a dataset root and yields one `Job` per dyadic
session (or a `Skipped` naming the file that prevents it); `load(job)` reads it into a `SessionInput` (two
`ParticipantInput`s: video, optional crop, audio, VAD intervals, source arrays). `build_session` then does
the work every source shares (the datasets, and `echo-ihg prepare pair` through `echo_ihg.data.prepare`):

- audio decoded, downmixed and resampled to 16 kHz (`echo_ihg.io.media.load_audio`), before the slow
  tracking so that a missing or broken track fails first; one file given to both participants (a mixed
  track) is decoded once,
- face tracking at the project rate (`echo_ihg.tracking.face_mesh`), resampled by timestamp, optionally
  inside a crop of the frame (side-by-side recordings),
- per-frame VAD from the dataset's own intervals when it has them, else `echo_ihg.audio.vad`,
- source validity masks (dataset flags, zero rows, sentinels) resampled by timestamp onto our frames,
- the length policy below.

Length policy (`common_length`). Each participant's video and, where given, audio is a stream (a
participant without audio gets silence, one without video zero landmarks marked invalid; neither limits the
length). A stream's length is the number of 25 fps frames it reaches into (video: the frames
`iter_frames_at_fps` yields; audio of N samples: ceil(N / 640)). All streams are assumed to start together
(no automatic alignment) and are cut to the shortest, T: no video frame is invented, and audio at most
pads the last frame's partial 40 ms with silence. Encoders pad the last audio packet and containers round
durations, so differences up to `LENGTH_TOLERANCE_FRAMES` (80 ms) are cut silently; a larger one gets a
warning that names every stream with its file and duration.

Adapters plan `Job`s (cheap, picklable) and `load` them into `SessionInput`s; `runner` executes
plan → load → build → `write_session` serially, on a process pool or on Ray, with a resumable manifest.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

import numpy as np

from echo_ihg.constants import FPS, N_LANDMARKS, SAMPLE_RATE
from echo_ihg.errors import InputError, NoFaceError

if TYPE_CHECKING:
    from echo_ihg.data.session import Session

log = logging.getLogger(__name__)

# Values at or above this magnitude are treated as "invalid" sentinels, not measurements. Pixel
# coordinates of 4K video (< 4e3), SMPL-H angles (rad) and translations stay far below it.
SENTINEL_ABS = 1e5
LENGTH_TOLERANCE_FRAMES = 2  # 80 ms: AAC padding and container rounding stay below this


@dataclass(frozen=True)
class AdapterConfig:
    """Options shared by every adapter (CLI flags override these defaults)."""

    split: str = "train"          # used when the dataset itself does not say
    limit: int | None = None      # convert at most this many new sessions, in discovery order (quick looks)
    overwrite: bool = False       # rebuild sessions that already exist (default: skip = resumable)
    strict: bool = False          # first bad session aborts (default: report it and go on)


@dataclass(frozen=True)
class ExtractOptions:
    """How `build_session` tracks and estimates VAD (CLI flags override these defaults)."""

    vad_backend: str = "silero"   # silero | webrtc
    vad_mode: int = 2             # webrtc aggressiveness 0..3
    max_gap: int | None = None    # tracking: longest gap (frames) that is interpolated; None = tracker default
    progress: bool = True         # tracking progress bars


@dataclass
class ParticipantInput:
    """One participant as the dataset provides it, before tracking.

    video: None for a participant that is not filmed (HDTF's absent partner).
    crop: (x0, x1) fractions of the frame width for side-by-side recordings (RealTalk, `prepare pair`).
    audio: a file (any container, any rate) or an (N,) float32 array at 16 kHz; None = silence.
    vad_intervals: speech intervals in seconds from the dataset; None = estimate from the audio.
    source_valid: (mask (N,) bool at `source_fps`) from the dataset's own flags, AND-ed with tracking.
    extra: source arrays kept verbatim (written under `extra/`).
    """

    source_id: str
    video: Path | None
    audio: Path | np.ndarray | None = None
    crop: tuple[float, float] | None = None
    vad_intervals: list[tuple[float, float]] | None = None
    source_valid: np.ndarray | None = None
    source_fps: float | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class SessionInput:
    session_id: str
    split: str
    A: ParticipantInput
    B: ParticipantInput
    transcript: list[dict] = field(default_factory=list)  # {speaker, start, end, text} in seconds
    meta: dict[str, Any] = field(default_factory=dict)
    cleanup: Callable[[], None] | None = None  # e.g. removes files extracted from a tar


@dataclass
class Job:
    """One session to build, as planned by an adapter: small and picklable (paths, ids), so that it can be
    sent to a worker process or a Ray task; the adapter's `load(job)` does the reading."""

    dataset: str
    session_id: str
    split: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Skipped:
    """A session that cannot be built; `reason` names the file and what is wrong with it."""

    session_id: str
    reason: str


@dataclass
class ConversionReport:
    written: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)  # bad input, with the file at fault
    failed: list[Skipped] = field(default_factory=list)   # the worker died (after retries)

    def summary(self) -> str:
        return (f"{len(self.written)} session(s) written, {len(self.existing)} already present, "
                f"{len(self.skipped)} skipped, {len(self.failed)} failed")


# ----------------------------------------------------------------------------------------------
# Small, dataset-independent helpers (pure functions; unit-tested directly)
# ----------------------------------------------------------------------------------------------

def safe_name(text: str) -> str:
    """A file-system-safe name for an id or an array key (`movement:FAUValue` -> `movement.FAUValue`)."""
    return re.sub(r"[^A-Za-z0-9_.\-]+", ".", text).strip(".") or "unnamed"


def source_index_for_frames(n_src: int, src_fps: float, T: int, fps: float = FPS) -> tuple[np.ndarray, np.ndarray]:
    """For each of our T frames, the nearest source frame by timestamp. -> (index (T,) int, inside (T,) bool).

    Frame k of ours is at k / fps seconds; source frame j at j / src_fps. `inside` is False where our
    frame lies past the end of the source stream (index clipped to the last row; mask it out).
    """
    if src_fps <= 0 or not math.isfinite(src_fps):
        raise ValueError(f"source frame rate must be positive, got {src_fps}")
    t = np.arange(T, dtype=np.float64) / fps
    idx = np.floor(t * src_fps + 0.5).astype(np.int64)
    inside = idx < n_src
    return np.clip(idx, 0, max(n_src - 1, 0)), inside


def resample_mask(mask: np.ndarray, src_fps: float, T: int, fps: float = FPS) -> np.ndarray:
    """(N,) bool at src_fps -> (T,) bool at fps, nearest by timestamp; frames past the source are False."""
    mask = np.asarray(mask).reshape(-1).astype(bool)
    if len(mask) == 0:
        return np.zeros(T, bool)
    idx, inside = source_index_for_frames(len(mask), src_fps, T, fps)
    return mask[idx] & inside


def intervals_to_frames(intervals: Iterable[tuple[float, float]], T: int, fps: float = FPS) -> np.ndarray:
    """Speech intervals in seconds -> (T,) float32: the fraction of each frame [k/fps, (k+1)/fps) covered."""
    out = np.zeros(T, np.float64)
    for start, end in intervals:
        if end <= start:
            continue
        a, b = start * fps, end * fps  # in frame units
        k0, k1 = max(int(math.floor(a)), 0), min(int(math.ceil(b)), T)
        for k in range(k0, k1):
            out[k] += max(0.0, min(b, k + 1) - max(a, k))
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def invalid_rows(array: np.ndarray, zeros: bool = True, sentinel_abs: float = SENTINEL_ABS) -> np.ndarray:
    """(N, ...) numeric -> (N,) bool: rows holding a non-finite or sentinel value, or (with `zeros`)
    rows that are all zeros (a zero-filled "no detection" row)."""
    a = np.asarray(array)
    if a.ndim == 0 or a.shape[0] == 0:
        return np.zeros(a.shape[:1] if a.ndim else (0,), bool)
    flat = a.reshape(a.shape[0], -1)
    if flat.shape[1] == 0 or a.dtype == bool:
        return np.zeros(a.shape[0], bool)
    flat = flat.astype(np.float64)
    finite = np.isfinite(flat)
    bad = ~finite.all(axis=1)
    bad |= (np.abs(np.where(finite, flat, 0.0)) >= sentinel_abs).any(axis=1)
    if zeros:
        bad |= (flat == 0).all(axis=1)
    return bad


def parse_intervals(items: Any, where: Path, key: str) -> list[tuple[float, float]]:
    """A list of {start, end} (seconds; nulls allowed and dropped) -> [(start, end)]."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise InputError(where, f"{key!r} should be a list of {{start, end}} objects, got {type(items).__name__}")
    out = []
    for it in items:
        if not isinstance(it, dict):
            raise InputError(where, f"{key!r} entries should be objects with start/end, got {it!r:.60}")
        s, e = it.get("start"), it.get("end")
        if s is None or e is None:
            continue
        try:
            s, e = float(s), float(e)
        except (TypeError, ValueError):
            raise InputError(where, f"{key!r}: start/end must be numbers, got {s!r}, {e!r}") from None
        if math.isfinite(s) and math.isfinite(e) and e > s:
            out.append((s, e))
    return out


# ----------------------------------------------------------------------------------------------
# Building a session
# ----------------------------------------------------------------------------------------------

@dataclass
class _Tracked:
    landmarks: np.ndarray  # (Tv, 478, 3) float32
    valid: np.ndarray      # (Tv,) bool
    width: int
    height: int
    masked_gaps: list[list[int]]  # [start, end) frame runs without a face that were not interpolated


def crop_box(crop: tuple[float, float], width: int, height: int) -> tuple[int, int, int, int]:
    """A (x0, x1) width-fraction crop -> pixel box (x0, y0, x1, y1) of a width × height frame."""
    x0f, x1f = crop
    return int(round(x0f * width)), 0, int(round(x1f * width)), height


def _crop_frames(frames: Iterable[np.ndarray], crop: tuple[float, float]) -> Iterator[np.ndarray]:
    for f in frames:
        x0, y0, x1, y1 = crop_box(crop, f.shape[1], f.shape[0])
        yield np.ascontiguousarray(f[y0:y1, x0:x1])


def track_participant(p: ParticipantInput, fps: int = FPS, options: ExtractOptions = ExtractOptions()) -> _Tracked:
    """Track one participant's face at `fps` (frames resampled by timestamp). Raises InputError."""
    from echo_ihg.io.media import iter_frames_at_fps, video_info
    from echo_ihg.tracking.face_mesh import track_frames, track_video

    assert p.video is not None
    try:
        if p.crop is None:
            res = track_video(p.video, fps=fps, progress=options.progress, max_gap=options.max_gap)
        else:
            info = video_info(p.video)  # fails early, naming the file, for missing / non-media files
            total = int(round(info.duration * fps)) if info.duration > 0 else None
            res = track_frames(_crop_frames(iter_frames_at_fps(p.video, fps), p.crop), n_frames=total, fps=fps,
                               progress=options.progress, source=p.video, max_gap=options.max_gap)
    except NoFaceError as exc:
        raise InputError(p.video, f"no usable face for participant {p.source_id} ({exc.problem})") from None
    lm = np.asarray(res.landmarks, np.float32)
    valid = np.asarray(res.valid, bool)
    if lm.ndim != 3 or lm.shape[1:] != (N_LANDMARKS, 3) or len(valid) != len(lm):
        raise InputError(p.video, f"tracker returned landmarks {lm.shape} / valid {valid.shape}")
    return _Tracked(lm, valid, int(res.width), int(res.height), [[g.start, g.end] for g in res.masked_gaps])


def _load_audio(p: ParticipantInput, sample_rate: int, fps: int, decoded: dict[Path, np.ndarray]) -> np.ndarray | None:
    """The participant's whole audio track (N,) float32, or None for a participant without audio.

    `decoded` memoises files: one mixed track given to both participants is decoded once.
    """
    from echo_ihg.io.media import load_audio

    if p.audio is None:
        return None
    if isinstance(p.audio, np.ndarray):
        audio = np.asarray(p.audio, np.float32).reshape(-1)
    else:
        path = Path(p.audio)
        if path not in decoded:
            decoded[path] = load_audio(path, sample_rate=sample_rate)
        audio = decoded[path]
    if len(audio) * fps < sample_rate:
        raise InputError(_audio_path(p), f"audio of participant {p.source_id} is shorter than one video frame "
                                         f"({len(audio)} samples)")
    return audio


def _audio_path(p: ParticipantInput) -> Path | None:
    return None if p.audio is None or isinstance(p.audio, np.ndarray) else Path(p.audio)


def _video_name(p: ParticipantInput) -> str:
    return f"{p.video}" + (f" (crop x {p.crop[0]:g}..{p.crop[1]:g} of the width)" if p.crop else "")


def common_length(inp: SessionInput, tracked: dict[str, _Tracked | None], audio: dict[str, np.ndarray | None],
                   fps: int = FPS, sample_rate: int = SAMPLE_RATE) -> int:
    """The length policy (module docstring): T = the shortest stream; a warning names every stream, with its
    file and duration, when one is more than `LENGTH_TOLERANCE_FRAMES` longer than T. Raises InputError."""
    streams: list[tuple[str, int, float]] = []  # (what, whole frames, seconds)
    for role in ("A", "B"):
        p: ParticipantInput = getattr(inp, role)
        if tracked[role] is not None:
            n = len(tracked[role].valid)
            streams.append((f"{role} video {_video_name(p)}", n, n / fps))
        if audio[role] is not None:
            n = len(audio[role])
            where = _audio_path(p) or "(in memory)"
            streams.append((f"{role} audio {where}", -(-n * fps // sample_rate), n / sample_rate))  # ceil
    if all(t is None for t in tracked.values()):
        raise InputError(None, f"session {inp.session_id}: no participant has a video")
    T = min(n for _, n, _ in streams)
    if max(n for _, n, _ in streams) - T > LENGTH_TOLERANCE_FRAMES:
        log.warning("session %s: recordings differ in length; all cut to the shortest, %d frames (%.2f s), "
                    "assuming they start together: %s", inp.session_id, T, T / fps,
                    "; ".join(f"{what}: {n} frames ({sec:.2f} s)" for what, n, sec in streams))
    if T == 0:
        what = min(streams, key=lambda s: s[1])[0]
        raise InputError(None, f"session {inp.session_id}: {what} decoded to zero frames")
    return T


def _vad_for(p: ParticipantInput, audio: np.ndarray, T: int, fps: int,
             options: ExtractOptions) -> tuple[np.ndarray, str]:
    if p.vad_intervals is not None:
        return intervals_to_frames(p.vad_intervals, T, fps), "dataset"
    if p.audio is None or not np.any(audio):
        return np.zeros(T, np.float32), "silent"
    from echo_ihg.audio.vad import speech_probability

    prob = np.asarray(speech_probability(audio, backend=options.vad_backend, mode=options.vad_mode),
                      np.float32).reshape(-1)
    out = np.zeros(T, np.float32)
    out[: min(T, len(prob))] = prob[:T]
    return np.clip(np.nan_to_num(out), 0.0, 1.0), "estimated"


def _extractor_versions(pmeta: dict, options: ExtractOptions) -> dict[str, str]:
    """Versions of the extractors that made this session's arrays (derived-feature caches key on them)."""
    import importlib.metadata

    from echo_ihg.audio.features import VERSION as MEL_VERSION

    try:
        mp_version = importlib.metadata.version("mediapipe")
    except importlib.metadata.PackageNotFoundError:
        mp_version = "unknown"
    out = {"tracking": f"mediapipe-{mp_version}-face-mesh-{N_LANDMARKS}", "mel": MEL_VERSION}
    if any(m["vad_source"] == "estimated" for m in pmeta.values()):
        from echo_ihg.audio.vad import version

        out["vad"] = version(options.vad_backend, options.vad_mode)
    return out


def _transcript(inp: SessionInput, T: int, fps: int) -> list[dict]:
    late = [e for e in inp.transcript if e["start"] >= T / fps]
    if late:
        log.warning("session %s: %d transcript entries start after the session ends (%.2f s)",
                    inp.session_id, len(late), T / fps)
    return sorted(inp.transcript, key=lambda w: (w["start"], w["end"]))


def build_session(inp: SessionInput, options: ExtractOptions = ExtractOptions(), fps: int = FPS,
                  sample_rate: int = SAMPLE_RATE) -> "Session":
    """Decode, track and align both participants of `inp` -> `echo_ihg.data.session.Session`."""
    from echo_ihg.data.session import Participant, Session
    from echo_ihg.io.media import fit_audio_length

    decoded: dict[Path, np.ndarray] = {}
    # audio first: a missing or broken track fails before the slow tracking
    audio = {role: _load_audio(getattr(inp, role), sample_rate, fps, decoded) for role in ("A", "B")}
    tracked: dict[str, _Tracked | None] = {}
    for role in ("A", "B"):
        p: ParticipantInput = getattr(inp, role)
        tracked[role] = track_participant(p, fps, options) if p.video is not None else None
    T = common_length(inp, tracked, audio, fps, sample_rate)

    parts, pmeta = {}, {}
    for role in ("A", "B"):
        p: ParticipantInput = getattr(inp, role)
        tr = tracked[role]
        if tr is None:
            landmarks = np.zeros((T, N_LANDMARKS, 3), np.float32)
            valid = np.zeros(T, bool)
        else:
            landmarks, valid = tr.landmarks[:T], tr.valid[:T].copy()
        if p.source_valid is not None and p.source_fps:
            valid &= resample_mask(p.source_valid, p.source_fps, T, fps)
        track = audio[role]
        cut = fit_audio_length(np.zeros(0, np.float32) if track is None else track, T, fps, sample_rate)
        vad, vad_source = _vad_for(p, cut, T, fps, options)
        parts[role] = Participant(audio=cut, landmarks=landmarks, valid=valid, vad=vad,
                                  extra={safe_name(k): v for k, v in p.extra.items()})
        pmeta[role] = {"source_id": p.source_id, "video": str(p.video) if p.video else None,
                       "crop": list(p.crop) if p.crop else None,
                       "audio_source": None if p.audio is None else str(_audio_path(p) or "array"),
                       "audio_seconds": None if track is None else round(len(track) / sample_rate, 4),
                       "video_frames": len(tr.valid) if tr else None, "vad_source": vad_source,
                       "valid_fraction": round(float(valid.mean()), 4),
                       "frame_size": [tr.width, tr.height] if tr else None,
                       "masked_gaps": tr.masked_gaps if tr else None,
                       "extra_keys": {safe_name(k): k for k in p.extra}, **p.meta}
    meta = {"id": inp.session_id, "fps": fps, "T": T, "sample_rate": sample_rate,
            "extractors": _extractor_versions(pmeta, options), "participants": pmeta, **inp.meta}
    return Session(session_id=inp.session_id, meta=meta, transcript=_transcript(inp, T, fps),
                   A=parts["A"], B=parts["B"])
