"""Generator: tiny forward/backward, adaLN-Zero identity, zero-initialised user branch, ablations, sizes."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from echo_ihg.model.config import SIZES, ModelConfig
from echo_ihg.model.generator import GenCond, GeneratorBlock
from tests.model.conftest import build, randomise

DM = 33


def _inputs(cfg: ModelConfig, model, b: int = 2, seed: int = 0, f_pu_scale: float = 1.0):
    g = torch.Generator().manual_seed(seed)
    t_len, w = cfg.chunk_frames, cfg.audio_window
    span = cfg.user_span
    feats, _ = model.perceive(torch.randn(b, span, cfg.audio_frame_dim, generator=g),
                              torch.randn(b, span, DM, generator=g))
    f_pu = model.user_context(None if feats is None else feats * f_pu_scale, torch.randn(b, 384, generator=g),
                              torch.full((b,), t_len), b)
    cond = GenCond(torch.randn(b, cfg.prev_frames, DM, generator=g), torch.randn(b, cfg.identity_dim, generator=g),
                   torch.randn(b, t_len + 2 * w, cfg.audio_frame_dim, generator=g), f_pu,
                   torch.randn(b, 384, generator=g))
    return torch.randn(b, t_len, DM, generator=g), torch.rand(b, generator=g), cond


def test_tiny_forward_backward(layout, centres, tiny_cfg):
    model = build(layout, centres, tiny_cfg)
    randomise(model, skip=())
    x, t, cond = _inputs(tiny_cfg, model)
    cond.drop = torch.tensor([False, True])                          # CFG dropout: the null embeddings train too
    v, gates = model(x, t, cond, return_gates=True)
    assert v.shape == x.shape and torch.isfinite(v).all()
    assert len(gates) == SIZES["tiny"]["depth"] and gates[0].shape == (2, tiny_cfg.chunk_frames, 9)
    assert ((gates[0] > 0) & (gates[0] < 1)).all()
    v.pow(2).mean().backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not no_grad, no_grad
    assert model.lcu.lpe.audio_scan.A_log.grad.abs().sum() > 0       # gradients reach the LPE scan


def test_fresh_model_predicts_zero_and_blocks_are_identity(layout, centres, tiny_cfg):
    model = build(layout, centres, tiny_cfg)
    x, t, cond = _inputs(tiny_cfg, model)
    assert torch.equal(model(x, t, cond), torch.zeros_like(x))      # DiT zero-init output layer
    block = model.generator.blocks[0]
    assert isinstance(block, GeneratorBlock)
    h = torch.randn(2, tiny_cfg.chunk_frames, 9, 32)
    audio = torch.randn(2, tiny_cfg.chunk_frames + 2 * tiny_cfg.audio_window, 32)
    win = torch.randn(2 * tiny_cfg.audio_window + 1, 32)
    out, _ = block(h, torch.randn(2, 32), torch.randn(2, 5, 32), torch.randn(2, tiny_cfg.chunk_frames, 4, 32), audio,
                   win)
    assert torch.equal(out, h)                                       # adaLN-Zero: identity at init


def test_zero_init_user_branch_makes_output_independent_of_user(layout, centres, tiny_cfg):
    model = build(layout, centres, tiny_cfg)
    # stage-1 weights trained (random stand-in), user branch and c_emo projection fresh (zero-initialised)
    randomise(model, skip=("attn_usr.out", "emo_in"))
    x, t, cond = _inputs(tiny_cfg, model)
    other = dataclasses.replace(cond, f_pu=torch.randn_like(cond.f_pu) * 3, c_emo=torch.randn_like(cond.c_emo))
    with torch.no_grad():
        assert torch.allclose(model(x, t, cond), model(x, t, other), atol=1e-6)
        randomise(model.generator.blocks[0].fusion.attn_usr.out, seed=5)     # the branch learns something
        assert not torch.allclose(model(x, t, cond), model(x, t, other), atol=1e-4)


@pytest.mark.parametrize("switch", [dict(use_lpe=False), dict(use_hbcu=False), dict(use_lau=False),
                                    dict(use_sdcm=False), dict(audio_only=True), dict(short_window_frames=50),
                                    dict(user_branch=False)])
def test_ablation_switches_build_and_run(layout, centres, tiny_cfg, switch):
    cfg = dataclasses.replace(tiny_cfg, **switch)
    model = build(layout, centres, cfg)
    randomise(model)
    x, t, cond = _inputs(cfg, model)
    v, gates = model(x, t, cond, return_gates=True)
    assert v.shape == x.shape and torch.isfinite(v).all()
    if switch.get("use_sdcm") is False:
        assert gates == []                                           # entangled fusion: no gate, no masks
    if switch.get("audio_only") or switch.get("user_branch") is False:
        assert model.lcu is None and cond.f_pu is None
        assert all(not b.fusion.user_branch for b in model.generator.blocks)
        # the branch still exists so that stage 2 loads stage-1 weights and switches it on
        assert all(hasattr(b.fusion, "attn_usr") for b in model.generator.blocks)
    if switch.get("use_lpe") is False:
        assert not model.uses_perception and cond.f_pu is not None
    if switch.get("use_lau") is False:                               # c_emo is ignored
        other = dataclasses.replace(cond, c_emo=torch.randn_like(cond.c_emo))
        assert torch.allclose(model(x, t, cond), model(x, t, other))


def test_condition_drop_replaces_user_and_emotion(layout, centres, tiny_cfg):
    model = build(layout, centres, tiny_cfg)
    randomise(model)
    x, t, cond = _inputs(tiny_cfg, model)
    dropped = dataclasses.replace(cond, drop=torch.tensor([True, False]))
    other = dataclasses.replace(dropped, f_pu=torch.randn_like(cond.f_pu), c_emo=torch.randn_like(cond.c_emo))
    with torch.no_grad():
        a, b = model(x, t, dropped), model(x, t, other)
    assert torch.allclose(a[0], b[0], atol=1e-6) and not torch.allclose(a[1], b[1], atol=1e-4)


def test_bad_shapes_are_reported(layout, centres, tiny_cfg):
    model = build(layout, centres, tiny_cfg)
    x, t, cond = _inputs(tiny_cfg, model)
    with pytest.raises(ValueError, match="layout describes"):
        model(x[..., :-1], t, cond)
    with pytest.raises(ValueError, match="avatar audio"):
        model(x, t, dataclasses.replace(cond, audio=cond.audio[:, 1:]))
    with pytest.raises(ValueError, match="overlap"):
        build({"a": (0, 4), "b": (2, 6)}, centres, tiny_cfg)
    with pytest.raises(ValueError, match="unknown model size"):
        ModelConfig(size="huge")


def test_constructor_args_roundtrip_and_sizes(layout, centres):
    small = build(layout, centres, ModelConfig(size="small"))
    n_small = sum(p.numel() for p in small.parameters())
    assert n_small * 4 <= 20e6                                       # ≤ 20 MB of float32 weights
    clone = type(small).from_args(small.constructor_args())
    assert clone.layout == small.layout and clone.cfg == small.cfg
    assert sum(p.numel() for p in clone.parameters()) == n_small
    stale = {**small.constructor_args(), "dims": {**SIZES["small"], "dim": 64}}
    with pytest.raises(ValueError, match="checkpoint was built with"):
        type(small).from_args(stale)


def test_checkpoint_roundtrip_and_errors(layout, centres, tiny_cfg, tmp_path):
    from echo_ihg.errors import InputError
    from echo_ihg.model.checkpoint import load_model, save_model

    model = build(layout, centres, tiny_cfg)
    randomise(model)
    dest = tmp_path / "m.safetensors"
    save_model(dest, model, meta={"stage": 1, "step": 10})
    loaded, _, meta = load_model(dest)
    assert meta == {"stage": 1, "step": 10} and loaded.cfg == tiny_cfg
    x, t, cond = _inputs(tiny_cfg, model)
    with torch.no_grad():
        assert torch.equal(loaded(x, t, cond), model(x, t, cond))
    (tmp_path / "m.json").unlink()                                   # the embedded copy suffices
    assert load_model(dest)[2]["step"] == 10
    with pytest.raises(InputError, match="not found"):
        load_model(tmp_path / "nope.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"garbage")
    with pytest.raises(InputError, match="bad.safetensors"):
        load_model(tmp_path / "bad.safetensors")
