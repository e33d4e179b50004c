"""`echo-ihg track` through the CLI entry point: output files, flags that change results, clean errors."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from echo_ihg.cli.main import main
from echo_ihg.io.media import write_mp4

from .conftest import two_face_frames


def _run(capsys, *argv: str) -> tuple[int, str]:
    code = main(["track", *argv, "--no-progress"])
    return code, capsys.readouterr().err


def _load(out):
    lm, valid = np.load(out / "landmarks.npy"), np.load(out / "valid.npy")
    return lm, valid, json.loads((out / "track.json").read_text())


def test_track_video_writes_arrays_and_report(make_clip, tmp_path, capsys):
    path, _ = make_clip(n=40, blank=range(10, 22))
    out = tmp_path / "out"
    code, err = _run(capsys, str(path), "-o", str(out))
    assert code == 0, err
    lm, valid, report = _load(out)
    assert lm.shape == (40, 478, 3) and lm.dtype == np.float32 and np.isfinite(lm).all()
    assert valid.shape == (40,) and valid.dtype == bool and valid.sum() == 28
    assert report["kind"] == "video" and report["fps"] == 25.0
    assert (*report["frame_size"], report["n_frames"], report["n_valid"]) == (256, 256, 40, 28)
    assert report["gaps"] == [{"start": 10, "end": 22, "start_s": 0.4, "end_s": 0.88, "interpolated": False}]
    assert report["config"]["max_gap"] == 5
    # no temporary files left
    assert sorted(p.name for p in out.iterdir()) == ["landmarks.npy", "track.json", "valid.npy"]

    # --max-gap really changes the result: the same 12-frame gap is now interpolated
    code, err = _run(capsys, str(path), "-o", str(out), "--max-gap", "12")
    assert code == 0, err
    lm2, valid2, report2 = _load(out)
    assert valid2.all() and report2["gaps"][0]["interpolated"] and report2["config"]["max_gap"] == 12
    np.testing.assert_array_equal(lm2[valid], lm[valid])


def test_track_image_gives_one_frame(astronaut, tmp_path, capsys):
    img = tmp_path / "portrait.png"
    cv2.imwrite(str(img), astronaut[:, :, ::-1])
    out = tmp_path / "out"
    code, err = _run(capsys, str(img), "-o", str(out), "--set", "min_detection_confidence=0.6")
    assert code == 0, err
    lm, valid, report = _load(out)
    assert report["config"]["min_detection_confidence"] == 0.6
    assert lm.shape == (1, 478, 3) and valid.tolist() == [True]
    assert report["kind"] == "image" and tuple(report["frame_size"]) == (512, 512)
    assert 0.35 < lm[0, 1, 0] < 0.5  # nose tip, as in test_face_mesh


def test_max_faces_flag_changes_tracking(astronaut, tmp_path, capsys):
    # followed face hidden for 5 frames next to another face; with one tracked face MediaPipe loses it
    frames = two_face_frames(astronaut, [(0.0 if 15 <= k < 20 else 1.0, 0.6) for k in range(50)])
    path = tmp_path / "two.mp4"
    write_mp4(path, frames)
    results = {}
    for n in ("4", "1"):
        out = tmp_path / f"out{n}"
        code, err = _run(capsys, str(path), "-o", str(out), "--max-faces", n)
        assert code == 0, err
        lm, valid, report = _load(out)
        assert report["config"]["max_faces"] == int(n)
        results[n] = (lm, valid)
    assert results["4"][1].all() and (results["4"][0][:, 1, 0] < 0.5).all()
    assert not results["1"][1].all()


@pytest.mark.parametrize("case", ["missing", "junk", "no_face_image", "bad_flag", "unknown_key", "bad_yaml"])
def test_errors_are_one_clean_line(case, tmp_path, capsys):
    out = tmp_path / "out"
    extra: list[str] = []
    if case == "missing":
        src = tmp_path / "nowhere.mp4"
    elif case == "junk":
        src = tmp_path / "junk.mp4"
        src.write_bytes(b"\x00garbage" * 100)
    elif case == "no_face_image":
        src = tmp_path / "wall.jpg"
        cv2.imwrite(str(src), np.full((120, 160, 3), 90, np.uint8))
    else:
        src = tmp_path / "unused.mp4"
        src.write_bytes(b"")
        yaml = tmp_path / "tracker.yaml"
        yaml.write_text("max_gap: abc\n")
        extra = {"bad_flag": ["--max-gap", "-3"], "unknown_key": ["--set", "max_gapp=3"],
                 "bad_yaml": ["--config", str(yaml)]}[case]
    code, err = _run(capsys, str(src), "-o", str(out), *extra)
    assert code == 2
    assert err.startswith("echo-ihg: error:") and "Traceback" not in err
    if case in ("missing", "junk", "no_face_image"):
        assert str(src) in err
    assert {"missing": "file not found", "junk": "not a readable", "no_face_image": "no face found",
            "bad_flag": "max_gap must be >= 0", "unknown_key": "unknown key",
            "bad_yaml": "max_gap must be a number"}[case] in err
    assert not out.exists()  # nothing written on failure


def test_output_path_that_is_a_file(astronaut, tmp_path, capsys):
    img = tmp_path / "portrait.png"
    cv2.imwrite(str(img), astronaut[:, :, ::-1])
    out = tmp_path / "taken"
    out.write_text("keep me")
    code, err = _run(capsys, str(img), "-o", str(out))
    assert code == 2 and "output exists and is not a folder" in err and str(out) in err
    assert out.read_text() == "keep me"
