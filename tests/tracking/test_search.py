"""Small faces in large frames: tiled search and crop tracking (a 46-px face in a 1280×720 frame)."""

from __future__ import annotations

import numpy as np
import pytest

from echo_ihg.errors import NoFaceError
from echo_ihg.tracking.face_mesh import FaceTracker, TrackerConfig, track_frames, track_image
from echo_ihg.tracking.search import cut_square, square_tiles, square_to_frame

from .conftest import placed


def _error_px(lm: np.ndarray, astronaut_landmarks: np.ndarray, affine: np.ndarray, w: int, h: int) -> float:
    want = np.c_[astronaut_landmarks[:, :2] * 512, np.ones(478)] @ affine.T
    return float(np.abs(lm[:, :2] * [w, h] - want).mean())


def test_tiles_cover_the_frame():
    tiles = square_tiles(720, 1280)
    assert {side for _, _, side in tiles} == {720, 360}
    covered = np.zeros((720, 1280), bool)
    for x0, y0, side in tiles:
        assert 0 <= x0 and x0 + side <= 1280 and 0 <= y0 and y0 + side <= 720
        covered[y0:y0 + side, x0:x0 + side] = True
    assert covered.all()
    assert square_tiles(256, 256) == [] and square_tiles(512, 512) == [(x, y, 256) for y in (0, 128, 256)
                                                                        for x in (0, 128, 256)]


def test_cut_square_and_back():
    rgb = np.arange(40 * 60 * 3, dtype=np.uint32).reshape(40, 60, 3).astype(np.uint8)
    crop = cut_square(rgb, -5, 30, 20)  # sticks out left and bottom: edge pixels repeated
    assert crop.shape == (20, 20, 3)
    np.testing.assert_array_equal(crop[0, 5], rgb[30, 0])
    np.testing.assert_array_equal(crop[0, 0], rgb[30, 0])
    np.testing.assert_array_equal(crop[15, 10], rgb[39, 5])
    pt = np.array([[0.25, 0.5, 0.1]], np.float32)  # crop pixel (5, 10)
    np.testing.assert_allclose(square_to_frame(pt, -5, 30, 20, 60, 40), [[0 / 60, 40 / 40, 0.1 * 20 / 60]])


def test_small_face_in_wide_image(astronaut, astronaut_landmarks):
    frame, affine = placed(astronaut, 0.5, 1280, 720, 420, 330)   # face ≈ 46 px wide
    with pytest.raises(NoFaceError):
        track_image(frame, TrackerConfig(search_every=0))          # the detector alone misses it
    lm = track_image(frame)
    err = _error_px(lm, astronaut_landmarks, affine, 1280, 720)
    print(f"\n46-px face in 1280×720: found by the tiled search, mean landmark error {err:.2f} px")
    assert err < 2.0


def test_small_face_in_wide_video_is_tracked_in_a_crop(astronaut, astronaut_landmarks):
    shots = [placed(astronaut, 0.55, 1280, 720, 400 + 6 * k, 330 + 25 * np.sin(k / 5)) for k in range(30)]
    frames = [f for f, _ in shots]
    with pytest.raises(NoFaceError):
        track_frames(frames[:5], progress=False, config=TrackerConfig(search_every=0))
    res = track_frames(frames, progress=False)
    errs = [_error_px(res.landmarks[k], astronaut_landmarks, a, 1280, 720) for k, (_, a) in enumerate(shots)]
    print(f"\nsmall moving face in 1280×720 video: {res.valid.sum()}/30 valid, "
          f"mean error {np.mean(errs):.2f} px, max {np.max(errs):.2f} px")
    assert res.valid.all() and np.mean(errs) < 1.5 and np.max(errs) < 3.0
    with FaceTracker() as tracker:
        for f in frames[:3]:
            tracker.process(f)
        assert tracker._crop is not None  # tracking runs in a square around the face


def test_small_face_lost_and_found_elsewhere(astronaut, astronaut_landmarks):
    from .conftest import BLANK

    shots = [placed(astronaut, 0.55, 1280, 720, 400, 330) for _ in range(10)]
    shots += [(np.full((720, 1280, 3), BLANK, np.uint8), None)] * 10
    shots += [placed(astronaut, 0.55, 1280, 720, 900, 300) for _ in range(40)]
    res = track_frames([f for f, _ in shots], progress=False)
    gap = res.masked_gaps[0]
    print(f"\nsmall face gone for frames 10–19, back elsewhere: masked {gap.start}–{gap.end}")
    assert len(res.masked_gaps) == 1 and gap.start == 10 and 20 <= gap.end <= 40
    assert res.valid[gap.end:].all()
    assert _error_px(res.landmarks[-1], astronaut_landmarks, shots[-1][1], 1280, 720) < 2.0
