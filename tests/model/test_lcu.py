"""LCU: LPE streaming equals the parallel pass, bounded state, GCA starts as the identity."""

from __future__ import annotations

import pytest
import torch

from echo_ihg.model.lcu import LCU, LPE
from tests.model.conftest import build, randomise

DM = 33


def test_lpe_parallel_equals_frame_by_frame(layout, tiny_cfg):
    torch.manual_seed(0)
    lpe = LPE({k: (v.start, v.stop) for k, v in layout.items()}, tiny_cfg).eval()
    audio, motion = torch.randn(2, 90, 320), torch.randn(2, 90, DM)
    with torch.no_grad():
        feats, state = lpe.encode(audio, motion)
        st = lpe.init_state(2)
        steps = []
        for t in range(90):
            f, st = lpe.step(audio[:, t], motion[:, t], st)
            steps.append(f)
        pieces_a, st_a = lpe.encode(audio[:, :37], motion[:, :37])
        pieces_b, _ = lpe.encode(audio[:, 37:], motion[:, 37:], st_a)
    assert feats.shape == (2, 90, 1 + 9, 16)
    assert torch.allclose(torch.stack(steps, 1), feats, atol=1e-5)
    assert torch.allclose(torch.cat([pieces_a, pieces_b], 1), feats, atol=1e-5)
    # the state does not grow with the history
    assert state.audio.ssm.shape == st.audio.ssm.shape == (2, 32, 4)
    assert state.motion.ssm.shape == (2 * 9, 32, 4)
    p_usr = lpe.tokens(feats[:, -1])
    assert p_usr.shape == (2, lpe.n_tokens, 32) and lpe.n_tokens == 1 + 1 + 9


def test_perception_reflects_long_history(layout, tiny_cfg):
    """A change 400 frames (16 s) back still changes P_usr now: the scan carries long-range memory."""
    torch.manual_seed(0)
    lpe = LPE({k: (v.start, v.stop) for k, v in layout.items()}, tiny_cfg).eval()
    audio, motion = torch.randn(1, 450, 320), torch.randn(1, 450, DM)
    motion2 = motion.clone()
    motion2[:, :50] += 2.0
    with torch.no_grad():
        a = lpe.tokens(lpe.encode(audio, motion)[0][:, -1])
        b = lpe.tokens(lpe.encode(audio, motion2)[0][:, -1])
    assert (a - b).abs().max() > 1e-4


def test_gca_gate_init(layout, tiny_cfg):
    """gca_gate_init = 0: f_pu = P_usr (Flamingo); the default starts with the text already read (SDCM's
    zero-initialised user attention keeps the fresh branch silent either way, see test_sdcm)."""
    import dataclasses

    torch.manual_seed(0)
    pairs = {k: (v.start, v.stop) for k, v in layout.items()}
    closed = LCU(pairs, dataclasses.replace(tiny_cfg, gca_gate_init=0.0))
    feats = torch.randn(2, tiny_cfg.user_span, 10, 16)
    known = torch.tensor([tiny_cfg.chunk_frames, 3])
    s1, s2 = torch.randn(2, 384), torch.randn(2, 384)
    with torch.no_grad():
        tokens = closed._perception_tokens(feats, known).view(2, tiny_cfg.chunk_frames, -1, 32)
        assert torch.equal(closed(feats, s1, known, 2), tokens)              # tanh(0) gates: f_pu = P_usr
        lcu = LCU(pairs, tiny_cfg)
        assert tiny_cfg.gca_gate_init > 0 and float(lcu.gca.alpha_attn) == tiny_cfg.gca_gate_init
        assert not torch.allclose(lcu(feats, s1, known, 2), lcu(feats, s2, known, 2))


@pytest.mark.parametrize("known", [12, 5, 0, -16])
def test_each_frame_reads_the_user_as_known_at_that_frame(layout, tiny_cfg, known):
    """f_pu of window frame i depends on the user span's frames ≤ min(i − latency, known − 1) (relative to the
    window start), and on the W newest of them; never on a later one."""
    torch.manual_seed(0)
    pairs = {k: (v.start, v.stop) for k, v in layout.items()}
    lcu = LCU(pairs, tiny_cfg)
    cfg, r0 = tiny_cfg, tiny_cfg.user_preroll
    feats = torch.randn(1, cfg.user_span, 10, 16, requires_grad=True)
    f_pu = lcu(feats, torch.randn(1, 384), torch.tensor([known]), 1)          # (1, T, Nu, D)
    assert f_pu.shape[:2] == (1, cfg.chunk_frames)
    for i in range(cfg.chunk_frames):
        grad, = torch.autograd.grad(f_pu[0, i].sum(), feats, retain_graph=True)
        read = torch.nonzero(grad[0].abs().sum((1, 2))).flatten() - r0        # frames relative to the window
        newest = min(i - cfg.user_latency, known - 1)
        assert int(read.max()) == newest and int(read.min()) == newest - cfg.user_window + 1, (i, read)


def test_model_perceive_matches_step(layout, centres, tiny_cfg):
    model = build(layout, centres, tiny_cfg).eval()
    randomise(model)
    audio, motion = torch.randn(1, 20, 320), torch.randn(1, 20, DM)
    with torch.no_grad():
        feats, _ = model.perceive(audio, motion)
        st = model.init_state(1)
        for t in range(20):
            f, st = model.perceive_step(audio[:, t], motion[:, t], st)
    assert torch.allclose(f, feats[:, -1], atol=1e-5)
