"""REACT 2025 (MARS) adapter: speaker|listener/sessionN/<recording> across modality folders."""

from __future__ import annotations

import numpy as np
import pytest

from echo_ihg.data.adapters import prepare_dataset
from echo_ihg.data.session import validate_session

REC = "Camera-2024-06-21-103121-103102"


def _recording(split_dir, role, session, rec, img, gen, coeff_shape=None, n=9, attr_width=25, flip=False):
    gen.write_mp4(split_dir / "video-face-crop" / role / session / f"{rec}.mp4", gen.frames(img, n, flip=flip), fps=30)
    gen.write_wav(split_dir / "audio" / role / session / f"{rec}.wav",
                  gen.tone(n / 30, 16_000, 400.0 if role == "speaker" else 250.0, start=0.05), 16_000)
    rng = np.random.default_rng(0)
    attrs = rng.random((n, attr_width)).astype(np.float32)
    coeffs = rng.normal(0, 1, coeff_shape or (n, 58)).astype(np.float32)
    for folder, arr in (("facial-attributes", attrs), ("coefficients", coeffs)):
        path = split_dir / folder / role / session / f"{rec}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, arr)
    return attrs, coeffs


def test_speaker_listener_pairs_keep_attributes_and_coefficients(tmp_path, img, gen):
    root, out = tmp_path / "data", tmp_path / "out"
    split = root / "val"
    a_attr, a_coef = _recording(split, "speaker", "session3", REC, img, gen)
    b_attr, b_coef = _recording(split, "listener", "session3", REC, img, gen, coeff_shape=(9, 1, 58), flip=True)
    # a second recording whose listener attributes have the wrong width, and one without a listener
    _recording(split, "speaker", "session3", "Camera-B", img, gen, n=4)
    _recording(split, "listener", "session3", "Camera-B", img, gen, n=4, attr_width=17)
    _recording(split, "speaker", "session4", "Camera-C", img, gen, n=4)
    report = prepare_dataset("react", root, out)
    sid = f"react_val_session3_{REC}"
    assert report.written == [sid]
    reasons = {s.session_id: s.reason for s in report.skipped}
    bad = reasons["react_val_session3_Camera-B"]
    assert "facial-attributes/listener/session3/Camera-B.npy" in bad and "(4, 17)" in bad
    assert "listener video" in reasons["react_val_session4_Camera-C"]
    s = validate_session(out / "val" / sid)
    assert s.meta["appropriate_group"] == "val/session3" and s.meta["source"] == "react2025"
    assert s.meta["participants"]["A"]["role"] == "speaker" and s.meta["participants"]["B"]["role"] == "listener"
    np.testing.assert_array_equal(s.A.extra["facial_attributes"], a_attr)
    np.testing.assert_array_equal(s.A.extra["coefficients"], a_coef)
    np.testing.assert_array_equal(s.B.extra["coefficients"], b_coef[:, 0])  # (T, 1, 58) squeezed to (T, 58)
    assert s.T == 8 and np.asarray(s.A.valid).all() and np.asarray(s.B.valid).all()
    assert s.A.vad.shape == (8,) and s.meta["participants"]["B"]["vad_source"] == "estimated"


def test_nan_coefficient_rows_mark_frames_invalid(tmp_path, img, gen):
    root, out = tmp_path / "data", tmp_path / "out"
    split = root / "train"
    _recording(split, "speaker", "session0", REC, img, gen, n=10)
    _, coef = _recording(split, "listener", "session0", REC, img, gen, n=10)
    coef[5] = np.nan  # the 3DMM fit failed on source frame 5
    np.save(split / "coefficients" / "listener" / "session0" / f"{REC}.npy", coef)
    prepare_dataset("react", root, out)
    s = validate_session(out / "train" / f"react_train_session0_{REC}")
    src = np.floor(np.arange(s.T) / 25 * 30 + 0.5).astype(int)
    np.testing.assert_array_equal(np.asarray(s.B.valid), src != 5)
    assert np.isnan(s.B.extra["coefficients"][5]).all()  # kept verbatim


def test_missing_layout_is_a_clear_error(tmp_path):
    from echo_ihg.errors import InputError

    with pytest.raises(InputError, match="video-face-crop"):
        prepare_dataset("react", tmp_path, tmp_path / "out")
