"""Render fixtures: a second real face (Grace Hopper, public domain, bundled) and shared renderer setups."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def hopper() -> np.ndarray:
    """600×512 RGB portrait of Grace Hopper (bundled asset), uint8."""
    from echo_ihg.assets import default_user_portrait
    from echo_ihg.io.media import read_image

    return read_image(default_user_portrait())
