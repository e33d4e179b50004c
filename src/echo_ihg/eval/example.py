"""Example video of an evaluation: user | generated avatar | attribute lanes, both voices.

Synthetic and prepared sessions store landmarks, not necessarily video, so both faces are rendered from
bundled portraits with the project's renderer (`render.meshwarp`): the avatar (astronaut) driven by the
generated motion, the user (Grace Hopper) by the user's recorded motion, each retargeted to its portrait the
way `echo-ihg generate` does (`inference.stages.AvatarMotionDecoder`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from echo_ihg.constants import FPS, SAMPLES_PER_FRAME
from echo_ihg.eval.inputs import AvatarInput, motion_of


def write_example(dest: Path, inp: AvatarInput, motion: np.ndarray, codec, seconds: float,
                  size: int = 256) -> Path:
    """motion (T, Dm) normalised generated avatar motion; writes the first `seconds` to dest (H.264 + AAC)."""
    from echo_ihg.assets import default_portrait, default_user_portrait
    from echo_ihg.inference.stages import AvatarMotionDecoder, setup_portrait
    from echo_ihg.io.media import write_mp4
    from echo_ihg.motion.attributes import facial_attributes
    from echo_ihg.render.base import RenderConfig
    from echo_ihg.render.meshwarp import MeshWarpRenderer
    from echo_ihg.render.video import ComposerConfig, SideBySide

    n = min(len(motion), int(seconds * FPS))
    renderer = MeshWarpRenderer(RenderConfig(size=size))
    av, us = setup_portrait(default_portrait(), renderer), setup_portrait(default_user_portrait(), renderer)
    avatar = AvatarMotionDecoder(codec, av.landmarks, av.aspect).decode(motion[:n])
    user = AvatarMotionDecoder(codec, us.landmarks, us.aspect).decode(motion_of(inp, inp.user, codec)[:n])
    composer = SideBySide(facial_attributes(avatar, av.aspect), inp.avatar_vad[:n],
                          facial_attributes(user, us.aspect), ComposerConfig(panel=size))
    frames = (composer.frame(t, renderer.render_frame(av.state, avatar[t]), renderer.render_frame(us.state, user[t]))
              for t in range(n))
    a = np.asarray(inp.session.participant(inp.who).audio, np.float32)[:n * SAMPLES_PER_FRAME]
    u = np.asarray(inp.session.participant(inp.user).audio, np.float32)[:n * SAMPLES_PER_FRAME]
    audio = np.clip(a + u, -1.0, 1.0)
    write_mp4(dest, frames, audio=audio)
    return dest
