"""Windowed training dataset: shapes, masks, causal texts, cache reuse, rank sharding."""

from __future__ import annotations

import numpy as np
import pytest

from echo_ihg.data.cache import is_fresh
from echo_ihg.data.train_features import TextGrid, codec_fingerprint, participant_attributes, window_texts
from echo_ihg.data.windows import SILENCE, DataConfig, ShardedBatchSampler, WindowDataset, WindowSpec
from echo_ihg.errors import InputError
from echo_ihg.model.affect import LexiconAffect
from echo_ihg.model.describe import BehaviourDescriber
from echo_ihg.model.text_encoder import HashingEncoderForTests
from echo_ihg.motion.codec import default_codec

SPEC = WindowSpec(chunk=12, prev=8, audio_window=2,
                  data=DataConfig(stride=10, describe_frames=100, shards=2))


def make(root, spec=SPEC, rank=0, world=1, encoder=None):
    return WindowDataset(root, spec, default_codec(), encoder or HashingEncoderForTests(), "hashing",
                         BehaviourDescriber(), LexiconAffect(), rank=rank, world=world)


@pytest.fixture(scope="module")
def ds(tiny_synth_corpus):
    return make(tiny_synth_corpus)


def test_shapes_and_masks(ds):
    dm = default_codec().dim
    first = next(i for i, c in enumerate(ds.items) if c.start == 0)
    x = ds[first]
    assert x["target"].shape == (12, dm) and x["prev"].shape == (8, dm)
    assert x["avatar_audio"].shape == (12 + 4, 320)
    span = SPEC.user_span                                        # [s − R, s + T − latency) = [−24, 11)
    assert span == 12 - 1 + 24
    assert x["user_audio"].shape == (span, 320) and x["user_motion"].shape == (span, dm)
    assert x["s_usr"].shape == x["c_emo"].shape == (384,) and x["identity"].shape == (478 * 3,)
    for k in ("valid", "avatar_vad", "user_vad"):
        assert x[k].shape == (12,)
    assert all(np.isfinite(v).all() for v in x.values())
    # chunk at s = 0 starts at t0 = overlap = 4: 4 of the 8 previous frames exist; the user span's 24 pre-roll
    # frames are silent at rest (as the engine has it), its last 11 are the user's frames 0..10
    np.testing.assert_array_equal(x["prev_mask"], [0, 0, 0, 0, 1, 1, 1, 1])
    assert x["user_mask"].sum() == 11 and x["user_mask"][-11:].all()
    rest = ds.rest_pose
    np.testing.assert_allclose(x["prev"][0], rest)
    np.testing.assert_allclose(x["user_motion"][0], rest)
    assert (x["avatar_audio"][:2] == SILENCE).all() and (x["user_audio"][0] == SILENCE).all()
    c = ds.items[first]
    np.testing.assert_array_equal(x["avatar_audio"][2:], ds.feats[(c.session, c.who)].mel[:14])
    np.testing.assert_array_equal(x["user_audio"][24:], ds.feats[(c.session, "B" if c.who == "A" else "A")].mel[:11])
    assert x["stream_first"] == 0
    # previous motion overlaps the chunk's first `overlap` frames, as in the engine's inpainting
    np.testing.assert_array_equal(x["prev"][4:], x["target"][:4])


def test_target_is_cached_codec_motion(ds):
    c = ds.items[len(ds) // 2]
    x = ds[len(ds) // 2]
    motion = ds.feats[(c.session, c.who)].motion
    np.testing.assert_array_equal(x["target"], motion[c.start:c.start + 12])
    session = ds.sessions[c.session]
    assert is_fresh(session, c.who, f"motion_{codec_fingerprint(default_codec())}",
                    f"train-features-v1:{codec_fingerprint(default_codec())}")


def test_texts_are_causal_and_embedded(ds):
    from echo_ihg.data.session import read_session

    i = len(ds) - 1
    c, x = ds.items[i], ds[i]
    session = read_session(ds.sessions[c.session])
    user = "B" if c.who == "A" else "A"
    t0 = c.start + SPEC.data.overlap
    b_text, e_text = window_texts(participant_attributes(ds.sessions[c.session], user),
                                  session.participant(user).vad, session.participant(c.who).vad,
                                  session.transcript, t0, c.who, SPEC.grid, BehaviourDescriber(), LexiconAffect())
    emb = HashingEncoderForTests().encode([b_text, e_text])
    np.testing.assert_allclose(x["s_usr"], emb[0], atol=1e-6)
    np.testing.assert_allclose(x["c_emo"], emb[1], atol=1e-6)
    assert TextGrid(10, 4).starts(30).tolist() == [4, 14, 24]


def test_cached_features_are_reused(tiny_synth_corpus, ds):
    class CountingEncoder(HashingEncoderForTests):
        calls = 0

        def _encode(self, texts):
            CountingEncoder.calls += 1
            return super()._encode(texts)

    again = make(tiny_synth_corpus, encoder=CountingEncoder())
    assert CountingEncoder.calls == 0          # embeddings came from the on-disk cache
    assert len(again) == len(ds)


def test_shards_are_disjoint_and_reassemble_the_global_batch(tiny_synth_corpus, ds):
    r0, r1 = make(tiny_synth_corpus, rank=0, world=2), make(tiny_synth_corpus, rank=1, world=2)
    assert set(r0.sessions_read).isdisjoint(r1.sessions_read)
    assert len(r0.sessions_read) + len(r1.sessions_read) == len(ds.sessions)
    assert len(r0) + len(r1) == len(ds)
    s_all, s0, s1 = (ShardedBatchSampler(d, 8, seed=5) for d in (ds, r0, r1))
    assert s0.rows().tolist() == [0, 1, 2, 3] and s1.rows().tolist() == [4, 5, 6, 7]
    for step in (0, 3, 50):   # 50: several epochs into the smaller shard
        whole = [ds.items[i] for i in s_all.batch(step)]
        parts = [r0.items[i] for i in s0.batch(step)] + [r1.items[i] for i in s1.batch(step)]
        assert whole == parts


def test_sampler_covers_each_shard_once_per_epoch(ds):
    s = ShardedBatchSampler(ds, 2, seed=0)         # one sample per shard per step
    n0 = len(ds.shard_items[0])
    seen = [s.batch(k)[0] for k in range(n0)]
    assert sorted(seen) == sorted(ds.shard_items[0].tolist())
    assert [s.batch(k)[0] for k in range(n0, 2 * n0)] != seen     # a new permutation next epoch


def test_bad_inputs(tiny_synth_corpus, tmp_path):
    with pytest.raises(InputError, match="split"):
        make(tiny_synth_corpus, spec=WindowSpec(12, 8, 2, DataConfig(split="nope", shards=2)))
    with pytest.raises(InputError, match="world size"):
        make(tiny_synth_corpus, rank=0, world=3)
    with pytest.raises(InputError, match="multiple"):
        ShardedBatchSampler(make(tiny_synth_corpus), 3, seed=0)
    with pytest.raises(ValueError):
        DataConfig(participants=("C",))
