"""SDCM: masks from region centres; lip tokens get avatar-audio updates only; the gate is exposed."""

from __future__ import annotations

import pytest
import torch

from echo_ihg.model.sdcm import SDCM, EntangledFusion, audio_windows, region_masks, window_kv
from tests.model.conftest import randomise

NAMES = ["lips_jaw", "left_eye", "right_eye", "left_brow", "right_brow", "nose_cheeks", "contour", "pose", "gaze"]


def test_masks_follow_distance_from_the_lips(centres):
    m_lip, m_face = region_masks(NAMES, centres, "lips_jaw", 4.0)
    assert m_lip[0] == 1.0 and m_face[0] == 0.0                      # the lips: avatar audio only
    assert torch.allclose(m_lip + m_face, torch.ones(9))
    assert m_lip[7] == 0.0 and m_lip[8] == 0.0                       # pose/gaze: no spatial centre
    assert m_lip[1] == m_lip[2] and m_lip[3] == m_lip[4]             # left/right symmetric
    # nearer regions get more of the lip mask: nose/cheeks > eyes > brows
    assert m_lip[5] > m_lip[1] > m_lip[3] > 0
    sharper, _ = region_masks(NAMES, centres, "lips_jaw", 16.0)
    assert (sharper[1:7] < m_lip[1:7]).all() and sharper[0] == 1.0
    with pytest.raises(ValueError, match="no centre"):
        region_masks(NAMES, centres, "mouth", 4.0)


def _sdcm(centres, dim=16):
    m_lip, _ = region_masks(NAMES, centres, "lips_jaw", 4.0)
    torch.manual_seed(0)
    module = SDCM(dim, 2, m_lip)
    randomise(module, seed=1)                                        # a trained user branch, not zeros
    return module


def test_lip_tokens_are_independent_of_user_context(centres):
    sdcm = _sdcm(centres)
    h = torch.randn(2, 6, 9, 16)
    f_pu = torch.randn(2, 6, 5, 16, requires_grad=True)                # 5 user tokens per frame
    audio = torch.randn(2, 6 + 4, 16, requires_grad=True)              # T = 6 frames, w = 2
    out, g = sdcm(h, f_pu, audio, torch.randn(5, 16))
    assert g.shape == (2, 6, 9) and ((g > 0) & (g < 1)).all()
    lip_grad, = torch.autograd.grad(out[:, :, 0].sum(), f_pu, retain_graph=True)
    assert torch.count_nonzero(lip_grad) == 0                        # exactly zero, not just small
    eye_grad, = torch.autograd.grad(out[:, :, 1].sum(), f_pu, retain_graph=True)
    assert eye_grad.abs().sum() > 1e-3
    frame2, = torch.autograd.grad(out[:, 2, 1].sum(), f_pu, retain_graph=True)
    # frame 2 reads its own user tokens (and, through the gate's 3-frame conv, its neighbours' for the mix)
    assert frame2[:, 2].abs().sum() > 1e-4 and torch.count_nonzero(frame2[:, [0, 4, 5]]) == 0
    lip_audio, = torch.autograd.grad(out[:, :, 0].sum(), audio)
    assert lip_audio.abs().sum() > 1e-3                              # lips are driven by the avatar's audio


def test_entangled_fusion_lets_user_reach_the_lips(centres):
    torch.manual_seed(0)
    fusion = EntangledFusion(16, 2)
    f_pu = torch.randn(1, 6, 5, 16, requires_grad=True)
    out, g = fusion(torch.randn(1, 6, 9, 16), f_pu, torch.randn(1, 10, 16), torch.randn(5, 16))
    grad, = torch.autograd.grad(out[:, :, 0].sum(), f_pu)
    assert g is None and grad.abs().sum() > 1e-4


def test_user_branch_off_and_zero_init_are_the_same_function(centres):
    m_lip, _ = region_masks(NAMES, centres, "lips_jaw", 4.0)
    torch.manual_seed(0)
    fresh = SDCM(16, 2, m_lip)
    randomise(fresh, seed=2, skip=("attn_usr.out",))
    off = SDCM(16, 2, m_lip, user_branch=False)
    off.load_state_dict(fresh.state_dict())
    h, f_pu, audio, win = torch.randn(1, 6, 9, 16), torch.randn(1, 6, 5, 16), torch.randn(1, 10, 16), torch.randn(5, 16)
    a, ga = fresh(h, f_pu, audio, win)
    b, gb = off(h, None, audio, win)
    assert torch.allclose(a, b, atol=1e-6) and torch.allclose(ga, gb, atol=1e-6)


def test_audio_windows_are_local():
    a = torch.arange(10.0).view(1, 10, 1)                            # T = 6 frames with w = 2 margin
    win = audio_windows(a, 2)
    assert win.shape == (1, 6, 5, 1)
    assert win[0, 0, :, 0].tolist() == [0, 1, 2, 3, 4] and win[0, 5, 2, 0] == 7   # centre = frame + w


def test_window_kv_equals_projecting_materialised_windows():
    proj = torch.nn.Linear(16, 32)
    audio, win = torch.randn(2, 10, 16), torch.randn(5, 16)
    direct = proj(audio_windows(audio, 2) + win)                      # (B, T, W, 2D)
    assert torch.allclose(window_kv(proj, audio, win), direct, atol=1e-5)
