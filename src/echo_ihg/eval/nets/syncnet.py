"""SyncNet_color of Wav2Lip (`models/syncnet.py`, the "lip-sync expert" checkpoint `lipsync_expert.pth`):
a face tower over 5 stacked lower-half face crops and an audio tower over a 16-step mel window, each
ending in a 512-d embedding compared by distance.

This is NOT the original SyncNet of Chung & Zisserman (syncnet_python's `syncnet_v2.model`, MFCC input)
that most papers use for LSE-D / LSE-C; scores from the two are not comparable (docs/metrics.md).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvBlock(nn.Module):
    """conv (bias) -> BN -> optional residual -> ReLU; keys `conv_block.0` (conv), `conv_block.1` (BN)."""

    def __init__(self, cin: int, cout: int, kernel, stride, padding, residual: bool = False) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, padding), nn.BatchNorm2d(cout))
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_block(x)
        return F.relu(out + x if self.residual else out)


def _tower(spec) -> nn.Sequential:
    return nn.Sequential(*[ConvBlock(*args) for args in spec])


# (cin, cout, kernel, stride, padding, residual)
_FACE = [(15, 32, 7, 1, 3),
         (32, 64, 5, (1, 2), 1), (64, 64, 3, 1, 1, True), (64, 64, 3, 1, 1, True),
         (64, 128, 3, 2, 1), (128, 128, 3, 1, 1, True), (128, 128, 3, 1, 1, True), (128, 128, 3, 1, 1, True),
         (128, 256, 3, 2, 1), (256, 256, 3, 1, 1, True), (256, 256, 3, 1, 1, True),
         (256, 512, 3, 2, 1), (512, 512, 3, 1, 1, True), (512, 512, 3, 1, 1, True),
         (512, 512, 3, 2, 1), (512, 512, 3, 1, 0), (512, 512, 1, 1, 0)]
_AUDIO = [(1, 32, 3, 1, 1), (32, 32, 3, 1, 1, True), (32, 32, 3, 1, 1, True),
          (32, 64, 3, (3, 1), 1), (64, 64, 3, 1, 1, True), (64, 64, 3, 1, 1, True),
          (64, 128, 3, 3, 1), (128, 128, 3, 1, 1, True), (128, 128, 3, 1, 1, True),
          (128, 256, 3, (3, 2), 1), (256, 256, 3, 1, 1, True), (256, 256, 3, 1, 1, True),
          (256, 512, 3, 1, 0), (512, 512, 1, 1, 0)]


class SyncNetColor(nn.Module):
    """face: (B, 15, 48, 96) = 5 BGR frames (lower half of a 96x96 face crop) in [0, 1];
    mel: (B, 1, 80, 16) Wav2Lip mel window (0.2 s). -> L2-normalised embeddings (B, 512) each."""

    FACE_SHAPE = (15, 48, 96)
    MEL_SHAPE = (1, 80, 16)

    def __init__(self) -> None:
        super().__init__()
        self.face_encoder = _tower(_FACE)
        self.audio_encoder = _tower(_AUDIO)

    def forward(self, mel: torch.Tensor, face: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.audio_encoder(mel).flatten(1)
        v = self.face_encoder(face).flatten(1)
        return F.normalize(a, p=2, dim=1), F.normalize(v, p=2, dim=1)
