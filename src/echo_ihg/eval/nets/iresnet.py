"""ArcFace "iresnet" backbone (insightface arcface_torch `iresnet18/34/50/100`) for CSIM.

Depth, width, embedding size and input size are read from the weight file's keys and shapes
(`IResNet.from_state_dict`), so iresnet18..100 checkpoints all load; the published ones take 112x112
RGB faces normalised to [-1, 1] and give 512-d embeddings.
"""

from __future__ import annotations

import math
import re

import torch
from torch import nn


class IBasicBlock(nn.Module):
    """BN -> conv3x3 -> BN -> PReLU -> conv3x3 (stride) -> BN, plus the (downsampled) input."""

    def __init__(self, cin: int, cout: int, stride: int, downsample: nn.Module | None) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin, eps=1e-05)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout, eps=1e-05)
        self.prelu = nn.PReLU(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout, eps=1e-05)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return out + (x if self.downsample is None else self.downsample(x))


class IResNet(nn.Module):
    """layers: blocks per stage (e.g. (3, 4, 14, 3) = iresnet50); width: channels of the first stage
    (64 in the published models; stages use width x 1, 2, 4, 8); spatial: side of the last feature map
    (7 for 112 px input); input (B, 3, 16*spatial, 16*spatial) in [-1, 1] -> (B, embedding)."""

    def __init__(self, layers: tuple[int, int, int, int], width: int = 64, embedding: int = 512,
                 spatial: int = 7) -> None:
        super().__init__()
        self.input_size = 16 * spatial
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width, eps=1e-05)
        self.prelu = nn.PReLU(width)
        cin = width
        for stage, n_blocks in enumerate(layers):
            cout = width * 2 ** stage
            down = nn.Sequential(nn.Conv2d(cin, cout, 1, 2, bias=False), nn.BatchNorm2d(cout, eps=1e-05))
            blocks = [IBasicBlock(cin, cout, 2, down)] + [IBasicBlock(cout, cout, 1, None) for _ in range(n_blocks - 1)]
            setattr(self, f"layer{stage + 1}", nn.Sequential(*blocks))
            cin = cout
        self.bn2 = nn.BatchNorm2d(cin, eps=1e-05)
        self.fc = nn.Linear(cin * spatial * spatial, embedding)
        self.features = nn.BatchNorm1d(embedding, eps=1e-05)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.features(self.fc(self.bn2(x).flatten(1)))

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> "IResNet":
        """Infer the constructor arguments from a checkpoint's keys and shapes (KeyError if not an iresnet)."""
        counts = [0, 0, 0, 0]
        for key in state:
            m = re.match(r"layer([1-4])\.(\d+)\.", key)
            if m:
                counts[int(m.group(1)) - 1] = max(counts[int(m.group(1)) - 1], int(m.group(2)) + 1)
        width = int(state["conv1.weight"].shape[0])
        emb, fc_in = (int(s) for s in state["fc.weight"].shape)
        spatial = int(round(math.sqrt(fc_in / (8 * width))))
        if min(counts) == 0 or spatial * spatial * 8 * width != fc_in:
            raise KeyError(f"not an iresnet layout (blocks per stage {counts}, fc input {fc_in}, width {width})")
        return cls(tuple(counts), width, emb, spatial)
