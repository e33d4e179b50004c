"""Smoke test of the README's main job through the real CLI entry point."""

import json

from echo_ihg.cli.main import main


def test_demo_writes_overlay_and_codec_report(tmp_path, capsys):
    out = tmp_path / "demo_out"
    assert main(["demo", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "portrait_landmarks.png" in printed and "| motion |" in printed
    report = json.loads((out / "codec_report.json").read_text())
    rows = report["round_trip"]
    assert {"mouth open", "smile", "blink", "head turned 20°"} <= set(rows)
    for name, r in rows.items():
        assert 0.0 <= r["face_mean_px"] < 3.0, (name, r)
    assert (out / "portrait_landmarks.png").stat().st_size > 10_000
    assert sorted(p.name for p in out.iterdir()) == ["codec_report.json", "codec_report.md",
                                                     "portrait_landmarks.png"]


def test_demo_with_a_portrait_without_face_fails_cleanly(tmp_path, capsys):
    import cv2
    import numpy as np

    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((256, 256, 3), 180, np.uint8))
    assert main(["demo", "-o", str(tmp_path / "o"), "--portrait", str(blank)]) == 2
    err = capsys.readouterr().err
    assert "wall.png" in err and "no face" in err and "Traceback" not in err
