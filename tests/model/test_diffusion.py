"""Diffusion: schedule identities, exact DDIM on an oracle, determinism, inpainting, CFG, losses, learning."""

from __future__ import annotations

import dataclasses

import torch

from echo_ihg.model.diffusion import (alpha_sigma, ddim_sample, diffusion_loss, drop_mask, eps_from_v, q_sample,
                                      region_weights, x0_from_v)
from echo_ihg.model.generator import GenCond
from tests.model.conftest import build, make_layout

DM = 33


def _cond(cfg, b=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    return GenCond(torch.randn(b, cfg.prev_frames, DM, generator=g), torch.randn(b, cfg.identity_dim, generator=g),
                   torch.randn(b, cfg.chunk_frames + 2 * cfg.audio_window, 320, generator=g), None,
                   torch.randn(b, 384, generator=g))


def test_schedule_and_parameterisation():
    t = torch.linspace(0, 1, 11)
    a, s = alpha_sigma(t)
    assert torch.allclose(a ** 2 + s ** 2, torch.ones(11)) and a[0] == 1 and s[0] == 0 and a[-1] < 1e-6
    x0, eps, tt = torch.randn(3, 5, 4), torch.randn(3, 5, 4), torch.tensor([0.1, 0.5, 0.9])
    x_t, v = q_sample(x0, tt, eps)
    assert torch.allclose(x0_from_v(x_t, tt, v), x0, atol=1e-5)
    assert torch.allclose(eps_from_v(x_t, tt, v), eps, atol=1e-5)


def test_ddim_with_oracle_lands_on_the_data_and_is_deterministic():
    target = torch.randn(1, 12, 4)

    def oracle(x, t, cond):                                          # exact v for a point-mass data set
        a, s = alpha_sigma(t)
        return (a.view(-1, 1, 1) * x - target) / s.view(-1, 1, 1).clamp_min(1e-8)

    for steps in (1, 4, 10):
        out = ddim_sample(oracle, (1, 12, 4), None, steps, torch.Generator().manual_seed(0))
        assert torch.allclose(out, target, atol=1e-4)
    noisy = lambda x, t, c: oracle(x, t, c) + 0.3 * x                # noqa: E731 — an imperfect model
    o1 = ddim_sample(noisy, (1, 12, 4), None, 6, torch.Generator().manual_seed(3))
    o2 = ddim_sample(noisy, (1, 12, 4), None, 6, torch.Generator().manual_seed(3))
    o3 = ddim_sample(noisy, (1, 12, 4), None, 6, torch.Generator().manual_seed(4))
    assert torch.equal(o1, o2) and not torch.allclose(o1, o3)


def test_inpainting_keeps_known_frames(layout, centres, tiny_cfg):
    model = build(layout, centres, tiny_cfg)
    known = torch.randn(1, 4, DM)
    out = ddim_sample(model, (1, tiny_cfg.chunk_frames, DM), _cond(tiny_cfg), 5,
                      torch.Generator().manual_seed(0), known=known, known_frames=4)
    assert torch.allclose(out[:, :4], known, atol=1e-6)


def test_guidance_scale_one_is_plain_and_other_scales_use_the_null_branch():
    calls = []

    def model(x, t, cond):
        calls.append(None if cond is None or cond.drop is None else cond.drop.tolist())
        return torch.zeros_like(x) if cond.drop is None else cond.drop.float().view(-1, 1, 1) * torch.ones_like(x)

    cond = GenCond(torch.zeros(1, 2, 3), torch.zeros(1, 3), torch.zeros(1, 5, 3))
    ddim_sample(model, (1, 4, 3), cond, 2, torch.Generator().manual_seed(0), guidance=1.0)
    assert calls == [None, None]
    calls.clear()
    ddim_sample(model, (1, 4, 3), cond, 2, torch.Generator().manual_seed(0), guidance=2.0)
    assert calls == [[False, True], [False, True]]


def test_region_weights_and_drop_mask():
    layout = make_layout()
    w = region_weights(layout, {"lips_jaw": 3.0})
    assert w.shape == (DM,) and w[:6].eq(3).all() and w[6:].eq(1).all()
    m = drop_mask(10000, 0.1, torch.Generator().manual_seed(0))
    assert 0.08 < m.float().mean() < 0.12


def test_loss_parts_and_a_tiny_model_learns(layout, centres, tiny_cfg):
    torch.manual_seed(0)
    model = build(layout, centres, tiny_cfg)
    g = torch.Generator().manual_seed(0)
    tt = torch.arange(tiny_cfg.chunk_frames).float()
    x0 = torch.stack([torch.sin(tt / 3 + k) for k in range(DM)], -1)[None].repeat(4, 1, 1)   # smooth motion
    cond = _cond(tiny_cfg, 4)
    w = region_weights(layout, {"lips_jaw": 2.0})
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for step in range(40):
        loss, parts = diffusion_loss(model, x0, cond, w, velocity_weight=1.0, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(parts["total"])
    assert set(parts) == {"v", "velocity", "total"}
    assert sum(losses[-10:]) / 10 < 0.6 * sum(losses[:10]) / 10, losses
    fixed_t = torch.full((4,), 0.5)
    l1, _ = diffusion_loss(model, x0, cond, None, generator=torch.Generator().manual_seed(1), t=fixed_t)
    l2, _ = diffusion_loss(model, x0, dataclasses.replace(cond), region_weights(layout, {"lips_jaw": 50.0}),
                           generator=torch.Generator().manual_seed(1), t=fixed_t)
    assert not torch.isclose(l1, l2)
