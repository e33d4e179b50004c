"""Longer tracking checks (pytest -m slow): all 100 tiny LFW faces, and a 30-s clip with planted gaps."""

from __future__ import annotations

import numpy as np
import pytest

from echo_ihg.errors import NoFaceError
from echo_ihg.io.media import write_mp4
from echo_ihg.tracking.face_mesh import track_image, track_video
from echo_ihg.tracking.gaps import Gap

from .conftest import moving_frames

pytestmark = pytest.mark.slow


def test_all_tiny_lfw_faces():
    from skimage import data

    found = 0
    for f in data.lfw_subset()[:100]:
        try:
            track_image((f * 255).round().astype(np.uint8))
            found += 1
        except NoFaceError:
            pass
    print(f"\nLFW raw 25×25: {found}/100 detected")
    assert found >= 95


def test_planted_gaps_are_reported_exactly(tmp_path, astronaut):
    rng = np.random.default_rng(1)
    n, planted, k = 750, [], 20
    while k < n - 40:  # gaps of 1..40 frames, at least 10 frames apart
        length = int(rng.integers(1, 41))
        planted.append((k, k + length))
        k += length + int(rng.integers(10, 60))
    blank = {i for a, b in planted for i in range(a, b)}
    frames, _ = moving_frames(astronaut, n, blank=range(0))
    frames = [np.full_like(f, 200) if i in blank else f for i, f in enumerate(frames)]
    path = tmp_path / "long.mp4"
    write_mp4(path, frames)
    res = track_video(path, progress=False)
    want = [Gap(a, b, b - a <= 5) for a, b in planted]
    print(f"\n{len(planted)} planted gaps, {sum(g.interpolated for g in want)} short; "
          f"{res.valid.sum()}/{n} frames valid")
    assert res.gaps == want
    assert res.valid.sum() == n - sum(b - a for a, b in planted if b - a > 5)
