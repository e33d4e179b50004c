"""Derived audio features of a session, cached next to its data (`echo_ihg.data.cache`).

    mel = session_mel(session_dir, "A")   # (4T, 80) float32, rows 4t..4t+3 = video frame t
    vad = session_vad(session_dir, "B")   # (T,) float32, recomputed from the session audio with the chosen backend

vad.npy in the session is what the adapter stored; `session_vad` recomputes it from the audio (e.g. with
another backend) and caches it under a backend-specific name.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from echo_ihg.audio import features, vad
from echo_ihg.data.cache import cached_feature


def vad_cache_name(backend: str) -> str:
    return "vad_silero" if backend == "silero" else f"vad_{backend}"


def session_mel(session_dir: str | Path, participant: str) -> np.ndarray:
    """Cached log-mel of one participant's audio -> (4T, 80) float32 (memory-mapped)."""
    return cached_feature(session_dir, participant, "mel", features.VERSION, lambda p: features.log_mel(p.audio))


def session_vad(session_dir: str | Path, participant: str, backend: str = "silero", mode: int = 2) -> np.ndarray:
    """Cached per-frame speech probability recomputed from the audio -> (T,) float32 (memory-mapped)."""
    return cached_feature(session_dir, participant, vad_cache_name(backend), vad.version(backend, mode),
                          lambda p: vad.speech_probability(p.audio, backend=backend, mode=mode))
