"""`echo-ihg prepare <dataset>`: thin CLI over the adapters (report file, exit codes, clean errors)."""

from __future__ import annotations

import json

from echo_ihg.cli.main import main
from echo_ihg.data.session import list_sessions


def test_prepare_hdtf_writes_sessions_and_report(tmp_path, img, gen, capsys):
    root, out = tmp_path / "hdtf", tmp_path / "out"
    gen.write_mp4(root / "Radio1_0.mp4", gen.frames(img, 5), fps=25, audio=gen.tone(0.2, 16_000, 300.0))
    assert main(["prepare", "hdtf", "--root", str(root), "-o", str(out), "--split", "test"]) == 0
    assert [p.name for p in list_sessions(out, "test")] == ["hdtf_Radio1_0"]
    report = json.loads((out / "prepare_hdtf.json").read_text())
    assert report["written"] == ["hdtf_Radio1_0"] and report["config"]["split"] == "test"
    assert "1 session(s) written" in capsys.readouterr().out
    # a rerun finds it done; a broken extra clip is reported (exit 1) without stopping the run
    (root / "Radio2_0.mp4").write_bytes(b"not a video")
    assert main(["prepare", "hdtf", "--root", str(root), "-o", str(out), "--split", "test"]) == 1
    printed = capsys.readouterr().out
    assert "1 already present" in printed and "Radio2_0.mp4" in printed


def test_prepare_errors_are_one_line(tmp_path, capsys):
    assert main(["prepare", "vico", "--root", str(tmp_path / "missing"), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("echo-ihg: error: ") and "missing" in err and "Traceback" not in err
    assert main(["prepare", "react", "--root", str(tmp_path), "-o", str(tmp_path / "o"), "--limit", "0"]) == 2
