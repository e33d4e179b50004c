"""REACT 2025 challenge data (MARS recordings) -> sessions.

Layout (schema and sources: docs/datasets.md), per split folder `train|val|test`:
`<modality>/<role>/session<N>/<recording>.<ext>` with modality `video-face-crop` (384×384 mp4),
`video-raw` (1920×1080 mp4), `facial-attributes` (.npy, (T, 25): 15 AU occurrences, valence, arousal,
8 expression probabilities), `coefficients` (.npy, (T, 58): 52 expression, 3 rotation, 3 translation of a
FaceVerse 3DMM) and `audio` (.wav); role `speaker|listener`. The speaker and listener files of one dyadic
recording share `session<N>/<recording>`.

Mapping: A = speaker, B = listener, each with its own video and wav. Attributes and coefficients are kept
verbatim in `extra/` (`facial_attributes`, `coefficients`). meta `appropriate_group = "<split>/session<N>"`:
REACT defines every listener of the same session as an appropriate reaction (FRCorr/FRDist references).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator

import numpy as np

from echo_ihg.data.adapters.base import (AdapterConfig, Job, ParticipantInput, SessionInput, Skipped,
                                         invalid_rows, safe_name)
from echo_ihg.errors import InputError
from echo_ihg.utils.readers import load_npy

log = logging.getLogger(__name__)

NAME = "react"
VIDEO_DIRS = ("video-face-crop", "video-raw")  # the crop is preferred: smaller frames, faster tracking
ROLES = ("speaker", "listener")
SPLITS = ("train", "val", "test")
N_ATTRIBUTES, N_COEFFICIENTS = 25, 58


def split_dirs(root: Path) -> list[Path]:
    """Folders that hold modality folders (a split folder, or root itself)."""
    if not root.is_dir():
        raise InputError(root, "dataset root not found (expected the REACT data folder)")
    found = {p.parent.parent for d in VIDEO_DIRS for p in root.rglob(f"{d}/speaker")}
    return sorted(found)


def load_per_frame(path: Path, width: int) -> np.ndarray:
    """A (T, width) array (a (T, 1, width) one is squeezed), verbatim otherwise. Raises InputError."""
    arr = load_npy(path)
    if arr.ndim == 3 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 2 or arr.shape[1] != width:
        raise InputError(path, f"has shape {arr.shape}, expected (T, {width})")
    return arr


def plan(root: Path, config: AdapterConfig = AdapterConfig()) -> Iterator[Job | Skipped]:
    root = Path(root)
    dirs = split_dirs(root)
    if not dirs:
        raise InputError(root, f"no '{VIDEO_DIRS[0]}/speaker/session*' (or {VIDEO_DIRS[1]}) folders found")
    for split_dir in dirs:
        split = split_dir.name if split_dir != root or split_dir.name in SPLITS else config.split
        video_dir = next(split_dir / d for d in VIDEO_DIRS if (split_dir / d / "speaker").is_dir())
        for spk in sorted((video_dir / "speaker").glob("*/*.mp4")):
            session_name, rec = spk.parent.name, spk.stem
            sid = f"react_{safe_name(split)}_{safe_name(session_name)}_{safe_name(rec)}"
            yield Job(NAME, sid, split, {"split_dir": split_dir, "video_dir": video_dir,
                                         "session": session_name, "recording": rec})


def load(job: Job) -> SessionInput:
    a = job.args
    a_in, b_in = [_participant(a["split_dir"], a["video_dir"], role, a["session"], a["recording"])
                  for role in ROLES]
    meta = {"source": "react2025", "dataset": "MARS", "split": job.split, "session": a["session"],
            "recording": a["recording"], "appropriate_group": f"{job.split}/{a['session']}"}
    return SessionInput(job.session_id, job.split, a_in, b_in, [], meta)


def _participant(split_dir: Path, video_dir: Path, role: str, session: str, rec: str) -> ParticipantInput:
    from echo_ihg.io.media import video_info

    video = video_dir / role / session / f"{rec}.mp4"
    if not video.is_file():
        raise InputError(video, f"the {role} video of recording {session}/{rec} was not found")
    audio = split_dir / "audio" / role / session / f"{rec}.wav"
    if not audio.is_file():
        raise InputError(audio, f"the {role} audio of recording {session}/{rec} was not found")
    extra, masks = {}, []
    for name, folder, width in (("facial_attributes", "facial-attributes", N_ATTRIBUTES),
                                ("coefficients", "coefficients", N_COEFFICIENTS)):
        path = split_dir / folder / role / session / f"{rec}.npy"
        if path.is_file():
            arr = load_per_frame(path, width)
            extra[name] = arr
            masks.append(~invalid_rows(arr, zeros=False))  # NaN / inf / sentinel rows: no usable face
        else:
            log.warning("%s: not found; %s kept without it", path, f"{role} {session}/{rec}")
    info = video_info(video)
    source_valid = None
    if masks:
        n = min(len(m) for m in masks)
        source_valid = np.logical_and.reduce([m[:n] for m in masks]) if n else None
    return ParticipantInput(source_id=f"{role}/{session}/{rec}", video=video, audio=audio, extra=extra,
                            source_valid=source_valid, source_fps=info.fps,
                            meta={"role": role, "source_fps": info.fps})
