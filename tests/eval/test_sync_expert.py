"""The motion lip-sync expert on a toy corpus whose lips follow the audio with known timing:
it must learn to tell aligned from shifted and from mismatched pairs."""

from __future__ import annotations

import numpy as np
import pytest

from echo_ihg.errors import InputError
from echo_ihg.eval import sync_expert as se
from echo_ihg.eval.sync_train import SyncClip, SyncTrainConfig, train_sync_expert, validate_sync_expert


def _toy_clip(rng: np.random.Generator, name: str, t: int = 300, lip_dims: int = 4) -> SyncClip:
    """Speech-like mel: random syllable envelopes in a few bands; lips = a fixed mix of the
    per-frame band energies (no lag), plus noise."""
    env = np.convolve(rng.random(t + 8) ** 3, np.ones(3) / 3, "same")[:t]
    bands = rng.random((t, 3)) * env[:, None]
    mel = np.repeat(np.concatenate([np.repeat(bands, 20, axis=1), np.zeros((t, 20))], 1), 4, axis=0)
    mel = np.log(mel + 1e-3) + 0.05 * rng.normal(size=mel.shape)
    mix = np.array([[1.0, 0.2, 0.0, 0.5], [0.0, 1.0, 0.3, -0.5], [0.3, 0.0, 1.0, 0.2]])[:, :lip_dims]
    lips = bands @ mix + 0.02 * rng.normal(size=(t, lip_dims))
    return SyncClip(name, mel.astype(np.float32), lips.astype(np.float32), env > np.median(env) * 0.5)


@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(0)
    train = [_toy_clip(rng, f"train{i}") for i in range(6)]
    test = [_toy_clip(rng, f"test{i}") for i in range(3)]
    cfg = SyncTrainConfig(steps=150, batch=64, lr=3e-3, hidden=32, embed=16, seed=0)
    model, info = train_sync_expert(train, cfg, show_progress=False)
    return model, info, test


def test_training_lowers_the_loss_and_the_expert_is_validated(trained):
    model, info, test = trained
    assert info["loss_last50"] < 0.7 * info["loss_first50"]
    v = validate_sync_expert(model, test, shift=10)
    assert v["gt"]["offset_hits"] == 1.0                  # aligned clips: best offset 0
    assert v["shifted"]["offset_hits"] == 1.0             # lips 10 frames early: found at +10
    assert v["gt"]["d_zero"] < v["shifted"]["d_zero"] - 0.2
    assert v["gt"]["lse_d"] < v["mismatched"]["lse_d"] - 0.2
    assert v["gt"]["lse_c"] > v["mismatched"]["lse_c"] + 0.1


def test_save_load_round_trip_and_errors(trained, tmp_path):
    model, _, test = trained
    path = tmp_path / "expert.safetensors"
    model.save(path, {"note": "toy"})
    loaded = se.SyncExpert.load(path)
    c = test[0]
    a = se.sync_metrics(model, c.mel, c.lips)
    b = se.sync_metrics(loaded, c.mel, c.lips)
    assert a["lse_d"] == pytest.approx(b["lse_d"], abs=1e-6)
    with pytest.raises(InputError, match="not found"):
        se.SyncExpert.load(tmp_path / "missing.safetensors")
    (tmp_path / "bad.json").write_text('{"format": "something-else"}')
    (tmp_path / "bad.safetensors").write_bytes(b"")
    with pytest.raises(InputError, match="not a sync expert"):
        se.SyncExpert.load(tmp_path / "bad.safetensors")
    with pytest.raises(ValueError, match="lips must be"):
        se.sync_metrics(model, c.mel, c.lips[:, :2])
    with pytest.raises(ValueError, match="mel must be"):
        se.sync_metrics(model, c.mel[:-4], c.lips)


def test_centred_windows_by_hand():
    x = np.arange(4.0)[:, None]
    w = se.centred_windows(x, 3)[..., 0]
    assert w.tolist() == [[0, 0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 3]]   # edges repeated
    mel = np.arange(8.0)[:, None].repeat(2, 1)                           # 2 frames x 4 rows
    mw = se.mel_windows(mel, 1)
    assert mw.shape == (2, 4, 2) and mw[1, :, 0].tolist() == [4, 5, 6, 7]
    with pytest.raises(Exception, match="odd"):
        se.SyncExpertConfig(window=4)


def test_embeddings_are_unit_vectors(trained):
    model, _, test = trained
    v, a = se.embed_sequence(model, test[0].mel, test[0].lips)
    assert v.shape == a.shape == (300, 16)
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)


def test_the_bundled_expert_loads_and_fits_the_bundled_codec():
    from echo_ihg.motion.codec import default_codec

    model = se.default_sync_expert()
    layout = default_codec().layout["lips_jaw"]
    assert model.config.lip_dims == layout.stop - layout.start
    # its recorded held-out validation: ground truth clearly better than shifted / mismatched
    import json
    from echo_ihg.assets import asset_path

    v = json.loads(asset_path("sync_expert.json").read_text())["info"]["validation"]
    assert v["gt"]["offset_hits"] == 1.0 and v["gt"]["d_zero"] < v["shifted"]["d_zero"]


@pytest.mark.slow
def test_the_bundled_expert_on_a_fresh_synthetic_corpus(tmp_path):
    """Generates 5 new synthetic sessions (another seed than the expert's training corpus) and checks
    the bundled expert separates aligned, shifted and mismatched lips on them."""
    generate = pytest.importorskip("echo_ihg.synth.generate")
    from echo_ihg.eval.sync_train import load_clips
    from echo_ihg.motion.codec import default_codec

    generate.generate_corpus(tmp_path, generate.SynthConfig(sessions=5, seconds=30, seed=123, test_every=1))
    clips = load_clips(tmp_path, "test", default_codec())
    v = validate_sync_expert(se.default_sync_expert(), clips)
    assert v["gt"]["offset_hits"] >= 0.8 and v["shifted"]["offset_hits"] >= 0.8
    assert v["gt"]["d_zero"] < v["shifted"]["d_zero"] - 0.3
    assert v["gt"]["lse_d"] < v["mismatched"]["lse_d"] - 0.3
    assert v["gt"]["lse_c"] > v["mismatched"]["lse_c"] + 0.3


def test_lips_of_another_codec_are_converted_into_the_experts_codec():
    """A codec fitted elsewhere (e.g. the default model's, fitted on its training corpus) has another lip
    basis: its coefficients mean nothing to the expert until decoded and re-encoded with the expert's codec."""
    from echo_ihg.motion.codec import CodecConfig, MotionCodec, default_codec
    from echo_ihg.motion.sample_faces import tracked_sample_faces

    expert, mine = se.default_sync_expert(), default_codec()
    faces, _ = tracked_sample_faces()
    other = MotionCodec.fit([faces[:60]], config=CodecConfig(components=(16, 6, 6, 4, 4, 8, 6), gaze=False))
    assert se.same_lips_space(mine, default_codec()) and not se.same_lips_space(mine, other)
    neutral, clip = faces[0], faces[60:90]
    full = mine.encode(clip, neutral)
    want = full[:, mine.layout["lips_jaw"]]
    motion = other.encode(clip, neutral)
    got = se.expert_lips(expert, motion, other, neutral)
    naive = motion[:, other.layout["lips_jaw"]]
    assert got.shape == want.shape
    assert np.abs(got - want).mean() < 0.2 * np.abs(naive - want).mean()
    np.testing.assert_array_equal(se.expert_lips(expert, full, mine, None), want)     # same codec: a slice
    with pytest.raises(ValueError, match="neutral"):
        se.expert_lips(expert, motion, other, None)
