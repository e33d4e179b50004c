"""`echo-ihg train-sync` end to end on a tiny generated corpus (sessions written with the session
writer; faces decoded from lip motion that follows each speaker's audio envelope)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from echo_ihg.cli.main import main
from echo_ihg.constants import SAMPLES_PER_FRAME
from echo_ihg.data.session import Participant, Session, write_session
from echo_ihg.motion.canonical import canonical_face
from echo_ihg.motion.codec import default_codec


def _participant(rng, codec, t: int) -> Participant:
    """Noise-burst 'speech' in syllable-like bursts; jaw/lip coefficients follow the burst envelope."""
    env = (rng.random(t) < 0.35).astype(float)
    env = np.convolve(env, np.ones(3) / 3, "same")
    audio = (rng.normal(0, 1, t * SAMPLES_PER_FRAME) * np.repeat(0.3 * env, SAMPLES_PER_FRAME)).astype(np.float32)
    motion = np.zeros((t, codec.dim), np.float32)
    lips = codec.layout["lips_jaw"]
    motion[:, lips.start] = 0.08 * env                   # first lips/jaw component tracks the envelope
    motion[:, lips.start + 1] = 0.03 * np.roll(env, 1)
    neutral = canonical_face() * [0.4, 0.4, 0.4] + [0.3, 0.3, 0.0]   # a face in the middle of the frame
    lm = codec.decode(motion, neutral.astype(np.float32))
    return Participant(audio, lm, np.ones(t, bool), (env > 0.3).astype(np.float32))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    rng = np.random.default_rng(0)
    codec = default_codec()
    root = tmp_path_factory.mktemp("corpus")
    for split, n in (("train", 2), ("test", 2)):
        for i in range(n):
            ses = Session(f"{split}{i}", {"source": "test"}, [], _participant(rng, codec, 200),
                          _participant(rng, codec, 200))
            write_session(root / split / f"{split}{i}", ses)
    return root


def test_train_sync_cli_writes_a_validated_expert(corpus, tmp_path, capsys):
    out = tmp_path / "expert.safetensors"
    rc = main(["train-sync", "--data", str(corpus), "-o", str(out), "--steps", "40",
               "--set", "batch=32", "--set", "hidden=32", "--set", "embed=16"])
    assert rc == 0
    assert out.is_file() and out.with_suffix(".json").is_file() and out.with_suffix(".config.json").is_file()
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["info"]["validation"]["split"] == "test"
    assert set(meta["info"]["validation"]) >= {"gt", "shifted", "mismatched"}
    assert json.loads(out.with_suffix(".config.json").read_text())["steps"] == 40
    assert "LSE-D gt" in capsys.readouterr().out
    # the cached motion codes are reused on a second run (no error, same files)
    assert list((corpus / "train" / "train0" / "A" / "cache").glob("motion_*.npy"))


def test_train_sync_cli_bad_input(tmp_path, capsys):
    assert main(["train-sync", "--data", str(tmp_path / "nope"), "-o", str(tmp_path / "e.safetensors")]) == 2
    assert "data folder not found" in capsys.readouterr().err
    assert main(["train-sync", "--data", str(tmp_path), "-o", str(tmp_path / "e.pt")]) == 2
    assert "must end in .safetensors" in capsys.readouterr().err
    (tmp_path / "train").mkdir()
    assert main(["train-sync", "--data", str(tmp_path), "-o", str(tmp_path / "e.safetensors")]) == 2
    assert "no session with speech" in capsys.readouterr().err
