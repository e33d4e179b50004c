"""Frozen text encoder: MiniLM loads offline, 384-d unit vectors, meaningful similarities, cache hits."""

from __future__ import annotations

import numpy as np

from echo_ihg.model.text_encoder import HashingEncoderForTests, MiniLMEncoder, minilm_path


def test_minilm_offline_normalised_cached(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert (minilm_path() / "model.safetensors").is_file()
    enc = MiniLMEncoder()
    texts = ["the user is smiling and nodding", "the user smiles and nods happily",
             "the stock market fell sharply today"]
    emb = enc.encode(texts)
    assert emb.shape == (3, 384) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert emb[0] @ emb[1] > emb[0] @ emb[2] + 0.2                      # semantics, not hashing
    assert enc.cache_misses == 3 and enc.cache_hits == 0
    again = enc.encode([texts[1], texts[0]])
    assert enc.cache_hits == 2 and enc.cache_misses == 3
    np.testing.assert_array_equal(again, emb[[1, 0]])


def test_hashing_encoder_is_only_a_deterministic_stand_in():
    enc = HashingEncoderForTests()
    a = enc.encode(["hello world", "hello world", ""])
    assert a.shape == (3, 384)
    np.testing.assert_array_equal(a[0], a[1])
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-6)
    enc.encode(["hello world"])
    assert enc.cache_hits == 1 and enc.cache_misses == 3               # duplicates in one call encode once
