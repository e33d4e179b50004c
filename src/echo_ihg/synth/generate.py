"""Synthetic dyadic sessions and corpora: script → speech → behaviour → landmarks → session format.

Every session is generated from its own seed sequence `(seed, index)`, so a corpus is deterministic and
sessions can be generated in any order or in parallel. Splits: sessions are assigned train/val/test by
index; identities are partitioned between splits (no face appears in two splits) and test sessions draw
dialogue templates from the disjoint test pool (`grammar.template_pool`).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import multiprocessing as mp
import time
from pathlib import Path

import numpy as np

from echo_ihg.constants import FPS, SAMPLES_PER_FRAME
from echo_ihg.data.session import AUDIO_FILES, Participant, Session, write_session
from echo_ihg.errors import InputError
from echo_ihg.synth.behaviour import behave
from echo_ihg.synth.controls import CONTROL_NAMES
from echo_ihg.synth.dialogue import make_script
from echo_ihg.synth.rig import Identity, identity_from_landmarks, render_landmarks
from echo_ihg.synth.timeline import Speaker, layout, phrase_ends, render_tracks, transcript
from echo_ihg.utils.atomic import write_json
from echo_ihg.utils.progress import progress

log = logging.getLogger(__name__)
SYNTH_VERSION = 1
SPLITS = ("train", "val", "test")
_VOICES_F = ("f1", "f2", "f3", "f4", "f5")
_VOICES_M = ("m1", "m2", "m3", "m4", "m5", "m6", "m7")


@dataclasses.dataclass(frozen=True)
class SynthConfig:
    """Corpus generation settings. Split by session index: index % test_every == test_every − 1 → test,
    else index % val_every == 2 → val, else train (defaults: 20 % test, 10 % val)."""

    sessions: int = 8
    seconds: float = 120.0
    seed: int = 0
    val_every: int = 10
    test_every: int = 5
    masked_fraction: float = 0.3  # sessions where one participant's face shows no mood
    news_rate: float = 0.3
    joke_rate: float = 0.15
    interrupt_rate: float = 0.08
    backchannel_rate: float = 0.45
    reaction_gain: float = 1.0  # scales the listener's short-range reactions (smile mirroring, nods at phrase
                                # ends, brows at questions): a harder (< 1) or easier (> 1) test bed
    workers: int = 2
    landmark_dtype: str = "float16"
    audio_format: str = "flac"  # lossless; listener tracks are mostly silence (data.session.AUDIO_FILES)


def split_of(index: int, cfg: SynthConfig) -> str:
    if index % cfg.test_every == cfg.test_every - 1:
        return "test"
    if index % cfg.val_every == 2:
        return "val"
    return "train"


def identity_split(image_index: int) -> str:
    """Split of a sample face by its image index (0 = astronaut, 1.. = LFW): disjoint by construction."""
    if image_index % 5 == 4:
        return "test"
    if image_index % 10 == 2:
        return "val"
    return "train"


@functools.cache
def identity_pool() -> dict[str, list[tuple[str, np.ndarray]]]:
    """Split -> [(name, tracked image landmarks (478, 3))] from the bundled real faces."""
    from echo_ihg.motion.sample_faces import tracked_sample_faces

    lms, idx = tracked_sample_faces()
    pool: dict[str, list[tuple[str, np.ndarray]]] = {s: [] for s in SPLITS}
    for lm, i in zip(lms, idx):
        name = "astronaut" if i == 0 else f"lfw{int(i) - 1:03d}"
        pool[identity_split(int(i))].append((name, np.asarray(lm)))
    return pool


def _speaker(rng: np.random.Generator) -> Speaker:
    female = rng.random() < 0.5
    variant = (_VOICES_F if female else _VOICES_M)[rng.integers(5 if female else 7)]
    lang = ("en-us", "en")[rng.integers(2)]
    pitch = int(rng.integers(55, 76) if female else rng.integers(28, 50))
    return Speaker(f"{lang}+{variant}", pitch, int(rng.integers(150, 191)), int(rng.integers(40, 71)))


def generate_session(index: int, cfg: SynthConfig, pool: dict[str, list[tuple[str, np.ndarray]]]) -> Session:
    """Session number `index` of the corpus `cfg`.

    Deterministic when called first in a fresh process (as `generate_corpus` does): everything is drawn
    from the seed sequence (seed, index), but espeak-ng's waveform state drifts by a few samples per
    utterance, so a second call in the same process differs slightly in audio and phoneme timing.
    """
    split = split_of(index, cfg)
    rng = np.random.default_rng([cfg.seed, index])
    speakers = {"A": _speaker(rng), "B": _speaker(rng)}
    turns = make_script(rng, "test" if split == "test" else "train", int(cfg.seconds / 2.0) + 10,
                        cfg.news_rate, cfg.joke_rate)
    segs = layout(turns, speakers, cfg.seconds, rng, cfg.interrupt_rate, cfg.backchannel_rate)
    T = int(round(cfg.seconds * FPS))
    tracks = render_tracks(segs, T * SAMPLES_PER_FRAME)
    masked = (str(rng.choice(["A", "B"])),) if rng.random() < cfg.masked_fraction else ()
    controls, latents = behave(segs, tracks, T, rng, masked, reaction_gain=cfg.reaction_gain)
    faces = pool[split]
    if len(faces) < 2:
        raise InputError(None, f"need at least two identities for split {split!r}, have {len(faces)}")
    pick = rng.choice(len(faces), 2, replace=False)
    parts, ids = {}, {}
    for who, k in zip(("A", "B"), pick):
        name, lm = faces[int(k)]
        ident = identity_from_landmarks(name, lm, rng)
        ids[who] = ident
        lat = latents[who]
        parts[who] = Participant(
            audio=tracks[who], landmarks=render_landmarks(ident, controls[who], np.dtype(cfg.landmark_dtype)),
            valid=np.ones(T, bool), vad=lat.speaking,
            extra={"controls": controls[who], "engagement": lat.engagement, "sociability": lat.sociability,
                   "mood": lat.mood})
    meta = _meta(index, split, cfg, speakers, ids, masked, segs)
    return Session(f"synth{cfg.seed:04d}_{index:05d}", meta, transcript(segs, cfg.seconds), parts["A"], parts["B"])


def _meta(index, split, cfg, speakers, ids: dict[str, Identity], masked, segs) -> dict:
    utts = [{"speaker": s.speaker, "start": round(s.start, 3), "end": round(s.end, 3), "text": s.text,
             "kind": s.kind, "mood": s.mood, "question": s.question, "joke": s.joke, "pitch": s.pitch,
             "phrase_ends": [round(t, 3) for t in phrase_ends(s)]}
            for s in segs if s.start < cfg.seconds]
    return {
        "source": "synth", "synth_version": SYNTH_VERSION, "seed": cfg.seed, "index": index, "split": split,
        "template_pool": "test" if split == "test" else "train", "affect_masked": list(masked),
        "control_names": list(CONTROL_NAMES), "frame_size": [512, 512],
        "participants": {w: {"identity": ids[w].name, "voice": dataclasses.asdict(speakers[w]),
                             "licence": "synthetic; face shape from skimage sample images"} for w in ("A", "B")},
        "utterances": utts,
    }


def _work(args) -> dict:
    index, cfg, pool, root = args
    t0 = time.perf_counter()
    s = generate_session(index, cfg, pool)
    path = write_session(Path(root) / s.meta["split"] / s.session_id, s, audio_format=cfg.audio_format)
    return {"id": s.session_id, "split": s.meta["split"], "path": str(path.relative_to(root)),
            "seconds": cfg.seconds, "identities": {w: s.meta["participants"][w]["identity"] for w in ("A", "B")},
            "affect_masked": s.meta["affect_masked"], "elapsed_s": round(time.perf_counter() - t0, 3)}


def generate_corpus(out_dir: str | Path, cfg: SynthConfig) -> dict:
    """Write `cfg.sessions` sessions under out_dir/<split>/ and out_dir/manifest.json; returns the manifest."""
    if cfg.sessions < 1 or cfg.seconds < 5:
        raise InputError(None, "need --sessions >= 1 and --seconds >= 5")
    if cfg.audio_format not in AUDIO_FILES:
        raise InputError(None, f"audio_format must be one of {sorted(AUDIO_FILES)}, got {cfg.audio_format!r}")
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    pool = identity_pool()
    t0 = time.perf_counter()
    jobs = [(i, cfg, pool, str(root)) for i in range(cfg.sessions)]
    # Every session runs in a fresh process: espeak-ng carries a few samples of waveform state from one
    # utterance to the next, so a session is reproducible only when its synthesis starts from a fresh
    # library. spawn, not fork: the parent has run MediaPipe (threads), which fork does not survive.
    with mp.get_context("spawn").Pool(min(cfg.workers, cfg.sessions), maxtasksperchild=1) as p:
        rows = list(progress(p.imap(_work, jobs), total=len(jobs), desc="synth", unit="session"))
    elapsed = time.perf_counter() - t0
    size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    manifest = {"synth_version": SYNTH_VERSION, "config": dataclasses.asdict(cfg), "sessions": rows,
                "splits": {s: [r["id"] for r in rows if r["split"] == s] for s in SPLITS},
                "identities": {s: sorted({n for r in rows if r["split"] == s for n in r["identities"].values()})
                               for s in SPLITS},
                "hours": round(cfg.sessions * cfg.seconds / 3600, 4), "elapsed_s": round(elapsed, 2),
                "bytes": size}
    write_json(root / "manifest.json", manifest)
    log.info("synth: %d sessions (%.2f h) in %.1f s, %.1f MB", cfg.sessions, manifest["hours"], elapsed,
             size / 1e6)
    return manifest
