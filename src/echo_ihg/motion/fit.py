"""Fitting a motion codec on landmark files and session folders (the library side of `echo-ihg fit-codec`).

Accepted inputs (any mix):
  * a landmarks ``.npy`` file, (T, 478, 3) or (478, 3); a ``valid.npy`` next to a ``landmarks.npy`` is used
    as its mask, and a ``track.json`` (written by `echo-ihg track`) gives the frame size (aspect);
  * a folder holding ``landmarks.npy`` (e.g. an `echo-ihg track` output);
  * a session folder or a root of session folders (`echo_ihg.data.session`): both participants of every
    session; the frame size comes from meta.json's participants.<A|B>.width/height when present;
  * any other folder: every ``landmarks.npy`` below it.
Frame size unknown -> square frames (aspect 1) are assumed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from echo_ihg.errors import InputError
from echo_ihg.motion.canonical import canonical_landmarks, validate_landmarks
from echo_ihg.motion.codec import CodecConfig, MotionCodec
from echo_ihg.utils.progress import progress

log = logging.getLogger(__name__)

NEUTRAL_MODES = ("estimate", "canonical")


@dataclass
class LandmarkClip:
    """One person's landmarks (T, 478, 3) float32, valid (T,) bool, frame aspect (width / height)."""

    source: str
    landmarks: np.ndarray
    valid: np.ndarray
    aspect: float = 1.0


def _aspect(info: dict | None) -> float:
    if info and info.get("width") and info.get("height"):
        return float(info["width"]) / float(info["height"])
    return 1.0


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(path, f"not a readable .npy file ({exc})") from None


def load_landmark_file(path: Path) -> LandmarkClip:
    """A landmarks .npy (+ sibling valid.npy / track.json when the file is named landmarks.npy)."""
    arr = _load_npy(path)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise InputError(path, f"landmarks must have shape (T, 478, 3) or (478, 3), got {tuple(arr.shape)}")
    lm = np.asarray(arr, np.float32)
    valid = np.ones(len(lm), bool)
    aspect = 1.0
    if path.name == "landmarks.npy":
        vpath, tpath = path.with_name("valid.npy"), path.with_name("track.json")
        if vpath.is_file():
            valid = np.asarray(_load_npy(vpath), bool)
            if valid.shape != (len(lm),):
                raise InputError(vpath, f"valid mask has shape {valid.shape}, expected ({len(lm)},)")
        if tpath.is_file():
            try:
                aspect = _aspect(json.loads(tpath.read_text()))
            except (OSError, ValueError) as exc:
                raise InputError(tpath, f"unreadable track summary ({exc})") from None
    # invalid frames may hold anything (NaN, zeros); the valid ones must be well-formed
    validate_landmarks(lm[valid] if valid.any() else np.zeros_like(lm[:1]), path)
    return LandmarkClip(str(path), lm, valid, aspect)


def _session_clips(session_dir: Path) -> Iterator[LandmarkClip]:
    from echo_ihg.data.session import PARTICIPANTS, read_session

    session = read_session(session_dir, mmap=True)
    infos = session.meta.get("participants") or {}
    for who in PARTICIPANTS:
        p = session.participant(who)
        yield LandmarkClip(f"{session_dir}:{who}", np.asarray(p.landmarks, np.float32), np.asarray(p.valid, bool),
                           _aspect(infos.get(who) if isinstance(infos, dict) else None))


def iter_clips(paths: Iterable[str | Path]) -> Iterator[LandmarkClip]:
    """Every landmark clip found under `paths` (see the module docstring), in a deterministic order."""
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            yield load_landmark_file(path)
        elif not path.is_dir():
            raise InputError(path, "no such file or folder")
        elif (path / "landmarks.npy").is_file() and not (path / "meta.json").is_file():
            yield load_landmark_file(path / "landmarks.npy")
        else:
            from echo_ihg.data.session import list_sessions

            sessions = list_sessions(path)
            if sessions:
                for s in sessions:
                    yield from _session_clips(s)
                continue
            files = sorted(path.rglob("landmarks.npy"))
            if not files:
                raise InputError(path, "no landmarks.npy and no session (meta.json) found in this folder")
            for f in files:
                yield load_landmark_file(f)


def fit_codec_on_paths(paths: Iterable[str | Path], config: CodecConfig | None = None,
                       neutral: str = "estimate") -> MotionCodec:
    """Fit a codec on every clip under `paths`.

    neutral: "estimate" (each clip's own neutral, `neutral_from_sequence`; right for videos of one person)
    or "canonical" (the canonical face for everyone; right for collections of single photos, where a clip's
    own neutral would be the photo itself and leave nothing to fit).
    """
    if neutral not in NEUTRAL_MODES:
        raise InputError(None, f"neutral must be one of {NEUTRAL_MODES}, got {neutral!r}")
    clips = [c for c in progress(iter_clips(paths), desc="loading landmarks", unit="clip")]
    clips = [c for c in clips if c.valid.any()]
    if not clips:
        raise InputError(None, "no valid landmark frames found in the given data")
    if neutral == "estimate" and all(len(c.landmarks) == 1 for c in clips):
        log.warning("all %d clips are single frames: their own neutral leaves nothing to fit; "
                    "using the canonical face as neutral (--neutral canonical)", len(clips))
        neutral = "canonical"
    neutrals = [canonical_landmarks(aspect=c.aspect) if neutral == "canonical" else None for c in clips]
    codec = MotionCodec.fit([c.landmarks for c in clips], neutrals, [c.valid for c in clips],
                            [c.aspect for c in clips], config)
    codec.fit_info.update({"n_clips": len(clips), "neutral": neutral,
                           "sources": [c.source for c in clips[:50]] + (["..."] if len(clips) > 50 else [])})
    return codec
