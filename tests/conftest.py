"""Shared fixtures: real faces bundled with scikit-image (no downloads)."""

from __future__ import annotations

import os

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("ECHO_IHG_PROGRESS", "0")

import numpy as np
import pytest


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """512×512 RGB portrait (Eileen Collins), uint8."""
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="session")
def lfw_faces() -> list[np.ndarray]:
    """The first 100 images of skimage's LFW subset (all faces), upscaled from 25×25 to 200×200 RGB uint8."""
    import cv2
    from skimage import data

    faces = data.lfw_subset()[:100]
    return [cv2.resize(np.repeat((f * 255).round().astype(np.uint8)[:, :, None], 3, 2), (200, 200),
                       interpolation=cv2.INTER_CUBIC) for f in faces]


@pytest.fixture(scope="session")
def tiny_synth_corpus(tmp_path_factory):
    """4 synthetic dyadic sessions of 20 s, all in the train split (echo_ihg.synth; about 5 s to build)."""
    from echo_ihg.synth.generate import SynthConfig, generate_corpus

    root = tmp_path_factory.mktemp("tiny_synth_corpus")
    generate_corpus(root, SynthConfig(sessions=4, seconds=20.0, seed=3, workers=2, val_every=1000, test_every=1000))
    return root


def _encode_video(path, frames, fps: float = 25, container: str | None = None, codec: str = "libx264",
                  options: dict | None = None) -> None:
    """Encode RGB frames (H, W, 3) uint8 with PyAV at any rate / container / codec — for tests that need
    what the product writer (`io.media.write_mp4`: H.264 mp4 at 25 fps) deliberately does not make."""
    import av

    with av.open(str(path), "w", format=container, options=options or {}) as out:
        stream = None
        for i, frame in enumerate(frames):
            if stream is None:
                stream = out.add_stream(codec, rate=fps)
                stream.width, stream.height, stream.pix_fmt = frame.shape[1], frame.shape[0], "yuv420p"
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            vf.pts = i
            for p in stream.encode(vf):
                out.mux(p)
        for p in stream.encode(None):
            out.mux(p)


@pytest.fixture(scope="session")
def encode_video():
    """`encode_video(path, frames, fps=25, container=None, codec="libx264", options=None)`."""
    return _encode_video
