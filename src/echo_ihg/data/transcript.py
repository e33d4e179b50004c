"""Transcripts: `transcript.jsonl` (one word or utterance per line) and SRT import.

Line format: {"speaker": "A" | "B", "start": seconds, "end": seconds, "text": str}. Extra keys (e.g. a word
confidence) are kept. Lines are sorted by start time on write.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from echo_ihg.errors import InputError
from echo_ihg.utils.atomic import write_text

SPEAKERS = ("A", "B")


def validate_entry(entry: Any, path: Path | None, where: str) -> dict:
    """Check one transcript entry; returns it with start/end as floats. Raises InputError naming `path`."""
    if not isinstance(entry, dict):
        raise InputError(path, f"{where}: expected an object, got {type(entry).__name__}")
    missing = [k for k in ("speaker", "start", "end", "text") if k not in entry]
    if missing:
        raise InputError(path, f"{where}: missing key(s) {', '.join(missing)}")
    if entry["speaker"] not in SPEAKERS:
        raise InputError(path, f"{where}: speaker must be 'A' or 'B', got {entry['speaker']!r}")
    try:
        start, end = float(entry["start"]), float(entry["end"])
    except (TypeError, ValueError):
        raise InputError(path, f"{where}: start/end must be numbers (seconds)") from None
    if not (start == start and end == end) or start < 0 or end < start:
        raise InputError(path, f"{where}: need 0 <= start <= end, got start={start}, end={end}")
    if not isinstance(entry["text"], str):
        raise InputError(path, f"{where}: text must be a string")
    return {**entry, "start": start, "end": end}


def read_transcript(path: str | Path) -> list[dict]:
    """Read transcript.jsonl (blank lines ignored). -> entries sorted by start."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "transcript file not found")
    entries = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise InputError(path, "transcript is not UTF-8 text") from None
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(path, f"line {i}: not valid JSON ({exc.msg})") from None
        entries.append(validate_entry(obj, path, f"line {i}"))
    return sorted(entries, key=lambda e: (e["start"], e["end"]))


def write_transcript(path: str | Path, entries: list[dict]) -> None:
    """Write entries as JSON lines, sorted by start, atomically."""
    path = Path(path)
    checked = [validate_entry(e, path, f"entry {i}") for i, e in enumerate(entries)]
    checked.sort(key=lambda e: (e["start"], e["end"]))
    write_text(path, "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in checked))


_SRT_TIME = re.compile(r"(\d+):(\d{1,2}):(\d{1,2})[,.](\d{1,3})")
_SPEAKER_PREFIX = re.compile(
    r"^\s*(?:\[(?:speaker\s*)?([AB])\]\s*[:\-–]?|(?:speaker\s*)?([AB])\s*[:\-–]|<v\s+([AB])>)\s*", re.IGNORECASE)


def _srt_seconds(stamp: str, path: Path, block: int) -> float:
    m = _SRT_TIME.fullmatch(stamp.strip())
    if not m:
        raise InputError(path, f"subtitle block {block}: bad time stamp {stamp.strip()!r} (HH:MM:SS,mmm)")
    h, mi, s, ms = m.groups()
    return int(h) * 3600 + int(mi) * 60 + int(s) + int(ms.ljust(3, "0")) / 1000


def read_srt(path: str | Path, default_speaker: str | None = None) -> list[dict]:
    """Import an SRT file. Each cue's speaker comes from a leading "A:", "B:", "[A]", "Speaker B:" or
    "<v A>" tag; cues without a tag get `default_speaker`, or are an error when it is None."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "transcript file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(path, "subtitle file is not UTF-8 text") from None
    entries = []
    for b, block in enumerate(re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip()), 1):
        lines = [ln for ln in block.split("\n") if ln.strip()]
        if not lines:
            continue
        if "-->" not in lines[0]:
            lines = lines[1:]  # the cue number
        if not lines or "-->" not in lines[0]:
            raise InputError(path, f"subtitle block {b}: no 'start --> end' time line")
        start_s, end_s = lines[0].split("-->", 1)
        start, end = _srt_seconds(start_s, path, b), _srt_seconds(end_s.split()[0], path, b)
        body = " ".join(ln.strip() for ln in lines[1:])
        m = _SPEAKER_PREFIX.match(body)
        speaker = next(g for g in m.groups() if g).upper() if m else default_speaker
        if speaker is None:
            raise InputError(path, f"subtitle block {b}: no speaker tag (start the text with 'A:' or 'B:')")
        if m:
            body = body[m.end():]
        entries.append(validate_entry({"speaker": speaker, "start": start, "end": end, "text": body.strip()},
                                      path, f"subtitle block {b}"))
    return sorted(entries, key=lambda e: (e["start"], e["end"]))


def load_transcript_file(path: str | Path) -> list[dict]:
    """Read a transcript given on the command line: `.jsonl`/`.json` lines or `.srt`."""
    path = Path(path)
    if path.suffix.lower() == ".srt":
        return read_srt(path)
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        return read_transcript(path)
    raise InputError(path, "unknown transcript format (expected .jsonl or .srt)")
