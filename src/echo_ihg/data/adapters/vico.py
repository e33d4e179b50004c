"""ViCo (responsive listening head) -> sessions.

Layout of the released `listening_head` data (schema and sources: docs/datasets.md):
`videos/{uuid}.speaker.mp4`, `videos/{uuid}.listener.mp4` (a `videos/test/` level may have been added
for PIRender), `audios/{uuid}.wav` (the speaker's audio of that clip) and `{train,valid,test}.csv` with
columns `video_id, uuid, speaker_id, listener_id`.

Mapping: A = the speaker (audio = the wav; VAD estimated from it), B = the listener. ViCo provides no
listener audio: B's audio is silence and B's VAD is 0 (the listener does not hold the floor in these clips;
meta `listener_audio: "none"` records that this is an assumption of the dataset, not a measurement).
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Iterator

from echo_ihg.data.adapters.base import AdapterConfig, Job, ParticipantInput, SessionInput, Skipped, safe_name
from echo_ihg.errors import InputError

log = logging.getLogger(__name__)

NAME = "vico"
SPEAKER_SUFFIX = ".speaker.mp4"
LISTENER_SUFFIX = ".listener.mp4"
CSV_COLUMNS = {"uuid"}


def read_split_tables(root: Path) -> dict[str, dict[str, str]]:
    """uuid -> row (+ 'split' = the CSV's stem) from every CSV under root that has a `uuid` column."""
    rows: dict[str, dict[str, str]] = {}
    for path in sorted(root.rglob("*.csv")):
        try:
            with open(path, newline="", encoding="utf-8") as fh:
                reader = csv.DictReader(fh)
                if not reader.fieldnames or not CSV_COLUMNS <= set(reader.fieldnames):
                    continue
                for row in reader:
                    rows[row["uuid"]] = {**row, "split": path.stem}
        except (UnicodeDecodeError, csv.Error) as exc:
            raise InputError(path, f"not a readable CSV table ({exc})") from None
    return rows


def plan(root: Path, config: AdapterConfig = AdapterConfig()) -> Iterator[Job | Skipped]:
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "dataset root not found (expected the ViCo listening_head folder)")
    speakers = sorted(p for p in root.rglob(f"*{SPEAKER_SUFFIX}") if p.is_file())
    if not speakers:
        raise InputError(root, f"no '{{uuid}}{SPEAKER_SUFFIX}' videos found")
    wavs = {p.stem: p for p in root.rglob("*.wav") if p.is_file()}
    table = read_split_tables(root)
    for spk in speakers:
        uuid = spk.name[: -len(SPEAKER_SUFFIX)]
        sid = f"vico_{safe_name(uuid)}"
        lst = spk.with_name(uuid + LISTENER_SUFFIX)
        if not lst.is_file():
            yield Skipped(sid, f"{spk}: the listener video {lst.name} of this pair was not found")
            continue
        row = table.get(uuid, {})
        yield Job(NAME, sid, row.get("split", config.split),
                  {"uuid": uuid, "speaker": spk, "listener": lst, "wav": wavs.get(uuid), "row": row})


def load(job: Job) -> SessionInput:
    from echo_ihg.io.media import probe_has_audio

    uuid, spk, row = job.args["uuid"], job.args["speaker"], job.args["row"]
    audio = job.args["wav"]
    if audio is None:
        if not probe_has_audio(spk):
            raise InputError(spk, f"no audios/{uuid}.wav and the video has no audio track")
        audio = spk
    a = ParticipantInput(source_id=row.get("speaker_id") or f"{uuid}.speaker", video=spk, audio=audio,
                         meta={"role": "speaker"})
    b = ParticipantInput(source_id=row.get("listener_id") or f"{uuid}.listener", video=job.args["listener"],
                         audio=None, meta={"role": "listener"})
    meta = {"source": "vico", "uuid": uuid, "video_id": row.get("video_id"), "listener_audio": "none"}
    return SessionInput(job.session_id, job.split, a, b, [], meta)
