import cv2
import numpy as np
import pytest

from echo_ihg.assets import default_portrait
from echo_ihg.errors import NoFaceError
from echo_ihg.inference.stages import face_crop, setup_portrait
from echo_ihg.render.base import RenderConfig
from echo_ihg.render.meshwarp import MeshWarpRenderer


@pytest.fixture(scope="module")
def renderer():
    return MeshWarpRenderer(RenderConfig(size=256))


def test_setup_portrait_whole_image_and_crop(renderer):
    full = setup_portrait(default_portrait(), renderer)
    h, w = full.image.shape[:2]
    assert full.aspect == pytest.approx(w / h)
    assert full.landmarks.shape == (478, 3) and full.state.landmarks.shape == (478, 3)
    crop = setup_portrait(default_portrait(), renderer, crop=True)
    side = crop.image.shape[0]
    assert crop.image.shape == (side, side, 3) and side < min(h, w) and crop.aspect == 1.0
    # the face fills at least ~38 % of the crop's side (tracked again on the crop)
    face = crop.landmarks[:468, :2]
    assert (face.max(0) - face.min(0)).max() >= 0.37
    assert np.all((face > 0) & (face < 1))


def test_face_crop_keeps_a_face_that_already_fills_the_image():
    img = np.zeros((100, 80, 3), np.uint8)
    lm = np.zeros((478, 3), np.float32)
    lm[:468, :2] = np.random.default_rng(0).uniform(0.1, 0.9, (468, 2))   # face ≈ 80 % of the width
    out = face_crop(img, lm)
    assert out.shape == (80, 80, 3)


@pytest.mark.parametrize("crop", [False, True])
def test_setup_portrait_without_a_face_names_the_file(renderer, tmp_path, crop):
    wall = tmp_path / "wall.png"
    cv2.imwrite(str(wall), np.full((256, 256, 3), 128, np.uint8))
    with pytest.raises(NoFaceError, match="wall.png: no face found in the portrait"):
        setup_portrait(wall, renderer, crop=crop)
