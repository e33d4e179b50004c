"""Face crops for the pixel metrics, on a real tracked face."""

from __future__ import annotations

import numpy as np
import pytest

from echo_ihg.eval import face_crops as fc


@pytest.fixture(scope="module")
def astronaut_landmarks(astronaut):
    from echo_ihg.tracking.face_mesh import track_image

    return track_image(astronaut)


def test_arcface_alignment_puts_the_five_points_on_the_template(astronaut, astronaut_landmarks):
    m = fc.arcface_transform(astronaut_landmarks, astronaut.shape)
    pts = fc.five_points(astronaut_landmarks, astronaut.shape)
    mapped = pts @ m[:, :2].T + m[:, 2]
    # a real (here smiling) face is not exactly a scaled template: the least-squares fit leaves a few
    # pixels per point (smile: mouth corners wider and higher; 7 px worst, 5 px mean for this face),
    # nowhere near a wrong point order or mirror (~35 px)
    err = np.linalg.norm(mapped - fc.ARCFACE_TEMPLATE, axis=1)
    assert err.max() < 9.0 and err.mean() < 6.0
    swapped = pts[[1, 0, 2, 4, 3]]   # mirrored point order fits much worse
    assert err.mean() < 0.5 * np.linalg.norm(swapped @ m[:, :2].T + m[:, 2] - fc.ARCFACE_TEMPLATE, axis=1).mean()
    crops = fc.arcface_crops([astronaut], [astronaut_landmarks])
    assert crops.shape == (1, 112, 112, 3) and crops.dtype == np.uint8
    assert crops.std() > 20   # a face, not the black border


def test_box_crops(astronaut, astronaut_landmarks):
    crops = fc.box_crops([astronaut, astronaut], [astronaut_landmarks] * 2, size=96)
    assert crops.shape == (2, 96, 96, 3)
    with pytest.raises(ValueError, match="landmarks"):
        fc.box_crops([astronaut], [np.zeros((10, 3))])
    far = astronaut_landmarks.copy()
    far[:, :2] += 5.0   # every point outside the image
    with pytest.raises(ValueError, match="outside"):
        fc.box_crops([astronaut], [far])
