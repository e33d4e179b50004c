"""The audio front end (decode -> log-mel + VAD) on awkward inputs: odd rates, stereo, compressed
containers, audio inside mp4, truncated / non-media / missing / empty files."""

import shutil
import subprocess
import wave

import av
import numpy as np
import pytest

from echo_ihg.audio.features import log_mel
from echo_ihg.audio.vad import speech_probability
from echo_ihg.errors import InputError
from echo_ihg.io.media import load_audio, write_mp4


def _pcm_wav(path, audio: np.ndarray, rate: int) -> None:
    """audio (N,) or (N, C) float -> PCM16 wav."""
    a = audio.reshape(len(audio), -1 if audio.size else 1)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(a.shape[1]), w.setsampwidth(2), w.setframerate(rate)
        w.writeframes((np.clip(a, -1, 1) * 32767).astype("<i2").tobytes())


def _encode(path, audio: np.ndarray, rate: int, codec: str, out_rate: int | None = None) -> None:
    """Mono float audio -> a compressed file through PyAV (mp3, ogg/opus)."""
    out_rate = out_rate or rate
    with av.open(str(path), "w") as out:
        s = out.add_stream(codec, rate=out_rate)
        s.layout = "mono"
        resampler = av.AudioResampler(format=s.format.name, layout="mono", rate=out_rate)
        frame_size = s.codec_context.frame_size or 1024
        src = av.AudioFrame.from_ndarray(audio.reshape(1, -1).astype(np.float32), format="flt", layout="mono")
        src.sample_rate = rate
        fifo = av.AudioFifo()
        for f in resampler.resample(src) + resampler.resample(None):
            fifo.write(f)
        while fifo.samples:
            f = fifo.read(min(frame_size, fifo.samples))
            if f.samples < frame_size:  # the encoder wants whole frames: pad the last one with silence
                pad = np.zeros((1, frame_size), dtype=f.to_ndarray().dtype)
                pad[:, : f.samples] = f.to_ndarray()[:1]
                f = av.AudioFrame.from_ndarray(pad, format=f.format.name, layout="mono")
                f.sample_rate = out_rate
            f.pts = None
            for p in s.encode(f):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)


def _tone(seconds: float, rate: int, freq: float) -> np.ndarray:
    return (0.4 * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def _peak_mel_bin(audio16k: np.ndarray) -> int:
    return int(np.bincount(log_mel(audio16k).argmax(1)).argmax())


@pytest.fixture(scope="module")
def speech16k(tmp_path_factory) -> np.ndarray:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    wav = tmp_path_factory.mktemp("speech") / "s.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), "Good morning, nice to see you again."], check=True,
                   capture_output=True)
    words = load_audio(wav)
    return np.concatenate([np.zeros(12800, np.float32), words, np.zeros(12800, np.float32)])


def test_8khz_mono_and_48khz_stereo_match_16khz(tmp_path):
    ref_bin = _peak_mel_bin(_tone(1.0, 16000, 1000.0))
    _pcm_wav(tmp_path / "a8k.wav", _tone(1.0, 8000, 1000.0), 8000)
    stereo = np.stack([_tone(1.0, 48000, 1000.0), _tone(1.0, 48000, 1000.0)], 1)
    _pcm_wav(tmp_path / "a48k.wav", stereo, 48000)
    for name in ("a8k.wav", "a48k.wav"):
        audio = load_audio(tmp_path / name)
        assert abs(len(audio) - 16000) <= 64
        mel = log_mel(audio)
        assert mel.shape == (100, 80) and np.isfinite(mel).all()
        assert _peak_mel_bin(audio) == ref_bin
        assert speech_probability(audio).shape == (25,)


def test_stereo_with_different_channels_is_downmixed(tmp_path):
    stereo = np.stack([_tone(1.0, 48000, 500.0), _tone(1.0, 48000, 3000.0)], 1)
    _pcm_wav(tmp_path / "lr.wav", stereo, 48000)
    mel = log_mel(load_audio(tmp_path / "lr.wav")).mean(0)
    for f in (500.0, 3000.0):  # both channels are heard
        assert mel[_peak_mel_bin(_tone(1.0, 16000, f))] > mel.mean() + 3


@pytest.mark.parametrize("kind", ["mp3", "ogg", "mp4"])
def test_compressed_containers_keep_speech_timing(tmp_path, speech16k, kind):
    ref = speech_probability(speech16k)
    path = tmp_path / f"s.{kind}"
    if kind == "mp3":
        _encode(path, speech16k, 16000, "libmp3lame", out_rate=44100)
    elif kind == "ogg":
        _encode(path, speech16k, 16000, "libopus", out_rate=48000)
    else:
        n = len(speech16k) // 640
        write_mp4(path, (np.zeros((32, 32, 3), np.uint8) for _ in range(n)), audio=speech16k)
    audio = load_audio(path)
    T = min(len(ref), len(audio) // 640)
    assert T >= len(ref) - 3
    got = speech_probability(audio)[:T]
    # same frames detected as speech, up to a frame at each edge (codec delay / priming)
    on_ref, on_got = np.flatnonzero(ref[:T] > 0.5), np.flatnonzero(got > 0.5)
    assert abs(on_ref[0] - on_got[0]) <= 1 and abs(on_ref[-1] - on_got[-1]) <= 2
    assert np.mean((ref[:T] > 0.5) == (got > 0.5)) > 0.9


def _faststart_copy(src, dest) -> None:
    """Remux an mp4 with its index (moov) first, as streamable files are."""
    with av.open(str(src)) as inp, av.open(str(dest), "w", format="mp4", options={"movflags": "faststart"}) as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        for packet in inp.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)


def test_truncated_mp4(tmp_path, speech16k, caplog):
    n = len(speech16k) // 640
    write_mp4(tmp_path / "v.mp4", (np.full((64, 64, 3), i, np.uint8) for i in range(n)), audio=speech16k)
    _faststart_copy(tmp_path / "v.mp4", tmp_path / "fs.mp4")
    for name in ("v.mp4", "fs.mp4"):
        data = (tmp_path / name).read_bytes()
        (tmp_path / f"cut_{name}").write_bytes(data[: len(data) * 6 // 10])
    # index at the end (the default): nothing can be decoded -> an error naming the file
    with pytest.raises(InputError, match="not a readable") as err:
        load_audio(tmp_path / "cut_v.mp4")
    assert err.value.path == tmp_path / "cut_v.mp4"
    # index first (streamable): the audio up to the cut is recovered, with a warning naming the file
    with caplog.at_level("WARNING"):
        audio = load_audio(tmp_path / "cut_fs.mp4")
    assert 0.3 * len(speech16k) < len(audio) < 0.8 * len(speech16k)
    assert any("cut_fs.mp4" in r.getMessage() for r in caplog.records)
    full = speech_probability(load_audio(tmp_path / "fs.mp4"))
    part = speech_probability(audio)
    assert log_mel(audio).shape == (4 * len(part), 80)
    np.testing.assert_allclose(part[: len(part) - 2], full[: len(part) - 2], atol=1e-3)


@pytest.mark.parametrize("content", [b"", b"hello, I am not a video", bytes(range(256)) * 40])
def test_non_media_file(tmp_path, content):
    path = tmp_path / "fake.wav"
    path.write_bytes(content)
    with pytest.raises(InputError) as err:
        load_audio(path)
    assert err.value.path == path


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found") as err:
        load_audio(tmp_path / "nope.mp3")
    assert err.value.path == tmp_path / "nope.mp3"


def test_empty_audio(tmp_path):
    _pcm_wav(tmp_path / "empty.wav", np.zeros(0, np.float32), 16000)
    with pytest.raises(InputError) as err:
        load_audio(tmp_path / "empty.wav")
    assert err.value.path == tmp_path / "empty.wav"
    # empty or sub-frame arrays give zero frames, not an error
    assert log_mel(np.zeros(0, np.float32)).shape == (0, 80)
    assert speech_probability(np.zeros(300, np.float32)).shape == (0,)


def test_video_without_audio_names_the_file(tmp_path):
    path = tmp_path / "silent.mp4"
    write_mp4(path, (np.zeros((32, 32, 3), np.uint8) for _ in range(10)))
    with pytest.raises(InputError, match="no audio") as err:
        load_audio(path)
    assert err.value.path == path


@pytest.mark.parametrize("bad,problem", [
    (np.array([0.0, np.nan] * 800, np.float32), "NaN"),
    (np.zeros((1600, 2), np.float32), "mono"),
    (np.zeros(1600, np.int16), "float"),
])
def test_bad_arrays_are_input_errors(bad, problem):
    from echo_ihg.audio.features import MelStreamer
    from echo_ihg.audio.vad import VadStreamer

    for fn in (log_mel, speech_probability, MelStreamer().push, VadStreamer().push):
        with pytest.raises(InputError, match=problem):
            fn(bad)
    assert log_mel(np.zeros((1280, 1), np.float32)).shape == (8, 80)  # a single-channel column is fine
