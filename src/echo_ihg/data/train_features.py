"""Per-participant training features, cached next to each session (`echo_ihg.data.cache.cached_feature`).

    feats = participant_features(session_dir, "A", codec, texts=TextGrid(...), encoder=enc, encoder_name="minilm")

For one participant of a session (as the avatar or as the user):

    neutral     (478, 3)    robust neutral face (`motion.codec.clip_neutral`)
    motion      (T, Dm)     codec coefficients, *normalised* with the codec's fitting statistics
                            (`MotionCodec.normalise`): the model is trained and sampled in that space
    mel         (T, 320)    per-frame log-mel (the 4 mel frames of each video frame, flattened)
    attributes  (T, K)      facial attributes (`motion.attributes`), NaN on invalid frames
    texts       (N, 2)      on the text grid t0_i = i·stride + offset (the chunk starts): the behaviour
                            description Φ of the *other* participant (this one is the avatar) and the emotion
                            description Ψ of the transcript ended by t0 — as fixed-width unicode (no pickle)
    text_emb    (U, 384)    frozen text-encoder embeddings of the U distinct texts (deduplicated, sorted)

Geometry (neutral, motion, attributes, identity) is measured in the participant's frame aspect, from meta.json's
participants.<who>.frame_size (`data.session.session_aspect`): the same reader codec fitting and rendering use,
and the same aspect inference measures on the user's video. Each array is rebuilt when its version stamp changes
(codec contents, describer settings, grid, encoder; the aspect of a non-square frame).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from echo_ihg.constants import FPS, MELS_PER_FRAME, N_MELS
from echo_ihg.data.cache import cached_feature
from echo_ihg.data.derived import session_mel
from echo_ihg.data.session import read_meta, read_session, session_aspect
from echo_ihg.errors import InputError
from echo_ihg.motion.attributes import ATTRIBUTE_NAMES, attributes_array
from echo_ihg.motion.codec import MotionCodec, clip_neutral
from echo_ihg.motion.identity import identity_vector

log = logging.getLogger(__name__)

FEATURES_VERSION = "train-features-v1"


def other(who: str) -> str:
    return "B" if who == "A" else "A"


def codec_fingerprint(codec: MotionCodec) -> str:
    """A short hash of the codec's contents (bases and statistics): cached motion depends on all of them."""
    h = hashlib.sha256(json.dumps(codec.metadata(), sort_keys=True, default=str).encode())
    for b in codec.bases.values():
        h.update(np.ascontiguousarray(b.basis, np.float64).tobytes())
        h.update(np.ascontiguousarray(b.mean, np.float64).tobytes())
    h.update(codec.feature_mean.tobytes())
    h.update(codec.feature_std.tobytes())
    return h.hexdigest()[:12]


def participant_aspect(session_dir: Path, who: str) -> float:
    """Frame width / height of a participant's landmarks (`data.session.session_aspect`)."""
    return session_aspect(read_meta(session_dir), who)


def _version(session_dir: Path, who: str, extra: str = "") -> str:
    """Cache stamp of a geometric feature: the extractor version and, for a non-square frame, its aspect."""
    aspect = participant_aspect(session_dir, who)
    return FEATURES_VERSION + extra + ("" if aspect == 1.0 else f":aspect={aspect:.6g}")


def participant_neutral(session_dir: Path, who: str) -> np.ndarray:
    """(478, 3) the neutral face of one participant (`motion.codec.clip_neutral` over its valid frames, in its
    frame's aspect: the rule inference applies to the user's video; cached)."""
    aspect = participant_aspect(session_dir, who)
    return cached_feature(session_dir, who, "neutral", _version(session_dir, who),
                          lambda p: clip_neutral(p.landmarks, p.valid, aspect), mmap=False)


def participant_motion(session_dir: Path, who: str, codec: MotionCodec) -> np.ndarray:
    """(T, Dm) normalised codec motion of one participant in its frame's aspect (memory-mapped)."""
    neutral = participant_neutral(session_dir, who)
    aspect = participant_aspect(session_dir, who)
    fp = codec_fingerprint(codec)

    def compute(p) -> np.ndarray:
        return codec.normalise(codec.encode(p.landmarks, neutral, aspect, valid=p.valid))

    return cached_feature(session_dir, who, f"motion_{fp}", _version(session_dir, who, f":{fp}"), compute)


def participant_identity(session_dir: Path, who: str) -> np.ndarray:
    """(1434,) the generator's identity input for a participant (`motion.identity.identity_vector`)."""
    return identity_vector(participant_neutral(session_dir, who), participant_aspect(session_dir, who))


def participant_mel(session_dir: Path, who: str) -> np.ndarray:
    """(T, 320) per-frame log-mel (a reshaped view of the cached (4T, 80) mel)."""
    mel = session_mel(session_dir, who)
    return mel.reshape(-1, MELS_PER_FRAME * N_MELS)


def participant_attributes(session_dir: Path, who: str) -> np.ndarray:
    """(T, K) facial attributes; rows of invalid frames are NaN (the describer reads NaN as missing)."""

    aspect = participant_aspect(session_dir, who)

    def compute(p) -> np.ndarray:
        valid = np.asarray(p.valid, bool)
        out = np.full((p.T, len(ATTRIBUTE_NAMES)), np.nan, np.float32)
        if valid.any():
            out[valid] = attributes_array(np.asarray(p.landmarks)[valid], aspect)
        return out

    return cached_feature(session_dir, who, "attributes", _version(session_dir, who), compute)


@dataclass(frozen=True)
class TextGrid:
    """Where and how the per-chunk texts are computed: t0_i = i·stride + offset for t0 < T.

    describe_frames: frames of the user's behaviour (and of the avatar's VAD) the describer reads, ending
    at t0 — as the engine's `SamplerConfig.describe_window`.
    """

    stride: int
    offset: int
    describe_frames: int = 60 * FPS

    def starts(self, T: int) -> np.ndarray:
        return np.arange(self.offset, T, self.stride, dtype=np.int64)

    def key(self, extra: str = "") -> str:
        return hashlib.sha256(f"{self}|{extra}".encode()).hexdigest()[:10]


def _describer_version(describer, affect) -> str:
    """Settings of Φ and Ψ that change their texts (their config dataclasses, when they have one)."""
    parts = [type(describer).__name__, repr(getattr(describer, "config", "")),
             type(affect).__name__, repr(getattr(affect, "config", ""))]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:10]


def window_texts(attrs: np.ndarray, user_vad: np.ndarray, avatar_vad: np.ndarray, transcript: Sequence[Mapping],
                 t0: int, avatar: str, grid: TextGrid, describer, affect) -> tuple[str, str]:
    """Behaviour and emotion texts at chunk start t0, from causal inputs only (as the engine builds them)."""
    a = max(0, t0 - grid.describe_frames)
    attr = {name: np.asarray(attrs[a:t0, k]) for k, name in enumerate(ATTRIBUTE_NAMES)}
    uv = np.asarray(user_vad[a:t0], np.float32)
    b_text = describer.describe(attr, uv, np.asarray(avatar_vad[a:t0], np.float32), len(uv))
    history = [e for e in transcript if float(e["end"]) <= t0 / FPS]
    e_text = affect.describe(history, now=t0 / FPS, avatar=avatar)
    return b_text, e_text


def participant_texts(session_dir: Path, who: str, grid: TextGrid, describer, affect) -> np.ndarray:
    """(N, 2) unicode: [behaviour of the other participant, emotion] at each grid point, `who` = avatar."""
    version = f"{FEATURES_VERSION}:{grid}:{_describer_version(describer, affect)}"

    def compute(session) -> np.ndarray:
        user = other(who)
        attrs = participant_attributes(session_dir, user)
        uv, av = session.participant(user).vad, session.participant(who).vad
        rows = [window_texts(attrs, uv, av, session.transcript, int(t0), who, grid, describer, affect)
                for t0 in grid.starts(session.T)]
        return np.array(rows, dtype=str).reshape(-1, 2)

    return cached_feature(session_dir, None, f"texts_{who}_{grid.key()}", version, compute, mmap=False)


def participant_text_embeddings(session_dir: Path, who: str, texts: np.ndarray, encoder, encoder_name: str,
                                grid: TextGrid) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of the distinct texts: -> (table (U, 384) float32, index (N, 2) int into the table)."""
    uniq, inv = np.unique(texts.reshape(-1), return_inverse=True)
    version = f"{FEATURES_VERSION}:{encoder_name}:{hashlib.sha256(''.join(uniq).encode()).hexdigest()[:16]}"
    table = cached_feature(session_dir, None, f"textemb_{who}_{grid.key(encoder_name)}", version,
                           lambda _: np.asarray(encoder.encode(list(uniq)), np.float32), mmap=False)
    if table.shape != (len(uniq), encoder.dim):
        raise InputError(session_dir, f"text embedding cache has shape {table.shape}, expected "
                                      f"{(len(uniq), encoder.dim)}")
    return table, inv.reshape(texts.shape).astype(np.int64)


@dataclass
class ParticipantFeatures:
    """Everything the window dataset reads for one participant as the avatar (arrays memory-mapped)."""

    T: int
    motion: np.ndarray        # (T, Dm) normalised
    mel: np.ndarray           # (T, 320)
    valid: np.ndarray         # (T,) bool
    vad: np.ndarray           # (T,) float32
    identity: np.ndarray      # (1434,)
    text_table: np.ndarray    # (U, 384)
    text_index: np.ndarray    # (N, 2) into text_table, on the text grid


def participant_features(session_dir: str | Path, who: str, codec: MotionCodec, grid: TextGrid, encoder,
                         encoder_name: str, describer, affect) -> ParticipantFeatures:
    """Compute (first time) or open (later) all cached training features of `who` in a session."""
    session_dir = Path(session_dir)
    session = read_session(session_dir, mmap=True)
    p = session.participant(who)
    texts = participant_texts(session_dir, who, grid, describer, affect)
    table, index = participant_text_embeddings(session_dir, who, texts, encoder, encoder_name, grid)
    return ParticipantFeatures(
        T=session.T, motion=participant_motion(session_dir, who, codec), mel=participant_mel(session_dir, who),
        valid=np.asarray(p.valid, bool), vad=np.asarray(p.vad, np.float32),
        identity=participant_identity(session_dir, who), text_table=table, text_index=index)


def session_length(session_dir: str | Path) -> int:
    """T of a session from its meta.json only (cheap: lets every rank plan windows without reading arrays)."""
    return int(read_meta(session_dir)["T"])
