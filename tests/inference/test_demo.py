"""The README's main job (`echo-ihg demo`) through the real CLI entry point: a tiny random-weight model and a
3-s conversation here (the bundled default model and 20 s are the defaults; the slow test runs those), and
clean one-line errors for a bad checkpoint, a missing default model and a portrait without a face."""

from __future__ import annotations

import contextlib
import io
import json
import math

import numpy as np
import pytest

from echo_ihg.cli.main import main
from echo_ihg.constants import SAMPLES_PER_FRAME
from echo_ihg.io.media import iter_video_frames, load_audio

SECONDS = 3.0
N_FRAMES = 75       # 3 s at 25 fps


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def demo(gen_inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo_out"
    rc, printed, err = _run(["demo", "-o", str(out), "--checkpoint", str(gen_inputs["checkpoint"]),
                             "--seconds", str(SECONDS), "--steps", "2", "--size", "256", "--set", "user_size=192",
                             "--no-progress"])
    assert rc == 0, err
    return out, printed


def test_demo_writes_videos_report_inputs_and_configs(demo):
    out, printed = demo
    expected = ["avatar.mp4", "avatar.json", "side_by_side.mp4", "side_by_side.json", "report/metrics.json",
                "report/report.html", "report/figures/curves_0.png", "portrait_landmarks.png", "config.json",
                "demo.json", "inputs/avatar_speech.wav", "inputs/user.mp4", "inputs/user.json",
                "inputs/transcript.jsonl", "inputs/session/meta.json"]
    for name in expected:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    for name in ("avatar.mp4", "side_by_side.mp4", "report.html", "metrics.json", "portrait_landmarks.png"):
        assert name in printed, name
    assert not [p.name for p in out.rglob(".*")], "temporary files left behind"
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["demo"]["seconds"] == SECONDS and cfg["demo"]["generation"]["steps"] == 2
    assert cfg["pipeline"]["generation"]["size"] == 256 and cfg["eval"]["generation"] == cfg["pipeline"]["generation"]
    assert cfg["model"].endswith("tiny.safetensors")
    summary = json.loads((out / "demo.json").read_text())
    assert list(summary["timings_s"]) == ["model", "portrait", "conversation", "user video", "avatar",
                                          "side by side", "evaluation"]
    assert summary["conversation_s"] == SECONDS and summary["process_cpu_s"] > 0
    assert summary["outputs"]["avatar"].endswith("avatar.mp4") and set(summary["headline_metrics"]) == {"GT", "model"}


def test_demo_avatar_video_has_every_frame_and_the_avatars_speech(demo):
    out, _ = demo
    frames = [f for _, f in iter_video_frames(out / "avatar.mp4")]
    assert len(frames) == N_FRAMES and frames[0].shape == (256, 256, 3)
    speech = load_audio(out / "inputs" / "avatar_speech.wav")
    assert len(speech) == N_FRAMES * SAMPLES_PER_FRAME
    sound = load_audio(out / "avatar.mp4")[: len(speech)]          # AAC adds priming samples at the end
    rms = lambda x: float(np.sqrt(np.mean(x ** 2)))  # noqa: E731
    assert rms(speech) > 0.01 and 0.7 < rms(sound) / rms(speech) < 1.4
    assert abs(np.corrcoef(np.abs(sound[::160]), np.abs(speech[::160]))[0, 1]) > 0.5
    side = json.loads((out / "avatar.json").read_text())
    assert side["frames"] == N_FRAMES and side["inputs"]["transcript"].endswith("transcript.jsonl")
    assert side["transcript_entries"] > 0
    views = [f for _, f in iter_video_frames(out / "side_by_side.mp4")]
    assert len(views) == N_FRAMES and views[0].shape == (320, 1000, 3)


def test_demo_user_clip_is_participant_b_with_bs_voice(demo):
    out, _ = demo
    from echo_ihg.data.session import read_session

    session = read_session(out / "inputs" / "session")
    assert session.T == N_FRAMES and session.meta["split"] == "test"
    frames = [f for _, f in iter_video_frames(out / "inputs" / "user.mp4")]
    assert len(frames) == N_FRAMES
    user_voice = load_audio(out / "inputs" / "user.mp4")[: N_FRAMES * SAMPLES_PER_FRAME]
    b = np.asarray(session.B.audio, np.float32)
    assert np.allclose(np.sqrt(np.mean(user_voice ** 2)), np.sqrt(np.mean(b ** 2)), rtol=0.3, atol=1e-3)


def test_demo_report_scores_the_generation_against_the_ground_truth(demo):
    out, printed = demo
    results = json.loads((out / "report" / "metrics.json").read_text())["results"]
    assert set(results) == {"GT", "model"}
    for metric in ("rPCC_expression", "FD_expression", "L2_lips_jaw", "Var_expression"):
        v = results["model"]["all"][metric]
        assert isinstance(v, float) and math.isfinite(v), metric
    # the ground truth scored against itself is perfect; random weights are not
    assert results["GT"]["all"]["L2_lips_jaw"] == 0.0 and results["model"]["all"]["L2_lips_jaw"] > 0.0
    assert results["GT"]["all"]["frames"] == N_FRAMES
    assert "rPCC_expression" in printed
    page = (out / "report" / "report.html").read_text()
    assert "../side_by_side.mp4" in page and "figures/curves_0.png" in page


def test_demo_bad_checkpoint_is_a_one_line_error(tmp_path):
    out = tmp_path / "o"
    rc, _, err = _run(["demo", "-o", str(out), "--checkpoint", str(tmp_path / "nope.safetensors"), "--no-progress"])
    assert rc == 2 and "nope.safetensors" in err and "checkpoint not found" in err and "Traceback" not in err
    assert not out.exists()
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a model at all")
    rc, _, err = _run(["demo", "-o", str(out), "--checkpoint", str(junk), "--no-progress"])
    assert rc == 2 and "junk.safetensors" in err and "Traceback" not in err
    assert not out.exists()


def test_demo_without_the_default_model_names_the_missing_file(tmp_path, monkeypatch):
    from echo_ihg.inference import model_io

    monkeypatch.setattr(model_io, "DEFAULT_MODEL_DIR", tmp_path / "default_model")
    rc, _, err = _run(["demo", "-o", str(tmp_path / "o"), "--no-progress"])
    assert rc == 2 and str(tmp_path / "default_model" / "model.json") in err and "--checkpoint" in err


def test_demo_with_a_portrait_without_face_fails_cleanly(gen_inputs, tmp_path):
    import cv2

    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((256, 256, 3), 180, np.uint8))
    rc, _, err = _run(["demo", "-o", str(tmp_path / "o"), "--portrait", str(blank), "--checkpoint",
                       str(gen_inputs["checkpoint"]), "--no-progress"])
    assert rc == 2 and "wall.png" in err and "no face" in err and "Traceback" not in err
    assert not (tmp_path / "o" / "avatar.mp4").exists()


@pytest.mark.slow
def test_demo_on_the_bundled_default_model(tmp_path):
    """The README's command as it is: default model, 20-s conversation, 512-px avatar."""
    from echo_ihg.inference.model_io import default_model_path

    if default_model_path() is None:
        pytest.skip("no default model bundled in this checkout")
    rc, printed, err = _run(["demo", "-o", str(tmp_path / "demo_out"), "--no-progress"])
    assert rc == 0, err
    results = json.loads((tmp_path / "demo_out" / "report" / "metrics.json").read_text())["results"]
    assert math.isfinite(results["model"]["all"]["LSE-D"]) and "react_windows" in results["model"]["all"]
    assert len([f for _, f in iter_video_frames(tmp_path / "demo_out" / "avatar.mp4")]) == 500


def test_scoring_motion_of_the_wrong_length_is_refused(demo, tmp_path):
    from echo_ihg.errors import InputError
    from echo_ihg.eval.inputs import session_inputs
    from echo_ihg.eval.runner import EvalConfig, evaluate_generation
    from echo_ihg.motion.codec import default_codec

    out, _ = demo
    codec = default_codec()
    inp = session_inputs(out / "inputs" / "session", EvalConfig(participants=("A",)))[0]
    with pytest.raises(InputError, match="does not cover"):
        evaluate_generation(inp, np.zeros((N_FRAMES - 5, codec.dim), np.float32), codec, tmp_path / "r")
    assert not (tmp_path / "r").exists()
