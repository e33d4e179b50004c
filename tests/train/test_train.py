"""Tiny-config training: stage 1 and 2, overfitting one batch, exact resume, NaN guard, checkpoints."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from echo_ihg.errors import EchoError, InputError
from echo_ihg.model.checkpoint import load_model
from echo_ihg.train.checkpoint import latest_checkpoint
from echo_ihg.train.losses import Denoiser, build_cond, chunk_loss
from echo_ihg.train.trainer import Trainer, lr_at, step_draws, train

from .conftest import tiny_config


@pytest.fixture(scope="module")
def stage1(tiny_synth_corpus, tmp_path_factory):
    run = tmp_path_factory.mktemp("stage1")
    return run, train(tiny_synth_corpus, run, tiny_config(steps=4))


def test_stage1_trains_and_checkpoints(stage1):
    run, result = stage1
    assert result.step == 4 and len(result.losses) == 4 and np.isfinite(result.losses).all()
    ckpt = latest_checkpoint(run)
    assert ckpt == result.checkpoint and ckpt.name == "step_0000004"
    meta = json.loads((ckpt / "checkpoint.json").read_text())
    assert meta["stage"] == 1 and meta["model"]["cfg"]["user_branch"] is False
    assert meta["motion_space"] == "normalised" and meta["train_config"]["steps"] == 4
    log = [json.loads(s) for s in (run / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4] and all(r["samples_per_s"] > 0 for r in log)
    assert json.loads((run / "config.json").read_text())["stage"] == 1
    model, codec, _ = load_model(ckpt)
    assert model.lcu is None and model.motion_dim == codec.dim
    ema = load_file(str(ckpt / "ema.safetensors"))
    assert all(torch.equal(ema[k], v) for k, v in model.state_dict().items())


def test_overfits_one_batch(tiny_synth_corpus, tmp_path):
    cfg = tiny_config()
    trainer = Trainer(tiny_synth_corpus, tmp_path, cfg)
    trainer.data_root = tiny_synth_corpus
    ds = trainer.dataset()
    batch = torch.utils.data.default_collate([ds[i] for i in range(2)])
    t, noise, _, _ = step_draws(cfg, 0, (2, 12, trainer.model.motion_dim))
    net = Denoiser(trainer.model)
    opt = torch.optim.Adam(net.parameters(), lr=5e-3)
    losses = []
    for _ in range(25):
        loss, _ = chunk_loss(net, batch, t, noise, None, trainer.weights, cfg.velocity_weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.5 * losses[0]


def test_stage2_starts_from_stage1_and_freezes_base(stage1, tiny_synth_corpus, tmp_path):
    run1, r1 = stage1
    cfg = tiny_config(stage=2, steps=2, base_lr_mult=0.0)
    trainer = Trainer(tiny_synth_corpus, tmp_path, cfg, init=r1.checkpoint)
    trainer.data_root = tiny_synth_corpus
    assert trainer.model.lcu is not None
    base, _, _ = load_model(r1.checkpoint)
    # zero-initialised user branch: the stage-2 model predicts exactly what stage 1 predicts
    batch = torch.utils.data.default_collate([trainer.dataset()[i] for i in range(2)])
    t, noise, _, _ = step_draws(cfg, 0, (2, 12, base.motion_dim))
    with torch.no_grad():
        x_t = torch.cos(t)[:, None, None] * batch["target"] + noise
        v1 = Denoiser(base)(x_t, t, batch, None)
        v2 = Denoiser(trainer.model.eval())(x_t, t, batch, None)
    torch.testing.assert_close(v1, v2, atol=1e-6, rtol=0)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    result = trainer.run(tiny_synth_corpus)
    assert result.step == 2 and np.isfinite(result.losses).all()
    user = {k for k, p in trainer.model.named_parameters() if any(p is q for q in trainer.model.user_parameters())}
    after = trainer.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k not in user)     # stage-1 path frozen
    assert any(not torch.equal(before[k], after[k]) for k in user)


@pytest.mark.parametrize("stage", [1, 2])
def test_resume_after_kill_is_exact(tiny_synth_corpus, tmp_path, stage):
    """Stage 2 carries the streams' scan states across steps: the checkpoint keeps them."""
    cfg = tiny_config(steps=4, ckpt_interval=2, stage=stage)
    straight = train(tiny_synth_corpus, tmp_path / "a", cfg)
    killed = train(tiny_synth_corpus, tmp_path / "b", cfg, stop_after=3)    # dies after step 3; last ckpt: 2
    assert killed.step == 3 and latest_checkpoint(tmp_path / "b").name == "step_0000002"
    resumed = train(tiny_synth_corpus, tmp_path / "b", cfg, resume=True)
    assert resumed.step == 4 and len(resumed.losses) == 2
    assert resumed.losses == straight.losses[2:]                                # bit-identical
    assert killed.losses == straight.losses[:3]
    wa = load_file(str(tmp_path / "a/checkpoints/step_0000004/model.safetensors"))
    wb = load_file(str(tmp_path / "b/checkpoints/step_0000004/model.safetensors"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    log = [json.loads(s)["step"] for s in (tmp_path / "b/train_log.jsonl").read_text().splitlines()]
    assert log == [1, 2, 3, 4]                                                   # step 3 logged once
    with pytest.raises(InputError, match="different configuration"):
        Trainer(tiny_synth_corpus, tmp_path / "b", tiny_config(steps=4, lr=0.5), resume=True)


def test_nan_guard_skips_then_aborts(tiny_synth_corpus, tmp_path):
    trainer = Trainer(tiny_synth_corpus, tmp_path, tiny_config(steps=5, max_nan_skips=2))
    with torch.no_grad():
        next(trainer.model.generator.token_in[0].parameters()).fill_(float("nan"))
    with pytest.raises(EchoError, match="non-finite"):
        trainer.run(tiny_synth_corpus)
    assert trainer.nan_skips == 3


def test_learning_rate_schedule():
    cfg = tiny_config(steps=100, warmup=10, lr=1.0, min_lr_ratio=0.1)
    assert lr_at(0, cfg) == pytest.approx(0.1) and lr_at(9, cfg) == pytest.approx(1.0)
    assert lr_at(10, cfg) == pytest.approx(1.0) and lr_at(100, cfg) == pytest.approx(0.1)
    assert lr_at(55, cfg) == pytest.approx(0.55)


@pytest.mark.parametrize("switch", [{"use_lpe": False}, {"use_hbcu": False}, {"use_lau": False},
                                    {"audio_only": True}, {"short_window_frames": 50}])
def test_user_side_ablations_start_from_the_same_stage1(stage1, tiny_synth_corpus, tmp_path, switch):
    """bench/ablation.py --stage1: the user-side switches leave the stage-1 path alone, so every row starts
    stage 2 from one stage-1 model; switching SDCM off changes that path and is refused."""
    _, r1 = stage1
    base = tiny_config(stage=2, steps=1)
    cfg = tiny_config(stage=2, steps=1, model=dataclasses.replace(base.model, **switch))
    trainer = Trainer(tiny_synth_corpus, tmp_path, cfg, init=r1.checkpoint)
    loaded, _, _ = load_model(r1.checkpoint)
    mine = trainer.model.state_dict()
    assert all(torch.equal(v, mine[k]) for k, v in loaded.state_dict().items())
    no_sdcm = tiny_config(stage=2, steps=1, model=dataclasses.replace(base.model, use_sdcm=False))
    with pytest.raises(InputError, match="differs"):
        Trainer(tiny_synth_corpus, tmp_path / "x", no_sdcm, init=r1.checkpoint)


def test_stage2_learning_rates_of_user_branch_and_base():
    """Stage 2: the fresh user branch trains at lr × user_lr_mult, the stage-1 path at lr × base_lr_mult."""
    from echo_ihg.model.echo import EchoModel
    from echo_ihg.model.sdcm import canonical_centres
    from echo_ihg.motion.codec import default_codec
    from echo_ihg.train.trainer import _param_groups

    cfg = tiny_config(stage=2, user_lr_mult=3.0, base_lr_mult=0.1)
    model = EchoModel(default_codec().layout, canonical_centres(), cfg.model_config())
    user = {id(p) for p in model.user_parameters()}
    groups = _param_groups(model, cfg)
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    for g in groups:
        in_user = {id(p) in user for p in g["params"]}
        assert len(in_user) == 1                                     # a group is all user or all base
        assert g["lr_mult"] == (3.0 if in_user.pop() else 0.1)
    stage1 = _param_groups(model, tiny_config(stage=1, user_lr_mult=3.0))
    assert {g["lr_mult"] for g in stage1} == {1.0}


def test_listening_weight_scales_the_silent_frames_only(tiny_synth_corpus, tmp_path):
    """listening_weight λ: the loss is the per-frame loss with the avatar's silent frames × λ (pairs of frames
    in the velocity term: the geometric mean), so λ = 1 is the plain loss and speaking frames never change."""
    cfg = tiny_config()
    trainer = Trainer(tiny_synth_corpus, tmp_path, cfg)
    trainer.data_root = tiny_synth_corpus
    ds = trainer.dataset()
    batch = torch.utils.data.default_collate([ds[i] for i in range(2)])
    batch["valid"] = torch.ones_like(batch["valid"])
    batch["avatar_vad"] = torch.zeros_like(batch["avatar_vad"])
    batch["avatar_vad"][:, :6] = 1.0                               # speaking, then listening
    t, noise, _, _ = step_draws(cfg, 0, (2, 12, trainer.model.motion_dim))
    net = Denoiser(trainer.model)

    def loss(lw, vad_all=None, velocity=0.0):
        b = dict(batch) if vad_all is None else {**batch, "avatar_vad": torch.full_like(batch["avatar_vad"], vad_all)}
        with torch.no_grad():
            return float(chunk_loss(net, b, t, noise, None, trainer.weights, velocity, lw)[0])

    speaking_only = loss(1.0, vad_all=1.0)
    assert loss(3.0, vad_all=1.0) == pytest.approx(speaking_only)            # speaking frames never change
    l1, l3 = loss(1.0), loss(3.0)
    assert l1 == pytest.approx(speaking_only)                                # λ = 1: the plain loss
    # loss = (speaking part + λ · listening part) / (B·T): linear in λ
    assert loss(5.0) - l3 == pytest.approx(l3 - l1, rel=1e-5) and l3 > l1
    assert loss(3.0, velocity=0.5) > l3
