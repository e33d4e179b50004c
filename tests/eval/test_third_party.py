"""Third-party pixel metrics: the loaders build the real architectures and load weight files that
the tests write (randomly initialised); without weights the metrics are skipped with a message."""

from __future__ import annotations

import datetime

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from echo_ihg.errors import InputError
from echo_ihg.eval import third_party as tp
from echo_ihg.eval.nets.i3d import InceptionI3d
from echo_ihg.eval.nets.inception import FIDInceptionV3
from echo_ihg.eval.nets.iresnet import IResNet
from echo_ihg.eval.nets.syncnet import SyncNetColor


def _random_images(rng, n, size=64):
    return [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(n)]


@pytest.fixture(scope="module")
def fid_weights(tmp_path_factory):
    torch.manual_seed(0)
    state = FIDInceptionV3().state_dict()
    state["fc.weight"] = torch.zeros(1008, 2048)   # the real file carries the 1008-way classifier
    state["fc.bias"] = torch.zeros(1008)
    path = tmp_path_factory.mktemp("w") / "inception.safetensors"
    save_file({k: v.contiguous() for k, v in state.items() if not k.endswith("num_batches_tracked")}, str(path))
    return path


def test_every_metric_is_skipped_without_weights():
    rng = np.random.default_rng(0)
    imgs = _random_images(rng, 2)
    for out in (tp.fid(imgs, imgs, None), tp.csim(imgs[0], imgs, None), tp.fvd([], [], None),
                *tp.syncnet_lse(imgs, np.zeros(16000), None).values()):
        assert out.value is None
        assert "skipped" in out.skipped and "pass the path" in out.skipped


def test_fid_runs_on_the_full_inception(fid_weights):
    rng = np.random.default_rng(1)
    real, fake = _random_images(rng, 3), _random_images(rng, 3)
    res = tp.fid(real, fake, fid_weights, image_size=75)
    assert res.name == "FID" and res.skipped is None
    assert np.isfinite(res.value) and res.value > 0
    assert tp.fid(real, real, fid_weights, image_size=75).value == pytest.approx(0.0, abs=1e-6)


def test_missing_unreadable_and_unsafe_files_are_clear_errors(tmp_path):
    imgs = _random_images(np.random.default_rng(2), 2)
    with pytest.raises(InputError, match="not found"):
        tp.fid(imgs, imgs, tmp_path / "nope.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"this is not a checkpoint")
    with pytest.raises(InputError, match="cannot read weights"):
        tp.fid(imgs, imgs, junk)
    unsafe = tmp_path / "unsafe.pth"
    torch.save({"conv.weight": torch.zeros(1), "when": datetime.datetime(2020, 1, 1)}, unsafe)
    with pytest.raises(InputError, match="cannot read weights"):  # weights_only=True refuses the object
        tp.load_weights(unsafe)


def test_mismatched_weights_name_the_problem(tmp_path, fid_weights):
    imgs = _random_images(np.random.default_rng(3), 2)
    wrong = tmp_path / "syncnet.pth"
    torch.save(SyncNetColor().state_dict(), wrong)
    with pytest.raises(InputError, match="FID InceptionV3 architecture: missing"):
        tp.fid(imgs, imgs, wrong)
    # right keys, one wrong shape
    from safetensors.torch import load_file
    state = load_file(str(fid_weights))
    state["Mixed_5b.branch1x1.conv.weight"] = torch.zeros(64, 192, 3, 3)
    bad = tmp_path / "bad.safetensors"
    save_file(state, str(bad))
    with pytest.raises(InputError, match=r"shape mismatches \(Mixed_5b.branch1x1.conv.weight"):
        tp.load_network("fid", bad)
    with pytest.raises(InputError, match="iresnet"):
        tp.csim(imgs[0], imgs, wrong)


def test_csim_with_a_small_iresnet_checkpoint(tmp_path):
    torch.manual_seed(0)
    net = IResNet((1, 1, 1, 1), width=8, embedding=16, spatial=2)   # 32 px input
    path = tmp_path / "backbone.pth"
    # a training checkpoint: {"state_dict": ...} with DataParallel's "module." prefix
    torch.save({"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}, "epoch": 3}, path)
    model = tp.load_network("csim", path)
    assert model.input_size == 32
    rng = np.random.default_rng(4)
    face, other = _random_images(rng, 2, size=48)
    assert tp.csim(face, [face], path).value == pytest.approx(1.0, abs=1e-6)
    both = tp.csim(face, [face, other], path).value
    assert -1.0 <= both < 1.0


def test_syncnet_lse_runs_on_the_full_syncnet(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "lipsync_expert.pth"
    torch.save({"state_dict": SyncNetColor().state_dict(), "global_step": 1}, path)
    rng = np.random.default_rng(5)
    faces = np.stack(_random_images(rng, 24, size=64))
    audio = rng.normal(0, 0.1, 24 * 640)
    res = tp.syncnet_lse(faces, audio, path)
    assert np.isfinite(res["LSE-D"].value) and res["LSE-D"].value >= 0
    assert res["LSE-C"].value >= 0


def test_wav2lip_mel_shape_and_range():
    t = np.arange(16000) / 16000
    mel = tp.wav2lip_mel(0.5 * np.sin(2 * np.pi * 440 * t))
    assert mel.shape == (81, 80)                 # 1 + 16000 // 200 frames at 80 Hz
    assert mel.min() >= -4 and mel.max() <= 4
    assert np.argmax(mel[40]) == np.argmax(mel[41])   # a steady tone stays in one band


def test_fvd_runs_on_the_full_i3d(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "rgb_imagenet.pt"
    torch.save(InceptionI3d(400).state_dict(), path)
    rng = np.random.default_rng(6)
    real = [rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8) for _ in range(2)]
    fake = [rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8) for _ in range(2)]
    res = tp.fvd(real, fake, path, clip_len=8, size=32)
    assert np.isfinite(res.value) and res.value >= 0
    assert tp.fvd(real, real, path, clip_len=8, size=32).value == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="at least 2 clips"):
        tp.fvd(real[:1], fake, path, clip_len=16, size=32)
