"""Motion codec: exact inverse, round trip on real tracked faces (errors in pixels), persistence, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from echo_ihg.errors import InputError
from echo_ihg.motion.canonical import canonical_landmarks
from echo_ihg.motion.codec import CodecConfig, MotionCodec, canonical_points, default_codec, neutral_from_sequence
from echo_ihg.motion.pose import centre_depth
from echo_ihg.motion.regions import REGION_NAMES
from echo_ihg.motion.sample_faces import tracked_sample_faces

FULL = CodecConfig(components=(10_000,) * len(REGION_NAMES))
PX = 512  # errors are reported in pixels of a 512-px-wide frame


def _random_pose(lm: np.ndarray, rng: np.random.Generator, spread: float = 0.25) -> np.ndarray:
    """Rotate (3D, about the face centroid), scale and shift image-space landmarks (T, 478, 3)."""
    rot = Rotation.from_rotvec(rng.normal(0, spread, (len(lm), 3))).as_matrix()
    c = lm[:, :468].mean(1, keepdims=True)
    scale = rng.uniform(0.7, 1.2, (len(lm), 1, 1))
    return np.einsum("tij,tpj->tpi", rot, lm - c) * scale + c + np.array([0.04, -0.03, 0.0])


def _px(rec: np.ndarray, ref: np.ndarray, points=slice(0, 468)) -> np.ndarray:
    """Per-point image-plane error in pixels at 512 px (depth gauge removed from the reference)."""
    return np.linalg.norm((rec - centre_depth(ref))[:, points, :2], axis=-1) * PX


def test_full_components_decode_encode_is_exact():
    rng = np.random.default_rng(0)
    neutral = canonical_landmarks(aspect=16 / 9)
    seqs = [neutral[None] + rng.normal(0, 0.004, (40, 478, 3)) for _ in range(4)]
    codec = MotionCodec.fit(seqs, [neutral] * 4, aspects=[16 / 9] * 4, config=FULL)
    x = neutral[None] + rng.normal(0, 0.004, (6, 478, 3))
    m = codec.encode(x, neutral, aspect=16 / 9)
    assert m.dtype == np.float32 and m.shape == (6, codec.dim)
    rec = codec.decode(m, neutral, aspect=16 / 9)
    assert rec.shape == (6, 478, 3) and rec.dtype == np.float32
    np.testing.assert_allclose(rec[:, :468], centre_depth(x)[:, :468], atol=1e-5)
    # a truncated codec is not exact on the same data (the test can fail)
    small = MotionCodec.fit(seqs, [neutral] * 4, aspects=[16 / 9] * 4, config=CodecConfig(components=(2,) * 7))
    err = np.abs(small.decode(small.encode(x, neutral, 16 / 9), neutral, 16 / 9) - centre_depth(x)).max()
    assert err > 1e-3


def test_layout_covers_the_motion_vector():
    codec = default_codec()
    assert list(codec.layout) == [*REGION_NAMES, "pose", "gaze"]
    assert codec.layout["pose"].stop - codec.layout["pose"].start == 6
    assert codec.layout["gaze"].stop - codec.layout["gaze"].start == 4
    covered = np.concatenate([np.arange(s.start, s.stop) for s in codec.layout.values()])
    assert np.array_equal(covered, np.arange(codec.dim))
    assert codec.feature_std.shape == (codec.dim,) and (codec.feature_std > 0).all()
    faces, _ = tracked_sample_faces()
    m = codec.encode(faces, canonical_landmarks())
    z = codec.normalise(m)
    # the default codec was fitted on these faces (and mirrors): roughly standardised
    assert np.abs(z.mean(0)).max() < 1.0 and 0.3 < z.std(0).mean() < 1.5
    np.testing.assert_allclose(codec.denormalise(z), m, atol=1e-5)


def test_round_trip_on_real_tracked_faces_in_pixels(capsys):
    faces, _ = tracked_sample_faces()
    assert len(faces) >= 90, "MediaPipe should find most sample faces"
    train, test = faces[1::2], faces[0::2]  # held-out faces: the codec never saw them
    posed = _random_pose(test, np.random.default_rng(1))
    neutral = canonical_landmarks()
    rows, results = [], {}
    for label, comps in [("1/region", (1,) * 7), ("4/region", (4,) * 7), ("default", CodecConfig().components),
                         ("16/region", (16,) * 7), ("full", FULL.components)]:
        codec = MotionCodec.fit([f[None] for f in train], [neutral] * len(train),
                                config=CodecConfig(components=comps))
        for name, data in (("held-out", test), ("held-out+pose", posed)):
            err = _px(codec.decode(codec.encode(data, neutral), neutral), data)
            results[label, name] = err
            rows.append(f"{label:>10} D={codec.dim:4d} {name:>14}: mean {err.mean():6.3f} px  "
                        f"p95 {np.percentile(err, 95):6.3f} px  max {err.max():6.3f} px")
    # with each face's own neutral only pose, gaze and irises are exercised: that part must be exact
    codec = default_codec()
    own = np.stack([codec.decode(codec.encode(f[None], f), f)[0] for f in posed])
    own_iris = _px(own, posed, slice(468, 478))
    rows.append(f"{'own neutral':>10} D={codec.dim:4d} {'held-out+pose':>14}: face mean "
                f"{_px(own, posed).mean():.3f} px, iris mean {own_iris.mean():.4f} px")
    with capsys.disabled():
        print(f"\ncodec round trip on {len(test)} held-out real faces (fit on {len(train)} + mirrors), "
              f"canonical neutral, 468 face points, pixels at {PX} px:\n  " + "\n  ".join(rows))
    assert results["full", "held-out+pose"].max() < 1e-2
    assert results["default", "held-out"].mean() < 2.5 and results["default", "held-out+pose"].mean() < 2.5
    assert results["1/region", "held-out"].mean() > results["default", "held-out"].mean()
    # uncentred PCA: zero expression is representable at any truncation, so only float error remains
    assert own_iris.max() < 1e-2 and _px(own, posed).max() < 1e-2


def test_neutral_from_sequence_recovers_the_neutral_face():
    faces, _ = tracked_sample_faces()
    neutral = faces[0].astype(np.float64)
    rng = np.random.default_rng(2)
    seq = _random_pose(np.repeat(neutral[None], 30, 0), rng, spread=0.15)
    from echo_ihg.motion.regions import region_index

    jaw = region_index()["lips_jaw"]
    lower = jaw[neutral[jaw, 1] > neutral[14, 1]]
    seq[:10, lower, 1] += 0.03  # a third of the frames talk (mouth open)
    est = neutral_from_sequence(seq)
    assert est.shape == (478, 3) and est.dtype == np.float32
    # same shape as the true neutral once pose is removed (the open-mouth frames were ignored) ...
    q_est = canonical_points(est[None])[0][0]
    q_true = canonical_points(neutral[None])[0][0]
    assert np.abs(q_est - q_true)[:468].max() < 1e-3
    # ... and placed frontally: no head rotation left
    from echo_ihg.motion.pose import estimate_pose

    np.testing.assert_allclose(estimate_pose(est).rotation[0], np.eye(3), atol=1e-4)
    seq[3] = np.nan  # invalid frames may hold NaN
    mask = np.ones(len(seq), bool)
    mask[3] = False
    q_masked = canonical_points(neutral_from_sequence(seq, mask)[None])[0][0]
    assert np.abs(q_masked - q_true)[:468].max() < 1e-3
    with pytest.raises(InputError, match="NaN"):
        neutral_from_sequence(seq)
    with pytest.raises(InputError, match="no valid frame"):
        neutral_from_sequence(seq, valid=np.zeros(len(seq), bool))


def test_valid_mask_holds_the_nearest_valid_frame():
    faces, _ = tracked_sample_faces()
    seq = np.stack([faces[0], faces[0], faces[2], faces[2]]).copy()
    seq[1] = np.nan
    seq[2] = 0.0
    codec = default_codec()
    m = codec.encode(seq, faces[0], valid=np.array([True, False, False, True]))
    np.testing.assert_allclose(m[1], m[0])
    np.testing.assert_allclose(m[2], m[3])


def test_save_load_round_trip(tmp_path):
    faces, _ = tracked_sample_faces()
    codec = MotionCodec.fit([faces[:40]], config=CodecConfig(components=(5, 3, 3, 2, 2, 3, 3), gaze=False))
    path = tmp_path / "codec.safetensors"
    codec.save(path)
    assert path.with_suffix(".json").is_file()
    back = MotionCodec.load(path)
    assert back.config == codec.config and back.layout == codec.layout and "gaze" not in back.layout
    m1, m2 = codec.encode(faces[40:45], faces[0]), back.encode(faces[40:45], faces[0])
    np.testing.assert_array_equal(m1, m2)
    np.testing.assert_array_equal(codec.decode(m1, faces[0]), back.decode(m2, faces[0]))
    # deterministic fit
    again = MotionCodec.fit([faces[:40]], config=codec.config)
    np.testing.assert_array_equal(again.encode(faces[40:45], faces[0]), m1)


def test_load_rejects_missing_and_corrupt_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        MotionCodec.load(tmp_path / "nope.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(InputError, match="bad.safetensors"):
        MotionCodec.load(bad)


def test_bad_input_raises_input_error():
    codec = default_codec()
    faces, _ = tracked_sample_faces()
    nan = faces[:3].copy()
    nan[1, 5, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        codec.encode(nan, faces[0])
    with pytest.raises(InputError, match="shape"):
        codec.encode(faces[:3, :468], faces[0])
    with pytest.raises(InputError, match="shape"):
        codec.encode(faces[:3], faces[:2])
    with pytest.raises(InputError, match="shape"):
        codec.decode(np.zeros((2, codec.dim + 1)), faces[0])
    with pytest.raises(InputError, match="NaN"):
        codec.decode(np.full((2, codec.dim), np.nan), faces[0])
    with pytest.raises(InputError, match="degenerate"):
        codec.encode(np.zeros((2, 478, 3)), faces[0])
    with pytest.raises(InputError, match="aspect"):
        codec.encode(faces[:2], faces[0], aspect=0.0)
    with pytest.raises(InputError):
        CodecConfig(components=(1, 2))


def test_fit_memory_bound_strides_frames():
    faces, _ = tracked_sample_faces()
    clips = [np.repeat(faces[i][None], 30, 0) + np.random.default_rng(i).normal(0, 1e-3, (30, 478, 3))
             for i in range(3)]
    codec = MotionCodec.fit(clips, config=CodecConfig(components=(2,) * 7, max_fit_frames=40))
    assert 30 <= codec.fit_info["n_frames"] <= 46  # 3 clips x 2 (mirrors) x ~7 frames
    full = MotionCodec.fit(clips, config=CodecConfig(components=(2,) * 7))
    assert full.fit_info["n_frames"] == 180


def test_round_trip_report_in_pixels():
    from echo_ihg.motion.report import round_trip_errors

    faces, _ = tracked_sample_faces()
    own = round_trip_errors(faces[:1], faces[0])
    canon = round_trip_errors(faces[:1], canonical_landmarks())
    assert own["dim"] == default_codec().dim and own["face_max_px"] < 0.01 < canon["face_mean_px"] < 3.0
    wide = round_trip_errors(faces[:1], canonical_landmarks(), width_px=1024)
    assert wide["face_mean_px"] == pytest.approx(2 * canon["face_mean_px"], rel=1e-4)


def test_zero_expression_decodes_to_the_neutral_face():
    faces, _ = tracked_sample_faces()
    codec = default_codec()
    m = codec.encode(faces[3:4], faces[3])
    for name in REGION_NAMES:
        assert np.abs(m[0, codec.layout[name]]).max() < 1e-6
    centred = MotionCodec.fit([f[None] for f in faces[:30]], [canonical_landmarks()] * 30,
                              config=CodecConfig(centred=True))
    assert np.abs(centred.encode(faces[3:4], faces[3])[0, :centred.layout["pose"].start]).max() > 1e-3


def test_gaze_change_survives_the_codec():
    faces, _ = tracked_sample_faces()
    face = faces[0].astype(np.float64)
    looked = face.copy()
    from echo_ihg.motion import topology as topo

    looked[np.r_[topo.LEFT_IRIS, topo.RIGHT_IRIS], 0] += 0.004  # 2 px at 512 px, towards image right
    codec = default_codec()
    m0, m1 = codec.encode(face[None], face), codec.encode(looked[None], face)
    gz = codec.layout["gaze"]
    assert (m1[0, gz][[0, 2]] > m0[0, gz][[0, 2]] + 0.05).all()  # x of both eyes
    rec = codec.decode(m1, face)
    np.testing.assert_allclose(rec[0, [468, 473], :2], looked[[468, 473], :2], atol=2e-5)


def test_aspect_is_handled():
    faces, _ = tracked_sample_faces()
    face = faces[0].astype(np.float64)
    wide = face.copy()
    wide[:, 1] *= 16 / 9  # the same face in a 16:9 frame: y normalised by a smaller height
    codec = default_codec()
    m_sq, m_wide = codec.encode(face[None], face), codec.encode(wide[None], wide, aspect=16 / 9)
    np.testing.assert_allclose(m_wide, m_sq, atol=1e-5)
    np.testing.assert_allclose(codec.decode(m_wide, wide, aspect=16 / 9)[0, :468], centre_depth(wide)[:468],
                               atol=1e-5)
