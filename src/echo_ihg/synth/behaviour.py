"""Behaviour models: rig-control tracks (T, C) for both participants, with the planted dependencies.

Planted (see docs/synth.md for the detector of each):
1. self-audio — mouth from the speaker's own phonemes only; head motion scaled by its own speech
   envelope, beat nods and brow raises on its own stressed words, brow height with its own pitch.
2. short-range reaction — listener nods after the partner's phrase ends (0.15–0.45 s), mirrors the
   partner's smile 0.5 s later, raises its brows at the end of the partner's questions.
3. long-range engagement — E_X(t) is a leaky integral (τ 30–60 s) of the partner's smiles, nods and
   looking away; it sets X's nod probability, head-motion amplitude and smile baseline.
4. linguistic affect — the conversation mood of the script (bad news → concerned until resolved, good
   news → happy) shapes brows, mouth corners and smile; in `masked` participants the face shows none.
5. interference — overlap comes from the timeline (backchannels, laughs); lips still follow own audio.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.ndimage import gaussian_filter1d

from echo_ihg.constants import FPS, SAMPLES_PER_FRAME
from echo_ihg.synth.controls import CONTROL_INDEX as CI
from echo_ihg.synth.controls import N_CONTROLS
from echo_ihg.synth.timeline import Segment, phrase_ends
from echo_ihg.synth.visemes import MOUTH_CONTROLS, mouth_track

MIRROR_LAG_S = 0.5
MAIN_KINDS_EXCLUDED = ("backchannel", "laugh")


@dataclasses.dataclass
class Latents:
    """Ground-truth latent tracks of one participant (T,) float32, saved in extra/ for analysis."""

    engagement: np.ndarray
    sociability: np.ndarray
    mood: np.ndarray
    speaking: np.ndarray


def frame_mask(intervals: list[tuple[float, float]], n: int) -> np.ndarray:
    """(T,) bool: frames whose time span overlaps any interval (seconds)."""
    m = np.zeros(n + 1, np.int32)
    for a, b in intervals:
        i, j = int(np.floor(a * FPS)), int(np.ceil(b * FPS))
        i, j = max(0, min(i, n)), max(0, min(j, n))
        if j > i:
            m[i] += 1
            m[j] -= 1
    return np.cumsum(m)[:n] > 0


def envelope(audio: np.ndarray, n: int) -> np.ndarray:
    """(T,) RMS per frame in [0, 1] (log-compressed, 60 dB range)."""
    x = np.zeros(n * SAMPLES_PER_FRAME, np.float32)
    k = min(len(audio), len(x))
    x[:k] = audio[:k]
    rms = np.sqrt((x.reshape(n, SAMPLES_PER_FRAME) ** 2).mean(1) + 1e-10)
    return np.clip(1 + 20 * np.log10(rms + 1e-10) / 60, 0, 1).astype(np.float32)


def pulse(n: int, onsets: np.ndarray, shape: np.ndarray, amps: np.ndarray | None = None) -> np.ndarray:
    """Sum of copies of `shape` (L,) starting at frame `onsets`, scaled by `amps`."""
    out = np.zeros(n + len(shape), np.float64)
    amps = np.ones(len(onsets)) if amps is None else amps
    for o, a in zip(onsets.astype(int), amps):
        if 0 <= o < n:
            out[o: o + len(shape)] += a * shape
    return out[:n]


def nod_shape(rng: np.random.Generator) -> np.ndarray:
    """Head-pitch trajectory of one nod (degrees, negative = down), 0.5–0.8 s, ends at rest."""
    L = int(rng.integers(13, 21))
    t = np.linspace(0, 1, L)
    return -np.sin(np.pi * t) * np.sin(np.pi * t) * (1 - 0.3 * t)


def bump(L: int) -> np.ndarray:
    t = np.linspace(0, 1, L)
    return np.sin(np.pi * t) ** 2


def smooth_noise(rng: np.random.Generator, n: int, sigma_frames: float) -> np.ndarray:
    x = gaussian_filter1d(rng.standard_normal(n + 200), sigma_frames)[100:100 + n]
    return x / (x.std() + 1e-9)


def piecewise(rng: np.random.Generator, n: int, lo_s: float, hi_s: float) -> np.ndarray:
    """Piecewise-constant U(0,1) levels held 20–60 s each, smoothed over ~3 s (exogenous traits)."""
    out, i = np.zeros(n), 0
    while i < n:
        L = int(rng.uniform(lo_s, hi_s) * FPS)
        out[i: i + L] = rng.uniform(0, 1)
        i += L
    return gaussian_filter1d(out, 3 * FPS, mode="nearest")


def mood_track(segs: list[Segment], n: int) -> np.ndarray:
    """Conversation mood per frame: the mood of the latest main utterance started (held), smoothed 1 s."""
    out = np.zeros(n)
    mains = sorted((s for s in segs if s.kind not in MAIN_KINDS_EXCLUDED), key=lambda s: s.start)
    for s, nxt in zip(mains, mains[1:] + [None]):
        a = int(s.start * FPS)
        b = n if nxt is None else int(nxt.start * FPS)
        out[max(a, 0): max(min(b, n), 0)] = s.mood
    return gaussian_filter1d(out, FPS, mode="nearest")


def speaking_mask(segs: list[Segment], who: str, n: int) -> np.ndarray:
    ph = [(a, b) for s in segs if s.speaker == who for a, b, p in s.phonemes if not p.startswith("_")]
    return frame_mask(ph, n)


def blinks(rng: np.random.Generator, speaking: np.ndarray) -> np.ndarray:
    """(T,) eyelid closure in [0, 1]: renewal process, gamma intervals (mean 2.6 s speaking, 3.8 s
    listening ≈ 16–23 blinks/min), 150–300 ms blinks closing faster than they open."""
    n = len(speaking)
    out = np.zeros(n + 10)
    t = rng.uniform(0, 2)
    while t * FPS < n:
        i = int(t * FPS)
        L = int(rng.integers(4, 8))
        shape = np.concatenate([np.linspace(0.3, 1, max(L // 3, 1)), np.linspace(1, 0, L - max(L // 3, 1) + 1)[1:]])
        out[i: i + len(shape)] = np.maximum(out[i: i + len(shape)], shape)
        mean = 2.6 if speaking[min(i, n - 1)] else 3.8
        t += max(0.25, rng.gamma(3.0, mean / 3.0))
    return out[:n]


def behave(segs: list[Segment], tracks: dict[str, np.ndarray], n: int, rng: np.random.Generator,
           masked: tuple[str, ...] = (), tau_s: tuple[float, float] = (30.0, 60.0), reaction_gain: float = 1.0
           ) -> tuple[dict[str, np.ndarray], dict[str, Latents]]:
    """Controls (T, C) float32 per participant "A"/"B" and their latent tracks. reaction_gain scales the
    short-range reactions to the partner (mirroring gain, nod and question-brow amplitudes)."""
    ids = ("A", "B")
    spk = {p: speaking_mask(segs, p, n) for p in ids}
    env = {p: envelope(tracks[p], n) for p in ids}
    mood = mood_track(segs, n)
    soc = {p: piecewise(rng, n, 20, 60) for p in ids}
    ctl = {p: np.zeros((n, N_CONTROLS)) for p in ids}
    for p in ids:
        ph = [x for s in segs if s.speaker == p for x in s.phonemes]
        ctl[p][:, [CI[c] for c in MOUTH_CONTROLS]] = mouth_track(ph, n)
    shown = {p: (np.zeros(n) if p in masked else mood) for p in ids}
    own_smile, eng, nods, away = _engagement_loop(segs, spk, shown, soc, n, rng, tau_s)
    for p, q in (("A", "B"), ("B", "A")):
        c = ctl[p]
        smile = own_smile[p] + 0.55 * reaction_gain * _delay(own_smile[q], int(round(MIRROR_LAG_S * FPS)))
        asym = rng.uniform(-0.08, 0.08)
        c[:, CI["smile_l"]] = np.clip(smile * (1 + asym), 0, 1)
        c[:, CI["smile_r"]] = np.clip(smile * (1 - asym), 0, 1)
        c[:, CI["cheek_raise"]] = np.clip(0.7 * smile, 0, 1)
        c[:, CI["eye_squint"]] = np.clip(0.4 * smile, 0, 1)
        concern = np.clip(-shown[p], 0, 1)
        c[:, CI["corners_down"]] = 0.45 * concern
        c[:, CI["brow_furrow"]] = 0.5 * concern
        _head_and_brows(c, segs, p, q, spk[p], env[p], eng[p], nods[p], concern, rng, reaction_gain)
        b = blinks(rng, spk[p])
        c[:, CI["blink_l"]] = b
        c[:, CI["blink_r"]] = np.clip(b * rng.uniform(0.92, 1.0), 0, 1)
        _gaze(c, segs, p, away[p], rng)
    lat = {p: Latents(eng[p].astype(np.float32), soc[p].astype(np.float32), shown[p].astype(np.float32),
                      spk[p].astype(np.float32)) for p in ids}
    return {p: ctl[p].astype(np.float32) for p in ids}, lat


def _delay(x: np.ndarray, k: int) -> np.ndarray:
    return np.concatenate([np.full(k, x[0]), x[:-k]]) if k > 0 else x


def _engagement_loop(segs, spk, shown, soc, n, rng, tau_s):
    """Second-by-second coupled simulation of both listeners' engagement.

    Each second, X's engagement moves towards a target computed from what the partner *showed* in that
    second (smile level, nods started, fraction of time looking away) with time constant τ_X; X's own
    smile baseline, nod probability and head-motion amplitude for the next second follow E_X.
    Returns per-frame own smile (T,), engagement (T,), nod-onset frames and look-away masks per participant.
    """
    ids = ("A", "B")
    n_sec = int(np.ceil(n / FPS))
    tau = {p: rng.uniform(*tau_s) for p in ids}
    E = {p: rng.uniform(0.2, 0.8) for p in ids}
    ends = {p: np.array(sorted(pe for s in segs if s.speaker == p and s.kind not in MAIN_KINDS_EXCLUDED
                               for pe in phrase_ends(s))) for p in ids}
    laughs = {p: [(s.start, s.end) for s in segs if s.speaker == p and s.kind == "laugh"] for p in ids}
    jokes = {p: [(s.end - 0.8, s.end + 1.0) for s in segs if s.speaker == p and s.joke] for p in ids}
    eng = {p: np.zeros(n) for p in ids}
    base = {p: np.zeros(n) for p in ids}
    nod_on = {p: [] for p in ids}
    away = {p: np.zeros(n, bool) for p in ids}
    happy = {p: np.clip(shown[p], 0, 1) for p in ids}
    pulses = {p: 0.5 * frame_mask(laughs[p], n) + 0.3 * frame_mask(jokes[p], n) + _flashes(rng, soc[p])
              for p in ids}
    for sec in range(n_sec):
        a, b = sec * FPS, min(n, (sec + 1) * FPS)
        for p, q in (("A", "B"), ("B", "A")):
            e = E[p]
            eng[p][a:b] = e
            base[p][a:b] = 0.05 + 0.15 * soc[p][a] + 0.35 * e
            listening = not spk[p][a:b].any()
            pe = ends[q][(ends[q] >= sec) & (ends[q] < sec + 1)]
            for t in pe:  # nod after the partner's phrase end
                if rng.random() < 0.15 + 0.75 * e:
                    nod_on[p].append(int((t + rng.uniform(0.15, 0.45)) * FPS))
            if listening and rng.random() < 0.02 + 0.10 * e:
                nod_on[p].append(int((sec + rng.random()) * FPS))
            if listening and not away[p][a] and rng.random() < 0.01 + 0.15 * (1 - soc[p][a]) * (1.2 - e):
                i = int((sec + rng.random()) * FPS)
                away[p][i: i + int(rng.uniform(0.8, 3.0) * FPS)] = True
        for p, q in (("A", "B"), ("B", "A")):
            shown_smile = base[q][a:b].mean() + 0.45 * happy[q][a:b].mean() + pulses[q][a:b].mean()
            n_nods = sum(1 for o in nod_on[q] if a <= o < b)
            target = np.clip(0.5 + 3.0 * (shown_smile - 0.3) + 0.5 * n_nods - 1.5 * away[q][a:b].mean(), 0, 1)
            E[p] += (target - E[p]) / tau[p]
    own = {p: np.clip(gaussian_filter1d(base[p], 2.0 * FPS) + 0.45 * happy[p] + pulses[p], 0, 1) for p in ids}
    own = {p: gaussian_filter1d(own[p], 2.0) for p in ids}
    return own, eng, {p: np.array(sorted(nod_on[p]), int) for p in ids}, away


def _flashes(rng: np.random.Generator, soc: np.ndarray) -> np.ndarray:
    """Brief social smiles (1–2.5 s, rate 2–8 per minute with sociability): the fast part of a smile
    that a partner can mirror."""
    n = len(soc)
    out = np.zeros(n)
    t = rng.exponential(10.0)
    while t * FPS < n:
        i = int(t * FPS)
        L = int(rng.uniform(1.0, 2.5) * FPS)
        out[i: i + L] += rng.uniform(0.25, 0.5) * bump(L)[: n - i]
        t += rng.exponential(60.0 / (2 + 6 * soc[i]))
    return out


def _head_and_brows(c, segs, p, q, speaking, env, eng, nod_on, concern, rng, reaction_gain: float = 1.0
                    ) -> None:
    """Head pose and brows: prosody-driven while speaking, engagement-driven while listening."""
    n = len(env)
    sm_env = gaussian_filter1d(env * speaking, 3.0)
    amp = np.where(speaking, 0.8 + 3.0 * sm_env, 0.1 + 1.4 * gaussian_filter1d(eng, FPS) ** 2)
    for k, (name, scale, sig) in enumerate((("head_pitch", 2.0, 6), ("head_yaw", 3.0, 10),
                                            ("head_roll", 1.5, 12))):
        c[:, CI[name]] = scale * amp * smooth_noise(rng, n, sig) + rng.uniform(-2, 2)
    # beat gestures on the own stressed words (long, loud words): small nod + brow raise, own pitch
    accents, amps = [], []
    for s in segs:
        if s.speaker != p or s.kind in ("backchannel",):
            continue
        for a, b, w in s.words:
            i = int(a * FPS)
            if b - a > 0.28 and i < n and env[i: i + 5].mean() > 0.55:
                accents.append(i)
                amps.append(0.5 + s.pitch / 100.0)
    accents, amps = np.array(accents, int), np.array(amps)
    c[:, CI["head_pitch"]] += 3.0 * pulse(n, accents, -bump(8), amps)
    brow = 0.55 * pulse(n, accents, bump(9), amps)
    # listener: nods after partner phrase ends (amplitude with engagement), brows at partner questions
    nods = np.zeros(n)
    for o in nod_on:
        if 0 <= o < n:
            shp = nod_shape(rng) * rng.uniform(4, 7) * (0.6 + 0.8 * eng[o]) * reaction_gain
            nods[o: o + len(shp)] += shp[: n - o]
    c[:, CI["head_pitch"]] += nods
    q_ends = np.array([s.end for s in segs if s.speaker == q and s.question], float)
    qb = pulse(n, (q_ends * FPS - 6).astype(int), bump(30), np.full(len(q_ends), 0.7 * reaction_gain))
    c[:, CI["brow_inner_raise"]] = np.clip(brow + qb + 0.45 * concern, 0, 1)
    c[:, CI["brow_outer_raise"]] = np.clip(brow + qb, 0, 1)
    c[:, CI["eye_widen"]] = np.clip(0.4 * qb, 0, 1)
    c[:, CI["head_tx"]] = 0.04 * smooth_noise(rng, n, 40)
    c[:, CI["head_ty"]] = 0.03 * smooth_noise(rng, n, 40) + 0.01 * nods / 6
    c[:, CI["head_tz"]] = 0.03 * smooth_noise(rng, n, 60)


def _gaze(c, segs, p, away, rng) -> None:
    """Gaze at the partner with fixational drift; look-aways while listening (from the engagement
    loop) and when starting to speak (thinking); the head follows a look-away by a third."""
    n = len(away)
    starts = [s.start for s in segs if s.speaker == p and s.kind not in MAIN_KINDS_EXCLUDED]
    away = away.copy()
    for t in starts:
        if rng.random() < 0.5:
            i = int(t * FPS)
            away[i: i + int(rng.uniform(0.6, 2.5) * FPS)] = True
    yaw = 0.05 * smooth_noise(rng, n, 8)
    pitch = 0.04 * smooth_noise(rng, n, 8)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], away.astype(int)])) == 1)
    target_y, target_p = np.zeros(n), np.zeros(n)
    for e in edges:
        j = e + np.argmin(away[e:]) if not away[e:].all() else n
        target_y[e:j] = rng.choice([-1, 1]) * rng.uniform(0.4, 0.8)
        target_p[e:j] = rng.uniform(-0.4, 0.3)
    target_y, target_p = gaussian_filter1d(target_y, 1.5), gaussian_filter1d(target_p, 1.5)
    c[:, CI["gaze_yaw"]] = np.clip(yaw + target_y, -1, 1)
    c[:, CI["gaze_pitch"]] = np.clip(pitch + target_p, -1, 1)
    c[:, CI["head_yaw"]] += 12.0 * target_y / 3
    c[:, CI["head_pitch"]] += 8.0 * target_p / 3
