"""HDTF (single-speaker talking-head clips) -> sessions for stage-1 (self-audio-driven talking) training.

HDTF is distributed as YouTube ids plus time stamps; users download the videos and split them into clips
named `<video name>_<clip index>.mp4` (e.g. `Radio11_0.mp4`), as the HDTF README instructs. This adapter
reads those clips (any folder depth; audio from the clip, or a sibling `<clip>.wav` when present).

Mapping to the two-participant format: participant A is the filmed speaker; participant B is *absent*
(no video: zero landmarks, valid all False, silent audio, VAD 0) and meta.json says
`single_speaker: true`, `absent_participant: "B"`. Stage-1 training uses A as the avatar with its own
audio and the user branch off; stage-2 (dyadic) training must skip sessions with `single_speaker`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from echo_ihg.data.adapters.base import AdapterConfig, Job, ParticipantInput, SessionInput, Skipped, safe_name
from echo_ihg.errors import InputError

NAME = "hdtf"
VIDEO_EXTS = (".mp4", ".mov", ".mkv", ".avi")
SPLITS = ("train", "val", "valid", "dev", "test")


def plan(root: Path, config: AdapterConfig = AdapterConfig()) -> Iterator[Job | Skipped]:
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "dataset root not found (expected a folder of HDTF clips)")
    clips = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTS)
    if not clips:
        raise InputError(root, "no video clips found (expected <video name>_<clip index>.mp4 files)")
    for clip in clips:
        rel = clip.relative_to(root)
        split = next((s for s in SPLITS if s in rel.parts[:-1]), config.split)
        yield Job(NAME, f"hdtf_{safe_name(clip.stem)}", split, {"clip": clip, "rel": str(rel)})


def load(job: Job) -> SessionInput:
    from echo_ihg.io.media import probe_has_audio

    clip: Path = job.args["clip"]
    wav = clip.with_suffix(".wav")
    audio = wav if wav.is_file() else clip
    if audio == clip and not probe_has_audio(clip):
        raise InputError(clip, f"clip has no audio stream and no {wav.name} next to it")
    video_name, _, index = clip.stem.rpartition("_")
    a = ParticipantInput(source_id=clip.stem, video=clip, audio=audio,
                         meta={"role": "speaker", "video_name": video_name or clip.stem,
                               "clip_index": int(index) if index.isdigit() else None})
    b = ParticipantInput(source_id="absent", video=None, audio=None, meta={"absent": True})
    meta = {"source": "hdtf", "single_speaker": True, "absent_participant": "B", "source_file": job.args["rel"]}
    return SessionInput(job.session_id, job.split, a, b, [], meta)
