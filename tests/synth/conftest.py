"""Fixtures: a few in-memory synthetic sessions shared by the synth tests (generated once, ~15 s)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def synth_sessions():
    """Four 180-s sessions (seed 7): long enough for the 60-s engagement detector."""
    from echo_ihg.synth.generate import SynthConfig, generate_session, identity_pool

    cfg = SynthConfig(seconds=180.0, seed=7, masked_fraction=0.0)
    pool = identity_pool()
    return [generate_session(i, cfg, pool) for i in range(4)]


@pytest.fixture(scope="session")
def synth_signals(synth_sessions):
    from echo_ihg.synth.detectors import control_signals

    return [control_signals(s) for s in synth_sessions]


@pytest.fixture(scope="session")
def synth_attributes(synth_sessions):
    from echo_ihg.synth.detectors import attributes

    return [attributes(s) for s in synth_sessions]
