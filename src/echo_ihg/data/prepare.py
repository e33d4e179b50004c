"""Raw recordings -> session directories (docs/architecture.md, "Session format"): `echo-ihg prepare pair`.

- `prepare_pair`: two single-person recordings of one conversation (A.mp4, B.mp4), each with its own audio.
- `prepare_side_by_side`: one recording showing both people, left half = A, right half = B.

Both only describe their recordings as a `SessionInput`; decoding, tracking, VAD and the length policy are
the dataset adapters' shared `echo_ihg.data.adapters.base.build_session` (all streams cut to the shortest,
a warning naming each file and its duration when they differ by more than 80 ms).

Audio of a side-by-side recording is one mixed track: both participants get the mix (and the same VAD)
unless separate tracks are given (`audio_a`, `audio_b`); meta.json records which (`audio: "mixed"`), and
each participant's `crop` as the pixel box (x0, y0, x1, y1) of the half it was tracked in.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

from echo_ihg.data.adapters.base import ExtractOptions, ParticipantInput, SessionInput, build_session, crop_box
from echo_ihg.data.session import Session, write_session
from echo_ihg.data.transcript import load_transcript_file
from echo_ihg.errors import InputError
from echo_ihg.io.media import video_info

log = logging.getLogger(__name__)

MIN_HALF_WIDTH = 32  # px: narrower halves cannot show a trackable face
NO_SPLIT = ""  # the caller names the output folder itself (e.g. sessions/train/s001)
HALVES = {"A": (0.0, 0.5), "B": (0.5, 1.0)}  # side-by-side: width fractions of each person's half


@dataclass(frozen=True)
class PrepareConfig:
    """Options of `prepare pair` (written into meta.json as "prepare")."""

    extract: ExtractOptions = field(default_factory=ExtractOptions)
    licence: str = "unknown"


def _transcript(path: Path | None) -> list[dict]:
    return load_transcript_file(path) if path is not None else []


def _build(inp: SessionInput, out: Path, cfg: PrepareConfig) -> Session:
    inp.meta.update(licence=cfg.licence, prepare=asdict(cfg))
    session = build_session(inp, cfg.extract)
    write_session(out, session)
    return session


def prepare_pair(a: Path, b: Path, out: Path, transcript: Path | None = None,
                 session_id: str | None = None, cfg: PrepareConfig | None = None) -> Session:
    """Two single-person recordings (each with its own audio) -> session directory `out`."""
    cfg = cfg or PrepareConfig()
    entries = _transcript(transcript)  # fail on a bad transcript before the slow tracking
    parts = [ParticipantInput(source_id=role, video=p, audio=p) for role, p in (("A", a), ("B", b))]
    inp = SessionInput(session_id or out.name, NO_SPLIT, *parts, transcript=entries, meta={"source": "pair"})
    return _build(inp, out, cfg)


def prepare_side_by_side(recording: Path, out: Path, transcript: Path | None = None,
                         audio_a: Path | None = None, audio_b: Path | None = None,
                         session_id: str | None = None, cfg: PrepareConfig | None = None) -> Session:
    """One recording showing A on the left half and B on the right half -> session directory `out`."""
    cfg = cfg or PrepareConfig()
    entries = _transcript(transcript)
    info = video_info(recording)  # names the file for missing / non-media / audio-only inputs
    if info.width < 2 * MIN_HALF_WIDTH:
        raise InputError(recording, f"frame is {info.width} px wide: too narrow to split into two people")
    own = {"A": audio_a, "B": audio_b}
    if None in own.values():
        who = "A and B get" if audio_a is None and audio_b is None else ("A gets" if audio_a is None else "B gets")
        log.warning("%s: one mixed audio track; %s the mix and its VAD (give each person's own track to "
                    "tell the voices apart)", recording, who)
    parts = [ParticipantInput(source_id=f"{role} ({side} half)", video=recording, audio=own[role] or recording,
                              crop=HALVES[role],
                              meta={"crop": list(crop_box(HALVES[role], info.width, info.height)),
                                    "audio": "separate" if own[role] else "mixed"})
             for role, side in (("A", "left"), ("B", "right"))]
    inp = SessionInput(session_id or out.name, NO_SPLIT, *parts, transcript=entries,
                       meta={"source": "side-by-side"})
    return _build(inp, out, cfg)
