"""Meta's Seamless Interaction dataset -> sessions (schema and sources: docs/datasets.md).

Both release layouts are read, and may be mixed under one root:
- webdataset shards `{improvised|naturalistic}/{train|dev|test}/BBBB/AAAA.tar` holding `<file_id>.{mp4,wav,json,npz}`,
- extracted bundles `<file_id>.{mp4,wav,json,npz}` anywhere below the root (a bundle found both ways is
  read from the extracted copy).

A file id `V<vendor>_S<session>_I<interaction>_P<participant>` is one participant of one interaction; the
two participants of `V.._S.._I..` make one session (partners usually sit in different shards, so all
shards are indexed before pairing). Participant ids may end in a letter (`P0299A`) and are kept whole.
"""

from __future__ import annotations

import logging
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from echo_ihg.data.adapters.archive import TarMember, extract_members, list_tar_members, temp_dir
from echo_ihg.data.adapters.base import (AdapterConfig, Job, ParticipantInput, SessionInput, Skipped, invalid_rows,
                                         parse_intervals)
from echo_ihg.errors import InputError
from echo_ihg.utils.readers import read_json

log = logging.getLogger(__name__)

NAME = "seamless"
FILE_ID = re.compile(r"^V(?P<vendor>\d+)_S(?P<session>\d+)_I(?P<interaction>\d+)_P(?P<participant>\d+[A-Za-z]*)$")
EXTS = ("mp4", "wav", "json", "npz")
LABELS = ("improvised", "naturalistic")
SPLITS = ("train", "dev", "test")
LICENCE = "CC-BY-NC-4.0"

# Dataset flags and arrays whose invalid frames mean "the participant is not visible": the box flag, the
# box itself and the 2-D keypoints (zero-filled when invalid), and SMPL-H translation (a huge sentinel on
# those frames). movement:is_valid is a processing-chunk flag, not visibility: kept in extra only.
BOX_FLAG = "boxes_and_keypoints:is_valid_box"
ZERO_FILLED = ("boxes_and_keypoints:box", "boxes_and_keypoints:keypoints")
SENTINEL_ONLY = ("smplh:translation",)


@dataclass
class _Bundle:
    file_id: str
    files: dict[str, Path] = field(default_factory=dict)          # extracted layout
    members: dict[str, TarMember] = field(default_factory=dict)   # tar layout
    where: Path | None = None                                     # a path for messages and label/split

    @property
    def exts(self) -> set[str]:
        return set(self.files) | set(self.members)


def parse_file_id(file_id: str) -> dict[str, str] | None:
    m = FILE_ID.match(file_id)
    return m.groupdict() if m else None


def interaction_key(file_id: str) -> str:
    g = parse_file_id(file_id)
    assert g is not None
    return f"V{g['vendor']}_S{g['session']}_I{g['interaction']}"


def _split_label(path: Path, root: Path, default_split: str) -> tuple[str, str | None]:
    """Split and label from the folders between `root` and `path`; a root that is itself a split folder
    (`.../improvised/dev`) counts too. Folders above the root never do (a home called 'test' is no split)."""
    parts = set(path.relative_to(root).parts)
    if root.name in SPLITS:
        parts |= {root.name, root.parent.name}
    split = next((s for s in SPLITS if s in parts), default_split)
    label = next((lab for lab in LABELS if lab in parts), None)
    return split, label


def index_root(root: Path) -> dict[str, _Bundle]:
    """file_id -> bundle over both layouts (tar headers are read, contents are not)."""
    if not root.is_dir():
        raise InputError(root, "dataset root not found (expected a folder)")
    bundles: dict[str, _Bundle] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        ext = path.suffix.lower().lstrip(".")
        if ext in EXTS and parse_file_id(path.stem):
            b = bundles.setdefault(path.stem, _Bundle(path.stem))
            b.files[ext] = path
            b.where = b.where or path
        elif ext == "tar":
            for m in list_tar_members(path):
                stem, _, mext = m.basename.partition(".")
                if mext.lower() in EXTS and parse_file_id(stem):
                    b = bundles.setdefault(stem, _Bundle(stem))
                    b.members.setdefault(mext.lower(), m)
                    b.where = b.where or path
    for b in bundles.values():  # messages name the video file when there is one
        b.where = b.files.get("mp4", b.where)
    return bundles


def plan(root: Path, config: AdapterConfig = AdapterConfig()) -> Iterator[Job | Skipped]:
    """One Job per interaction with exactly two participants that have video and audio (others: Skipped)."""
    root = Path(root)
    bundles = index_root(root)
    if not bundles:
        raise InputError(root, "no Seamless Interaction files found (expected <file_id>.{mp4,wav,json,npz} "
                               "files or webdataset .tar shards, file_id like V00_S0809_I00000582_P0947)")
    groups: dict[str, list[_Bundle]] = {}
    for fid in sorted(bundles):
        groups.setdefault(interaction_key(fid), []).append(bundles[fid])
    for key, members in groups.items():
        if len(members) != 2:
            ids = ", ".join(b.file_id for b in members)
            what = "its partner's files were not found" if len(members) == 1 else "more than two participants"
            yield Skipped(key, f"{members[0].where}: interaction {key} has {len(members)} participant file "
                               f"id(s) ({ids}); {what}")
            continue
        missing = [(b, [e for e in ("mp4", "wav") if e not in b.exts]) for b in members]
        missing = [(b, m) for b, m in missing if m]
        if missing:
            b, m = missing[0]
            yield Skipped(key, f"{b.where}: bundle {b.file_id} has no .{' or .'.join(m)} file")
            continue
        # split / label from the folders below the root only (the root's own path may say "test")
        split, label = _split_label(members[0].where, root, config.split)
        yield Job(NAME, key, split, {"pair": members, "label": label})


def load(job: Job) -> SessionInput:
    """Read both bundles of one interaction (extracting tar members to a temporary folder)."""
    pair: list[_Bundle] = job.args["pair"]
    tmp, cleanup = temp_dir("seamless")
    try:
        (a, a_words), (b, b_words) = [_participant(b, tmp) for b in pair]
    except BaseException:
        cleanup()
        raise
    label = job.args.get("label")
    transcript = [{**w, "speaker": "A"} for w in a_words] + [{**w, "speaker": "B"} for w in b_words]
    meta = {"source": "seamless_interaction", "label": label, "split": job.split, "licence": LICENCE,
            "interaction": job.session_id}
    return SessionInput(job.session_id, job.split, a, b, transcript, meta, cleanup)


def _participant(b: _Bundle, tmp: Path) -> tuple[ParticipantInput, list[dict]]:
    files = dict(b.files)
    todo = [m for ext, m in b.members.items() if ext not in files]
    if todo:
        extracted = extract_members(todo, tmp)
        for ext, m in b.members.items():
            files.setdefault(ext, extracted.get(m.basename))
    from echo_ihg.io.media import video_info

    info = video_info(files["mp4"])  # raises naming the file (empty placeholder mp4s have no stream)
    if info.fps <= 0:
        raise InputError(files["mp4"], "video stream reports no frame rate")
    vad, words = None, []
    if "json" in files:
        vad, words = read_annotation(files["json"], b.file_id)
    else:
        log.warning("%s: no .json (transcript, VAD); VAD is estimated from the audio", b.where)
    extra, source_valid = {}, None
    if "npz" in files:
        extra, source_valid = read_features(files["npz"])
    else:
        log.warning("%s: no .npz features; validity comes from face tracking only", b.where)
    g = parse_file_id(b.file_id)
    p = ParticipantInput(source_id=b.file_id, video=files["mp4"], audio=files["wav"], vad_intervals=vad,
                         source_valid=source_valid, source_fps=info.fps, extra=extra,
                         meta={"participant": f"P{g['participant']}", "vendor": f"V{g['vendor']}",
                               "source_fps": info.fps, "source_size": [info.width, info.height]})
    return p, words


def read_annotation(path: Path, file_id: str) -> tuple[list[tuple[float, float]] | None, list[dict]]:
    """The bundle .json -> (VAD intervals in seconds or None when absent, transcript word entries)."""
    obj = read_json(path)
    if not isinstance(obj, dict):
        raise InputError(path, f"expected a JSON object with 'metadata:vad' / 'metadata:transcript', "
                               f"got {type(obj).__name__}")
    if obj.get("id") not in (None, file_id):
        log.warning("%s: 'id' is %r but the file name says %s", path, obj.get("id"), file_id)
    vad = parse_intervals(obj["metadata:vad"], path, "metadata:vad") if "metadata:vad" in obj else None
    segments = obj.get("metadata:transcript") or []
    if not isinstance(segments, list):
        raise InputError(path, "'metadata:transcript' should be a list of segments")
    words = []
    for i, seg in enumerate(segments):
        if not isinstance(seg, dict):
            raise InputError(path, f"metadata:transcript[{i}] should be an object, got {type(seg).__name__}")
        words.extend(_segment_words(seg))
    return vad, words


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) and v >= 0 else None


def _segment_words(seg: dict) -> list[dict]:
    """Word entries of one segment. Words with null times get times interpolated between their timed
    neighbours (or the segment bounds), flagged `estimated`; a segment with no usable time is dropped."""
    raw = [w for w in (seg.get("words") or []) if isinstance(w, dict) and str(w.get("word", "")).strip()]
    s0, s1 = _num(seg.get("start")), _num(seg.get("end"))
    if not raw:
        text = str(seg.get("transcript", "")).strip()
        ok = text and s0 is not None and s1 is not None and s1 >= s0
        return [{"start": s0, "end": s1, "text": text}] if ok else []
    times = [(_num(w.get("start")), _num(w.get("end"))) for w in raw]
    timed = [t for t in times if t[0] is not None and t[1] is not None and t[1] >= t[0]]
    lo = s0 if s0 is not None else (timed[0][0] if timed else None)
    hi = s1 if s1 is not None else (timed[-1][1] if timed else None)
    if lo is None or hi is None or hi < lo:
        return []
    out, k = [], 0
    while k < len(raw):
        st, en = times[k]
        if st is not None and en is not None and en >= st:
            out.append({"start": st, "end": en, "text": str(raw[k]["word"]).strip(),
                        **({"score": raw[k]["score"]} if _num(raw[k].get("score")) is not None else {})})
            k += 1
            continue
        j = k  # a run of untimed words [k, j): spread evenly between the neighbours' times
        while j < len(raw) and not (times[j][0] is not None and times[j][1] is not None):
            j += 1
        a = out[-1]["end"] if out else lo
        b = times[j][0] if j < len(raw) else hi
        b = max(a, b)
        step = (b - a) / (j - k)
        for n in range(k, j):
            out.append({"start": a + (n - k) * step, "end": a + (n - k + 1) * step,
                        "text": str(raw[n]["word"]).strip(), "estimated": True})
        k = j
    return out


def read_features(path: Path) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """The bundle .npz -> (all arrays verbatim, visibility mask (N,) bool at the video rate or None).

    Invalid frames: `is_valid_box` false, box / keypoints rows all zero or holding a sentinel, SMPL-H
    translation holding a sentinel. A bundle with N = 0 frames gives no mask (with a warning).
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: np.asarray(z[k]) for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise InputError(path, f"not a readable .npz archive ({exc})") from None
    per_frame = {k: a for k, a in arrays.items() if a.ndim >= 1}
    if not per_frame:
        log.warning("%s: no per-frame arrays; validity comes from face tracking only", path)
        return arrays, None
    n = max(a.shape[0] for a in per_frame.values())
    if n == 0:
        log.warning("%s: feature arrays have N = 0 frames (empty bundle); kept as they are, validity "
                    "comes from face tracking only", path)
        return arrays, None
    mask = np.ones(n, bool)
    used = []
    if BOX_FLAG in arrays and arrays[BOX_FLAG].shape[0] > 0:
        mask &= _fit(np.asarray(arrays[BOX_FLAG]).reshape(arrays[BOX_FLAG].shape[0], -1).all(1), n)
        used.append(BOX_FLAG)
    for key in ZERO_FILLED:
        if key in arrays and arrays[key].shape[0] > 0:
            mask &= ~_fit(invalid_rows(arrays[key]), n, fill=True)
            used.append(key)
    for key in SENTINEL_ONLY:
        if key in arrays and arrays[key].shape[0] > 0:
            mask &= ~_fit(invalid_rows(arrays[key], zeros=False), n, fill=True)
            used.append(key)
    if not used:
        return arrays, None
    arrays["derived:visible"] = mask  # our combined mask, at the source (video) frame rate
    return arrays, mask


def _fit(mask: np.ndarray, n: int, fill: bool = False) -> np.ndarray:
    """Pad/cut a per-frame mask to n rows; missing rows get `fill` (True = treated as bad / absent)."""
    mask = np.asarray(mask, bool).reshape(-1)
    if len(mask) >= n:
        return mask[:n]
    return np.concatenate([mask, np.full(n - len(mask), fill if fill else False)])

