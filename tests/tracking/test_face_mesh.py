"""Face mesh on real faces (skimage's astronaut and LFW faces): detection rate and landmark placement."""

from __future__ import annotations

import numpy as np
import pytest

from echo_ihg.errors import InputError, NoFaceError
from echo_ihg.motion.topology import (CHIN, LEFT_EYE_OUTER, LEFT_IRIS, NOSE_TIP, RIGHT_EYE_OUTER, RIGHT_IRIS,
                                      UPPER_LIP_OUTER)
from echo_ihg.tracking.face_mesh import FaceTracker, TrackerConfig, landmarks_to_array, track_image

# The astronaut's face in skimage.data.astronaut() (512×512), measured by hand on the image, in px:
# the face (hairline to chin, ear to ear) spans x ≈ 175..275, y ≈ 65..185; nose tip ≈ (225, 130).
FACE_BOX = (165, 55, 285, 195)  # x0, y0, x1, y1


def _px(lm: np.ndarray, i: int, size: int = 512) -> np.ndarray:
    return lm[i, :2] * size


def test_astronaut_landmarks_inside_face(astronaut):
    lm = track_image(astronaut)
    assert lm.shape == (478, 3) and lm.dtype == np.float32 and np.isfinite(lm).all()
    x0, y0, x1, y1 = FACE_BOX
    face = lm[:468, :2] * 512
    inside = ((face[:, 0] > x0) & (face[:, 0] < x1) & (face[:, 1] > y0) & (face[:, 1] < y1)).mean()
    nose, chin = _px(lm, NOSE_TIP), _px(lm, CHIN)
    r_eye, l_eye = _px(lm, RIGHT_EYE_OUTER), _px(lm, LEFT_EYE_OUTER)
    r_iris, l_iris = _px(lm, RIGHT_IRIS[0]), _px(lm, LEFT_IRIS[0])
    print(f"\nastronaut: {inside:.1%} of face points inside the face box; nose tip {nose.round(1)}, "
          f"chin {chin.round(1)}, iris R {r_iris.round(1)} L {l_iris.round(1)}")
    assert inside > 0.98
    # anatomy: eyes above nose above lip above chin; the subject's right eye is on the image left
    assert max(r_eye[1], l_eye[1]) < nose[1] < _px(lm, UPPER_LIP_OUTER)[1] < chin[1]
    assert r_eye[0] < nose[0] < l_eye[0]
    assert r_iris[0] < l_iris[0] and 20 < l_iris[0] - r_iris[0] < 80   # interpupillary distance in px
    assert 180 < nose[0] < 260 and 100 < nose[1] < 160


def test_fast_landmark_decoding_matches_protobuf(astronaut):
    import mediapipe as mp

    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True) as fm:
        face = fm.process(astronaut).multi_face_landmarks[0]
    slow = np.array([(p.x, p.y, p.z) for p in face.landmark], np.float32)
    np.testing.assert_array_equal(landmarks_to_array(face), slow)


def test_lfw_faces_detected(lfw_faces):
    found, xs, ys = 0, [], []
    for img in lfw_faces:
        try:
            lm = track_image(img)
        except NoFaceError:
            continue
        found += 1
        xs.append(lm[NOSE_TIP, 0])
        ys.append(lm[NOSE_TIP, 1])
    no_retry = TrackerConfig(image_pad_retry=0)
    found_no_retry = sum(1 for img in lfw_faces if _detects(img, no_retry))
    print(f"\nLFW (200×200): {found}/{len(lfw_faces)} faces detected ({found_no_retry} without the padded "
          f"retry); nose tip x {np.mean(xs):.3f}±{np.std(xs):.3f}, y {np.mean(ys):.3f}±{np.std(ys):.3f}")
    assert found >= 95
    assert found > found_no_retry  # the padded retry finds faces that fill the whole image
    # LFW crops are centred on the face: the nose tip must be near the middle of the image
    assert abs(np.median(xs) - 0.5) < 0.1 and abs(np.median(ys) - 0.55) < 0.15


def test_tiny_lfw_faces_are_upscaled_internally():
    """25×25 faces: found, and (thanks to the internal upscaling) placed as in a 200×200 copy of them."""
    import cv2
    from skimage import data

    tiny = [(f * 255).round().astype(np.uint8) for f in data.lfw_subset()[:20]]  # 25×25 grey
    no_upscale = TrackerConfig(min_image_size=1)
    err_up, err_raw = [], []
    for f in tiny:
        big = cv2.resize(np.repeat(f[:, :, None], 3, 2), (200, 200), interpolation=cv2.INTER_CUBIC)
        if not (_detects(f) and _detects(big)):
            continue
        ref = track_image(big)[:468, :2]
        err_up.append(np.abs(track_image(f)[:468, :2] - ref).mean() * 25)
        err_raw.append(np.abs(track_image(f, no_upscale)[:468, :2] - ref).mean() * 25)
    print(f"\nLFW raw 25×25: {len(err_up)}/20 detected; mean distance to the 200×200 result "
          f"{np.mean(err_up):.3f} px with internal upscaling, {np.mean(err_raw):.3f} px without")
    assert len(err_up) >= 18
    assert np.mean(err_up) < 0.15 < np.mean(err_raw)  # without it: a ~half-pixel bias


def _detects(img, config=None) -> bool:
    try:
        track_image(img, config)
        return True
    except NoFaceError:
        return False


def test_no_face_image_raises(tmp_path):
    import cv2

    blank = np.full((200, 300, 3), 127, np.uint8)
    with pytest.raises(NoFaceError, match="no face found in the 300×200 image"):
        track_image(blank)
    path = tmp_path / "wall.png"
    cv2.imwrite(str(path), blank)
    with pytest.raises(NoFaceError) as err:
        track_image(path)
    assert str(path) in str(err.value)


def test_bad_image_inputs(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        track_image(tmp_path / "missing.png")
    junk = tmp_path / "junk.png"
    junk.write_text("not an image")
    with pytest.raises(InputError, match="not a readable image"):
        track_image(junk)
    with pytest.raises(InputError, match="unsupported image shape"):
        track_image(np.zeros((10, 10, 5), np.uint8))
    with pytest.raises(InputError, match="empty image"):
        track_image(np.zeros((0, 10, 3), np.uint8))


def test_image_variants(astronaut):
    ref = track_image(astronaut)
    grey = track_image(astronaut.mean(axis=2).astype(np.uint8))
    as_float = track_image(astronaut.astype(np.float32) / 255.0)
    assert np.abs(as_float[:, :2] - ref[:, :2]).max() < 0.01
    assert np.abs(grey[:, :2] - ref[:, :2]).mean() < 0.01


def test_config_validation():
    with pytest.raises(InputError, match="max_gap"):
        TrackerConfig(max_gap=-1)
    with pytest.raises(InputError, match="max_faces"):
        TrackerConfig(max_faces=0)
    with pytest.raises(InputError, match="max_gap must be a number \\(whole\\), got 'abc'"):
        TrackerConfig(max_gap="abc")
    with pytest.raises(InputError, match="match_radius must be a number"):
        TrackerConfig(match_radius=None)
    assert TrackerConfig(match_radius=2).match_radius == 2


def test_tracker_close_and_context(astronaut):
    with FaceTracker(static_image_mode=True) as tracker:
        assert tracker.process(astronaut) is not None
    with pytest.raises(RuntimeError):
        tracker.process(astronaut)


def test_a_frame_size_change_is_an_input_error(astronaut):
    from echo_ihg.tracking.face_mesh import track_frames

    with pytest.raises(InputError, match=r"clip.mp4.*frame 2 is 256×256, earlier frames 512×512"):
        track_frames([astronaut, astronaut, astronaut[::2, ::2]], source="clip.mp4")
