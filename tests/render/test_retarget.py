"""Retargeting a different person's motion onto the portrait."""

from __future__ import annotations

import numpy as np
import pytest

from echo_ihg.errors import InputError
from echo_ihg.motion.attributes import facial_attributes
from echo_ihg.render import edits
from echo_ihg.render.retarget import retarget
from echo_ihg.tracking.face_mesh import track_image


@pytest.fixture(scope="module")
def faces(astronaut, hopper):
    return track_image(astronaut), track_image(hopper)


def _driver(hop: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.stack([hop, edits.open_mouth(hop, 0.08, size), edits.rotate_head(hop, 15, 0, 0, size),
                     edits.smile(hop, 0.05, size)])


def test_same_person_is_identity(faces):
    astro, _ = faces
    motion = np.stack([edits.open_mouth(astro, 0.06, (512, 512)), edits.rotate_head(astro, -12, 5, 0, (512, 512))])
    out = retarget(motion, astro, driver_neutral=astro)
    assert np.abs(out[..., :2] - motion[..., :2]).max() * 512 < 0.05


def test_expressions_and_pose_transfer(faces):
    astro, hop = faces
    size = (512, 600)
    drv = _driver(hop, size)
    out = retarget(drv, astro, driver_neutral=hop, driver_aspect=512 / 600)
    a_drv = facial_attributes(drv, 512 / 600)
    a_out = facial_attributes(out)
    a_por = facial_attributes(astro[None])
    # changes relative to the neutral transfer (attributes are normalised by the face's own size)
    for name, k in (("mouth_open", 1), ("head_yaw", 2), ("smile", 3)):
        want = a_drv[name][k] - a_drv[name][0]
        got = a_out[name][k] - a_por[name][0]
        print(f"{name}: driver change {want:+.3f}, retargeted change {got:+.3f}")
        assert got == pytest.approx(want, rel=0.25, abs=0.02)
    # the first frame (driver neutral) gives the portrait's own face back
    assert np.abs(out[0, :, :2] - astro[:, :2]).max() * 512 < 0.5


def test_default_neutral_and_bad_input(faces):
    astro, hop = faces
    drv = np.stack([hop] * 5)
    out = retarget(drv, astro, driver_aspect=512 / 600)
    assert out.shape == (5, 478, 3) and np.isfinite(out).all()
    with pytest.raises(InputError):
        retarget(drv[:, :400], astro)
    with pytest.raises(InputError):
        retarget(drv, astro, valid=np.zeros(5, bool))
