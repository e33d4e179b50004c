"""Model loading for inference: the three checkpoint forms, the default-model lookup, incompatible models."""

from __future__ import annotations

import pytest
import torch

from echo_ihg.errors import EchoError, InputError
from echo_ihg.inference.model_io import default_model_path, load_inference_model, resolve_checkpoint
from echo_ihg.model.checkpoint import save_model
from echo_ihg.model.config import ModelConfig
from echo_ihg.model.echo import EchoModel
from echo_ihg.model.sdcm import canonical_centres
from echo_ihg.motion.codec import default_codec

TINY = ModelConfig(size="tiny", chunk_frames=12, prev_frames=8, audio_window=2, history_frames=500)


def _model(layout=None, cfg=TINY) -> EchoModel:
    torch.manual_seed(0)
    return EchoModel(layout or default_codec().layout, canonical_centres(), cfg)


def test_training_checkpoint_and_exported_folder(tmp_path):
    from echo_ihg.train.checkpoint import export_model, save_checkpoint

    model = _model()
    ema = {k: v + 0.5 for k, v in model.state_dict().items()}
    ckpt = save_checkpoint(tmp_path / "run", 3, model, ema, torch.optim.SGD(model.parameters(), lr=0.1),
                           {"stage": 2}, default_codec(), {})
    exported = export_model(ckpt, tmp_path / "export")
    for path in (ckpt, exported):
        loaded = load_inference_model(path)
        assert loaded.codec.dim == loaded.model.motion_dim
        w = next(iter(loaded.model.state_dict()))
        torch.testing.assert_close(loaded.model.state_dict()[w], ema[w])      # the EMA weights


def test_lone_safetensors_uses_default_codec(tmp_path):
    save_model(tmp_path / "m.safetensors", _model())
    loaded = load_inference_model(tmp_path / "m.safetensors")
    assert loaded.codec.dim == default_codec().dim and not loaded.model.training


def test_layout_mismatch_is_refused(tmp_path):
    layout, start = {}, 0
    for name, k in [("lips_jaw", 4), ("left_eye", 2), ("right_eye", 2), ("left_brow", 2), ("right_brow", 2),
                    ("nose_cheeks", 2), ("contour", 2), ("pose", 6), ("gaze", 4)]:
        layout[name], start = slice(start, start + k), start + k
    save_model(tmp_path / "other.safetensors", _model(layout))
    with pytest.raises(InputError, match="other.safetensors: the model's motion layout"):
        load_inference_model(tmp_path / "other.safetensors")


def test_identity_size_mismatch_is_refused(tmp_path):
    save_model(tmp_path / "small_id.safetensors", _model(cfg=ModelConfig(size="tiny", identity_dim=30)))
    with pytest.raises(InputError, match="identity size is 30"):
        load_inference_model(tmp_path / "small_id.safetensors")


def test_checkpoint_paths(tmp_path, monkeypatch):
    with pytest.raises(InputError, match="missing: checkpoint not found"):
        resolve_checkpoint(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="not a model"):
        load_inference_model(tmp_path / "notes.txt")
    with pytest.raises(InputError, match="no model.json"):
        load_inference_model(tmp_path)
    monkeypatch.setattr("echo_ihg.inference.model_io.DEFAULT_MODEL_DIR", tmp_path / "default_model")
    assert default_model_path() is None
    with pytest.raises(EchoError, match="bundles no default model"):
        resolve_checkpoint(None)
    (tmp_path / "default_model").mkdir()
    (tmp_path / "default_model" / "model.json").write_text("{}")
    assert resolve_checkpoint(None) == tmp_path / "default_model"
