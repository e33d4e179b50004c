"""`echo-ihg generate`: the side-by-side view from the command line (real MiniLM text encoder, SRT transcript),
help text, and clean one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from echo_ihg.cli.main import COMMANDS, main
from echo_ihg.constants import SAMPLES_PER_FRAME
from echo_ihg.io.media import iter_video_frames, load_audio

SRT = """1
00:00:00,100 --> 00:00:02,000
A: Hello! I am glad you could come today.

2
00:00:02,100 --> 00:00:04,000
B: Well, I think that sounds wonderful, thank you.
"""


def _args(inputs, out, *extra):
    return ["generate", "--portrait", str(inputs["portrait"]), "--avatar-audio", str(inputs["avatar_audio"]),
            "--user-video", str(inputs["user_video"]), "--checkpoint", str(inputs["checkpoint"]),
            "-o", str(out), "--no-progress", *extra]


def test_cli_side_by_side(gen_inputs, tmp_path, capsys):
    srt = tmp_path / "talk.srt"
    srt.write_text(SRT)
    out = tmp_path / "view.mp4"
    rc = main(_args(gen_inputs, out, "--transcript", str(srt), "--steps", "2", "--seed", "3", "--size", "256",
                    "--side-by-side"))
    assert rc == 0
    printed = capsys.readouterr().out
    assert "wrote" in printed and "real time" in printed
    n = len(load_audio(gen_inputs["avatar_audio"])) // SAMPLES_PER_FRAME
    frames = [f for _, f in iter_video_frames(out)]
    assert len(frames) == n and frames[0].shape == (320, 1000, 3)    # user | avatar | plots (320 px panels)
    side = json.loads(out.with_suffix(".json").read_text())
    gen = side["config"]["generation"]
    assert side["side_by_side"] and gen["seed"] == 3 and gen["size"] == 256
    assert side["inputs"]["transcript"] == str(srt) and side["transcript_entries"] == 2
    # the view carries both voices: the user speaks during the first 2 s of the avatar's speech too
    mixed = load_audio(out)[: n * SAMPLES_PER_FRAME]
    avatar = load_audio(gen_inputs["avatar_audio"])[: n * SAMPLES_PER_FRAME]
    assert np.sqrt(np.mean(mixed[:16000] ** 2)) > np.sqrt(np.mean(avatar[:16000] ** 2))


def test_cli_help_documents_the_length_policy():
    import argparse

    from echo_ihg.cli import generate

    assert COMMANDS["generate"] == "generate"
    text = generate.register(argparse.ArgumentParser().add_subparsers()).format_help()
    assert "Length policy" in text and "--side-by-side" in text and "--checkpoint" in text


def test_cli_no_checkpoint_no_default(gen_inputs, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("echo_ihg.inference.model_io.DEFAULT_MODEL_DIR", tmp_path / "none")
    args = [a for a in _args(gen_inputs, tmp_path / "x.mp4") if a != str(gen_inputs["checkpoint"])]
    args.remove("--checkpoint")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("echo-ihg: error: no checkpoint given") and "Traceback" not in err
    assert not (tmp_path / "x.mp4").exists()


def test_cli_bad_portrait_is_one_line(gen_inputs, tmp_path, capsys):
    bad = tmp_path / "not_an_image.png"
    bad.write_text("this is text")
    args = _args({**gen_inputs, "portrait": bad}, tmp_path / "x.mp4")
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not_an_image.png" in err
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.parametrize("flag,value", [("--size", "100"), ("--steps", "x")])
def test_cli_rejects_bad_flags(gen_inputs, tmp_path, flag, value):
    with pytest.raises(SystemExit) as exc:
        main(_args(gen_inputs, tmp_path / "x.mp4", flag, value))
    assert exc.value.code == 2
