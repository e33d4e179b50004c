"""`echo-ihg render --portrait P (--landmarks L.npy | --session DIR --participant A|B) -o OUT.mp4`:
animate a portrait with a landmark motion and write an H.264 + AAC mp4 (25 fps, audio fitted exactly).

--landmarks: (T, 478, 3) landmarks in the portrait's own normalised frame (e.g. generated motion), or
             with --retarget another person's tracked landmarks (expression + pose changes transferred;
             the frame's aspect ratio is read from the track.json that `echo-ihg track` writes beside them).
--session:   a session participant's landmarks, always retargeted; its audio is used unless --audio.
--side-by-side: also writes OUT.side_by_side.mp4: the other participant's video (the user) | avatar |
             scrolling plots of mouth opening, smile, head nod and the speaking / listening state.
Writes OUT.json next to the video: inputs and the resolved renderer config.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

import numpy as np

from echo_ihg.constants import FPS
from echo_ihg.errors import InputError
from echo_ihg.utils.atomic import write_json
from echo_ihg.utils.config import add_config_arguments, config_to_dict, load_config
from echo_ihg.utils.readers import load_npy

log = logging.getLogger(__name__)


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("render", help="animate a portrait with a landmark motion into an mp4",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog="example:\n  echo-ihg render --portrait face.jpg --landmarks motion.npy --audio voice.wav -o avatar.mp4")
    p.add_argument("--portrait", required=True, help="portrait image (PNG, JPEG, ...)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--landmarks", help="(T, 478, 3) .npy landmark motion")
    src.add_argument("--session", help="session directory")
    p.add_argument("--participant", choices=("A", "B"), help="which participant of --session to render")
    p.add_argument("--retarget", action="store_true",
                   help="--landmarks come from another person: transfer expression and pose changes")
    p.add_argument("--audio", help="audio for the video (any format PyAV reads); fitted to the frame count")
    p.add_argument("--size", default=None, help="output side: 256, 512, ... or 'native' (default 512)")
    p.add_argument("--side-by-side", action="store_true", help="also write OUT.side_by_side.mp4 (sessions)")
    add_config_arguments(p, "RenderConfig", "mouth_interior=false")
    p.add_argument("-o", "--out", required=True, help="output .mp4")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(run=run)
    return p


def _size(text: str | None) -> int | str | None:
    if text is None:
        return None
    if text == "native":
        return text
    try:
        return int(text)
    except ValueError:
        raise InputError(None, f"--size must be a number of pixels or 'native', got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    from echo_ihg.render.base import RenderConfig

    config = load_config(RenderConfig, args.config, args.overrides)
    size = _size(args.size)
    if size is not None:
        config = dataclasses.replace(config, size=size)
    if args.session and not args.participant:
        raise InputError(None, "--session needs --participant A or B")
    if args.participant and not args.session:
        raise InputError(None, "--participant only applies to --session")
    out = Path(args.out)
    if out.suffix.lower() != ".mp4":
        raise InputError(out, "output must be an .mp4 file")
    render_to_file(Path(args.portrait), out, config,
                   landmarks=Path(args.landmarks) if args.landmarks else None,
                   session=Path(args.session) if args.session else None, participant=args.participant,
                   retarget_landmarks=args.retarget, audio=Path(args.audio) if args.audio else None,
                   side_by_side=args.side_by_side, progress=not args.no_progress)
    return 0


def _load_landmarks(path: Path) -> np.ndarray:
    from echo_ihg.render.base import validate_motion

    return validate_motion(load_npy(path, mmap=True), path)


def render_to_file(portrait: Path, out: Path, config, landmarks: Path | None = None,
                   session: Path | None = None, participant: str | None = None,
                   retarget_landmarks: bool = False, audio: Path | None = None,
                   side_by_side: bool = False, progress: bool = True) -> int:
    """Render and write `out` (+ OUT.json, + OUT.side_by_side.mp4). Returns the number of frames."""
    from echo_ihg.io.media import load_audio, write_mp4
    from echo_ihg.render.meshwarp import MeshWarpRenderer
    from echo_ihg.render.retarget import retarget
    from echo_ihg.utils.progress import progress as progress_bar

    if (landmarks is None) == (session is None):
        raise InputError(None, "give either landmarks or a session (with a participant)")
    renderer = MeshWarpRenderer(config)
    state = renderer.setup(portrait)
    sound, user, speaking = None, None, None
    if session is not None:
        from echo_ihg.data.session import read_session

        ses = read_session(session)
        who = ses.participant(participant)
        other = ses.participant("B" if participant == "A" else "A")
        aspect = _session_aspect(ses.meta, participant)
        motion = retarget(np.asarray(who.landmarks), state.landmarks, driver_aspect=aspect,
                          portrait_aspect=_portrait_aspect(state), valid=np.asarray(who.valid))
        sound = np.asarray(who.audio)
        speaking = np.asarray(who.vad)
        user = (other, _session_aspect(ses.meta, "B" if participant == "A" else "A"))
    else:
        motion = _load_landmarks(landmarks)
        if retarget_landmarks:
            motion = retarget(motion, state.landmarks, driver_aspect=_track_aspect(landmarks),
                              portrait_aspect=_portrait_aspect(state))
    if audio is not None:
        sound = load_audio(audio)
    frames = progress_bar(renderer.render(state, motion), total=len(motion), desc=f"rendering {out.name}",
                          unit="frame", enabled=None if progress else False)
    n = write_mp4(out, frames, fps=FPS, audio=sound)
    write_json(out.with_suffix(".json"), {
        "portrait": str(portrait), "landmarks": None if landmarks is None else str(landmarks),
        "session": None if session is None else str(session), "participant": participant,
        "retarget": bool(retarget_landmarks or session is not None), "audio": None if audio is None else str(audio),
        "n_frames": n, "fps": FPS, "width": state.size[0], "height": state.size[1],
        "renderer": "MeshWarpRenderer", "config": config_to_dict(config)})
    log.info("wrote %s (%d frames, %.2f s)", out, n, n / FPS)
    if side_by_side:
        _write_side_by_side(out, renderer, state, motion, sound, speaking, user, progress)
    return n


def _portrait_aspect(state) -> float:
    u0, v0, u1, v1 = state.frame.crop
    # the portrait's normalised frame: aspect = W / H of the whole portrait image
    return (state.frame.out_w / (u1 - u0)) / (state.frame.out_h / (v1 - v0))


def _track_aspect(landmarks: Path) -> float:
    """Frame aspect (W / H) of tracked landmarks from the track.json `echo-ihg track` writes beside them,
    else 1 (a square frame) with a note."""
    import json

    info = landmarks.with_name("track.json")
    try:
        meta = json.loads(info.read_text())
        return float(meta["width"]) / float(meta["height"])
    except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError):
        log.info("%s: no track.json with the frame size next to it; assuming a square frame", landmarks)
        return 1.0


def _session_aspect(meta: dict, who: str) -> float:
    """Frame aspect (W / H) of a participant's landmarks, from meta.json if recorded, else 1 (square crop)."""
    info = (meta.get("participants") or {}).get(who) or {}
    w, h = info.get("width"), info.get("height")
    return float(w) / float(h) if w and h else 1.0


def _write_side_by_side(out: Path, renderer, state, motion, sound, speaking, user, progress: bool) -> None:
    from echo_ihg.io.media import iter_frames_at_fps, write_mp4
    from echo_ihg.render.video import attribute_series, compose_side_by_side
    from echo_ihg.utils.progress import progress as progress_bar

    T = len(motion)
    avatar = attribute_series(motion, _portrait_aspect(state))
    if speaking is None:
        if sound is not None:
            from echo_ihg.audio.vad import speech_probability

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
