"""PyAV media I/O: containers, rates, channels, corrupt and truncated files."""

import wave

import numpy as np
import pytest

from echo_ihg.errors import InputError
from echo_ihg.io import media


def _tone(seconds: float, rate: int, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.4 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _write_wav(path, audio: np.ndarray, rate: int) -> None:
    """audio: (N,) or (N, C) float32."""
    a = audio.reshape(len(audio), -1)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(a.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((a * 32767).astype("<i2").tobytes())


def _frames(n: int, h: int = 48, w: int = 64):
    for i in range(n):
        f = np.zeros((h, w, 3), np.uint8)
        f[:, : (i * 3) % w] = 200
        yield f


@pytest.mark.parametrize("rate,channels", [(8000, 1), (48000, 2), (44100, 2), (16000, 1)])
def test_load_audio_resamples_and_downmixes(tmp_path, rate, channels):
    tone = _tone(1.0, rate)
    audio = np.stack([tone] * channels, 1) if channels > 1 else tone
    _write_wav(tmp_path / "a.wav", audio, rate)
    out = media.load_audio(tmp_path / "a.wav")
    assert out.dtype == np.float32 and out.ndim == 1
    assert abs(len(out) - 16000) <= 32
    spectrum = np.abs(np.fft.rfft(out[:16000]))
    assert abs(np.argmax(spectrum) - 440) <= 2  # 1 Hz bins: the tone survives resampling


def test_write_mp4_roundtrip_frames_audio_and_alignment(tmp_path):
    audio = _tone(2.5, 16000)  # longer than the video: trimmed to 2 s
    n = media.write_mp4(tmp_path / "v.mp4", _frames(50), audio=audio)
    assert n == 50
    info = media.video_info(tmp_path / "v.mp4")
    assert (info.width, info.height, info.fps) == (64, 48, 25.0)
    frames = list(media.iter_frames_at_fps(tmp_path / "v.mp4"))
    assert len(frames) == 50
    decoded = media.load_audio(tmp_path / "v.mp4")
    # AAC adds encoder priming (~1024 samples); the audio track covers the video's 2 s
    assert 32000 <= len(decoded) <= 32000 + 2048
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]


def test_iter_frames_at_fps_resamples_30fps_by_timestamp(tmp_path, encode_video):
    path = tmp_path / "v30.mp4"
    # 2 s at 30 fps, frame i has brightness 4 * i
    encode_video(path, (np.full((48, 64, 3), 4 * i, np.uint8) for i in range(60)), fps=30)
    frames = list(media.iter_frames_at_fps(path, fps=25))
    assert len(frames) == 50
    # output frame k shows the source frame nearest to k / 25 s
    for k in (0, 10, 37, 49):
        src = int(round(k / 25 * 30))
        assert abs(frames[k].mean() - 4 * src) < 6


def test_truncated_mp4_recovers_or_names_file(tmp_path, caplog, encode_video):
    media.write_mp4(tmp_path / "v.mp4", _frames(50), audio=_tone(2, 16000))
    raw = (tmp_path / "v.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InputError, match="cut.mp4"):
        list(media.iter_video_frames(tmp_path / "cut.mp4"))  # moov atom at the end is gone
    # a fragment-safe container (mpegts) truncated mid-stream decodes what is there, with a warning
    ts = tmp_path / "v.ts"
    encode_video(ts, _frames(50), container="mpegts")
    data = ts.read_bytes()
    (tmp_path / "cut.ts").write_bytes(data[: int(len(data) * 0.6)])
    frames = list(media.iter_video_frames(tmp_path / "cut.ts"))
    assert 5 < len(frames) < 50


@pytest.mark.parametrize("content", [b"", b"this is not a media file at all" * 10])
def test_non_media_and_missing_files_name_the_file(tmp_path, content):
    bad = tmp_path / "notes.mp4"
    bad.write_bytes(content)
    with pytest.raises(InputError, match="notes.mp4"):
        media.load_audio(bad)
    with pytest.raises(InputError, match="file not found"):
        media.load_audio(tmp_path / "missing.wav")
    with pytest.raises(InputError, match="no audio stream"):
        media.write_mp4(tmp_path / "silent.mp4", _frames(5))
        media.load_audio(tmp_path / "silent.mp4")


def test_read_image_grey_rgba_and_errors(tmp_path):
    import cv2

    grey = np.full((20, 30), 100, np.uint8)
    cv2.imwrite(str(tmp_path / "g.png"), grey)
    assert media.read_image(tmp_path / "g.png").shape == (20, 30, 3)
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., 2] = 255  # red in BGR order, fully transparent -> white
    cv2.imwrite(str(tmp_path / "a.png"), rgba)
    assert media.read_image(tmp_path / "a.png")[0, 0].tolist() == [255, 255, 255]
    (tmp_path / "x.png").write_text("nope")
    with pytest.raises(InputError, match="x.png"):
        media.read_image(tmp_path / "x.png")


def test_fit_audio_length():
    assert len(media.fit_audio_length(np.ones(100), 3)) == 1920
    assert len(media.fit_audio_length(np.ones(5000), 3)) == 1920


@pytest.mark.parametrize("src_fps", [10, 30, 50])
def test_iter_frames_at_fps_keeps_duration(tmp_path, src_fps, encode_video):
    path = tmp_path / f"v{src_fps}.mp4"
    encode_video(path, (np.full((48, 64, 3), i % 250, np.uint8) for i in range(2 * src_fps)), fps=src_fps)  # 2 s
    # output frame k exists while its nearest source frame exists: k / 25 < (2 s - 1 / src_fps) + 1 / (2 src_fps)
    expected = int(np.ceil((2.0 - 0.5 / src_fps) * 25 - 1e-9))
    assert expected == {10: 49, 30: 50, 50: 50}[src_fps]
    assert len(list(media.iter_frames_at_fps(path, fps=25))) == expected
