"""Media I/O through PyAV: decode audio from any container, iterate video frames, read images, write mp4.

Corrupt packets are skipped with a warning (counted), never a crash. Every error names the file.
Shapes: audio (N,) float32 in [-1, 1] at 16 kHz mono; frames (H, W, 3) uint8 RGB.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import av
import numpy as np

from echo_ihg.constants import FPS, SAMPLE_RATE
from echo_ihg.errors import InputError
from echo_ihg.utils.atomic import atomic_path

log = logging.getLogger(__name__)
av.logging.set_level(av.logging.PANIC)  # FFmpeg's own chatter; we report problems ourselves

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}


def _open(path: str | Path) -> av.container.InputContainer:
    path = Path(path)
    if not path.exists():
        raise InputError(path, "file not found")
    if not path.is_file():
        raise InputError(path, "not a file")
    try:
        return av.open(str(path), mode="r")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(path, f"not a readable audio/video file ({exc.__class__.__name__}: {exc})") from None


def _first_stream(container, kind: str, path: Path):
    """The container's first "audio" or "video" stream; InputError naming the file when it has none."""
    streams = getattr(container.streams, kind)
    if not streams:
        raise InputError(path, f"has no {kind} stream")
    return streams[0]


def probe_has_audio(path: str | Path) -> bool:
    with _open(path) as c:
        return len(c.streams.audio) > 0


def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE, optional: bool = False) -> np.ndarray | None:
    """Decode the first audio stream of any container, downmixed to mono and resampled. -> (N,) float32.
    optional: a container without an audio stream gives None (one opening of the file) instead of an error."""
    path = Path(path)
    with _open(path) as container:
        if optional and not container.streams.audio:
            return None
        stream = _first_stream(container, "audio", path)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        chunks: list[np.ndarray] = []
        for frame in _decoded_frames(container, stream, path, "audio"):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    if not chunks:
        raise InputError(path, "audio stream decoded to no samples (empty or corrupt)")
    audio = np.concatenate(chunks).astype(np.float32)
    if not np.all(np.isfinite(audio)):
        raise InputError(path, "audio contains NaN or infinite samples")
    return np.clip(audio, -1.0, 1.0)


def _safe_demux(container, stream, path: Path) -> Iterator[av.Packet]:
    """Demux packets, stopping cleanly (with a warning) at a truncated or corrupt tail."""
    it = container.demux(stream)
    while True:
        try:
            packet = next(it)
        except StopIteration:
            return
        except av.error.FFmpegError as exc:
            log.warning("%s: stopped reading at a corrupt or truncated part (%s)", path, exc)
            return
        yield packet  # the final empty packet flushes the decoder


def _decoded_frames(container, stream, path: Path, kind: str) -> Iterator[av.frame.Frame]:
    """Decoded frames of `stream`; packets that fail to decode are skipped (one warning with their count at
    the end), and a truncated or corrupt tail ends the stream cleanly (`_safe_demux`)."""
    bad = 0
    for packet in _safe_demux(container, stream, path):
        try:
            frames = packet.decode()
        except av.error.FFmpegError:
            bad += 1
            continue
        yield from frames
    if bad:
        log.warning("%s: skipped %d corrupt %s packet(s)", path, bad, kind)


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int
    height: int
    fps: float
    n_frames: int  # estimate from the container; the decoded count may differ
    duration: float


def video_info(path: str | Path) -> VideoInfo:
    path = Path(path)
    with _open(path) as c:
        s = _first_stream(c, "video", path)
        rate = float(s.average_rate or s.guessed_rate or FPS)
        dur = float(s.duration * s.time_base) if s.duration else (c.duration or 0) / 1e6
        n = s.frames or int(round(dur * rate))
        return VideoInfo(path, s.codec_context.width, s.codec_context.height, rate, n, dur)


def iter_video_frames(path: str | Path) -> Iterator[tuple[float, np.ndarray]]:
    """Yield (time in seconds, RGB frame (H, W, 3) uint8) for every decodable frame, skipping corrupt ones."""
    path = Path(path)
    with _open(path) as container:
        stream = _first_stream(container, "video", path)
        stream.thread_type = "AUTO"
        index = 0
        rate = float(stream.average_rate or stream.guessed_rate or FPS)
        t_last = -1.0 / rate
        for frame in _decoded_frames(container, stream, path, "video"):
            t = frame.time
            if t is None or not math.isfinite(t):
                t = t_last + 1.0 / rate  # frames without a timestamp follow the previous one
            t_last = float(t)
            index += 1
            yield t_last, frame.to_ndarray(format="rgb24")
        if index == 0:
            raise InputError(path, "video stream decoded to no frames (empty or corrupt)")


def iter_frames_at_fps(path: str | Path, fps: float = FPS) -> Iterator[np.ndarray]:
    """Resample a video to `fps` by timestamp, in bounded memory.

    Output frame k shows the source frame whose time is nearest to k / fps (times relative to the first
    frame); a gap in the source repeats the frame before it. The last source frame lasts one source frame
    interval, and output frame k exists while its nearest source frame exists (k / fps < t_last + interval / 2)
    — the rule `data.adapters.base.source_index_for_frames` uses for dataset arrays, so both agree on T.
    """
    prev: np.ndarray | None = None
    t_prev = t0 = 0.0
    interval = 1.0 / fps
    k = 0
    for t, frame in iter_video_frames(path):
        if prev is None:
            t0 = t
        t -= t0
        if prev is not None and t > t_prev:
            interval = t - t_prev
        while prev is not None and k / fps < 0.5 * (t_prev + t) - 1e-9:
            yield prev
            k += 1
        prev, t_prev = frame, t
    end = t_prev + 0.5 * interval
    while prev is not None and k / fps < end - 1e-9:
        yield prev
        k += 1


def read_image(path: str | Path) -> np.ndarray:
    """Read an image as RGB uint8 (H, W, 3). Grey-scale is expanded; alpha is composited on white."""
    import cv2

    path = Path(path)
    if not path.exists():
        raise InputError(path, "file not found")
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise InputError(path, "not a readable image (PNG, JPEG, BMP, WebP or TIFF expected)")
    return to_rgb_uint8(raw, path, bgr=True)


def to_rgb_uint8(img: np.ndarray, path: str | Path | None = None, bgr: bool = False) -> np.ndarray:
    """Normalise an array image to RGB uint8 (H, W, 3): grey -> 3 channels, RGBA -> over white, float -> 0..255."""
    if img.dtype != np.uint8:
        if img.dtype == np.uint16:
            img = (img / 257.0).round().astype(np.uint8)
        elif np.issubdtype(img.dtype, np.floating):
            scale = 255.0 if img.max(initial=0) <= 1.0 + 1e-6 else 1.0
            img = np.clip(img * scale, 0, 255).round().astype(np.uint8)
        else:
            raise InputError(path, f"unsupported image dtype {img.dtype}")
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise InputError(path, f"unsupported image shape {img.shape} (expected H×W, H×W×3 or H×W×4)")
    if img.shape[2] == 4:
        alpha = img[:, :, 3:4].astype(np.float32) / 255.0
        img = (img[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
    if bgr:
        img = img[:, :, ::-1]
    return np.ascontiguousarray(img)


def write_mp4(dest: str | Path, frames: Iterable[np.ndarray], fps: int = FPS,
              audio: np.ndarray | None = None, sample_rate: int = SAMPLE_RATE,
              crf: int = 20, preset: str = "veryfast") -> int:
    """Write RGB frames (H, W, 3) uint8 as H.264 (+ AAC mono audio) mp4, atomically. Returns frame count.

    The audio is padded or trimmed to exactly n_frames / fps seconds so that audio and video end together.
    Frames are consumed lazily (bounded memory); width and height are rounded down to even numbers.
    """
    dest = Path(dest)
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise InputError(dest, "no frames to write")
    h, w = (first.shape[0] // 2) * 2, (first.shape[1] // 2) * 2
    n = 0
    with atomic_path(dest, suffix=".mp4") as tmp:
        with av.open(str(tmp), mode="w", format="mp4") as out:
            vs = out.add_stream("libx264", rate=fps)
            vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
            vs.options = {"crf": str(crf), "preset": preset}
            as_ = None
            if audio is not None:
                as_ = out.add_stream("aac", rate=sample_rate)
                as_.layout = "mono"
            for frame in _chain(first, frames):
                if frame.shape[:2] != first.shape[:2]:
                    raise InputError(dest, f"frame {n} has size {frame.shape[:2]}, expected {first.shape[:2]}")
                vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[:h, :w]), format="rgb24")
                vf.pts = n
                for p in vs.encode(vf):
                    out.mux(p)
                n += 1
            for p in vs.encode(None):
                out.mux(p)
            if as_ is not None:
                _encode_audio(out, as_, fit_audio_length(audio, n, fps, sample_rate), sample_rate)
    return n


def _chain(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield first
    yield from rest


def fit_audio_length(audio: np.ndarray, n_frames: int, fps: int = FPS,
                     sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Pad with silence or trim so that len(audio) == n_frames * sample_rate / fps exactly."""
    want = int(round(n_frames * sample_rate / fps))
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if len(audio) >= want:
        return audio[:want]
    return np.concatenate([audio, np.zeros(want - len(audio), np.float32)])


def _encode_audio(out, stream, audio: np.ndarray, sample_rate: int) -> None:
    block = 1024 * 16
    pts = 0
    for start in range(0, len(audio), block):
        chunk = np.ascontiguousarray(audio[start:start + block].reshape(1, -1))
        af = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
        af.sample_rate = sample_rate
        af.pts = pts
        pts += chunk.shape[1]
        for p in stream.encode(af):
            out.mux(p)
    for p in stream.encode(None):
        out.mux(p)


def to_pcm16(audio: np.ndarray) -> np.ndarray:
    """(N,) float in [-1, 1] -> (N,) int16 (clipped, × 32767, rounded): what write_wav and write_flac store;
    reading back divides by 32767, so a float that came from PCM16 survives a write bit-exactly."""
    return (np.clip(np.asarray(audio, np.float32), -1.0, 1.0) * 32767.0).round().astype("<i2")


def write_wav(dest: str | Path, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write mono PCM16 wav atomically."""
    import wave

    pcm = to_pcm16(audio)
    with atomic_path(dest, suffix=".wav") as tmp:
        with wave.open(str(tmp), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(sample_rate)
            w.writeframes(pcm.tobytes())



_FLAC_BLOCK = 16384  # samples per frame handed to the encoder (the encoder picks its own FLAC block size)


def write_flac(dest: str | Path, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write mono 16-bit FLAC atomically: lossless, so it decodes to exactly the PCM16 samples write_wav
    would store (`to_pcm16`), at about a quarter of the size for speech with long silences."""
    pcm = to_pcm16(audio)
    with atomic_path(dest, suffix=".flac") as tmp:
        with av.open(str(tmp), mode="w", format="flac") as out:
            stream = out.add_stream("flac", rate=sample_rate)
            stream.layout, stream.format = "mono", "s16"
            for start in range(0, len(pcm), _FLAC_BLOCK):
                chunk = np.ascontiguousarray(pcm[start:start + _FLAC_BLOCK].reshape(1, -1))
                frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="mono")
                frame.sample_rate, frame.pts = sample_rate, start
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)


def read_flac_pcm16(path: str | Path) -> tuple[np.ndarray, int]:
    """Decode a 16-bit FLAC file without any conversion -> (pcm (N, C) int16, sample rate).

    Lossless data files only: another codec, or a sample width other than 16 bit, is an InputError naming
    the file (load_audio is the reader for arbitrary media). ~30 ms for 120 s of 16 kHz mono on this machine.
    """
    path = Path(path)
    with _open(path) as container:
        stream = _first_stream(container, "audio", path)
        ctx = stream.codec_context
        if ctx.name != "flac":
            raise InputError(path, f"expected FLAC audio, got codec {ctx.name!r}")
        if ctx.format is None or ctx.format.name not in ("s16", "s16p"):
            raise InputError(path, f"expected 16-bit FLAC, got sample format "
                                   f"{getattr(ctx.format, 'name', None)!r}")
        channels, rate = ctx.channels, ctx.sample_rate
        chunks = [f.to_ndarray().reshape(-1, channels) if f.format.name == "s16" else f.to_ndarray().T
                  for f in _decoded_frames(container, stream, path, "audio")]
    if not chunks:
        raise InputError(path, "audio stream decoded to no samples (empty or corrupt)")
    return np.concatenate(chunks).astype("<i2", copy=False), int(rate)
