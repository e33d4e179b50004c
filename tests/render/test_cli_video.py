"""`echo-ihg render` end to end (landmarks file, session, side-by-side) and the composer."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from echo_ihg.cli.main import main
from echo_ihg.constants import SAMPLES_PER_FRAME
from echo_ihg.io.media import load_audio, video_info, write_mp4
from echo_ihg.render import edits
from echo_ihg.render.video import SideBySide, compose_side_by_side
from echo_ihg.tracking.face_mesh import track_image

T = 12


@pytest.fixture(scope="module")
def files(tmp_path_factory, astronaut, hopper):
    d = tmp_path_factory.mktemp("render_cli")
    portrait = d / "astro.png"
    cv2.imwrite(str(portrait), astronaut[:, :, ::-1])
    lm = track_image(astronaut)
    amounts = 0.06 * np.abs(np.sin(np.linspace(0, np.pi, T)))
    motion = np.stack([edits.open_mouth(lm, a, (512, 512)) for a in amounts])
    np.save(d / "motion.npy", motion)
    return d, portrait, motion, hopper


def test_render_landmarks_with_audio(files):
    d, portrait, motion, _ = files
    from echo_ihg.io.media import write_wav

    write_wav(d / "voice.wav", 0.1 * np.sin(np.linspace(0, 400, T * SAMPLES_PER_FRAME + 999)).astype(np.float32))
    out = d / "out.mp4"
    rc = main(["render", "--portrait", str(portrait), "--landmarks", str(d / "motion.npy"),
               "--audio", str(d / "voice.wav"), "--size", "256", "-o", str(out), "--no-progress"])
    assert rc == 0
    info = video_info(out)
    assert (info.width, info.height) == (256, 256) and info.n_frames == T
    audio = load_audio(out)
    assert abs(len(audio) - T * SAMPLES_PER_FRAME) <= 2048          # AAC priming only
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["n_frames"] == T and meta["config"]["size"] == 256


def test_render_session_side_by_side(files, tmp_path):
    d, portrait, motion, hopper = files
    from echo_ihg.data.session import Participant, Session, write_session

    hop = track_image(hopper)
    user_motion = np.stack([edits.rotate_head(hop, 8 * np.sin(k / 3), 0, 0, (512, 600)) for k in range(T)])
    user_video = tmp_path / "user.mp4"
    write_mp4(user_video, (hopper for _ in range(T)))
    rng = np.random.default_rng(0)
    part = lambda lm, video=None: Participant(  # noqa: E731
        audio=(0.05 * rng.standard_normal(T * SAMPLES_PER_FRAME)).astype(np.float32), landmarks=lm,
        valid=np.ones(T, bool), vad=np.linspace(0, 1, T).astype(np.float32), video=video)
    ses = Session("s1", {"participants": {"A": {"frame_size": [512, 600]}, "B": {}}}, [],
                  part(user_motion, None), part(motion, user_video))
    sdir = write_session(tmp_path / "s1", ses)
    out = tmp_path / "avatar.mp4"
    rc = main(["render", "--portrait", str(portrait), "--session", str(sdir), "--participant", "A",
               "--size", "256", "--side-by-side", "-o", str(out), "--no-progress"])
    assert rc == 0
    assert video_info(out).n_frames == T
    sbs = video_info(out.with_name("avatar.side_by_side.mp4"))
    assert sbs.n_frames == T and sbs.width == 2 * 320 + 360


@pytest.mark.parametrize("argv, message", [
    (["--landmarks", "missing.npy"], "not found"),
    (["--session", "nowhere"], "--participant"),
    (["--landmarks", "bad.npy"], "shape"),
    (["--landmarks", "nan.npy"], "NaN"),
    (["--landmarks", "motion.npy", "--size", "big"], "--size"),
    (["--landmarks", "motion.npy", "--audio", "missing.wav"], "missing.wav: file not found"),
])
def test_cli_errors_are_one_line(files, capsys, argv, message):
    d, portrait, motion, _ = files
    np.save(d / "bad.npy", np.zeros((4, 468, 3), np.float32))
    nan = motion.copy()
    nan[3, 5, 1] = np.nan
    np.save(d / "nan.npy", nan)
    argv = [str(d / a) if a.endswith((".npy", ".wav")) else a for a in argv]
    rc = main(["render", "--portrait", str(portrait), *argv, "-o", str(d / "x.mp4"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err
    assert not (d / "x.mp4").exists()


def test_composer_layout_and_state(astronaut):
    series = {"mouth_open": np.linspace(0, 1, 50), "smile": np.zeros(50), "head_pitch": np.sin(np.arange(50) / 5)}
    speaking = (np.arange(50) > 25).astype(np.float32)
    comp = SideBySide(series, speaking, user=series)
    early, late = comp.frame(10, astronaut, astronaut), comp.frame(40, astronaut, None)
    assert early.shape == (320, 1000, 3)
    # speaking frames carry the green label; the plots scroll (different pictures at different times)
    label = lambda f: f[6:28, 326:432].reshape(-1, 3)  # noqa: E731
    assert (label(late)[:, 1] > 180).sum() > (label(early)[:, 1] > 180).sum()
    assert np.abs(early[:, 640:].astype(int) - late[:, 640:]).mean() > 1
    frames = list(compose_side_by_side(iter([astronaut] * 60), series, speaking))
    assert len(frames) == 50
    with pytest.raises(Exception, match="smile"):
        SideBySide({"mouth_open": np.zeros(50)}, speaking)


def test_render_retargeted_landmarks(files, tmp_path):
    """Another person's tracked landmarks (+ the track.json `echo-ihg track` writes) drive the portrait."""
    d, portrait, motion, hopper = files
    hop = track_image(hopper)
    drv = np.stack([edits.open_mouth(hop, a, (512, 600)) for a in np.linspace(0, 0.08, 6)])
    np.save(tmp_path / "landmarks.npy", drv)
    (tmp_path / "track.json").write_text(json.dumps({"frame_size": [512, 600]}))
    out = tmp_path / "re.mp4"
    rc = main(["render", "--portrait", str(portrait), "--landmarks", str(tmp_path / "landmarks.npy"),
               "--retarget", "--size", "256", "-o", str(out), "--no-progress"])
    assert rc == 0 and video_info(out).n_frames == 6
    assert json.loads(out.with_suffix(".json").read_text())["retarget"] is True
