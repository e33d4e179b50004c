"""Render a portrait animated by landmarks into an mp4 file (the library side of `echo-ihg render`, also used
by `echo-ihg synth --video` and the demo's user clip).

    render_to_file(portrait, out, RenderConfig(), landmarks=Path("motion.npy"))            # own-frame motion
    render_to_file(portrait, out, RenderConfig(), session=ses_dir, participant="B")          # retargeted
    render_to_file(..., side_by_side=True)          # also OUT.side_by_side.mp4: user | avatar | plots

A session participant's landmarks are retargeted in their frame's aspect (`data.session.session_aspect`, the
reader codec fitting and training features use too); landmarks from `echo-ihg track` in the aspect of the
track.json beside them. Writes OUT.json next to the video: inputs and the resolved renderer config.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from echo_ihg.constants import FPS
from echo_ihg.data.session import read_session, session_aspect
from echo_ihg.errors import InputError
from echo_ihg.io.media import iter_frames_at_fps, load_audio, write_mp4
from echo_ihg.render.base import validate_motion
from echo_ihg.render.meshwarp import MeshWarpRenderer
from echo_ihg.render.retarget import retarget
from echo_ihg.render.video import attribute_series, compose_side_by_side
from echo_ihg.tracking.face_mesh import frame_aspect
from echo_ihg.utils.atomic import write_json
from echo_ihg.utils.config import config_to_dict
from echo_ihg.utils.progress import progress as progress_bar
from echo_ihg.utils.readers import load_npy, read_json

log = logging.getLogger(__name__)


def _load_landmarks(path: Path) -> np.ndarray:
    return validate_motion(load_npy(path, mmap=True), path)


def render_to_file(portrait: Path, out: Path, config, landmarks: Path | None = None,
                   session: Path | None = None, participant: str | None = None,
                   retarget_landmarks: bool = False, audio: Path | None = None,
                   side_by_side: bool = False, progress: bool = True) -> int:
    """Render and write `out` (+ OUT.json, + OUT.side_by_side.mp4). Returns the number of frames."""
    if (landmarks is None) == (session is None):
        raise InputError(None, "give either landmarks or a session (with a participant)")
    renderer = MeshWarpRenderer(config)
    state = renderer.setup(portrait)
    sound, user, speaking, aspect = None, None, None, None
    if session is not None:
        ses = read_session(session)
        who = ses.participant(participant)
        other = ses.participant("B" if participant == "A" else "A")
        aspect = session_aspect(ses.meta, participant)
        motion = retarget(np.asarray(who.landmarks), state.landmarks, driver_aspect=aspect,
                          portrait_aspect=portrait_aspect(state), valid=np.asarray(who.valid))
        sound = np.asarray(who.audio)
        speaking = np.asarray(who.vad)
        user = (other, session_aspect(ses.meta, "B" if participant == "A" else "A"))
    else:
        motion = _load_landmarks(landmarks)
        if retarget_landmarks:
            aspect = track_aspect(landmarks)
            motion = retarget(motion, state.landmarks, driver_aspect=aspect, portrait_aspect=portrait_aspect(state))
    if audio is not None:
        sound = load_audio(audio)
    frames = progress_bar(renderer.render(state, motion), total=len(motion), desc=f"rendering {out.name}",
                          unit="frame", enabled=None if progress else False)
    n = write_mp4(out, frames, fps=FPS, audio=sound)
    write_json(out.with_suffix(".json"), {
        "portrait": str(portrait), "landmarks": None if landmarks is None else str(landmarks),
        "session": None if session is None else str(session), "participant": participant,
        "retarget": bool(retarget_landmarks or session is not None), "driver_aspect": aspect,
        "audio": None if audio is None else str(audio),
        "n_frames": n, "fps": FPS, "width": state.size[0], "height": state.size[1],
        "renderer": "MeshWarpRenderer", "config": config_to_dict(config)})
    log.info("wrote %s (%d frames, %.2f s)", out, n, n / FPS)
    if side_by_side:
        _write_side_by_side(out, renderer, state, motion, sound, speaking, user, progress)
    return n


def portrait_aspect(state) -> float:
    u0, v0, u1, v1 = state.frame.crop
    # the portrait's normalised frame: aspect = W / H of the whole portrait image
    return (state.frame.out_w / (u1 - u0)) / (state.frame.out_h / (v1 - v0))


def track_aspect(landmarks: Path) -> float:
    """Frame aspect (W / H) of tracked landmarks from the track.json `echo-ihg track` writes beside them
    (`tracking.face_mesh.frame_aspect`), else 1 (a square frame) with a note."""
    info = landmarks.with_name("track.json")
    try:
        return frame_aspect(read_json(info))
    except InputError:
        log.info("%s: no readable track.json with the frame size next to it; assuming a square frame", landmarks)
        return 1.0


def _write_side_by_side(out: Path, renderer, state, motion, sound, speaking, user, progress: bool) -> None:
    T = len(motion)
    avatar = attribute_series(motion, portrait_aspect(state))
    if speaking is None:
        if sound is not None:
            from echo_ihg.audio.vad import speech_probability   # torch: only when needed

            speaking = speech_probability(sound)
        else:
            speaking = np.zeros(T, np.float32)
    speaking = np.asarray(speaking, np.float32)[:T]
    speaking = np.pad(speaking, (0, T - len(speaking)))  # VAD of audio shorter than the motion: silence
    user_series, user_frames = None, None
    if user is not None:
        other, aspect = user
        user_series = attribute_series(np.asarray(other.landmarks), aspect)
        if other.video is not None:
            user_frames = iter_frames_at_fps(other.video)
    dest = out.with_name(out.stem + ".side_by_side.mp4")
    frames = compose_side_by_side(renderer.render(state, motion), avatar, speaking, user_frames, user_series)
    frames = progress_bar(frames, total=T, desc=f"composing {dest.name}", unit="frame",
                          enabled=None if progress else False)
    write_mp4(dest, frames, fps=FPS, audio=sound)
    log.info("wrote %s", dest)
