"""Live equals offline, one level up: the live server's per-frame user inputs (`live_inputs.UserStream`) are the
offline pipeline's (`pipeline.user_block` over the gap-filled track, `AudioFrames.of`) for the same clip, frame
for frame, `delay` ticks later, with the same max_gap. The documented differences: the neutral face (live: the
first tracked frames, injected equal here), the held face in the second half of a gap longer than max_gap, and
live's default max_gap of 0 (each interpolated frame costs a frame of the lag)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from echo_ihg.audio.features import MelStreamer
from echo_ihg.audio.vad import VadStreamer
from echo_ihg.constants import SAMPLE_RATE, SAMPLES_PER_FRAME
from echo_ihg.inference.live import LiveConfig
from echo_ihg.inference.live_inputs import UserStream
from echo_ihg.inference.pipeline import user_block
from echo_ihg.inference.stages import AudioFrames, UserMotionEncoder
from echo_ihg.inference.user_track import GapFiller, UserTrack
from echo_ihg.motion.canonical import canonical_landmarks
from echo_ihg.motion.codec import default_codec

W, H, T = 640, 480, 60
SHORT, LONG = range(10, 13), range(30, 42)       # 3 missing frames (≤ max_gap), 12 (> max_gap)


def _clip(codec) -> tuple[list[np.ndarray | None], np.ndarray]:
    rng = np.random.default_rng(3)
    neutral = canonical_landmarks(width_fraction=0.2, aspect=W / H)
    raw = codec.denormalise(0.4 * rng.standard_normal((T, codec.dim)).astype(np.float32))
    lm = codec.decode(raw, neutral, W / H)
    faces = [None if (t in SHORT or t in LONG) else lm[t] for t in range(T)]
    t = np.arange(T * SAMPLES_PER_FRAME) / SAMPLE_RATE
    audio = (0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 0.7 * t) > 0)).astype(np.float32)
    return faces, audio


def _offline(codec, faces, audio, max_gap):
    filler = GapFiller(max_gap)
    frames = [f for face in faces for f in filler.push(face)] + filler.finish()
    track = UserTrack(None, np.stack([f[0] for f in frames]), np.array([f[1] for f in frames]), width=W, height=H)
    encoder = UserMotionEncoder.of_clip(codec, track.landmarks, track.valid, track.aspect)
    motion, attrs = user_block(track, encoder, 0, T)
    return encoder, motion, attrs, AudioFrames.of(audio, T), track.valid


def _live(codec, faces, audio, cfg, encoder):
    stream = UserStream(SimpleNamespace(codec=codec), cfg, MelStreamer(), VadStreamer(cfg.generation.vad_backend))
    stream.size = (H, W)
    stream.encoder = encoder           # the offline neutral (live would take it from the first frames)
    out = []
    for n in range(T + stream.delay):
        chunk = audio[n * SAMPLES_PER_FRAME:(n + 1) * SAMPLES_PER_FRAME]
        stream.add_audio([chunk] if len(chunk) else [], cfg.max_audio_lag_frames)
        item = stream.frame(faces[n] if n < T else None)
        assert (item is None) == (n < stream.delay)
        if item is not None:
            out.append(item)
    return out


def test_live_user_inputs_equal_the_offline_pipelines():
    codec, cfg = default_codec(), LiveConfig(max_gap=5)       # PipelineConfig's default
    faces, audio = _clip(codec)
    encoder, motion, attrs, feats, valid = _offline(codec, faces, audio, cfg.max_gap)
    live = _live(codec, faces, audio, cfg, encoder)
    assert len(live) == T
    second_half_of_long_gap = set(range((LONG.start + LONG.stop) // 2, LONG.stop))
    for t, (mel, m, a, vad) in enumerate(live):
        np.testing.assert_allclose(mel[0], feats.mel[t], atol=1e-4, err_msg=f"mel of frame {t}")
        np.testing.assert_allclose(vad[0], feats.vad[t], atol=1e-4, err_msg=f"vad of frame {t}")
        for k in attrs:        # NaN where masked, in both
            np.testing.assert_allclose(a[k][0], attrs[k][t], atol=1e-4, err_msg=f"{k} of frame {t}")
        if t not in second_half_of_long_gap:
            np.testing.assert_allclose(m[0], motion[t], atol=1e-4, err_msg=f"motion of frame {t}")
    assert valid[list(SHORT)].all() and not valid[list(LONG)].any()     # interpolated / masked, as offline


def test_live_takes_its_neutral_from_the_first_tracked_frames():
    codec, cfg = default_codec(), LiveConfig(neutral_frames=5)
    faces, audio = _clip(codec)
    stream = UserStream(SimpleNamespace(codec=codec), cfg, MelStreamer(), VadStreamer(cfg.generation.vad_backend))
    stream.size = (H, W)
    rest = stream.absent(1)[0]
    out = [item[1] for item in map(stream.frame, faces[:5 + stream.delay]) if item is not None]
    assert len(out) == 5 and all(np.array_equal(m, rest) for m in out[:-1]) and not np.array_equal(out[-1], rest)
    assert stream.encoder is not None and stream.encoder.aspect == W / H
