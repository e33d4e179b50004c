"""One frame aspect for real (non-square) video: a session whose participant was filmed at 640×360 goes through
codec fitting, training features, rendering, evaluation inputs and generation, and the same face gives the same
motion codes in each (and different ones from a square reading of the same landmarks)."""

from __future__ import annotations

import json

import numpy as np

from echo_ihg.assets import default_portrait
from echo_ihg.data.session import Participant, Session, session_aspect, write_session
from echo_ihg.data.train_features import participant_motion
from echo_ihg.inference.pipeline import user_block
from echo_ihg.inference.stages import UserMotionEncoder
from echo_ihg.inference.user_track import UserTrack
from echo_ihg.motion.canonical import canonical_landmarks
from echo_ihg.motion.codec import clip_neutral, default_codec
from echo_ihg.render.base import RenderConfig
from echo_ihg.render.files import render_to_file
from echo_ihg.train.fit_codec import iter_clips

W, H, T = 640, 360, 30
ASPECT = W / H


def _face_clip(codec, seed: int = 0) -> np.ndarray:
    """(T, 478, 3) a moving face in a 640×360 frame (codec motion around the canonical face)."""
    rng = np.random.default_rng(seed)
    neutral = canonical_landmarks(width_fraction=0.15, aspect=ASPECT)
    raw = codec.denormalise(0.5 * rng.standard_normal((T, codec.dim)).astype(np.float32))
    return codec.decode(raw, neutral, ASPECT)


def _session(tmp_path, codec):
    lm = _face_clip(codec)
    silent = dict(audio=np.zeros(640 * T, np.float32), valid=np.ones(T, bool), vad=np.zeros(T, np.float32))
    meta = {"participants": {"A": {"frame_size": [W, H]}, "B": {"frame_size": [W, H]}}}
    ses = Session("wide", meta, [], Participant(landmarks=lm, **silent), Participant(landmarks=lm[::-1], **silent))
    return write_session(tmp_path / "test" / "wide", ses), lm


def test_a_non_square_session_gives_the_same_codes_everywhere(tmp_path):
    codec = default_codec()
    ses, lm = _session(tmp_path, codec)
    meta = json.loads((ses / "meta.json").read_text())
    assert session_aspect(meta, "A") == ASPECT

    # codec fitting reads the same aspect
    clips = {c.source: c for c in iter_clips([tmp_path])}
    assert clips[f"{ses}:A"].aspect == ASPECT

    # training features: the session's codes
    train = np.asarray(participant_motion(ses, "A", codec))

    # generation: the pipeline's encoder on the same frames as a tracked 640×360 user video
    track = UserTrack(ses / "user.mp4", lm, np.ones(T, bool), width=W, height=H)
    encoder = UserMotionEncoder.of_clip(codec, track.landmarks, track.valid, track.aspect)
    generate = user_block(track, encoder, 0, T)[0]
    np.testing.assert_allclose(generate, train, atol=1e-4)

    # rendering retargets in that aspect too
    out = tmp_path / "render.mp4"
    render_to_file(default_portrait(), out, RenderConfig(size=256), session=ses, participant="A", progress=False)
    driver = json.loads(out.with_suffix(".json").read_text())["driver_aspect"]
    rendered = codec.normalise(codec.encode(lm, clip_neutral(lm, np.ones(T, bool), driver), driver))
    np.testing.assert_allclose(rendered, train, atol=1e-4)

    # the evaluation's inputs carry it
    from echo_ihg.eval.config import EvalConfig
    from echo_ihg.eval.inputs import session_inputs

    inp = session_inputs(ses, EvalConfig(participants=("A",), min_valid=0.5))[0]
    assert inp.aspect == inp.user_aspect == ASPECT

    # and it matters: a square reading of the same landmarks gives other codes
    square = codec.normalise(codec.encode(lm, clip_neutral(lm, np.ones(T, bool)), 1.0))
    assert np.abs(square - train).max() > 0.1
