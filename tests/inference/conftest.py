"""Inputs for the generate tests, made once per session from real faces and espeak-ng speech:

- a user clip: the bundled Grace Hopper photo animated with `render.edits.demo_motion` through the renderer
  (256 px, 2 s) with the user's espeak-ng speech as its audio;
- the avatar's espeak-ng speech (22.05 kHz wav, ~4.5 s);
- a tiny randomly initialised model written with the project's checkpoint writer (no default model is
  bundled yet); its motion is random, which is all these plumbing tests need.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

AVATAR_TEXT = "Hello! I am glad you could come today. Let me tell you about the plan."
USER_TEXT = "Well, I think that sounds wonderful, thank you."


def espeak(dest: Path, text: str) -> Path:
    subprocess.run(["espeak-ng", "-w", str(dest), text], check=True, capture_output=True)
    return dest


def user_clip(dest: Path, n_frames: int, audio: np.ndarray | None, blank: tuple[int, int] | None = None,
              size: int = 256) -> Path:
    """Render the bundled user portrait with demo motion; frames [blank) are replaced by a face-less grey."""
    from echo_ihg.assets import default_user_portrait
    from echo_ihg.io.media import read_image, write_mp4
    from echo_ihg.render.base import RenderConfig
    from echo_ihg.render.edits import demo_motion
    from echo_ihg.render.meshwarp import MeshWarpRenderer

    renderer = MeshWarpRenderer(RenderConfig(size=size))
    state = renderer.setup(default_user_portrait())
    img = read_image(default_user_portrait())
    motion = demo_motion(state.landmarks, (img.shape[1], img.shape[0]), n_frames=n_frames)

    def frames():
        for t, lm in enumerate(motion):
            frame = renderer.render_frame(state, lm)
            if blank is not None and blank[0] <= t < blank[1]:
                frame = np.full_like(frame, 128)
            yield frame

    write_mp4(dest, frames(), audio=audio)
    return dest


def tiny_checkpoint(dest: Path, seed: int = 0) -> Path:
    """A tiny EchoModel with random weights (zero-initialised gates opened by noise), default codec layout."""
    import torch

    from echo_ihg.model.checkpoint import save_model
    from echo_ihg.model.config import ModelConfig
    from echo_ihg.model.echo import EchoModel
    from echo_ihg.model.sdcm import canonical_centres
    from echo_ihg.motion.codec import default_codec

    torch.manual_seed(seed)
    cfg = ModelConfig(size="tiny", chunk_frames=12, prev_frames=8, audio_window=2, history_frames=500)
    model = EchoModel(default_codec().layout, canonical_centres(), cfg)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    save_model(dest, model, meta={"note": "tiny random model for tests"})
    return dest


@pytest.fixture(scope="session")
def gen_inputs(tmp_path_factory) -> dict[str, Path]:
    from echo_ihg.assets import default_portrait
    from echo_ihg.io.media import load_audio

    root = tmp_path_factory.mktemp("generate_inputs")
    user_audio = load_audio(espeak(root / "user_speech.wav", USER_TEXT))
    return {
        "portrait": default_portrait(),
        "avatar_audio": espeak(root / "avatar.wav", AVATAR_TEXT),
        "user_video": user_clip(root / "user.mp4", 50, user_audio),
        "checkpoint": tiny_checkpoint(root / "tiny.safetensors"),
        "root": root,
    }


@pytest.fixture(scope="session")
def make_user_clip():
    """`user_clip(dest, n_frames, audio, blank=None, size=256)` for tests that need their own user video."""
    return user_clip
