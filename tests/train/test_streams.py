"""Stage-2 streams: windows follow each other, the carried scan state equals one long scan, and a window's
training-time user conditions equal what the streaming engine gives at the same frames and horizon."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from echo_ihg.data.streams import StreamBatchSampler
from echo_ihg.model.affect import LexiconAffect
from echo_ihg.model.describe import BehaviourDescriber
from echo_ihg.model.engine import SamplerConfig, StreamingGenerator, TextConditioner
from echo_ihg.model.text_encoder import HashingEncoderForTests
from echo_ihg.train.losses import build_cond
from echo_ihg.train.trainer import Trainer
from tests.model.conftest import randomise
from tests.train.conftest import tiny_config


@pytest.fixture(scope="module")
def stage2(tiny_synth_corpus, tmp_path_factory):
    trainer = Trainer(tiny_synth_corpus, tmp_path_factory.mktemp("s2"), tiny_config(stage=2, batch=4))
    trainer.data_root = tiny_synth_corpus
    randomise(trainer.model, seed=3, scale=0.1)          # a trained-looking user branch, not zeros
    return trainer.model.eval(), trainer.dataset()


def _stream(ds, steps):
    """The first `steps` global batches of a stream sampler."""
    it = iter(StreamBatchSampler(ds, 4, seed=0, steps=steps))
    return [next(it) for _ in range(steps)]


def test_rows_walk_consecutive_windows(stage2):
    model, ds = stage2
    t_len = model.cfg.chunk_frames
    batches = _stream(ds, 12)
    for row in range(4):
        walk = [b[row] for b in batches]
        assert walk[0].first and walk[0].candidate.start == 0
        for a, b in zip(walk, walk[1:]):
            if b.first:                                             # a new conversation starts from frame 0
                assert b.candidate.start == 0
            else:
                assert (b.candidate.session, b.candidate.who) == (a.candidate.session, a.candidate.who)
                assert b.candidate.start == a.candidate.start + t_len
    resumed = next(iter(StreamBatchSampler(ds, 4, seed=0, start_step=7, steps=1)))
    assert resumed == batches[7]


def _train_conditions(model, ds, windows, known):
    """f_pu of each window of one row, carrying the scan state as the trainer does."""
    carry, out = None, []
    for w in windows:
        batch = torch.utils.data.default_collate([ds[w]])
        with torch.no_grad():
            cond, carry = build_cond(model, batch, None, torch.tensor([known]), carry)
        out.append((cond.f_pu, batch["s_usr"]))
    return out


@pytest.mark.parametrize("known", [12, 7, 0, -9])
def test_training_conditions_equal_the_streaming_engine(stage2, known):
    model, ds = stage2
    cfg = model.cfg
    row = [b[0] for b in _stream(ds, 5)]
    row = row[:next((i for i, w in enumerate(row[1:], 1) if w.first), len(row))]   # one conversation
    assert len(row) >= 3
    trained = _train_conditions(model, ds, row, known)
    c = row[0].candidate
    user = ds.feats[(c.session, "B" if c.who == "A" else "A")]
    overlap = ds.spec.data.overlap
    gen = StreamingGenerator(model, np.zeros(cfg.identity_dim, np.float32),
                             SamplerConfig(overlap=overlap, user_horizon=known - overlap),
                             conditioner=TextConditioner(BehaviourDescriber(), LexiconAffect(),
                                                         HashingEncoderForTests()),
                             initial_motion=ds.rest_pose)
    n = len(user.valid)
    gen.push_user(user.mel, user.motion, {}, np.zeros(n, np.float32))
    for w, (f_pu, s_usr) in zip(row, trained):
        t0 = w.candidate.start + overlap
        with torch.no_grad():
            feats = gen._perception(t0)                             # scans lazily, only what t0 may read
            got = model.user_context(feats, s_usr, torch.tensor([gen.sampler.known(cfg)]), 1)
        torch.testing.assert_close(got, f_pu, atol=2e-5, rtol=1e-4)
    assert gen.state.lpe_frames == row[-1].candidate.start + min(known, cfg.chunk_frames - cfg.user_latency)


def test_carried_state_equals_one_long_scan(stage2):
    model, ds = stage2
    cfg, r0 = model.cfg, model.cfg.user_preroll
    row = [b[1] for b in _stream(ds, 3)]
    assert not any(w.first for w in row[1:])
    batches = [torch.utils.data.default_collate([ds[w]]) for w in row]
    carry, pieces = None, []
    for batch in batches:
        with torch.no_grad():
            _, nxt = build_cond(model, batch, None, None, carry)
            head, _ = model.perceive(batch["user_audio"][:, :cfg.chunk_frames],
                                     batch["user_motion"][:, :cfg.chunk_frames],
                                     None if carry is None else carry)
        pieces.append(head)
        carry = nxt
    c = row[0].candidate
    user = ds.feats[(c.session, "B" if c.who == "A" else "A")]
    assert np.array_equal(batches[0]["user_audio"][0, r0:].numpy(), user.mel[:cfg.user_span - r0])
    ua = torch.cat([b["user_audio"][:, :cfg.chunk_frames] for b in batches], dim=1)
    um = torch.cat([b["user_motion"][:, :cfg.chunk_frames] for b in batches], dim=1)
    with torch.no_grad():
        whole, _ = model.perceive(ua, um)
    torch.testing.assert_close(torch.cat(pieces, dim=1), whole, atol=2e-5, rtol=1e-4)
