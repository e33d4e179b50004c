"""Lay a dialogue script out in time: speech per turn, gaps, pauses, interruptions, overlapping
backchannels and laughs, one audio track per participant, and the word-level transcript.

Each participant's track holds only its own voice (close-talk microphones), so either one can be
the avatar's own audio and the other the user's microphone.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from echo_ihg.constants import SAMPLE_RATE
from echo_ihg.synth.dialogue import Turn
from echo_ihg.synth.espeak import Voice, synthesize
from echo_ihg.synth.grammar import BACKCHANNELS, LAUGHS

PHRASE_GAP_S = 0.10  # a silence this long inside a turn ends a phrase (espeak pauses at commas)


@dataclasses.dataclass(frozen=True)
class Speaker:
    """Voice of one participant: espeak voice variant and its prosody base values."""

    voice: str
    pitch: int
    rate: int
    range: int


@dataclasses.dataclass
class Segment:
    """One placed utterance; times in seconds from the session start. kind: a turn kind, or
    "backchannel" / "laugh" (overlapping the partner)."""

    speaker: str
    start: float
    end: float
    text: str
    kind: str
    mood: int
    question: bool
    joke: bool
    pitch: int
    words: list[tuple[float, float, str]]
    phonemes: list[tuple[float, float, str]]
    audio: np.ndarray = dataclasses.field(repr=False)

    def shifted(self) -> "Segment":
        """Word and phoneme times made absolute (synthesis gives them relative to the start)."""
        s = self.start
        self.words = [(a + s, b + s, w) for a, b, w in self.words]
        self.phonemes = [(a + s, b + s, p) for a, b, p in self.phonemes]
        return self


def prosody(spk: Speaker, mood: int, rng: np.random.Generator) -> Voice:
    """The speaker's current emotion sets pitch, rate and range: concerned = lower, slower, flatter."""
    jitter = rng.integers(-4, 5)
    return Voice(spk.voice, rate=int(spk.rate + 12 * mood + jitter),
                 pitch=int(np.clip(spk.pitch + 10 * mood + jitter, 0, 99)),
                 range=int(np.clip(spk.range + 18 * mood, 5, 99)))


def _make(spk_id: str, spk: Speaker, text: str, kind: str, start: float, mood: int, question: bool,
          joke: bool, rng: np.random.Generator, voice: Voice | None = None) -> Segment:
    v = voice or prosody(spk, mood, rng)
    sp = synthesize(text, v)
    return Segment(spk_id, start, start + sp.duration, text, kind, mood, question, joke, v.pitch,
                   sp.words, sp.phonemes, sp.audio).shifted()


def layout(turns: list[Turn], speakers: dict[str, Speaker], seconds: float, rng: np.random.Generator,
           interrupt_rate: float = 0.08, backchannel_rate: float = 0.45) -> list[Segment]:
    """Place turns until `seconds` is filled; returns segments sorted by start (may end after `seconds`)."""
    segs: list[Segment] = []
    t = 0.3 + rng.uniform(0, 0.5)
    last_main: Segment | None = None
    for turn in turns:
        if t >= seconds:
            break
        seg = _make(turn.speaker, speakers[turn.speaker], turn.text, turn.kind, t, turn.mood, turn.question,
                    turn.joke, rng)
        if (last_main is not None and last_main.speaker != seg.speaker and rng.random() < interrupt_rate
                and last_main.end - last_main.start > 2.0):
            overlap = rng.uniform(0.4, 0.9)  # the partner barges in; the first speaker trails off
            _move(seg, last_main.end - overlap)
            _cut(last_main, seg.start + 0.35)
        segs.append(seg)
        segs.extend(_reactions(seg, speakers, rng, backchannel_rate))
        last_main = seg
        t = seg.end + _gap(rng)
    segs.sort(key=lambda s: s.start)
    return segs


def _gap(rng: np.random.Generator) -> float:
    if rng.random() < 0.08:
        return float(rng.uniform(1.2, 2.8))  # a thinking pause
    return float(np.clip(rng.normal(0.35, 0.2), 0.05, 1.0))


def _move(seg: Segment, start: float) -> None:
    d = start - seg.start
    seg.start, seg.end = seg.start + d, seg.end + d
    seg.words = [(a + d, b + d, w) for a, b, w in seg.words]
    seg.phonemes = [(a + d, b + d, p) for a, b, p in seg.phonemes]


def _cut(seg: Segment, at: float) -> None:
    """Truncate `seg` at time `at` with a 30 ms fade; words starting later are dropped."""
    if at >= seg.end:
        return
    n = max(0, int(round((at - seg.start) * SAMPLE_RATE)))
    fade = min(n, int(0.03 * SAMPLE_RATE))
    audio = seg.audio[:n].copy()
    if fade:
        audio[n - fade:] *= np.linspace(1, 0, fade, dtype=np.float32)
    seg.audio, seg.end = audio, at
    seg.words = [(a, min(b, at), w) for a, b, w in seg.words if a < at - 0.05]
    seg.phonemes = [(a, min(b, at), p) for a, b, p in seg.phonemes if a < at]
    seg.text = " ".join(w for _, _, w in seg.words) + " -"


def phrase_ends(seg: Segment) -> list[float]:
    """Times where a phrase of `seg` ends: a word followed by ≥ PHRASE_GAP_S silence, and the last word."""
    ends = [b for (a, b, _), (c, _, _) in zip(seg.words, seg.words[1:]) if c - b >= PHRASE_GAP_S]
    if seg.words:
        ends.append(seg.words[-1][1])
    return ends


def _reactions(seg: Segment, speakers: dict[str, Speaker], rng: np.random.Generator,
               rate: float) -> list[Segment]:
    """The listener's backchannels at the speaker's phrase ends (overlapping its continued speech),
    and laughs at the end of a joke."""
    other = "B" if seg.speaker == "A" else "A"
    out: list[Segment] = []
    last = -10.0
    tone = "negative" if seg.mood < 0 else "positive" if seg.mood > 0 else "neutral"
    for pe in phrase_ends(seg)[:-1]:
        if pe - last > 1.5 and rng.random() < rate:
            tokens = BACKCHANNELS[tone]
            out.append(_make(other, speakers[other], tokens[rng.integers(len(tokens))], "backchannel",
                             pe + rng.uniform(0.05, 0.3), seg.mood, False, False, rng))
            last = pe
    if seg.joke:
        sp = speakers[other]
        voice = Voice(sp.voice, rate=sp.rate + 30, pitch=min(99, sp.pitch + 25), range=90)
        out.append(_make(other, sp, LAUGHS[rng.integers(len(LAUGHS))], "laugh",
                         max(seg.start, seg.end - rng.uniform(0.1, 0.5)), seg.mood, False, False, rng, voice))
    return out


def render_tracks(segs: list[Segment], n_samples: int) -> dict[str, np.ndarray]:
    """One float32 track per participant of length `n_samples` (segments past the end are cut)."""
    tracks = {"A": np.zeros(n_samples, np.float32), "B": np.zeros(n_samples, np.float32)}
    for s in segs:
        i = int(round(s.start * SAMPLE_RATE))
        if i >= n_samples:
            continue
        chunk = s.audio[: n_samples - i]
        tracks[s.speaker][i: i + len(chunk)] += chunk
    for k in tracks:
        np.clip(tracks[k], -1.0, 1.0, out=tracks[k])
    return tracks


def transcript(segs: list[Segment], seconds: float) -> list[dict]:
    """Word lines {speaker, start, end, text, utt, kind} sorted by start, clipped to `seconds`."""
    lines = []
    for k, s in enumerate(segs):
        for a, b, w in s.words:
            if a < seconds:
                lines.append({"speaker": s.speaker, "start": round(a, 3), "end": round(min(b, seconds), 3),
                              "text": w, "utt": k, "kind": s.kind})
    lines.sort(key=lambda d: (d["start"], d["speaker"]))
    return lines
