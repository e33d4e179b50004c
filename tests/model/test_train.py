"""Training core: loss on a dataset-like batch, stage-2 freezing, NaN guard, exact resume."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from echo_ihg.model.diffusion import diffusion_loss
from echo_ihg.model.train import Trainer, TrainConfig, batch_loss, lr_at, perceive_history
from tests.model.conftest import build, randomise

DM = 33


def _batch(cfg, b=2, h=60, seed=0):
    g = torch.Generator().manual_seed(seed)
    t_len, w = cfg.chunk_frames, cfg.audio_window
    valid = torch.ones(b, t_len)
    valid[0, :3] = 0
    return {"target": torch.randn(b, t_len, DM, generator=g), "prev": torch.randn(b, cfg.prev_frames, DM, generator=g),
            "avatar_audio": torch.randn(b, t_len + 2 * w, 320, generator=g),
            "user_audio": torch.randn(b, h, 320, generator=g), "user_motion": torch.randn(b, h, DM, generator=g),
            "s_usr": torch.randn(b, 384, generator=g), "c_emo": torch.randn(b, 384, generator=g),
            "identity": torch.randn(b, cfg.identity_dim, generator=g), "valid": valid}


def test_truncated_history_equals_full_scan_forward(layout, centres, tiny_cfg):
    model = build(layout, centres, tiny_cfg)
    batch = _batch(tiny_cfg, h=70)
    with torch.no_grad():
        full, _ = model.perceive(batch["user_audio"], batch["user_motion"])
    part = perceive_history(model, batch["user_audio"], batch["user_motion"], bptt=15, segment=20)
    assert torch.allclose(part, full[:, -1], atol=1e-5) and part.requires_grad


def test_exact_resume(layout, centres, tiny_cfg):
    cfg = TrainConfig(lr=1e-3, bptt_frames=20)
    batches = [_batch(tiny_cfg, seed=i) for i in range(6)]
    a = Trainer(build(layout, centres, tiny_cfg, seed=1), cfg, seed=3)
    losses_a = [a.step(x)["total"] for x in batches]
    b = Trainer(build(layout, centres, tiny_cfg, seed=1), cfg, seed=3)
    losses_b = [b.step(x)["total"] for x in batches[:3]]
    state = b.state_dict()
    c = Trainer(build(layout, centres, tiny_cfg, seed=99), cfg, seed=0)   # fresh process: other init and seed
    c.load_state_dict(state)
    losses_b += [c.step(x)["total"] for x in batches[3:]]
    assert losses_a == losses_b
    for pa, pc in zip(a.ema.parameters(), c.ema.parameters()):
        assert torch.equal(pa, pc)


def test_stage2_freezes_stage1_path_and_trains_user_branch(layout, centres, tiny_cfg):
    model = build(layout, centres, tiny_cfg)
    randomise(model, skip=("attn_usr.out", "emo_in"))                  # stage-1 weights; user branch fresh
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = Trainer(model, TrainConfig(stage=2, slow_lr_scale=0.0, lr=1e-2, cond_drop=0.0, bptt_frames=20))
    for i in range(3):
        trainer.step(_batch(tiny_cfg, seed=i))
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert any("attn_usr.out" in k for k in changed) and any(k.startswith("lcu.") for k in changed)
    assert not any(k.startswith("generator.") and not any(u in k for u in ("attn_usr", "null_user", "emo_in"))
                   for k in changed), changed


def test_nan_guard_skips_and_gives_up(layout, centres, tiny_cfg):
    trainer = Trainer(build(layout, centres, tiny_cfg), TrainConfig(max_bad_steps=2, bptt_frames=20))
    bad = _batch(tiny_cfg)
    bad["target"][0, 0, 0] = float("nan")
    before = [p.clone() for p in trainer.model.parameters()]
    assert trainer.step(bad)["skipped"] == 1.0
    assert all(torch.equal(p, q) for p, q in zip(before, trainer.model.parameters()))
    with pytest.raises(FloatingPointError):
        trainer.step(bad)


def test_loss_mask_and_lr_schedule(layout, centres, tiny_cfg):
    zero = lambda x, t, cond: torch.zeros_like(x)                      # noqa: E731 — a frame-wise model
    x0 = torch.randn(2, 10, 4)
    mask = torch.ones(2, 10)
    mask[0, :3] = 0
    changed = x0.clone()
    changed[0, :3] += 100.0                                            # invalid frames: must not count
    args = dict(velocity_weight=1.0, t=torch.full((2,), 0.5))
    l1, _ = diffusion_loss(zero, x0, None, mask=mask, generator=torch.Generator().manual_seed(0), **args)
    l2, _ = diffusion_loss(zero, changed, None, mask=mask, generator=torch.Generator().manual_seed(0), **args)
    l3, _ = diffusion_loss(zero, changed, None, generator=torch.Generator().manual_seed(0), **args)
    assert torch.isclose(l1, l2) and l3 > 100 * l1
    loss, parts = batch_loss(build(layout, centres, tiny_cfg), _batch(tiny_cfg), TrainConfig(bptt_frames=20))
    assert torch.isfinite(loss) and set(parts) == {"v", "velocity", "total"}
    assert lr_at(0, 1000, 1.0) < lr_at(199, 1000, 1.0) == 1.0 and abs(lr_at(1000, 1000, 1.0) - 0.1) < 1e-9
