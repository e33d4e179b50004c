"""Raw recordings -> session directories (DESIGN.md session format).

Two adapters live here; dataset adapters (Seamless Interaction, RealTalk, ...) follow the same pattern:
build one `Participant` per person with `make_participant`, then `assemble_session` + `write_session`.

- `prepare_pair`: two single-person recordings of one conversation (A.mp4, B.mp4), each with its own audio.
- `prepare_side_by_side`: one recording showing both people, left half = A, right half = B.

Length policy. Every stream is cut to whole 25 fps frames. Within one recording, video and audio may differ
slightly (encoders pad the last audio packet); the participant keeps min(video frames, audio frames), with
a warning when they differ by more than `LENGTH_TOLERANCE_FRAMES`. Between participants, both recordings are
assumed to start at the same moment (no automatic alignment): the session is trimmed to the shorter one,
with a warning naming both files and their durations when they differ by more than the tolerance.

Audio of a side-by-side recording is one mixed track: both participants get the mix (and the same VAD)
unless separate tracks are given (`audio_a`, `audio_b`); meta.json records which (`audio: "mixed"`).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from echo_ihg.audio import features, vad
from echo_ihg.audio.features import frames_for_audio
from echo_ihg.constants import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME
from echo_ihg.data.session import Participant, Session, write_session
from echo_ihg.data.transcript import load_transcript_file
from echo_ihg.errors import InputError
from echo_ihg.io.media import iter_frames_at_fps, load_audio, video_info

log = logging.getLogger(__name__)

LENGTH_TOLERANCE_FRAMES = 2  # 80 ms: AAC padding and container rounding stay below this


@dataclass(frozen=True)
class PrepareConfig:
    """Options shared by the adapters (written into meta.json as "prepare")."""

    vad_backend: str = "silero"  # silero | webrtc
    vad_mode: int = 2  # webrtc aggressiveness 0..3
    max_gap: int | None = None  # tracking: longest gap (frames) that is interpolated; None = tracker default
    progress: bool = True
    licence: str = "unknown"


@dataclass
class Track:
    """One participant's raw material before the lengths are reconciled."""

    name: str  # for messages: the file (and crop) it came from
    landmarks: np.ndarray  # (Tv, 478, 3) float32
    valid: np.ndarray  # (Tv,) bool
    audio: np.ndarray  # (N,) float32, 16 kHz
    info: dict = field(default_factory=dict)  # goes to meta.json participants.<A|B>

    @property
    def frames(self) -> int:
        return min(len(self.valid), frames_for_audio(len(self.audio)))


def _check_source(path: Path) -> None:
    if not path.exists():
        raise InputError(path, "file not found")
    if not path.is_file():
        raise InputError(path, "not a file")


def _track(frames: Iterator[np.ndarray], n_frames: int | None, source: Path, cfg: PrepareConfig):
    from echo_ihg.tracking.face_mesh import track_frames  # MediaPipe import only when tracking

    return track_frames(frames, n_frames=n_frames, fps=FPS, progress=cfg.progress, source=source,
                        max_gap=cfg.max_gap)


def _audio_track(path: Path) -> np.ndarray:
    audio = load_audio(path, SAMPLE_RATE)
    if frames_for_audio(len(audio)) == 0:
        raise InputError(path, f"audio is shorter than one video frame ({len(audio)} samples)")
    return audio


def track_recording(path: Path, cfg: PrepareConfig, crop: tuple[int, int, int, int] | None = None,
                    audio: np.ndarray | None = None, audio_source: Path | None = None) -> Track:
    """Track the face in `path` (optionally inside crop (x0, y0, x1, y1) px) and load its audio."""
    _check_source(path)
    info = video_info(path)  # names the file for non-media / audio-only inputs
    if audio is None:  # decode first: a missing or broken track fails before the slow tracking
        audio_source = audio_source or path
        audio = _audio_track(audio_source)
    total = int(round(info.duration * FPS)) if info.duration > 0 else None
    frames: Iterator[np.ndarray] = iter_frames_at_fps(path, FPS)
    if crop is not None:
        x0, y0, x1, y1 = crop
        frames = (np.ascontiguousarray(f[y0:y1, x0:x1]) for f in frames)
    result = _track(frames, total, path, cfg)
    name = f"{path}" + (f" (crop x {crop[0]}..{crop[2]})" if crop else "")
    if audio_source is not None and audio_source != path:
        name += f" with audio {audio_source}"
    meta = {"source": str(path), "audio_source": str(audio_source or path), "width": result.width,
            "height": result.height, "video_frames": result.n_frames,
            "audio_seconds": round(len(audio) / SAMPLE_RATE, 4), "n_valid": int(result.valid.sum()),
            "masked_gaps": [[g.start, g.end] for g in result.masked_gaps]}
    if crop is not None:
        meta["crop"] = list(crop)
    return Track(name, result.landmarks, result.valid, audio, meta)


def reconcile_lengths(a: Track, b: Track) -> int:
    """Apply the length policy (module docstring) and return the session's T."""
    for t in (a, b):
        tv, ta = len(t.valid), frames_for_audio(len(t.audio))
        if abs(tv - ta) > LENGTH_TOLERANCE_FRAMES:
            log.warning("%s: video has %d frames (%.2f s) but audio %d frames (%.2f s); keeping the first %d",
                        t.name, tv, tv / FPS, ta, len(t.audio) / SAMPLE_RATE, min(tv, ta))
    ta_, tb_ = a.frames, b.frames
    if abs(ta_ - tb_) > LENGTH_TOLERANCE_FRAMES:
        log.warning("recordings differ in length: A %s is %.2f s, B %s is %.2f s; trimming both to the "
                    "shorter (%.2f s), assuming they start together", a.name, ta_ / FPS, b.name, tb_ / FPS,
                    min(ta_, tb_) / FPS)
    T = min(ta_, tb_)
    if T < 1:
        raise InputError(Path(a.info["source"]), "no complete frame with both video and audio")
    return T


def make_participant(track: Track, T: int, cfg: PrepareConfig) -> Participant:
    """Cut a Track to T frames and add its VAD."""
    audio = track.audio[: T * SAMPLES_PER_FRAME]
    speech = vad.speech_probability(audio, backend=cfg.vad_backend, mode=cfg.vad_mode)
    return Participant(audio=audio, landmarks=track.landmarks[:T], valid=track.valid[:T], vad=speech)


def assemble_session(session_id: str, source: str, a: Track, b: Track, transcript: list[dict],
                     cfg: PrepareConfig, extra_meta: dict | None = None) -> Session:
    T = reconcile_lengths(a, b)
    meta = {"source": source, "licence": cfg.licence, "prepare": asdict(cfg),
            "extractors": {"vad": vad.version(cfg.vad_backend, cfg.vad_mode), "mel": features.VERSION,
                           "tracking": _tracking_version()},
            "participants": {"A": a.info, "B": b.info}, **(extra_meta or {})}
    late = [e for e in transcript if e["start"] >= T / FPS]
    if late:
        log.warning("%d transcript entries start after the trimmed session ends (%.2f s)", len(late), T / FPS)
    return Session(session_id, meta, transcript, make_participant(a, T, cfg), make_participant(b, T, cfg))


def _tracking_version() -> str:
    import importlib
    import importlib.metadata

    mod = importlib.import_module("echo_ihg.tracking.face_mesh")
    try:
        mp_version = importlib.metadata.version("mediapipe")
    except importlib.metadata.PackageNotFoundError:
        mp_version = "unknown"
    return str(getattr(mod, "VERSION", f"mediapipe-{mp_version}-face-mesh-478"))


def _transcript(path: Path | None) -> list[dict]:
    return load_transcript_file(path) if path is not None else []


def prepare_pair(a: Path, b: Path, out: Path, transcript: Path | None = None,
                 session_id: str | None = None, cfg: PrepareConfig | None = None) -> Session:
    """Two single-person recordings (each with its own audio) -> session directory `out`."""
    cfg = cfg or PrepareConfig()
    for p in (a, b):
        _check_source(p)
    entries = _transcript(transcript)  # fail on a bad transcript before the slow tracking
    ta = track_recording(a, cfg)
    tb = track_recording(b, cfg)
    session = assemble_session(session_id or out.name, "pair", ta, tb, entries, cfg)
    write_session(out, session)
    return session


def prepare_side_by_side(recording: Path, out: Path, transcript: Path | None = None,
                         audio_a: Path | None = None, audio_b: Path | None = None,
                         session_id: str | None = None, cfg: PrepareConfig | None = None) -> Session:
    """One recording showing A on the left half and B on the right half -> session directory `out`."""
    cfg = cfg or PrepareConfig()
    _check_source(recording)
    for p in (audio_a, audio_b):
        if p is not None:
            _check_source(p)
    entries = _transcript(transcript)
    info = video_info(recording)
    w, h = info.width, info.height
    if w < 2 * 32:
        raise InputError(recording, f"frame is {w} px wide: too narrow to split into two people")
    mixed = None
    if audio_a is None or audio_b is None:
        mixed = _audio_track(recording)
        who = "A and B get" if audio_a is None and audio_b is None else ("A gets" if audio_a is None else "B gets")
        log.warning("%s: one mixed audio track; %s the mix and its VAD (give each person's own track to "
                    "tell the voices apart)", recording, who)
    half = w // 2
    ta = track_recording(recording, cfg, crop=(0, 0, half, h),
                         audio=None if audio_a else mixed, audio_source=audio_a)
    tb = track_recording(recording, cfg, crop=(half, 0, 2 * half, h),
                         audio=None if audio_b else mixed, audio_source=audio_b)
    for t, sep in ((ta, audio_a), (tb, audio_b)):
        t.info["audio"] = "separate" if sep else "mixed"
    session = assemble_session(session_id or out.name, "side-by-side", ta, tb, entries, cfg)
    write_session(out, session)
    return session
