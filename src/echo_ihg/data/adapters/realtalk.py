"""RealTalk (Columbia; dyadic YouTube conversations filmed side by side) -> sessions.

Confirmed layout (dataset card, docs/datasets.md): `videos/videos_{xx}.tar` shards of `<video_id>.avi`
(25 fps; `<video_id>` = the 11-character YouTube id), plus `audio.tar.gz`, `emoca.tar.gz`, `asr.tar.gz`
and `annotations.tar.gz`. 'p0' is the person on the LEFT half of the frame, 'p1' the one on the RIGHT.
The inner layout of the audio/EMOCA/ASR archives is not documented publicly, so this adapter reads:
- videos `<video_id>.{avi,mp4,mkv}` anywhere under the root, or still inside `videos_*.tar` shards,
- audio `<video_id>.{wav,flac,mp3,m4a}` anywhere under the root, else the video's own audio track,
- EMOCA files: any file under a folder named `emoca*` whose path contains `<video_id>`; `.npy`/`.npz`
  arrays are kept verbatim in `extra/` (assigned to p0/p1 by a `p0`/`p1` token in the path, else to
  both), other files (e.g. pickles) are kept as raw bytes (`emoca.raw.<name>`, uint8) — never unpickled,
  because unpickling a downloaded file can run arbitrary code.

Mapping: A = p0 (left crop), B = p1 (right crop). RealTalk has ONE mixed audio track: both participants
get the mixture and VAD estimated on it (not per person); meta `audio_mixed: true` says so, so that
training can weight or skip these sessions' per-participant audio.
"""

from __future__ import annotations

import logging
import re
import zipfile
from pathlib import Path
from typing import Iterator

import numpy as np

from echo_ihg.data.adapters.archive import TarMember, extract_members, list_tar_members, temp_dir
from echo_ihg.data.adapters.base import AdapterConfig, Job, ParticipantInput, SessionInput, Skipped, safe_name
from echo_ihg.errors import InputError

log = logging.getLogger(__name__)

NAME = "realtalk"
VIDEO_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
VIDEO_EXTS = (".avi", ".mp4", ".mkv")
AUDIO_EXTS = (".wav", ".flac", ".mp3", ".m4a")
CROPS = {"p0": (0.0, 0.5), "p1": (0.5, 1.0)}  # p0 = left half, p1 = right half


def _index(root: Path) -> tuple[dict[str, Path | TarMember], dict[str, Path], list[Path]]:
    videos: dict[str, Path | TarMember] = {}
    audios: dict[str, Path] = {}
    emoca: list[Path] = []
    for p in sorted(root.rglob("*")):
        if not p.is_file():
            continue
        ext = p.suffix.lower()
        if any(part.lower().startswith("emoca") for part in p.relative_to(root).parts[:-1]):
            emoca.append(p)
        elif ext in VIDEO_EXTS and VIDEO_ID.match(p.stem):
            videos[p.stem] = p
        elif ext in AUDIO_EXTS and VIDEO_ID.match(p.stem):
            audios[p.stem] = p
        elif ext == ".tar" and p.name.startswith("videos"):
            for m in list_tar_members(p):
                stem, dot, mext = m.basename.rpartition(".")
                if "." + mext.lower() in VIDEO_EXTS and VIDEO_ID.match(stem):
                    videos.setdefault(stem, m)  # an extracted copy wins
    return videos, audios, emoca


def plan(root: Path, config: AdapterConfig = AdapterConfig()) -> Iterator[Job | Skipped]:
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "dataset root not found (expected the RealTalk folder)")
    videos, audios, emoca = _index(root)
    if not videos:
        raise InputError(root, "no RealTalk videos found (<11-character YouTube id>.avi, or videos_*.tar shards)")
    for vid in sorted(videos):
        files = [p for p in emoca if vid in str(p.relative_to(root))]
        yield Job(NAME, f"realtalk_{safe_name(vid)}", config.split,
                  {"video_id": vid, "video": videos[vid], "audio": audios.get(vid), "emoca": files, "root": root})


def load(job: Job) -> SessionInput:
    vid, root, src = job.args["video_id"], job.args["root"], job.args["video"]
    cleanup = None
    try:
        if isinstance(src, TarMember):
            tmp, cleanup = temp_dir("realtalk")
            src = extract_members([src], tmp)[src.basename]
        audio = job.args["audio"]
        if audio is None:
            from echo_ihg.io.media import probe_has_audio

            if not probe_has_audio(src):
                raise InputError(src, "video has no audio track and no audio/<video_id> file was found")
            audio = src
        extras = _emoca_extra(vid, job.args["emoca"], root)
    except BaseException:
        if cleanup:
            cleanup()
        raise
    parts = [ParticipantInput(source_id=f"{vid}:{who}", video=src, audio=audio, crop=CROPS[who],
                              extra=extras[who], meta={"person": who, "side": side})
             for who, side in (("p0", "left"), ("p1", "right"))]
    meta = {"source": "realtalk", "video_id": vid, "audio_mixed": True,
            "emoca_files": sorted(str(p.relative_to(root)) for p in job.args["emoca"])}
    return SessionInput(job.session_id, job.split, parts[0], parts[1], [], meta, cleanup)


def _emoca_extra(vid: str, files: list[Path], root: Path) -> dict[str, dict[str, np.ndarray]]:
    """EMOCA files of one video -> {'p0': {name: array}, 'p1': {...}} (see the module docstring)."""
    out: dict[str, dict[str, np.ndarray]] = {"p0": {}, "p1": {}}
    for path in files:
        rel = path.relative_to(root)
        tokens = set(re.split(r"[^A-Za-z0-9]+", str(rel).replace(vid, " ")))
        owners = [w for w in ("p0", "p1") if w in tokens] or ["p0", "p1"]
        inner = [q for q in rel.with_suffix("").parts if not q.lower().startswith("emoca")]
        stem = safe_name("/".join(inner).replace(vid, ""))
        arrays = _load_arrays(path, stem)
        for who in owners:
            out[who].update(arrays)
    return out


def _load_arrays(path: Path, stem: str) -> dict[str, np.ndarray]:
    ext = path.suffix.lower()
    try:
        if ext == ".npy":
            return {f"emoca.{stem}": np.load(path, allow_pickle=False)}
        if ext == ".npz":
            with np.load(path, allow_pickle=False) as z:
                return {f"emoca.{stem}.{k}": np.asarray(z[k]) for k in z.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(path, f"EMOCA file is not a readable numpy array ({exc})") from None
    return {f"emoca.raw.{safe_name(path.name)}": np.frombuffer(path.read_bytes(), np.uint8)}
