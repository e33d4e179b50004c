"""Training core on real windows of the synthetic corpus with the default codec layout (slow: builds a corpus)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from echo_ihg.data.windows import DataConfig, ShardedBatchSampler, WindowDataset, WindowSpec
from echo_ihg.model.affect import LexiconAffect
from echo_ihg.model.config import ModelConfig
from echo_ihg.model.describe import BehaviourDescriber
from echo_ihg.model.echo import EchoModel
from echo_ihg.model.sdcm import canonical_centres
from echo_ihg.model.text_encoder import HashingEncoderForTests
from echo_ihg.model.train import Trainer, TrainConfig
from echo_ihg.motion.codec import default_codec


@pytest.mark.slow
def test_trainer_runs_on_dataset_windows(tiny_synth_corpus):
    cfg = ModelConfig(size="tiny", chunk_frames=12, prev_frames=8, audio_window=2)
    spec = WindowSpec(chunk=cfg.chunk_frames, prev=cfg.prev_frames, audio_window=cfg.audio_window,
                      data=DataConfig(stride=10, history_frames=100, describe_frames=100, shards=2))
    codec = default_codec()
    ds = WindowDataset(tiny_synth_corpus, spec, codec, HashingEncoderForTests(), "hashing", BehaviourDescriber(),
                       LexiconAffect())
    items = [ds[i] for i in ShardedBatchSampler(ds, 4, seed=0).batch(0)]
    batch = {k: torch.from_numpy(np.stack([it[k] for it in items])) for k in items[0] if k != "index"}
    torch.manual_seed(0)
    trainer = Trainer(EchoModel(codec.layout, canonical_centres(), cfg), TrainConfig(bptt_frames=50, lr=3e-3))
    losses = [trainer.step(batch)["total"] for _ in range(30)]
    assert all(np.isfinite(losses))
    assert np.mean(losses[-5:]) < np.mean(losses[:5])                   # it fits a fixed batch
