"""`echo-ihg fit-codec` on landmark files, track folders and sessions."""

from __future__ import annotations

import numpy as np
import pytest

from echo_ihg.cli.main import main
from echo_ihg.motion.codec import MotionCodec
from echo_ihg.motion.sample_faces import tracked_sample_faces


def _clip(rng: np.random.Generator, base: np.ndarray, T: int = 30) -> np.ndarray:
    return (base[None] + rng.normal(0, 0.002, (T, 478, 3))).astype(np.float32)


def test_fit_codec_on_npy_and_track_folders(tmp_path, capsys):
    faces, _ = tracked_sample_faces()
    rng = np.random.default_rng(0)
    np.save(tmp_path / "a.npy", _clip(rng, faces[0]))
    folder = tmp_path / "tracked"
    folder.mkdir()
    lm = _clip(rng, faces[3])
    lm[5] = np.nan  # an invalid frame, masked by valid.npy
    valid = np.ones(len(lm), bool)
    valid[5] = False
    np.save(folder / "landmarks.npy", lm)
    np.save(folder / "valid.npy", valid)
    out = tmp_path / "codec.safetensors"
    rc = main(["fit-codec", "--data", str(tmp_path / "a.npy"), str(folder), "-o", str(out),
               "--components", "3", "--no-gaze"])
    assert rc == 0
    codec = MotionCodec.load(out)
    assert "gaze" not in codec.layout and codec.dim == 7 * 3 + 6
    assert codec.fit_info["n_clips"] == 2 and codec.fit_info["n_frames"] == 2 * (30 + 29)
    assert "codec D = 27" in capsys.readouterr().out
    assert out.with_suffix(".json").is_file()


def test_fit_codec_on_sessions(tmp_path):
    session_mod = pytest.importorskip("echo_ihg.data.session")
    faces, _ = tracked_sample_faces()
    rng = np.random.default_rng(1)
    T = 20
    for i in range(2):
        parts = [session_mod.Participant(audio=np.zeros(640 * T, np.float32), landmarks=_clip(rng, faces[i + k], T),
                                         valid=np.ones(T, bool), vad=np.zeros(T, np.float32)) for k in (0, 5)]
        session = session_mod.Session(f"s{i}", {"participants": {"A": {"frame_size": [640, 480]}}}, [], *parts)
        session_mod.write_session(tmp_path / "train" / f"s{i}", session)
    out = tmp_path / "codec.safetensors"
    assert main(["fit-codec", "--data", str(tmp_path), "-o", str(out), "--components", "2,2,2,1,1,2,2"]) == 0
    codec = MotionCodec.load(out)
    assert codec.fit_info["n_clips"] == 4 and codec.layout["lips_jaw"] == slice(0, 2)


def test_fit_codec_bad_input(tmp_path, capsys):
    out = tmp_path / "codec.safetensors"
    assert main(["fit-codec", "--data", str(tmp_path / "missing"), "-o", str(out)]) == 2
    np.save(tmp_path / "bad.npy", np.zeros((4, 100, 3), np.float32))
    assert main(["fit-codec", "--data", str(tmp_path / "bad.npy"), "-o", str(out)]) == 2
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    assert main(["fit-codec", "--data", str(tmp_path / "junk.npy"), "-o", str(out)]) == 2
    assert main(["fit-codec", "--data", str(tmp_path / "bad.npy"), "-o", str(out), "--components", "x"]) == 2
    nan_dir = tmp_path / "nan"
    nan_dir.mkdir()
    lm = np.repeat(tracked_sample_faces()[0][:1], 4, 0)
    lm[2, 7, 1] = np.nan  # in a valid frame: an error naming the file
    np.save(nan_dir / "landmarks.npy", lm)
    assert main(["fit-codec", "--data", str(nan_dir), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "nan/landmarks.npy: landmarks contain NaN" in err
    assert "missing: no such file" in err and "bad.npy: landmarks must have shape" in err
    assert "junk.npy: not a readable .npy" in err and "--components must be integers" in err
    assert not out.exists()
