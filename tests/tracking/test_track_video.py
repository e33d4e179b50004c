"""Video tracking: motion followed, short gaps filled, long gaps masked, one face followed, bad files."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from echo_ihg.errors import InputError, NoFaceError
from echo_ihg.io.media import iter_frames_at_fps, write_mp4, write_wav
from echo_ihg.motion.topology import NOSE_TIP
from echo_ihg.tracking.face_mesh import TrackerConfig, track_frames, track_video
from echo_ihg.tracking.gaps import Gap

from .conftest import BLANK, SIZE, expected_points, two_face_frames


def _nose_error(result, astronaut_landmarks, mats) -> np.ndarray:
    """Per-frame distance (px) between the tracked nose tip and where the clip put it."""
    want = expected_points(astronaut_landmarks, NOSE_TIP, mats)
    got = result.landmarks[:, NOSE_TIP, :2] * np.array([result.width, result.height])
    return np.linalg.norm(got - want, axis=1)


def test_moving_face_is_followed(make_clip, astronaut_landmarks):
    path, mats = make_clip(n=50)
    res = track_video(path, progress=False)
    err = _nose_error(res, astronaut_landmarks, mats)
    print(f"\nmoving clip: {res.valid.sum()}/{res.n_frames} valid; nose tip error mean {err.mean():.2f} px, "
          f"max {err.max():.2f} px (face ≈ 60 px wide, moving ±14 px)")
    assert res.landmarks.shape == (50, 478, 3) and res.landmarks.dtype == np.float32
    assert res.valid.dtype == bool and res.valid.all() and res.gaps == []
    assert (res.width, res.height, res.fps) == (SIZE, SIZE, 25.0)
    assert err.mean() < 2.0 and err.max() < 4.0


def test_video_is_resampled_to_25_fps(tmp_path, astronaut, astronaut_landmarks):
    from .conftest import moving_frames

    frames, mats = moving_frames(astronaut, n=20)
    path = tmp_path / "ten_fps.mp4"
    write_mp4(path, frames, fps=10)  # 2 s at 10 fps
    res = track_video(path, progress=False)
    # iter_frames_at_fps gives the last source frame 1/25 s, hence 48 rather than 50 frames
    assert res.n_frames == sum(1 for _ in iter_frames_at_fps(path, 25)) and 48 <= res.n_frames <= 50
    assert res.valid.all()
    # output frame k shows the source frame nearest k/25 s: the track must follow that timing
    src = np.minimum(np.round(np.arange(res.n_frames) * 10 / 25 + 1e-6).astype(int), 19)
    err = _nose_error(res, astronaut_landmarks, mats[src])
    assert err.mean() < 2.0, err


def test_short_gap_is_interpolated(make_clip, astronaut_landmarks):
    path, mats = make_clip(n=50, blank=range(20, 23))
    res = track_video(path, progress=False)
    assert res.gaps == [Gap(20, 23, True)]
    assert res.valid.all()
    err = _nose_error(res, astronaut_landmarks, mats)[20:23]
    print(f"\nshort gap: interpolated nose tip error {err.round(2)} px")
    assert err.max() < 5.0
    # linear between the neighbours
    np.testing.assert_allclose(res.landmarks[21], (2 * res.landmarks[19] + 2 * res.landmarks[23]) / 4,
                               atol=1e-5)


def test_long_gap_is_masked_and_reported(make_clip, caplog):
    path, _ = make_clip(n=50, blank=range(15, 35))
    with caplog.at_level(logging.WARNING, logger="echo_ihg.tracking"):
        res = track_video(path, progress=False)
    assert res.gaps == [Gap(15, 35, False)]
    assert not res.valid[15:35].any() and res.valid[:15].all() and res.valid[35:].all()
    assert np.isfinite(res.landmarks).all()
    np.testing.assert_array_equal(res.landmarks[15], res.landmarks[14])   # held, not invented
    np.testing.assert_array_equal(res.landmarks[34], res.landmarks[35])
    message = caplog.text
    assert str(path) in message and "0.60–1.40 s" in message and "masked" in message
    # a larger max_gap interpolates the same gap
    res2 = track_video(path, progress=False, max_gap=20)
    assert res2.gaps == [Gap(15, 35, True)] and res2.valid.all()


def test_gap_at_start_is_masked(astronaut):
    from .conftest import moving_frames

    frames, _ = moving_frames(astronaut, n=20, blank=range(0, 2))
    res = track_frames(frames, progress=False)
    assert res.gaps == [Gap(0, 2, False)] and res.valid.sum() == 18
    np.testing.assert_array_equal(res.landmarks[0], res.landmarks[2])


def test_video_without_face(tmp_path):
    path = tmp_path / "wall.mp4"
    write_mp4(path, [np.full((SIZE, SIZE, 3), BLANK, np.uint8)] * 20)
    with pytest.raises(NoFaceError) as err:
        track_video(path, progress=False)
    assert str(path) in str(err.value) and "no face found in any of the 20 frames" in str(err.value)


def test_largest_face_is_chosen_and_followed(astronaut):
    # left head large at first; the right one grows until it is much larger: the left one stays followed
    n = 30
    frames = two_face_frames(astronaut, [(0.9, 0.5 + 0.6 * k / (n - 1)) for k in range(n)])
    res = track_frames(frames, progress=False)
    x = res.landmarks[:, NOSE_TIP, 0]
    assert res.valid.all() and (x < 0.5).all(), x
    # a per-frame "largest face" would have switched: the last frame alone picks the right face
    from echo_ihg.tracking.face_mesh import track_image

    assert track_image(frames[-1])[NOSE_TIP, 0] > 0.5
    # larger face on the right at the start: it is chosen
    frames = two_face_frames(astronaut, [(0.6, 1.0)] * 5)
    assert (track_frames(frames, progress=False).landmarks[:, NOSE_TIP, 0] > 0.5).all()


def test_followed_face_survives_occlusion_next_to_another_face(astronaut):
    scales = [(0.0 if 15 <= k < 20 else 1.0, 0.6) for k in range(50)]
    frames = two_face_frames(astronaut, scales)
    res = track_frames(frames, progress=False)
    assert res.gaps == [Gap(15, 20, True)]
    assert (res.landmarks[:, NOSE_TIP, 0] < 0.5).all()
    # max_faces=1: MediaPipe keeps tracking the other face after the occlusion and never looks again
    one = track_frames(frames, progress=False, config=TrackerConfig(max_faces=1))
    assert one.masked_gaps and (one.landmarks[-1, NOSE_TIP, 0] > 0.5)


def test_background_face_is_not_taken_over(astronaut):
    # the followed face leaves for 40 frames (longer than reacquire_after); a small face stays visible
    scales = [(0.0 if 10 <= k < 50 else 1.0, 0.35) for k in range(60)]
    res = track_frames(two_face_frames(astronaut, scales), progress=False)
    assert res.gaps == [Gap(10, 50, False)]
    assert (res.landmarks[res.valid, NOSE_TIP, 0] < 0.5).all()


def test_frames_must_keep_their_size(astronaut):
    frames = [np.zeros((64, 64, 3), np.uint8), np.zeros((32, 64, 3), np.uint8)]
    with pytest.raises(InputError, match="frame 1 is 64×32"):
        track_frames(frames, progress=False, source="cam.mp4")
    with pytest.raises(InputError, match="no video frames"):
        track_frames([], progress=False)


def test_missing_and_non_media_files(tmp_path):
    with pytest.raises(InputError, match="file not found") as err:
        track_video(tmp_path / "nope.mp4", progress=False)
    assert "nope.mp4" in str(err.value)
    junk = tmp_path / "notes.mp4"
    junk.write_text("this is not a video\n" * 20)
    with pytest.raises(InputError, match="not a readable audio/video file") as err:
        track_video(junk, progress=False)
    assert str(junk) in str(err.value)
    wav = tmp_path / "voice.wav"
    write_wav(wav, np.zeros(16000, np.float32))
    with pytest.raises(InputError, match="has no video stream"):
        track_video(wav, progress=False)


def test_truncated_mp4_without_index_is_a_clear_error(make_clip):
    path, _ = make_clip(n=30)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 6 // 10])  # write_mp4 puts the index (moov) at the end: cut off
    with pytest.raises(InputError, match="not a readable audio/video file") as err:
        track_video(path, progress=False)
    assert str(path) in str(err.value)


def test_truncated_streamable_mp4_recovers_with_warning(tmp_path, astronaut, caplog, encode_video):
    from .conftest import moving_frames

    frames, _ = moving_frames(astronaut, n=50)
    rng = np.random.default_rng(0)
    path = tmp_path / "faststart.mp4"
    # noise: every frame costs bytes, so a cut loses frames evenly
    noisy = (np.clip(f.astype(np.int16) + rng.integers(-20, 20, f.shape), 0, 255).astype(np.uint8) for f in frames)
    encode_video(path, noisy, container="mp4", options={"movflags": "faststart"})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 7 // 10])
    with caplog.at_level(logging.WARNING):
        res = track_video(path, progress=False)
    print(f"\ntruncated to 70 %: {res.n_frames} of 50 frames decoded and tracked")
    assert 15 < res.n_frames < 45 and res.valid.all()
    assert "truncated" in caplog.text and str(path) in caplog.text


def test_small_video_is_tracked(tmp_path, astronaut):
    import cv2

    from .conftest import moving_frames

    frames, _ = moving_frames(astronaut, n=10)
    small = [cv2.resize(f, (96, 96), interpolation=cv2.INTER_AREA) for f in frames]
    res = track_frames(small, progress=False)
    assert res.valid.all() and (res.width, res.height) == (96, 96)


def test_single_face_fast_path_hands_back_when_another_face_takes_over(astronaut):
    from echo_ihg.tracking.face_mesh import FaceTracker

    # alone for 30 frames (fast path on), a larger face joins, ours is hidden for 5 frames, then back
    scales = [(0.8, 0.0)] * 30 + [(0.8, 1.1)] * 5 + [(0.0, 1.1)] * 5 + [(0.8, 1.1)] * 20
    frames = two_face_frames(astronaut, scales)
    xs, modes = [], []
    with FaceTracker(TrackerConfig(fast_path_after=25)) as tracker:
        for f in frames:
            lm = tracker.process(f)
            xs.append(np.nan if lm is None else lm[NOSE_TIP, 0])
            modes.append(tracker._on_single)
    xs = np.array(xs)
    assert modes[29] and not modes[-1]           # switched to one face, and back to all faces
    assert np.isnan(xs[35:40]).all() and (xs[~np.isnan(xs)] < 0.5).all() and not np.isnan(xs[40:]).any()
    res = track_frames(frames, progress=False)
    slow = track_frames(frames, progress=False, config=TrackerConfig(fast_path_after=0))
    assert res.gaps == slow.gaps == [Gap(35, 40, True)]
    diff = np.abs(res.landmarks - slow.landmarks)[:, :, :2] * np.array([res.width, res.height])
    print(f"\nfast path vs multi-face graph only: mean {diff.mean():.2f} px, max {diff.max():.2f} px")
    assert diff.mean() < 1.0 and diff.max() < 10.0  # same face (ROI history differs slightly)
