"""Fitting a motion codec on landmark files and session folders (the library side of `echo-ihg fit-codec`).

Accepted inputs (any mix):
  * a landmarks ``.npy`` file, (T, 478, 3) or (478, 3); a ``valid.npy`` next to a ``landmarks.npy`` is used
    as its mask, and a ``track.json`` (written by `echo-ihg track`) gives the frame size (aspect, its
    ``frame_size``);
  * a folder holding ``landmarks.npy`` (e.g. an `echo-ihg track` output);
  * a session folder or a root of session folders (`echo_ihg.data.session`): both participants of every
    session; the frame size comes from meta.json's participants.<A|B>.frame_size (`data.session.session_aspect`:
    the reader training features and rendering use too);
  * any other folder: every ``landmarks.npy`` below it.
Frame size unknown -> square frames (aspect 1) are assumed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Sequence as SequenceABC
from typing import Callable, Iterable, Iterator

import numpy as np

from echo_ihg.data.session import PARTICIPANTS, list_sessions, read_meta, read_participant, session_aspect
from echo_ihg.errors import InputError
from echo_ihg.motion.canonical import canonical_landmarks, validate_landmarks
from echo_ihg.motion.codec import CodecConfig, MotionCodec
from echo_ihg.tracking.face_mesh import frame_aspect
from echo_ihg.utils.readers import load_npy

log = logging.getLogger(__name__)

NEUTRAL_MODES = ("estimate", "canonical")


@dataclass
class LandmarkClip:
    """One person's clip: valid (T,) bool, frame aspect (width / height) and a loader for its landmarks
    (T, 478, 3) float32, so that a large corpus is read one clip at a time instead of all at once."""

    source: str
    valid: np.ndarray
    aspect: float
    loader: Callable[[], np.ndarray]

    def load(self) -> np.ndarray:
        return self.loader()


class _LazyLandmarks(SequenceABC):
    """The clips' landmarks as a sequence that loads each clip when it is indexed."""

    def __init__(self, clips: list[LandmarkClip]):
        self.clips = clips

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i):  # type: ignore[override]
        return self.clips[i].load()


def load_landmark_file(path: Path) -> LandmarkClip:
    """A landmarks .npy (+ sibling valid.npy / track.json when the file is named landmarks.npy).
    The shape is checked now; the values (NaN, inf in valid frames) when the clip is loaded."""
    arr = load_npy(path, mmap=True)
    shape = (1, *arr.shape) if arr.ndim == 2 else arr.shape
    if len(shape) != 3 or shape[1:] != (478, 3) or shape[0] < 1:
        raise InputError(path, f"landmarks must have shape (T, 478, 3) or (478, 3), got {tuple(arr.shape)}")
    valid = np.ones(shape[0], bool)
    aspect = 1.0
    if path.name == "landmarks.npy":
        vpath, tpath = path.with_name("valid.npy"), path.with_name("track.json")
        if vpath.is_file():
            valid = np.asarray(load_npy(vpath, mmap=True), bool)
            if valid.shape != (shape[0],):
                raise InputError(vpath, f"valid mask has shape {valid.shape}, expected ({shape[0]},)")
        if tpath.is_file():
            try:
                aspect = frame_aspect(json.loads(tpath.read_text()))
            except (OSError, ValueError) as exc:
                raise InputError(tpath, f"unreadable track summary ({exc})") from None

    def load() -> np.ndarray:
        lm = np.asarray(load_npy(path, mmap=True), np.float32).reshape(shape)
        # invalid frames may hold anything (NaN, zeros); the valid ones must be well-formed
        validate_landmarks(lm[valid] if valid.any() else np.zeros_like(lm[:1]), path)
        return lm

    return LandmarkClip(str(path), valid, aspect, load)


def _session_clips(session_dir: Path) -> Iterator[LandmarkClip]:
    meta = read_meta(session_dir)
    for who in PARTICIPANTS:
        valid = np.asarray(load_npy(session_dir / who / "valid.npy", mmap=True), bool)

        def load(who: str = who) -> np.ndarray:  # read_participant validates shapes, T and NaNs
            return np.asarray(read_participant(session_dir, who, meta["T"], mmap=True).landmarks, np.float32)

        yield LandmarkClip(f"{session_dir}:{who}", valid, session_aspect(meta, who), load)


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
    clips = [c for c in iter_clips(paths) if c.valid.any()]
    if not clips:
        raise InputError(None, "no valid landmark frames found in the given data")
    if neutral == "estimate" and all(len(c.valid) == 1 for c in clips):
        log.warning("all %d clips are single frames: their own neutral leaves nothing to fit; "
                    "using the canonical face as neutral (--neutral canonical)", len(clips))
        neutral = "canonical"
    neutrals = [canonical_landmarks(aspect=c.aspect) if neutral == "canonical" else None for c in clips]
    codec = MotionCodec.fit(_LazyLandmarks(clips), neutrals, [c.valid for c in clips],
                            [c.aspect for c in clips], config)
    codec.fit_info.update({"n_clips": len(clips), "neutral": neutral,
                           "sources": [c.source for c in clips[:50]] + (["..."] if len(clips) > 50 else [])})
    return codec
