"""Windowed training samples over dyadic sessions: (long user history, current chunk) for either participant.

Timeline of one window (frames, 25 fps), matching the streaming engine (`model.engine`): the chunk covers
[s, s + T); its first `overlap` frames are the previous output at inference (inpainted), so the chunk "starts"
at t0 = s + overlap. The user is read per frame (`model.lcu`): the window carries the user span
[s − R, s + T − latency) (R = `ModelConfig.user_preroll`; before frame 0 and after the end the user is silent
at rest, as the engine has it); the LPE scan state at s − R comes from the previous window of the same stream
(`data.streams`, stage 2), and which of the span's frames each chunk frame may read is drawn per sample by the
trainer (the known horizon). The other conditions are causal in t0:

    target        avatar motion [s, s + T)                                   (T, Dm)  normalised codec motion
    prev          avatar motion [t0 − P, t0)        (rest before 0)          (P, Dm)  + prev_mask (P,)
    avatar_audio  avatar log-mel [s − w, s + T + w) (silence outside)        (T + 2w, 320)
    user_audio    user log-mel   [s − R, s + T − l) (silence outside)        (F, 320) + user_mask (F,)
    user_motion   user motion    [s − R, s + T − l) (rest outside)           (F, Dm)
    s_usr, c_emo  behaviour (Φ) / emotion (Ψ) text embeddings at t0          (384,) each
    identity      avatar identity (`motion.identity.identity_vector`)        (1434,)
    valid         avatar frames tracked in the chunk                          (T,) float (loss mask)
    avatar_vad, user_vad                                                      (T,) each
    stream_first  1 when the window starts its stream's conversation (the scan starts from the pre-roll)

Sharding (multi-process training without every rank reading every session): the candidate windows of the
whole corpus are planned from meta.json lengths alone, in session order, and cut at session borders into
`shards` contiguous virtual shards. Rank r owns the shards v with v % world == r, reads only their sessions,
and draws batch/shards samples from each at every step. Shard v's sample stream is a chain of seeded permutations
(one per epoch), so the global batch of step n is the same for any world size that divides `shards`: a run
can be resumed on another world size, and 2 processes reproduce 1 process with the same global batch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from echo_ihg.audio.features import SILENCE
from echo_ihg.constants import FPS
from echo_ihg.data.session import list_sessions
from echo_ihg.data.train_features import (ParticipantFeatures, TextGrid, other, participant_features,
                                          session_length)
from echo_ihg.errors import InputError
from echo_ihg.motion.codec import rest_motion
from echo_ihg.utils.progress import progress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataConfig:
    """Window sampling settings (chunk, previous-motion and audio-window sizes come from the ModelConfig)."""

    split: str = "train"
    stride: int = FPS                    # frames between window starts
    overlap: int = 4                     # = SamplerConfig.overlap: chunk frames known at inference
    describe_frames: int = 60 * FPS      # = SamplerConfig.describe_window
    min_valid: float = 0.9               # fraction of tracked avatar frames a chunk needs
    participants: tuple[str, ...] = ("A", "B")
    shards: int = 8                      # virtual data shards (see the module docstring)

    def __post_init__(self) -> None:
        if self.stride < 1 or self.overlap < 1 or self.shards < 1:
            raise ValueError("stride, overlap and shards must be ≥ 1")
        if not set(self.participants) <= {"A", "B"} or not self.participants:
            raise ValueError(f"participants must be a subset of ('A', 'B'), got {self.participants}")


@dataclass(frozen=True)
class WindowSpec:
    chunk: int            # T
    prev: int             # P
    audio_window: int     # w
    data: DataConfig
    user_preroll: int = 24    # R (ModelConfig.user_preroll)
    user_latency: int = 1     # l (ModelConfig.user_latency)

    def __post_init__(self) -> None:
        if not 0 < self.data.overlap < self.chunk:
            raise ValueError("overlap must be in (0, chunk_frames)")

    @classmethod
    def for_model(cls, model_cfg, data: DataConfig) -> "WindowSpec":
        """The windows a `ModelConfig` trains on."""
        m = model_cfg
        return cls(m.chunk_frames, m.prev_frames, m.audio_window, data, m.user_preroll, m.user_latency)

    @property
    def user_span(self) -> int:
        """F: user frames [s − R, s + T − l) of a window."""
        return self.chunk - self.user_latency + self.user_preroll

    @property
    def grid(self) -> TextGrid:
        return TextGrid(self.data.stride, self.data.overlap, self.data.describe_frames)


@dataclass(frozen=True)
class Candidate:
    session: int          # index into the sorted session list
    who: str              # the avatar
    start: int            # s


def plan_candidates(sessions: Sequence[Path], spec: WindowSpec) -> list[Candidate]:
    """All windows [s, s + T) on the stride grid, in session order, from meta.json lengths only."""
    out = []
    for i, d in enumerate(sessions):
        n = session_length(d)
        for who in spec.data.participants:
            out += [Candidate(i, who, int(s)) for s in range(0, n - spec.chunk + 1, spec.data.stride)]
    return out


def shard_bounds(cands: Sequence[Candidate], shards: int) -> list[tuple[int, int]]:
    """Contiguous [a, b) blocks of the candidate list, one per shard, cut at session borders and balanced by
    window count (a session goes to the shard holding its middle window), so no two shards share a session.
    With fewer sessions than shards, falls back to near-equal blocks of windows (shards then share sessions)."""
    n = len(cands)
    sessions = sorted({c.session for c in cands})
    first = {}
    for k, c in enumerate(cands):
        first.setdefault(c.session, k)
    last = {c.session: k for k, c in enumerate(cands)}
    owner = {i: min(int((first[i] + last[i] + 1) / 2 * shards / n), shards - 1) for i in sessions}
    edges = [0] * (shards + 1)
    for v in range(shards + 1):
        edges[v] = next((first[i] for i in sessions if owner[i] >= v), n)
    bounds = [(edges[v], edges[v + 1]) for v in range(shards)]
    if any(a == b for a, b in bounds):
        log.warning("%d session(s) for %d data shards: shards share sessions", len(sessions), shards)
        cuts = np.linspace(0, n, shards + 1).round().astype(int)
        bounds = [(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:])]
    return bounds


def owned_shards(shards: int, rank: int, world: int) -> list[int]:
    if shards % world:
        raise InputError(None, f"the world size {world} must divide the number of data shards {shards}")
    return [v for v in range(shards) if v % world == rank]


class WindowDataset(Dataset):
    """The windows of this rank's shards. Item i -> dict of numpy arrays (see the module docstring)."""

    def __init__(self, root: str | Path, spec: WindowSpec, codec, encoder, encoder_name: str, describer,
                 affect, rank: int = 0, world: int = 1):
        self.root, self.spec = Path(root), spec
        self.sessions = list_sessions(self.root, spec.data.split)
        if not self.sessions:
            raise InputError(self.root, f"no sessions in split {spec.data.split!r}")
        cands = plan_candidates(self.sessions, spec)
        if len(cands) < spec.data.shards:
            raise InputError(self.root, f"{len(cands)} candidate windows for {spec.data.shards} data shards: "
                                        "add data, shorten chunks or lower data.shards")
        self.shards = owned_shards(spec.data.shards, rank, world)
        bounds = shard_bounds(cands, spec.data.shards)
        mine = sorted({cands[k].session for v in self.shards for k in range(*bounds[v])})
        self.feats: dict[tuple[int, str], ParticipantFeatures] = {}
        for i in progress(mine, desc="training features", unit="session"):
            for who in ("A", "B"):   # both: an avatar's user is the other participant
                self.feats[(i, who)] = participant_features(self.sessions[i], who, codec, spec.grid, encoder,
                                                            encoder_name, describer, affect)
        self.items: list[Candidate] = []
        self.shard_items: dict[int, np.ndarray] = {}
        # (session, avatar) conversations of each shard with their lengths, for stage-2 streams
        self.shard_pairs = {v: sorted({(cands[k].session, cands[k].who) for k in range(*bounds[v])})
                            for v in self.shards}
        self.lengths = {i: len(self.feats[(i, "A")].valid) for i in mine}
        for v in self.shards:
            keep = [c for c in cands[slice(*bounds[v])] if self._usable(c)]
            if not keep:
                raise InputError(self.root, f"data shard {v} has no usable window (too few tracked frames?)")
            self.shard_items[v] = np.arange(len(self.items), len(self.items) + len(keep))
            self.items += keep
        self.motion_dim = codec.dim
        # before a session starts, avatar and user rest as the engine starts: neutral face at the mean pose
        self.rest_pose = rest_motion(codec)
        self.sessions_read = mine

    def _usable(self, c: Candidate) -> bool:
        valid = self.feats[(c.session, c.who)].valid[c.start:c.start + self.spec.chunk]
        return float(valid.mean()) >= self.spec.data.min_valid

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i) -> dict[str, np.ndarray]:
        """i: an item index (random windows) or a `data.streams.StreamWindow` (stage-2 streams)."""
        first = getattr(i, "first", False)
        c = i.candidate if hasattr(i, "candidate") else self.items[i]
        spec, d = self.spec, self.spec.data
        av, us = self.feats[(c.session, c.who)], self.feats[(c.session, other(c.who))]
        s, t_len, w = c.start, spec.chunk, spec.audio_window
        t0 = s + d.overlap
        rest = self.rest_pose
        prev, prev_mask = _frames(av.motion, t0 - spec.prev, t0, rest)
        a = s - spec.user_preroll
        user_motion, user_mask = _frames(us.motion, a, a + spec.user_span, rest)
        user_audio, _ = _frames(us.mel, a, a + spec.user_span, SILENCE)
        avatar_audio, _ = _frames(av.mel, s - w, s + t_len + w, SILENCE)
        k = (t0 - d.overlap) // d.stride      # the text grid point of this chunk start
        s_usr, c_emo = av.text_table[av.text_index[k]]
        return {
            "target": np.array(av.motion[s:s + t_len], np.float32),
            "prev": prev, "prev_mask": prev_mask,
            "avatar_audio": avatar_audio, "user_audio": user_audio, "user_motion": user_motion,
            "user_mask": user_mask, "s_usr": np.array(s_usr, np.float32), "c_emo": np.array(c_emo, np.float32),
            "identity": av.identity.copy(),
            "valid": av.valid[s:s + t_len].astype(np.float32),
            "avatar_vad": np.array(av.vad[s:s + t_len], np.float32),
            "user_vad": np.array(us.vad[s:s + t_len], np.float32),
            "index": np.array([c.session, 0 if c.who == "A" else 1, s], np.int64),
            "stream_first": np.array(float(first), np.float32),
        }


def _frames(arr: np.ndarray, a: int, b: int, fill) -> tuple[np.ndarray, np.ndarray]:
    """Rows [a, b) of a (N, D) array, rows outside [0, N) filled with `fill` (scalar or (D,)); + in-range mask."""
    n, d = arr.shape
    out = np.empty((b - a, d), np.float32)
    out[:] = fill
    lo, hi = max(a, 0), min(b, n)
    mask = np.zeros(b - a, np.float32)
    if hi > lo:
        out[lo - a:hi - a] = arr[lo:hi]
        mask[lo - a:hi - a] = 1.0
    return out, mask


def hash_seed(*parts: int) -> int:
    """Deterministic 63-bit seed from integers (Python's hash() of ints is not mixed enough)."""
    x = 0x9E3779B97F4A7C15
    for p in parts:
        x = (x ^ (int(p) + 0x9E3779B97F4A7C15 + (x << 6) + (x >> 2))) & 0xFFFFFFFFFFFFFFFF
    return x & 0x7FFFFFFFFFFFFFFF


class StepBatchSampler:
    """Yields this rank's part of the global batch of steps start, start + 1, ... (`batch(step)`, called for
    consecutive steps). global_batch must be a multiple of the number of shards; each shard gives batch/shards
    samples per step; `rows()` tells which rows of the global batch (in shard order) this rank holds."""

    def __init__(self, dataset: WindowDataset, global_batch: int, seed: int, start_step: int = 0,
                 steps: int | None = None):
        shards = dataset.spec.data.shards
        if global_batch % shards:
            raise InputError(None, f"the global batch {global_batch} must be a multiple of data.shards {shards}")
        self.ds, self.per_shard, self.seed = dataset, global_batch // shards, seed
        self.start, self.steps = start_step, steps

    def batch(self, step: int) -> list:
        raise NotImplementedError

    def __iter__(self) -> Iterator[list]:
        step = self.start
        while self.steps is None or step < self.start + self.steps:
            yield self.batch(step)
            step += 1

    def __len__(self) -> int:
        if self.steps is None:
            raise TypeError("endless sampler")
        return self.steps

    def rows(self) -> np.ndarray:
        return batch_rows(self.ds.shards, self.per_shard)


class ShardedBatchSampler(StepBatchSampler):
    """Random windows: shard v's sample stream is a chain of seeded permutations of its items (dataset indices)."""

    def __init__(self, dataset: WindowDataset, global_batch: int, seed: int, start_step: int = 0,
                 steps: int | None = None):
        super().__init__(dataset, global_batch, seed, start_step, steps)
        self._perm: dict[int, tuple[int, np.ndarray]] = {}     # shard -> (epoch, permutation)

    def _at(self, v: int, k: int) -> int:
        """Position k of shard v's endless stream: a fresh seeded permutation of its items per epoch."""
        items = self.ds.shard_items[v]
        epoch, pos = divmod(k, len(items))
        if self._perm.get(v, (-1,))[0] != epoch:
            g = torch.Generator().manual_seed(hash_seed(self.seed, v, epoch))
            self._perm[v] = (epoch, torch.randperm(len(items), generator=g).numpy())
        return int(items[self._perm[v][1][pos]])

    def batch(self, step: int) -> list[int]:
        b = self.per_shard
        return [self._at(v, k) for v in self.ds.shards for k in range(step * b, (step + 1) * b)]


def batch_rows(shards: Sequence[int], per_shard: int) -> np.ndarray:
    """Rows of the global batch held by a rank that owns `shards` (global order: shard 0's samples, shard 1's,
    ...)."""
    return np.concatenate([np.arange(v * per_shard, (v + 1) * per_shard) for v in shards])
