"""The live WebSocket protocol (documented for clients in docs/protocol.md): message kinds, binary headers,
limits and parsing. Parsing never raises anything but `ProtocolError` (-> an error frame to the client).

Binary messages start with one kind byte; all numbers are little-endian.

client -> server
    0x01 VIDEO        <B I d>  seq (uint32), client capture time (float64, ms, the client's clock) + JPEG bytes
    0x02 USER_AUDIO   <B>      + PCM16 mono 16 kHz samples (the user's microphone)
    0x03 AVATAR_AUDIO <B>      + PCM16 mono 16 kHz samples (the avatar's speech, e.g. a TTS stream)
    0x04 AVATAR_FILE  <B>      + the bytes of an audio file (wav / mp3 / ogg / ...; decoded and resampled)
server -> client
    0x81 AVATAR_FRAME <B I I d f I>  frame index, user seq shown with it (0xFFFFFFFF: none), that user frame's
                      client time echoed (NaN: none), server latency ms (user frame arrival -> this frame
                      sent), n = byte length of the audio that follows; then n bytes of PCM16 16 kHz (the
                      avatar's audio of this frame, 640 samples) and the JPEG of the frame.
Text messages are JSON objects with a "type": hello / transcript / stop (client), ready / stats / error / bye
(server).
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

VIDEO, USER_AUDIO, AVATAR_AUDIO, AVATAR_FILE = 0x01, 0x02, 0x03, 0x04
AVATAR_FRAME = 0x81
NO_SEQ = 0xFFFFFFFF

VIDEO_HEADER = struct.Struct("<BId")
FRAME_HEADER = struct.Struct("<BIIdfI")
JPEG_MAGIC = b"\xff\xd8"
CLIENT_TYPES = ("hello", "transcript", "stop")


class ProtocolError(Exception):
    """A client message the server refuses; `code` is a stable machine-readable name."""

    def __init__(self, code: str, message: str, fatal: bool = False):
        super().__init__(message)
        self.code, self.message, self.fatal = code, message, fatal


@dataclass(frozen=True)
class Limits:
    """Per-server and per-session limits (defaults: a small machine; README, "Live server")."""

    max_sessions: int = 2
    max_message_bytes: int = 4 * 1024 * 1024     # any single message (an avatar audio file included)
    max_frame_bytes: int = 256 * 1024            # one JPEG user frame
    max_frame_pixels: int = 1280 * 720           # decoded user frame size
    max_messages_per_s: float = 200.0            # token bucket per session (25 video + audio chunks + slack)
    burst_messages: int = 100
    max_avatar_audio_s: float = 300.0            # avatar speech queued ahead of playback
    max_transcript_entries: int = 10000
    max_text_chars: int = 2000                   # per transcript entry
    hello_timeout_s: float = 10.0
    max_errors: int = 50                         # refused messages before the session is closed

    def __post_init__(self) -> None:
        if self.max_sessions < 1 or self.max_message_bytes < 1024 or self.max_frame_bytes < 1024 \
                or self.max_messages_per_s <= 0 or self.burst_messages < 1:
            raise ValueError("limits must be positive (max_sessions ≥ 1, message / frame sizes ≥ 1 KiB)")

    def public(self) -> dict[str, Any]:
        return {"max_sessions": self.max_sessions, "max_message_bytes": self.max_message_bytes,
                "max_frame_bytes": self.max_frame_bytes, "max_frame_pixels": self.max_frame_pixels,
                "max_messages_per_s": self.max_messages_per_s, "max_avatar_audio_s": self.max_avatar_audio_s}


class RateLimiter:
    """Token bucket: `allow(now)` is False once more than `burst` messages came faster than `rate`/s."""

    def __init__(self, rate: float, burst: int):
        self.rate, self.burst = float(rate), float(burst)
        self.tokens, self.last = float(burst), None

    def allow(self, now: float) -> bool:
        if self.last is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class VideoFrame:
    seq: int
    client_ms: float
    jpeg: bytes


def parse_binary(data: bytes, limits: Limits) -> tuple[int, Any]:
    """-> (kind, payload): VideoFrame, int16 samples (n,) or the raw bytes of an audio file."""
    if len(data) < 1:
        raise ProtocolError("empty_message", "empty binary message")
    kind = data[0]
    if kind == VIDEO:
        if len(data) < VIDEO_HEADER.size + 2:
            raise ProtocolError("bad_video", f"video message shorter than its {VIDEO_HEADER.size}-byte header")
        _, seq, client_ms = VIDEO_HEADER.unpack_from(data)
        jpeg = bytes(data[VIDEO_HEADER.size:])
        if len(jpeg) > limits.max_frame_bytes:
            raise ProtocolError("frame_too_large", f"video frame of {len(jpeg)} bytes; the limit is "
                                                   f"{limits.max_frame_bytes}")
        if not jpeg.startswith(JPEG_MAGIC):
            raise ProtocolError("bad_video", "video frames must be JPEG")
        size = jpeg_size(jpeg)
        if size is not None and size[0] * size[1] > limits.max_frame_pixels:   # before decoding: no JPEG bombs
            raise ProtocolError("frame_too_large", f"video frame of {size[0]}×{size[1]} px; the limit is "
                                                   f"{limits.max_frame_pixels} pixels")
        return kind, VideoFrame(seq, client_ms if math.isfinite(client_ms) else float("nan"), jpeg)
    if kind in (USER_AUDIO, AVATAR_AUDIO):
        body = data[1:]
        if len(body) % 2:
            raise ProtocolError("bad_audio", "PCM16 audio needs an even number of bytes")
        return kind, np.frombuffer(body, "<i2")
    if kind == AVATAR_FILE:
        if len(data) < 45:
            raise ProtocolError("bad_audio", "the avatar audio file is too short to be audio")
        return kind, bytes(data[1:])
    raise ProtocolError("unknown_kind", f"unknown binary message kind 0x{kind:02x}")


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's frame header without decoding it; None if no header is found."""
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:                      # fill byte
            i += 1
            continue
        seg = int.from_bytes(data[i + 2:i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):     # SOFn
            return int.from_bytes(data[i + 7:i + 9], "big"), int.from_bytes(data[i + 5:i + 7], "big")
        i += 2 + seg
    return None


def parse_text(text: str, limits: Limits) -> dict[str, Any]:
    """-> the JSON object of a text message, checked for its type and fields."""
    try:
        msg = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError("bad_json", f"text messages must be JSON objects ({str(exc)[:80]})") from None
    if not isinstance(msg, dict) or msg.get("type") not in CLIENT_TYPES:
        raise ProtocolError("bad_type", f"a text message needs \"type\" in {list(CLIENT_TYPES)}")
    if msg["type"] == "transcript":
        msg["entries"] = check_transcript(msg.get("entries"), limits)
    return msg


def check_transcript(entries: Any, limits: Limits) -> list[dict]:
    """entries: [{speaker: "A"|"B", start: s, end: s, text: str}, ...] (speaker "A" is the avatar)."""
    if not isinstance(entries, list) or len(entries) > limits.max_transcript_entries:
        raise ProtocolError("bad_transcript", f"\"entries\" must be a list of at most "
                                              f"{limits.max_transcript_entries} objects")
    out = []
    for i, e in enumerate(entries):
        try:
            start, end = float(e["start"]), float(e["end"])
            speaker, text = str(e["speaker"]), str(e["text"])
        except (TypeError, KeyError, ValueError):
            raise ProtocolError("bad_transcript", f"entry {i}: needs speaker, start, end (seconds) and "
                                                  "text") from None
        if speaker not in ("A", "B") or not (math.isfinite(start) and math.isfinite(end)) or end < start \
                or start < 0 or len(text) > limits.max_text_chars:
            raise ProtocolError("bad_transcript", f"entry {i}: speaker must be A or B, 0 ≤ start ≤ end, text ≤ "
                                                  f"{limits.max_text_chars} characters")
        out.append({"speaker": speaker, "start": start, "end": end, "text": text})
    return out


def pack_frame(index: int, user_seq: int | None, client_ms: float | None, latency_ms: float,
               audio: np.ndarray, jpeg: bytes) -> bytes:
    """An AVATAR_FRAME message. audio: int16 samples of this frame."""
    pcm = np.asarray(audio, "<i2").tobytes()
    head = FRAME_HEADER.pack(AVATAR_FRAME, index, NO_SEQ if user_seq is None else user_seq,
                             float("nan") if client_ms is None else client_ms, latency_ms, len(pcm))
    return head + pcm + jpeg


def unpack_frame(data: bytes) -> dict[str, Any]:
    """The client side of `pack_frame` (tests, bench)."""
    kind, index, seq, client_ms, latency_ms, n = FRAME_HEADER.unpack_from(data)
    if kind != AVATAR_FRAME:
        raise ProtocolError("unknown_kind", f"not an avatar frame (0x{kind:02x})")
    a = FRAME_HEADER.size
    return {"index": index, "user_seq": None if seq == NO_SEQ else seq,
            "client_ms": None if math.isnan(client_ms) else client_ms, "latency_ms": latency_ms,
            "audio": np.frombuffer(data[a:a + n], "<i2"), "jpeg": bytes(data[a + n:])}


def pack_video(seq: int, client_ms: float, jpeg: bytes) -> bytes:
    return VIDEO_HEADER.pack(VIDEO, seq, client_ms) + jpeg


def pack_audio(kind: int, samples: np.ndarray) -> bytes:
    """samples: float in [-1, 1] or int16 -> a USER_AUDIO / AVATAR_AUDIO message."""
    x = np.asarray(samples)
    if x.dtype != np.int16:
        x = (np.clip(x, -1.0, 1.0) * 32767).astype(np.int16)
    return bytes([kind]) + x.astype("<i2").tobytes()


def error_message(code: str, message: str) -> str:
    return json.dumps({"type": "error", "code": code, "message": message})
