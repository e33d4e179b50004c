"""Fixtures for the model tests: a codec-like layout, the canonical region centres, tiny models."""

from __future__ import annotations

import pytest
import torch

from echo_ihg.model.config import ModelConfig
from echo_ihg.model.echo import EchoModel
from echo_ihg.model.sdcm import canonical_centres

REGION_SIZES = {"lips_jaw": 6, "left_eye": 3, "right_eye": 3, "left_brow": 2, "right_brow": 2,
                "nose_cheeks": 3, "contour": 4}


def make_layout() -> dict[str, slice]:
    """Like `MotionCodec.layout`: regions, then pose (6) and gaze (4), as slices."""
    layout, start = {}, 0
    for name, k in [*REGION_SIZES.items(), ("pose", 6), ("gaze", 4)]:
        layout[name] = slice(start, start + k)
        start += k
    return layout


def randomise(module: torch.nn.Module, seed: int = 0, scale: float = 0.2, skip: tuple[str, ...] = ()) -> None:
    """Stand-in for trained weights: add noise to every parameter (zero-initialised ones included)
    except those whose name contains one of `skip`."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if not any(s in name for s in skip):
                p.add_(torch.randn(p.shape, generator=g) * scale)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny tensors: a second intra-op thread only adds contention on the shared 2-core machine (10× slower
    under load). Restored after each test so other test folders are unaffected."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def layout() -> dict[str, slice]:
    return make_layout()


@pytest.fixture(scope="session")
def centres() -> dict[str, list[float]]:
    return canonical_centres()


@pytest.fixture()
def tiny_cfg() -> ModelConfig:
    return ModelConfig(size="tiny", chunk_frames=12, prev_frames=8, audio_window=2, history_frames=500,
                       identity_dim=30)


def build(layout, centres, cfg: ModelConfig, seed: int = 0) -> EchoModel:
    torch.manual_seed(seed)
    return EchoModel(layout, centres, cfg)
