"""Fixture generators: tiny dataset releases written the way each dataset's published schema lays them out
(docs/datasets.md). Media are a few frames of a real face (skimage astronaut) so that tracking really runs.
"""

from __future__ import annotations

import io
import json
import tarfile
import wave
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from echo_ihg.io.media import write_mp4

NTSC = Fraction(30000, 1001)


def face_crop(img: np.ndarray, shift: int = 0, flip: bool = False) -> np.ndarray:
    """160×160 crop around the astronaut's face (face ≈ 90 px wide), shifted a little for motion."""
    crop = img[44 + shift:204 + shift, 145 - shift:305 - shift]
    return np.ascontiguousarray(crop[:, ::-1] if flip else crop)


def frames(img: np.ndarray, n: int, flip: bool = False, side_by_side: bool = False) -> list[np.ndarray]:
    out = []
    for i in range(n):
        f = face_crop(img, i % 3, flip)
        out.append(np.concatenate([f, face_crop(img, (i + 1) % 3, True)], 1) if side_by_side else f)
    return out


def tone(seconds: float, rate: int, freq: float, start: float = 0.0) -> np.ndarray:
    """A tone switched on at `start` seconds (silence before): its onset checks audio alignment."""
    t = np.arange(int(round(seconds * rate))) / rate
    return (0.4 * np.sin(2 * np.pi * freq * t) * (t >= start)).astype(np.float32)


def write_wav(path: Path, audio: np.ndarray, rate: int) -> None:
    """PCM16 wav; audio (N,) or (N, C)."""
    a = np.asarray(audio, np.float32)
    a = a.reshape(len(a), -1) if a.ndim > 1 else a.reshape(-1, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(a.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(a, -1, 1) * 32767).astype("<i2").tobytes())


def write_avi(path: Path, video: list[np.ndarray], fps: int, audio: np.ndarray, rate: int) -> None:
    """MPEG-4 Part 2 video + PCM audio in an AVI container (RealTalk ships .avi)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="avi") as out:
        vs = out.add_stream("mpeg4", rate=fps)
        vs.width, vs.height, vs.pix_fmt = video[0].shape[1], video[0].shape[0], "yuv420p"
        as_ = out.add_stream("pcm_s16le", rate=rate)
        as_.layout = "mono"
        for i, f in enumerate(video):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts = i
            for p in vs.encode(vf):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
        af = av.AudioFrame.from_ndarray((audio * 32767).astype("<i2").reshape(1, -1), format="s16", layout="mono")
        af.sample_rate, af.pts = rate, 0
        for p in as_.encode(af):
            out.mux(p)
        for p in as_.encode(None):
            out.mux(p)


# ---------------------------------------------------------------------------------------------- Seamless

def seamless_npz(n: int, invalid: tuple[int, ...] = (), hyper_rate: int = 15) -> dict[str, np.ndarray]:
    """The 24 npz keys listed in the dataset README; widths where the README is silent are illustrative.
    Frames in `invalid` carry the release's invalid-frame encodings: box flag False, box and 133 keypoints
    zero-filled, SMPL-H translation a huge finite sentinel, movement features zero-filled."""
    rng = np.random.default_rng(n)
    f = lambda *shape: rng.normal(0, 0.3, (n, *shape)).astype(np.float32)  # noqa: E731
    z = {
        "boxes_and_keypoints:box": np.tile(np.array([[40, 30, 120, 140]], np.float32), (n, 1)),
        "boxes_and_keypoints:is_valid_box": np.ones(n, bool),
        "boxes_and_keypoints:keypoints": np.abs(f(133, 3)) * 100 + 1,
        "movement:EmotionArousalToken": rng.integers(0, 8, (n, 1)).astype(np.float32),
        "movement:EmotionValenceToken": rng.integers(0, 8, (n, 1)).astype(np.float32),
        "movement:FAUToken": rng.integers(0, 64, (n, 1)).astype(np.float32),
        "movement:FAUValue": np.abs(f(24)),
        "movement:alignment_head_rotation": f(3, 3), "movement:alignment_translation": f(3),
        "movement:emotion_arousal": f(1), "movement:emotion_scores": f(8), "movement:emotion_valence": f(1),
        "movement:expression": f(16), "movement:frame_latent": f(32), "movement:gaze_encodings": f(4),
        "movement:head_encodings": f(6),
        "movement:hypernet_features": rng.normal(0, 1, (max(n // hyper_rate, 1) if n else 0, 8)).astype(np.float32),
        "movement:is_valid": np.ones((n, 1), np.float32),
        "smplh:body_pose": f(21, 3), "smplh:global_orient": f(3), "smplh:is_valid": np.ones(n, bool),
        "smplh:left_hand_pose": f(15, 3), "smplh:right_hand_pose": f(15, 3), "smplh:translation": f(3),
    }
    for i in invalid:
        z["boxes_and_keypoints:is_valid_box"][i] = False
        z["boxes_and_keypoints:box"][i] = 0
        z["boxes_and_keypoints:keypoints"][i] = 0
        z["smplh:translation"][i] = 3.0e38
        z["movement:is_valid"][i] = 0
        z["movement:FAUValue"][i] = 0
    return z


def seamless_json(file_id: str, speech: tuple[float, float]) -> dict:
    """`metadata:transcript` segments (per-word start/end, some null) and `metadata:vad` intervals."""
    s, e = speech
    words = [{"word": "hello", "start": s, "end": s + 0.05, "score": 0.9},
             {"word": "uh", "start": None, "end": None, "score": None},
             {"word": "there", "start": e - 0.05, "end": e, "score": 0.8}]
    return {"id": file_id, "metadata:transcript": [{"start": s, "end": e, "transcript": "hello uh there",
                                                    "words": words}],
            "metadata:vad": [{"start": s, "end": e}]}


def seamless_files(img: np.ndarray, file_id: str, n: int = 10, fps=NTSC, speech=(0.1, 0.25),
                   npz: dict | None = None, freq: float = 440.0) -> dict[str, bytes]:
    """One participant's bundle as {ext: bytes}: mp4 (≈30 fps), 48 kHz stereo wav, json, npz."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        mp4 = Path(d) / "v.mp4"
        write_mp4(mp4, frames(img, n, flip=file_id.endswith("A")), fps=fps)
        wav = Path(d) / "a.wav"
        t = tone(n / float(fps) + 0.05, 48_000, freq, start=speech[0])
        write_wav(wav, np.stack([t, 0.5 * t], 1), 48_000)
        buf = io.BytesIO()
        np.savez(buf, **(seamless_npz(n) if npz is None else npz))
        return {"mp4": mp4.read_bytes(), "wav": wav.read_bytes(),
                "json": json.dumps(seamless_json(file_id, speech)).encode(), "npz": buf.getvalue()}


def write_tar(path: Path, members: dict[str, bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


def write_bundle(folder: Path, file_id: str, files: dict[str, bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for ext, data in files.items():
        (folder / f"{file_id}.{ext}").write_bytes(data)


@pytest.fixture
def img(astronaut) -> np.ndarray:
    return astronaut


@pytest.fixture
def gen():
    """The generators above, for test modules (conftest helpers are not importable under importlib mode)."""
    import types

    return types.SimpleNamespace(
        NTSC=NTSC, face_crop=face_crop, frames=frames, tone=tone, write_wav=write_wav, write_avi=write_avi,
        seamless_npz=seamless_npz, seamless_json=seamless_json, seamless_files=seamless_files,
        write_tar=write_tar, write_bundle=write_bundle, write_mp4=write_mp4)
