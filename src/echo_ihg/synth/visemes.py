"""espeak phonemes → mouth controls per frame, with coarticulation.

Each phoneme gets a viseme target over the six mouth controls and a dominance; the track is the
dominance-weighted average of the targets (Cohen–Massaro style): every target's influence decays
exponentially from the phoneme centre, so neighbours blend and nothing jumps between frames.
Bilabials (p b m) are highly dominant in lip press, so the lips close even for a 60 ms /p/.
"""

from __future__ import annotations

import numpy as np

from echo_ihg.constants import FPS

MOUTH_CONTROLS = ("jaw_open", "lip_round", "lip_stretch", "lip_press", "upper_lip_raise", "lower_lip_depress")

# target tuples in MOUTH_CONTROLS order; values in [0, 1]
_V = {
    "open": (0.85, 0.0, 0.1, 0.0, 0.1, 0.3), "mid": (0.55, 0.0, 0.2, 0.0, 0.05, 0.15),
    "front": (0.35, 0.0, 0.55, 0.0, 0.1, 0.1), "close_front": (0.2, 0.0, 0.7, 0.0, 0.05, 0.05),
    "round": (0.4, 0.8, 0.0, 0.0, 0.0, 0.1), "close_round": (0.2, 1.0, 0.0, 0.0, 0.0, 0.0),
    "schwa": (0.35, 0.1, 0.1, 0.0, 0.0, 0.05), "bilabial": (0.0, 0.1, 0.0, 1.0, 0.0, 0.0),
    "labiodental": (0.1, 0.0, 0.2, 0.3, 0.35, 0.0), "dental": (0.25, 0.0, 0.2, 0.0, 0.1, 0.1),
    "alveolar": (0.15, 0.0, 0.25, 0.0, 0.05, 0.0), "sibilant": (0.08, 0.0, 0.4, 0.0, 0.15, 0.05),
    "postalveolar": (0.12, 0.6, 0.0, 0.0, 0.2, 0.1), "velar": (0.3, 0.0, 0.1, 0.0, 0.0, 0.05),
    "glide_w": (0.15, 0.9, 0.0, 0.1, 0.0, 0.0), "glide_r": (0.2, 0.45, 0.0, 0.0, 0.05, 0.0),
    "glide_j": (0.15, 0.0, 0.6, 0.0, 0.0, 0.0), "rest": (0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
}
# dominance per class: how strongly a target resists its neighbours
_DOM = {"bilabial": 6.0, "labiodental": 4.0, "round": 2.0, "close_round": 2.5, "postalveolar": 2.0,
        "glide_w": 2.5, "open": 1.5, "rest": 0.6}

_CONSONANTS = {
    "p": "bilabial", "b": "bilabial", "m": "bilabial", "f": "labiodental", "v": "labiodental",
    "T": "dental", "D": "dental", "t": "alveolar", "d": "alveolar", "n": "alveolar", "l": "alveolar",
    "s": "sibilant", "z": "sibilant", "S": "postalveolar", "Z": "postalveolar", "tS": "postalveolar",
    "dZ": "postalveolar", "k": "velar", "g": "velar", "N": "velar", "h": "schwa", "w": "glide_w",
    "r": "glide_r", "j": "glide_j", "x": "velar", "?": "rest",
}
# vowels: first element of a diphthong and (optionally) its glide target
_VOWELS = {
    "a": ("open", None), "A": ("open", None), "aI": ("open", "close_front"), "aU": ("open", "close_round"),
    "a#": ("mid", None), "@": ("schwa", None), "3": ("mid", None), "e": ("front", None), "E": ("front", None),
    "eI": ("front", "close_front"), "e@": ("front", "schwa"), "i": ("close_front", None),
    "I": ("close_front", None), "0": ("round", None), "O": ("round", None), "OI": ("round", "close_front"),
    "o": ("round", None), "oU": ("round", "close_round"), "u": ("close_round", None),
    "U": ("close_round", None), "V": ("mid", None), "i@": ("close_front", "schwa"), "U@": ("close_round", "schwa"),
}


def viseme_classes(phoneme: str) -> tuple[str, str | None]:
    """(class, glide class or None) of an espeak phoneme mnemonic; pauses and unknowns are "rest"."""
    p = phoneme.strip().strip("'\",%=")
    if not p or p.startswith("_"):
        return "rest", None
    if p in _CONSONANTS:
        return _CONSONANTS[p], None
    for key in (p[:2], p[:1]):
        if key in _VOWELS:
            return _VOWELS[key]
        if key in _CONSONANTS:
            return _CONSONANTS[key], None
    return "schwa", None


def _keys(phonemes: list[tuple[float, float, str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Key targets: (centre time, half-width, dominance, target (K,6))."""
    times, widths, doms, targets = [], [], [], []
    for a, b, name in phonemes:
        cls, glide = viseme_classes(name)
        d = max(b - a, 0.02)
        if glide is None:
            parts = [(a + d / 2, d / 2, cls)]
        else:  # diphthong: onset target then glide target
            parts = [(a + d * 0.3, d * 0.3, cls), (a + d * 0.8, d * 0.2, glide)]
        for c, hw, k in parts:
            times.append(c), widths.append(hw), doms.append(_DOM.get(k, 1.0)), targets.append(_V[k])
    return (np.array(times), np.array(widths), np.array(doms), np.array(targets, dtype=np.float64))


def mouth_track(phonemes: list[tuple[float, float, str]], n_frames: int, tau: float = 0.045) -> np.ndarray:
    """Mouth controls (T, 6) at FPS from absolute-time phonemes of one speaker; rest where silent.

    Frames are evaluated at their centre time; influence of a key = dominance · exp(−dist/τ) where
    dist is the distance outside the phoneme's own interval, plus a weak rest prior that closes the
    mouth in silences.
    """
    out = np.zeros((n_frames, len(MOUTH_CONTROLS)), np.float64)
    if not phonemes or n_frames == 0:
        return out.astype(np.float32)
    times, widths, doms, targets = _keys(phonemes)
    t = (np.arange(n_frames) + 0.5) / FPS
    # only nearby keys matter: process in blocks to bound memory
    order = np.argsort(times)
    times, widths, doms, targets = times[order], widths[order], doms[order], targets[order]
    block = 250
    for s in range(0, n_frames, block):
        tt = t[s: s + block]
        lo = np.searchsorted(times, tt[0] - 0.6)
        hi = np.searchsorted(times, tt[-1] + 0.6)
        if hi <= lo:
            continue
        dist = np.maximum(np.abs(tt[:, None] - times[None, lo:hi]) - widths[None, lo:hi], 0.0)
        w = doms[None, lo:hi] * np.exp(-dist / tau)
        rest_w = 0.02
        out[s: s + block] = (w @ targets[lo:hi]) / (w.sum(1, keepdims=True) + rest_w)
    # lip press only matters where a bilabial dominates: sharpen it, then smooth one frame
    out = _smooth(out, 1.0)
    return out.astype(np.float32)


def _smooth(x: np.ndarray, sigma_frames: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(x, sigma_frames, axis=0, mode="nearest")
