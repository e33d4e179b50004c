"""Stage-2 batches as streams: each global-batch row walks consecutive chunk windows of one conversation.

Row j of data shard v walks the shard's (session, avatar) conversations in a seeded order (a new order per
pass), and in each conversation the windows s = 0, T, 2T, ... (s + T ≤ its length). Consecutive steps give a row
consecutive windows, so the trainer carries the LPE scan state of each row from one step to the next
(truncated back-propagation through time, `train.losses.build_cond`) instead of rescanning the user history
for every sample: a window's user span [s − R, s + T − l) starts where the previous window's scan state was
taken (s − R + T of the previous window = s' − R). A row's first window in a conversation starts the scan from
the pre-roll (zero state), as the engine does at frame −R.

The rows of step n are a function of (seed, n) only, so a run resumes exactly (the carried states are saved in
the checkpoint) and any world size that divides the number of shards gives the same global batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch

from echo_ihg.data.windows import Candidate, StepBatchSampler, WindowDataset, hash_seed
from echo_ihg.errors import InputError


@dataclass(frozen=True)
class StreamWindow:
    """One row's window at one step (a `WindowDataset` index)."""

    candidate: Candidate
    first: bool          # the first window of the row's conversation: the scan starts from the pre-roll


def _walk(pairs: list[tuple[int, str]], lengths: dict[int, int], chunk: int, seed: int) -> Iterator[StreamWindow]:
    """A row's endless sequence of windows: passes over the conversations in seeded orders."""
    epoch = 0
    while True:
        g = torch.Generator().manual_seed(hash_seed(seed, epoch))
        for k in torch.randperm(len(pairs), generator=g).tolist():
            session, who = pairs[k]
            for s in range(0, lengths[session] - chunk + 1, chunk):
                yield StreamWindow(Candidate(session, who, s), s == 0)
        epoch += 1


class StreamBatchSampler(StepBatchSampler):
    """Yields this rank's rows of the global batch of steps start, start + 1, ... as `StreamWindow`s."""

    def __init__(self, dataset: WindowDataset, global_batch: int, seed: int, start_step: int = 0,
                 steps: int | None = None):
        super().__init__(dataset, global_batch, seed, start_step, steps)
        chunk = dataset.spec.chunk
        for v in dataset.shards:
            if not any(dataset.lengths[i] >= chunk for i, _ in dataset.shard_pairs[v]):
                raise InputError(dataset.root, f"data shard {v} has no conversation as long as one chunk")
        self._walks = [_walk(dataset.shard_pairs[v], dataset.lengths, chunk, hash_seed(seed, 104729, v, j))
                       for v in dataset.shards for j in range(self.per_shard)]
        for walk in self._walks:                       # resume: every row where it was at start_step
            for _ in range(start_step):
                next(walk)

    def batch(self, step: int) -> list[StreamWindow]:
        """The rows of `step`: consecutive calls only (each row's walk advances by one window)."""
        return [next(walk) for walk in self._walks]
