"""`echo-ihg evaluate` from the command line: outputs, the printed summary, one-line errors."""

from __future__ import annotations

import json

import pytest

from echo_ihg.cli.main import main


def test_evaluate_cli(tiny_synth_corpus, tiny_models, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["evaluate", "--checkpoint", f"ECHO={tiny_models['ECHO']}", "--data", str(tiny_synth_corpus),
               "--split", "train", "--samples", "1", "--steps", "1", "--max-sessions", "1", "--seed", "3",
               "--set", "participants=[B]", "--set", "video_seconds=0", "--set", "react_window=100", "-o", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "GT" in printed and "ECHO" in printed and "report" in printed
    data = json.loads((out / "metrics.json").read_text())
    assert data["config"]["eval"]["generation"]["seed"] == 3 and data["config"]["eval"]["samples"] == 1
    assert data["config"]["items"][0].endswith(":B")
    assert (out / "report.html").is_file() and (out / "config.json").is_file()
    assert "FD_expression" in data["results"]["ECHO"]["all"]


@pytest.mark.slow
def test_evaluate_cli_example_video(tiny_synth_corpus, tiny_models, tmp_path):
    """With the renderer: a side-by-side example video (1 s) referenced by the report."""
    from echo_ihg.io.media import video_info

    out = tmp_path / "out"
    rc = main(["evaluate", "--checkpoint", str(tiny_models["ECHO"]), "--data", str(tiny_synth_corpus),
               "--split", "train", "--samples", "1", "--steps", "1", "--max-sessions", "1",
               "--set", "participants=[A]", "--set", "video_seconds=1", "-o", str(out)])
    assert rc == 0
    assert video_info(out / "example.mp4").n_frames == 25
    assert 'src="example.mp4"' in (out / "report.html").read_text()


def test_evaluate_cli_errors(tiny_synth_corpus, tmp_path, capsys):
    assert main(["evaluate", "--checkpoint", str(tmp_path / "nope.safetensors"), "--data", str(tiny_synth_corpus),
                 "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "nope.safetensors" in err and "checkpoint not found" in err and "Traceback" not in err
    assert main(["evaluate", "--checkpoint", "x", "--data", str(tiny_synth_corpus), "--set", "samples=0",
                 "-o", str(tmp_path / "o")]) == 2
    assert "samples" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
