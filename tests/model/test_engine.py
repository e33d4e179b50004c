"""Engine: streaming output equals offline output; chunk borders have no seams; state stays bounded."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from echo_ihg.model.affect import LexiconAffect
from echo_ihg.model.describe import BehaviourDescriber
from echo_ihg.model.diffusion import alpha_sigma
from echo_ihg.model.echo import EchoModel
from echo_ihg.eval.metrics import seam_metric
from echo_ihg.model.engine import (SamplerConfig, StreamingGenerator, TextConditioner, continuity_correct,
                                   generate_offline)
from echo_ihg.model.text_encoder import HashingEncoderForTests
from tests.model.conftest import build, randomise

DM = 33


def _conversation(n_avatar=70, n_user=80, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n_user) / 25
    attrs = {"smile": 0.03 * np.sin(t), "head_pitch": 4 * np.sin(3 * t), "head_yaw": 0.5 * np.sin(t),
             "gaze_yaw": 0.05 * np.cos(t)}
    return dict(
        identity=rng.normal(size=30).astype(np.float32),
        avatar_audio=rng.normal(size=(n_avatar, 320)).astype(np.float32),
        avatar_vad=(np.arange(n_avatar) % 40 < 20).astype(np.float32),
        user_audio=rng.normal(size=(n_user, 320)).astype(np.float32),
        user_motion=rng.normal(size=(n_user, DM)).astype(np.float32),
        user_attributes={k: v.astype(np.float32) for k, v in attrs.items()},
        user_vad=(np.arange(n_user) % 50 > 30).astype(np.float32),
        transcript=[{"speaker": "B", "start": 0.2, "end": 0.9, "text": "I'm so happy today"},
                    {"speaker": "A", "start": 1.0, "end": 1.6, "text": "That is wonderful"},
                    {"speaker": "B", "start": 2.0, "end": 2.5, "text": "but I worry about my sick mother"}])


def _model(layout, centres, cfg, seed=0):
    model = build(layout, centres, cfg, seed)
    randomise(model, seed=seed, scale=0.1)
    return model.eval()


def _conditioner():
    return TextConditioner(BehaviourDescriber(), LexiconAffect(), HashingEncoderForTests())


def _stream(model, conv, sampler, seed, pieces_seed=1):
    """Feed the conversation in random pieces, pulling after each push (user slightly ahead of the avatar)."""
    gen = StreamingGenerator(model, conv["identity"], sampler, _conditioner(), seed=seed)
    rng = np.random.default_rng(pieces_seed)
    nu, na = len(conv["user_vad"]), len(conv["avatar_vad"])
    iu = ia = 0
    out, sent = [], set()
    while iu < nu or ia < na:
        for e in conv["transcript"]:                                   # words arrive once they are spoken
            if e["end"] * 25 <= iu and id(e) not in sent:
                gen.push_transcript([e])
                sent.add(id(e))
        k = int(rng.integers(1, 9))
        if iu < nu:
            sl = slice(iu, min(nu, iu + k))
            gen.push_user(conv["user_audio"][sl], conv["user_motion"][sl],
                          {n: v[sl] for n, v in conv["user_attributes"].items()}, conv["user_vad"][sl])
            iu = sl.stop
        if ia < na:
            sl = slice(ia, min(na, ia + k))
            gen.push_avatar(conv["avatar_audio"][sl], conv["avatar_vad"][sl])
            ia = sl.stop
        out.append(gen.pull())
    gen.push_transcript([e for e in conv["transcript"] if id(e) not in sent])
    out.append(gen.finish())
    return np.concatenate(out), gen


@pytest.mark.parametrize("switch", [{}, dict(short_window_frames=20), dict(audio_only=True)])
def test_streaming_equals_offline(layout, centres, tiny_cfg, switch):
    cfg = dataclasses.replace(tiny_cfg, **switch)
    model = _model(layout, centres, cfg)
    conv = _conversation()
    sampler = SamplerConfig(steps=3, overlap=3, continuity_ramp=4, describe_window=60)
    offline, borders = generate_offline(model, conv["identity"], conv["avatar_audio"], conv["avatar_vad"],
                                        conv["user_audio"], conv["user_motion"], conv["user_attributes"],
                                        conv["user_vad"], conv["transcript"], sampler, _conditioner(), seed=7)
    streamed, gen = _stream(model, conv, sampler, seed=7)
    assert offline.shape == streamed.shape == (70, DM)
    assert borders == gen.state.emitted == list(range(0, 70, 9))
    np.testing.assert_allclose(streamed, offline, atol=2e-5)
    other, _ = generate_offline(model, conv["identity"], conv["avatar_audio"], conv["avatar_vad"],
                                conv["user_audio"], conv["user_motion"], conv["user_attributes"],
                                conv["user_vad"], conv["transcript"], sampler, _conditioner(), seed=8)
    assert np.abs(other - offline).max() > 1e-3                          # the seed matters


def test_streaming_state_is_bounded(layout, centres, tiny_cfg):
    model = _model(layout, centres, tiny_cfg)
    conv = _conversation(n_avatar=400, n_user=400)
    sampler = SamplerConfig(steps=1, overlap=3, describe_window=50)
    _, gen = _stream(model, conv, sampler, seed=0)
    st = gen.state
    assert len(st.avatar_audio.data) <= tiny_cfg.chunk_frames + 2 * tiny_cfg.audio_window + sampler.describe_window
    assert len(st.user_audio.data) <= tiny_cfg.chunk_frames and len(st.user_vad.data) <= 60
    assert st.history.shape[0] == max(tiny_cfg.prev_frames, sampler.overlap, 2)


def test_continuity_correct_continues_velocity():
    before = torch.tensor([[0.0], [1.0]])                                # velocity 1
    window = torch.tensor([[1.0], [7.0], [8.0], [9.0], [10.0], [11.0]])   # jump to 7 at the first new frame
    out = continuity_correct(window, before, overlap=1, ramp=4)
    assert out[1, 0] == 2.0                                              # 1 + velocity 1
    assert torch.equal(out[:1], window[:1]) and torch.equal(out[5:], window[5:])


class _SmoothChunks(EchoModel):
    """Stand-in denoiser whose every chunk is smooth inside but starts at its own random level (drawn from the
    sampler's noise): what an imperfectly trained model does, and what makes seams when chunks are simply
    concatenated."""

    def forward(self, x, t, cond, return_gates=False):
        tt = torch.arange(x.shape[1], dtype=x.dtype).view(1, -1, 1)
        x0 = torch.tanh(x.mean(1, keepdim=True) * 3) + 0.2 * torch.sin(tt / 4)   # (B, T, Dm), bounded
        a, s = alpha_sigma(t)
        return (a.view(-1, 1, 1) * x - x0) / s.view(-1, 1, 1).clamp_min(1e-6)


def test_chunk_borders_have_no_seams(layout, centres, tiny_cfg):
    torch.manual_seed(0)
    model = _SmoothChunks(layout, centres, tiny_cfg).eval()
    conv = _conversation(n_avatar=150, n_user=150)
    args = (model, conv["identity"], conv["avatar_audio"], conv["avatar_vad"], conv["user_audio"],
            conv["user_motion"], conv["user_attributes"], conv["user_vad"], conv["transcript"])
    smooth, borders = generate_offline(*args, SamplerConfig(steps=4, overlap=3, continuity_ramp=6),
                                       _conditioner(), seed=0)
    raw, _ = generate_offline(*args, SamplerConfig(steps=4, overlap=3, continuity_ramp=0), _conditioner(), seed=0)
    assert len(borders) == 17
    s, r = seam_metric(smooth, borders[1:]), seam_metric(raw, borders[1:])   # borders[0] = 0: no seam there
    assert r["seam_ratio"] > 5, r                                       # the naive joins do have seams
    assert s["seam_ratio"] < 1.5 and s["jump_ratio"] < 2.0, s            # the engine's joins do not


def test_real_model_joins_are_continuous(layout, centres, tiny_cfg):
    model = _model(layout, centres, tiny_cfg, seed=3)
    conv = _conversation(n_avatar=80, n_user=80)
    out, borders = generate_offline(model, conv["identity"], conv["avatar_audio"], conv["avatar_vad"],
                                    conv["user_audio"], conv["user_motion"], conv["user_attributes"],
                                    conv["user_vad"], conv["transcript"], SamplerConfig(steps=2, overlap=3),
                                    _conditioner(), seed=0)
    v = np.diff(out, axis=0)
    for b in borders[1:]:                                                # first new frame continues the velocity
        np.testing.assert_allclose(v[b - 1], v[b - 2], atol=1e-4)


@pytest.mark.parametrize("switches, reads_text", [
    ({}, True),                                             # full model: behaviour and emotion text
    ({"user_branch": False}, False),                        # stage 1: no user context, no text
    ({"use_hbcu": False}, True),                            # LAU still reads the dialogue
    ({"use_hbcu": False, "use_lau": False}, False),
    ({"audio_only": True}, False),
])
def test_build_text_conditioner_only_for_models_that_read_text(switches, reads_text):
    from echo_ihg.model.config import ModelConfig
    from echo_ihg.model.engine import build_text_conditioner

    cfg = ModelConfig(**switches)
    calls = []

    def encoder():
        calls.append(1)
        return HashingEncoderForTests()

    cond = build_text_conditioner(cfg, encoder, avatar="B")
    assert cfg.uses_text == reads_text and len(calls) == int(reads_text)   # no encoder loaded when not needed
    if reads_text:
        assert isinstance(cond, TextConditioner) and cond.avatar == "B"
        assert isinstance(cond.describer, BehaviourDescriber) and isinstance(cond.affect, LexiconAffect)
    else:
        assert cond is None


def test_pace_change_moves_when_the_next_chunk_is_ready(layout, centres, tiny_cfg):
    """The live server lengthens its user lag (and hop) when chunks come late: the next chunk then waits for
    the user up to t0 − L under the new values; values the model is not trained for are refused."""
    model = _model(layout, centres, tiny_cfg)
    conv = _conversation()
    gen = StreamingGenerator(model, conv["identity"], SamplerConfig(steps=1, overlap=3, user_horizon=-2),
                             _conditioner(), max_overlap=6)
    gen.push_avatar(conv["avatar_audio"], conv["avatar_vad"])

    def push_user(a, b):
        gen.push_user(conv["user_audio"][a:b], conv["user_motion"][a:b],
                      {n: v[a:b] for n, v in conv["user_attributes"].items()}, conv["user_vad"][a:b])

    push_user(0, 7)                       # chunks 0 and 9 (hop 9) read user frames < t0 − 2
    assert len(gen.pull()) == 18
    push_user(7, 13)
    assert len(gen.pull()) == 0           # chunk 18 needs 16 at L = 2
    gen.set_pace(3, -5)
    assert len(gen.pull()) == 9           # at L = 5 it needs 13
    gen.set_pace(6, -5)                   # hop 6: chunk 27 reads < 22
    push_user(13, 22)
    assert len(gen.pull()) == 6 and gen.state.emitted[-1] == 27
    with pytest.raises(ValueError, match="trained"):
        gen.set_pace(3, -(3 + tiny_cfg.user_lag_max + 1))
    with pytest.raises(ValueError, match="max_overlap"):
        gen.set_pace(7, -2)
    gen.set_pace(3, -(3 + tiny_cfg.user_lag_max))
