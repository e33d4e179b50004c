"""espeak-ng speech with exact word and phoneme timings, through `libespeak-ng.so.1` (ctypes).

The Debian packages `espeak-ng` + `libespeak-ng1` provide the library (scripts/setup.sh installs them).
espeak is initialised once per process in synchronous mode with phoneme events switched on; every call
goes through one process-wide lock because the library keeps global state (voice, parameters, buffers).
Audio comes out at espeak's 22 050 Hz and is resampled to the project's 16 kHz.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import os
import threading

import numpy as np
from scipy.signal import resample_poly

from echo_ihg.constants import SAMPLE_RATE
from echo_ihg.errors import EchoError

_LIB_NAME = "libespeak-ng.so.1"
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 1
_EVENT_WORD, _EVENT_PHONEME = 1, 7
_PARAM = {"rate": 1, "volume": 2, "pitch": 3, "range": 4, "wordgap": 7}
_CHARS_UTF8 = 1
ESPEAK_RATE = 22050


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EventId)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_Event))
_LOCK = threading.Lock()


@dataclasses.dataclass(frozen=True)
class Voice:
    """An espeak voice: `name` like "en+f3" (language + variant) and prosody parameters.

    rate: words per minute (80–450); pitch, range: 0–100; volume 0–200.
    """

    name: str = "en"
    rate: int = 170
    pitch: int = 50
    range: int = 50
    volume: int = 100


@dataclasses.dataclass
class Speech:
    """One synthesised utterance at 16 kHz.

    audio (N,) float32; words: (start_s, end_s, text) per word; phonemes: (start_s, end_s, mnemonic)
    in espeak's ASCII phoneme names (e.g. "p", "aI", "_:" for pauses).
    """

    audio: np.ndarray
    words: list[tuple[float, float, str]]
    phonemes: list[tuple[float, float, str]]

    @property
    def duration(self) -> float:
        return len(self.audio) / SAMPLE_RATE


class _Engine:
    """Process-wide espeak state. Re-initialised after fork (the library's state is not fork-safe)."""

    def __init__(self) -> None:
        try:
            self.lib = ctypes.CDLL(_LIB_NAME)
        except OSError as exc:
            raise EchoError(f"{_LIB_NAME} not found ({exc}); install it with "
                            "`apt-get install -y espeak-ng libespeak-ng1` (scripts/setup.sh does)") from None
        lib = self.lib
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 500, None, _INITIALIZE_PHONEME_EVENTS)
        if rate != ESPEAK_RATE:
            raise EchoError(f"espeak-ng initialised at {rate} Hz, expected {ESPEAK_RATE}")
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int, str]] = []
        self._cb = _CALLBACK(self._callback)  # keep a reference: ctypes does not
        lib.espeak_SetSynthCallback(self._cb)
        self.pid = os.getpid()

    def _callback(self, wav, n, events) -> int:
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while events[i].type != 0:
            ev = events[i]
            if ev.type == _EVENT_PHONEME:
                self._events.append((_EVENT_PHONEME, ev.audio_position, ev.id.string.decode("ascii", "replace")))
            elif ev.type == _EVENT_WORD:
                self._events.append((_EVENT_WORD, ev.audio_position, f"{ev.text_position}:{ev.length}"))
            i += 1
        return 0

    def synth(self, text: str, voice: Voice) -> tuple[np.ndarray, list[tuple[int, int, str]]]:
        lib = self.lib
        if lib.espeak_SetVoiceByName(voice.name.encode()) != 0:
            raise EchoError(f"espeak-ng has no voice {voice.name!r}")
        for key in ("rate", "pitch", "range", "volume"):
            lib.espeak_SetParameter(_PARAM[key], int(getattr(voice, key)), 0)
        self._chunks, self._events = [], []
        data = text.encode("utf-8") + b"\0"
        buf = ctypes.create_string_buffer(data)
        err = lib.espeak_Synth(buf, len(data), 0, 1, 0, _CHARS_UTF8, None, None)
        if err != 0:
            raise EchoError(f"espeak-ng failed (code {err}) on {text!r}")
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        return audio, self._events


@functools.cache
def _engine_for(pid: int) -> _Engine:
    return _Engine()


def synthesize(text: str, voice: Voice = Voice()) -> Speech:
    """Speak `text` with `voice`; return 16 kHz audio with word and phoneme timings in seconds.

    Word end = start of the next word's first phoneme boundary or the last phoneme's end; trailing
    silence espeak appends after the last phoneme is trimmed so that utterances can be laid out tightly.
    """
    with _LOCK:
        raw, events = _engine_for(os.getpid()).synth(text, voice)
    audio = resample_poly(raw.astype(np.float32) / 32768.0, SAMPLE_RATE // 50, ESPEAK_RATE // 50)
    audio = audio.astype(np.float32)
    total = len(audio) / SAMPLE_RATE
    ph_times = [(t / 1000.0, name) for kind, t, name in events if kind == _EVENT_PHONEME]
    phonemes = []
    for k, (t, name) in enumerate(ph_times):
        end = ph_times[k + 1][0] if k + 1 < len(ph_times) else total
        phonemes.append((t, max(end, t), name))
    words = _word_spans(text, events, phonemes, total)
    end = _speech_end(phonemes, total)
    audio = audio[: int(round(end * SAMPLE_RATE))]
    end = len(audio) / SAMPLE_RATE
    return Speech(audio, [(a, min(b, end), w) for a, b, w in words if a < end],
                  [(a, min(b, end), p) for a, b, p in phonemes if a < end])


def _word_spans(text: str, events, phonemes, total: float) -> list[tuple[float, float, str]]:
    """Word events carry (text_position 1-based, length); the word ends where its last phoneme ends.
    Text between two events (words espeak merged into the next one) is kept with the next word."""
    enc = text.encode("utf-8")
    starts, done = [], 0
    for kind, t, ref in events:
        if kind == _EVENT_WORD:
            pos, length = (int(x) for x in ref.split(":"))
            # espeak reports clitics ("the trip") as one word event: keep any text it skipped with it
            word = enc[done: pos - 1 + length].decode("utf-8", "replace").strip(" ,.?!;:-")
            done = max(done, pos - 1 + length)
            starts.append((t / 1000.0, word))
    words = []
    for k, (t, w) in enumerate(starts):
        nxt = starts[k + 1][0] if k + 1 < len(starts) else total
        # end = end of the last non-pause phoneme before the next word starts
        inside = [p for p in phonemes if t <= p[0] < nxt and not p[2].startswith("_")]
        end = inside[-1][1] if inside else nxt
        words.append((t, min(end, nxt), w))
    return [w for w in words if w[2]]


def _speech_end(phonemes, total: float) -> float:
    voiced = [p for p in phonemes if not p[2].startswith("_")]
    return min(total, voiced[-1][1] + 0.05) if voiced else total
