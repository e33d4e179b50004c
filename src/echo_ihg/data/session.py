"""The on-disk dyadic session format (docs/architecture.md, "Session format"): writer, reader, validator, listing.

    <root>/<split>/<session_id>/
      meta.json         id, source, fps, T, sample_rate, participants {A, B}: source ids, frame_size [w, h]
                        (`session_aspect`), extractor versions, ...
      transcript.jsonl  {speaker: "A"|"B", start, end, text} per line (seconds)
      A/ B/             audio.wav or audio.flac (exactly one; 16 kHz mono PCM16, FLAC being its lossless
                        compression), landmarks.npy (T,478,3), valid.npy (T,) bool,
                        vad.npy (T,) float32, optional video.mp4, optional extra/<name>.npy (kept verbatim),
                        cache/<name>.npy + cache/<name>.json (derived features, see `data.cache.cached_feature`)

Invariants checked on read and before write (violations raise InputError naming the offending file):
landmarks (T, 478, 3) float32 or float16 (float16 is upcast to float32 by the reader), finite;
valid (T,) bool; vad (T,) finite in [0, 1]; both participants have the same T ≥ 1, equal to meta.json's T.

Audio files: `write_session(..., audio_format="wav" | "flac")` picks the file; both read back as the same
PCM16 samples. FLAC suits synthetic corpora (a listener's track is mostly silence: about a quarter of the
WAV size); WAV stays the default for real data. Every reader finds the file with `audio_path` and decodes
it with `read_audio`; a folder with both files or neither is an InputError naming the folder.

Audio length policy: the writer stores exactly 640·T samples. A reader accepts audio that is off by up to
one video frame (|N − 640·T| ≤ 640; e.g. an adapter that rounded differently or AAC priming) and pads with
silence or trims it to exactly 640·T, so `participant.audio` always has 640·T samples. Larger differences
are an error (the audio belongs to another recording or was cut).
"""

from __future__ import annotations

import logging
import shutil
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from echo_ihg.constants import FPS, N_LANDMARKS, SAMPLE_RATE, SAMPLES_PER_FRAME
from echo_ihg.data.transcript import read_transcript, write_transcript
from echo_ihg.errors import InputError
from echo_ihg.io.media import fit_audio_length, read_flac_pcm16, write_flac, write_wav
from echo_ihg.tracking.face_mesh import frame_aspect
from echo_ihg.utils.atomic import atomic_dir, save_npy, write_json
from echo_ihg.utils.readers import load_npy, read_json

log = logging.getLogger(__name__)

PARTICIPANTS = ("A", "B")
FORMAT_VERSION = 1
AUDIO_SLACK_SAMPLES = SAMPLES_PER_FRAME  # one video frame of tolerance on read (see module docstring)
VAD_TOLERANCE = 1e-4
AUDIO_FILES = {"wav": "audio.wav", "flac": "audio.flac"}  # audio_format -> file name (one per participant)
_AUDIO_WRITERS = {"wav": write_wav, "flac": write_flac}


@dataclass
class Participant:
    """One person of a session. Shapes: audio (N,) float32 with N = 640 T after reading; landmarks
    (T, 478, 3) float32 (float16 accepted for writing); valid (T,) bool; vad (T,) float32 in [0, 1];
    extra: name -> array kept verbatim; video: optional face-crop mp4 (copied to video.mp4 on write)."""

    audio: np.ndarray
    landmarks: np.ndarray
    valid: np.ndarray
    vad: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    video: Path | None = None

    @property
    def T(self) -> int:
        return int(self.landmarks.shape[0])


@dataclass
class Session:
    session_id: str
    meta: dict[str, Any]
    transcript: list[dict]
    A: Participant
    B: Participant
    path: Path | None = None  # set by read_session

    @property
    def T(self) -> int:
        return self.A.T

    @property
    def duration(self) -> float:
        return self.T / FPS

    def participant(self, who: str) -> Participant:
        if who not in PARTICIPANTS:
            raise ValueError(f"participant must be 'A' or 'B', got {who!r}")
        return self.A if who == "A" else self.B


# ---------------------------------------------------------------------------------------------- checks

def _check_arrays(landmarks: np.ndarray, valid: np.ndarray, vad: np.ndarray, folder: Path,
                  T: int | None) -> int:
    """Check one participant's arrays (naming the file under `folder`). Returns T."""
    lm_path, valid_path, vad_path = folder / "landmarks.npy", folder / "valid.npy", folder / "vad.npy"
    if landmarks.ndim != 3 or landmarks.shape[1:] != (N_LANDMARKS, 3):
        raise InputError(lm_path, f"landmarks have shape {landmarks.shape}, expected (T, {N_LANDMARKS}, 3)")
    if landmarks.dtype not in (np.float32, np.float16):
        raise InputError(lm_path, f"landmarks have dtype {landmarks.dtype}, expected float32 or float16")
    n = landmarks.shape[0]
    if n == 0:
        raise InputError(lm_path, "landmarks have no frames (T = 0)")
    if T is not None and n != T:
        raise InputError(lm_path, f"has {n} frames but the session has T = {T}")
    if not np.isfinite(landmarks).all():
        bad = np.flatnonzero(~np.isfinite(landmarks).reshape(n, -1).all(1))
        raise InputError(lm_path, f"landmarks contain NaN/inf in {len(bad)} frame(s), first at frame {bad[0]} "
                                  "(invalid frames must hold finite placeholder values; mark them in valid.npy)")
    if valid.shape != (n,):
        raise InputError(valid_path, f"valid has shape {valid.shape}, expected ({n},) to match landmarks")
    if valid.dtype != np.bool_:
        raise InputError(valid_path, f"valid has dtype {valid.dtype}, expected bool")
    if vad.shape != (n,):
        raise InputError(vad_path, f"vad has shape {vad.shape}, expected ({n},) to match landmarks")
    if not np.issubdtype(vad.dtype, np.floating):
        raise InputError(vad_path, f"vad has dtype {vad.dtype}, expected float32 speech probabilities")
    if not np.isfinite(vad).all():
        raise InputError(vad_path, "vad contains NaN/inf")
    if vad.min() < -VAD_TOLERANCE or vad.max() > 1 + VAD_TOLERANCE:
        raise InputError(vad_path, f"vad values must be probabilities in [0, 1], got [{vad.min()}, {vad.max()}]")
    return n


def _fit_audio(audio: np.ndarray, T: int, path: Path) -> np.ndarray:
    """Apply the audio length policy: within one frame of 640 T -> padded/trimmed to 640 T, else an error."""
    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise InputError(path, f"audio has shape {audio.shape}, expected mono (N,)")
    want = T * SAMPLES_PER_FRAME
    if abs(len(audio) - want) > AUDIO_SLACK_SAMPLES:
        raise InputError(path, f"audio has {len(audio)} samples ({len(audio) / SAMPLE_RATE:.3f} s, "
                               f"{len(audio) // SAMPLES_PER_FRAME} frames) but the session has T = {T} frames "
                               f"({want} samples); at most one frame of difference is allowed")
    if not np.isfinite(audio).all():
        raise InputError(path, "audio contains NaN/inf samples")
    return fit_audio_length(audio.astype(np.float32, copy=False), T)


def _check_participant(p: Participant, folder: Path, T: int | None, audio_name: str) -> int:
    if not isinstance(p, Participant):
        raise InputError(folder, f"expected a Participant, got {type(p).__name__}")
    T = _check_arrays(np.asarray(p.landmarks), np.asarray(p.valid), np.asarray(p.vad), folder, T)
    _fit_audio(p.audio, T, folder / audio_name)
    for name, arr in p.extra.items():
        if not name or "/" in name or name.startswith("."):
            raise InputError(folder / "extra", f"bad extra array name {name!r}")
        if not isinstance(arr, np.ndarray):
            raise InputError(folder / "extra" / f"{name}.npy", f"expected a numpy array, got {type(arr).__name__}")
    if p.video is not None and not Path(p.video).is_file():
        raise InputError(p.video, "participant video not found")
    return T


# ---------------------------------------------------------------------------------------------- write

def write_session(dest: str | Path, session: Session, audio_format: str = "wav") -> Path:
    """Write `session` to directory `dest` atomically (the whole directory appears at once, replacing any
    previous one, including its cached features). `audio_format` "wav" or "flac" (lossless, smaller; see
    the module docstring) picks each participant's audio file. Returns `dest`."""
    if audio_format not in AUDIO_FILES:
        raise ValueError(f"audio_format must be one of {sorted(AUDIO_FILES)}, got {audio_format!r}")
    dest = Path(dest)
    audio_name = AUDIO_FILES[audio_format]
    T = _check_participant(session.A, dest / "A", None, audio_name)
    _check_participant(session.B, dest / "B", T, audio_name)
    meta = dict(session.meta)
    meta.update(id=session.session_id, format_version=FORMAT_VERSION, fps=FPS, sample_rate=SAMPLE_RATE, T=T)
    meta.setdefault("participants", {})
    for who in PARTICIPANTS:
        meta["participants"].setdefault(who, {})
    with atomic_dir(dest) as tmp:
        write_json(tmp / "meta.json", meta)
        write_transcript(tmp / "transcript.jsonl", session.transcript)
        for who in PARTICIPANTS:
            _write_participant(tmp / who, session.participant(who), T, audio_format)
    return dest


def _write_participant(folder: Path, p: Participant, T: int, audio_format: str) -> None:
    folder.mkdir(parents=True)
    audio_file = folder / AUDIO_FILES[audio_format]
    _AUDIO_WRITERS[audio_format](audio_file, _fit_audio(p.audio, T, audio_file))
    lm = np.asarray(p.landmarks)
    save_npy(folder / "landmarks.npy", lm if lm.dtype == np.float16 else lm.astype(np.float32))
    save_npy(folder / "valid.npy", np.asarray(p.valid, dtype=bool))
    save_npy(folder / "vad.npy", np.clip(np.asarray(p.vad, dtype=np.float32), 0.0, 1.0))
    if p.video is not None:
        shutil.copyfile(p.video, folder / "video.mp4")
    for name, arr in p.extra.items():
        save_npy(folder / "extra" / f"{name}.npy", np.asarray(arr))


# ---------------------------------------------------------------------------------------------- read

def audio_path(folder: str | Path) -> Path:
    """The participant folder's audio file: exactly one of audio.wav / audio.flac must exist."""
    folder = Path(folder)
    found = [folder / name for name in AUDIO_FILES.values() if (folder / name).is_file()]
    if len(found) != 1:
        names = " and ".join(AUDIO_FILES.values())
        problem = (f"has both {names}; keep exactly one" if found else
                   f"has no audio file (expected {' or '.join(AUDIO_FILES.values())})")
        raise InputError(folder, problem)
    return found[0]


def read_audio(path: str | Path) -> np.ndarray:
    """Read a session audio file (audio.wav or audio.flac, 16 kHz mono PCM16) -> (N,) float32 in [-1, 1]."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    if path.suffix == ".flac":
        pcm, rate = read_flac_pcm16(path)
        channels, width = pcm.shape[1], 2
        raw = pcm.reshape(-1)
    else:
        try:
            with wave.open(str(path), "rb") as w:
                channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
                raw = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2") if width == 2 else None
        except (wave.Error, EOFError) as exc:
            raise InputError(path, f"not a readable WAV file ({exc})") from None
    if (channels, width, rate) != (1, 2, SAMPLE_RATE):
        raise InputError(path, f"expected {SAMPLE_RATE} Hz mono PCM16, got {rate} Hz, "
                               f"{channels} channel(s), {8 * width} bit")
    return raw.astype(np.float32) / 32767.0


def read_meta(session_dir: str | Path) -> dict[str, Any]:
    path = Path(session_dir) / "meta.json"
    meta = read_json(path, missing="file not found (not a session directory?)")
    if not isinstance(meta, dict):
        raise InputError(path, "expected a JSON object")
    for key in ("id", "fps", "T"):
        if key not in meta:
            raise InputError(path, f"missing key {key!r}")
    if meta["fps"] != FPS:
        raise InputError(path, f"fps is {meta['fps']}, this project uses {FPS}")
    if not isinstance(meta["T"], int) or meta["T"] < 1:
        raise InputError(path, f"T must be a positive integer, got {meta['T']!r}")
    return meta


def read_participant(session_dir: str | Path, who: str, T: int | None = None, mmap: bool = True) -> Participant:
    """Read and validate one participant folder. Float16 landmarks are upcast (a copy, not a memory map)."""
    folder = Path(session_dir) / who
    if not folder.is_dir():
        raise InputError(folder, "participant folder not found")
    landmarks = load_npy(folder / "landmarks.npy", mmap)
    valid = load_npy(folder / "valid.npy", mmap)
    vad = load_npy(folder / "vad.npy", mmap)
    T = _check_arrays(landmarks, valid, vad, folder, T)
    if landmarks.dtype != np.float32:
        landmarks = landmarks.astype(np.float32)
    if vad.dtype != np.float32:
        vad = vad.astype(np.float32)
    audio_file = audio_path(folder)
    audio = _fit_audio(read_audio(audio_file), T, audio_file)
    extra = {}
    if (folder / "extra").is_dir():
        extra = {f.stem: load_npy(f, mmap) for f in sorted((folder / "extra").glob("*.npy"))}
    video = folder / "video.mp4"
    return Participant(audio, landmarks, valid, vad, extra, video if video.is_file() else None)


def read_session(session_dir: str | Path, mmap: bool = True) -> Session:
    """Read and validate a session directory. Arrays are memory-mapped read-only when `mmap`."""
    session_dir = Path(session_dir)
    if not session_dir.is_dir():
        raise InputError(session_dir, "session directory not found")
    meta = read_meta(session_dir)
    a = read_participant(session_dir, "A", meta["T"], mmap)
    b = read_participant(session_dir, "B", meta["T"], mmap)
    tpath = session_dir / "transcript.jsonl"
    transcript = read_transcript(tpath) if tpath.exists() else []
    late = [e for e in transcript if e["start"] > meta["T"] / FPS + 1.0]
    if late:
        log.warning("%s: %d transcript entries start after the session ends (%.2f s)", tpath, len(late),
                    meta["T"] / FPS)
    return Session(str(meta["id"]), meta, transcript, a, b, session_dir)


def validate_session(session_dir: str | Path) -> Session:
    """Validate a session directory completely (raises InputError naming the first bad file)."""
    return read_session(session_dir, mmap=True)


def list_sessions(root: str | Path, split: str | None = None) -> list[Path]:
    """Session directories (those holding meta.json) under `root/<split>/`, or under every split of `root`
    when `split` is None (a session directly under `root`, or `root` itself, is included too). Sorted."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "session root not found")
    if split is not None:
        base = root / split
        if not base.is_dir():
            raise InputError(base, f"split {split!r} not found")
        return sorted(p.parent for p in base.glob("*/meta.json") if not _hidden(p, base))
    if (root / "meta.json").is_file():
        return [root]
    found = set(root.glob("*/meta.json")) | set(root.glob("*/*/meta.json"))
    return sorted(p.parent for p in found if not _hidden(p, root))


def _hidden(meta_path: Path, base: Path) -> bool:
    """Dot-folders are in-progress or interrupted atomic writes (".s001.xyz.tmp"), not sessions."""
    return any(part.startswith(".") for part in meta_path.relative_to(base).parts)


def session_aspect(meta: dict, who: str) -> float:
    """Frame width / height of participant `who`'s landmarks: meta.json's participants.<who>.frame_size
    (`tracking.face_mesh.frame_aspect`; 1.0 when absent). Codec fitting, training features and rendering read
    it here, and inference measures the same from the user's video, so the same face gives the same codes."""
    participants = meta.get("participants") if isinstance(meta.get("participants"), dict) else {}
    return frame_aspect(participants.get(who))


def iter_sessions(root: str | Path, split: str | None = None, mmap: bool = True) -> Iterator[Session]:
    for d in list_sessions(root, split):
        yield read_session(d, mmap=mmap)


__all__ = ["Participant", "Session", "write_session", "read_session", "read_participant", "validate_session",
           "list_sessions", "iter_sessions", "read_meta", "session_aspect", "audio_path", "read_audio",
           "AUDIO_FILES", "PARTICIPANTS"]
