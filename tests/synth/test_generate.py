import json

import numpy as np

from echo_ihg.cli.main import main
from echo_ihg.data.session import list_sessions, read_session
from echo_ihg.synth.dialogue import make_script
from echo_ihg.synth.generate import SynthConfig, generate_session, identity_pool
from echo_ihg.synth.grammar import TEMPLATES, template_pool


def _arrays(root):
    out = {}
    for d in sorted(list_sessions(root)):
        for who in ("A", "B"):
            for name in ("landmarks.npy", "vad.npy", "extra/controls.npy"):
                out[f"{d.name}/{who}/{name}"] = np.load(d / who / name)
            out[f"{d.name}/{who}/audio"] = read_session(d).participant(who).audio.copy()
        out[f"{d.name}/transcript"] = (d / "transcript.jsonl").read_text()
    return out


def test_same_seed_same_arrays_other_seed_differs(tmp_path):
    args = ["synth", "--sessions", "2", "--seconds", "8", "--workers", "2"]
    assert main(args + ["--seed", "3", "-o", str(tmp_path / "a")]) == 0
    assert main(args + ["--seed", "3", "-o", str(tmp_path / "b")]) == 0
    assert main(args + ["--seed", "4", "-o", str(tmp_path / "c")]) == 0
    a, b, c = _arrays(tmp_path / "a"), _arrays(tmp_path / "b"), _arrays(tmp_path / "c")
    assert a.keys() == b.keys() and len(a) == 2 * (2 * 4 + 1)
    for k in a:
        assert (a[k] == b[k]) if isinstance(a[k], str) else np.array_equal(a[k], b[k]), k
    first_a = next(k for k in a if k.endswith("A/audio"))
    first_c = next(k for k in c if k.endswith("A/audio"))
    assert not np.array_equal(a[first_a], c[first_c])


def test_landmarks_look_like_tracker_output():
    s = generate_session(0, SynthConfig(seconds=10.0, seed=0), identity_pool())
    lm = np.asarray(s.A.landmarks, np.float32)
    assert lm.shape == (250, 478, 3) and lm.dtype == np.float32 or s.A.landmarks.dtype == np.float16
    assert np.isfinite(lm).all() and lm[..., :2].min() > 0 and lm[..., :2].max() < 1
    iod = np.linalg.norm(lm[:, 263, :2] - lm[:, 33, :2], axis=1)
    assert 0.1 < iod.mean() < 0.3  # a face about the astronaut's size in a 512×512 frame
    assert np.abs(np.diff(lm[..., :2], axis=0)).max() < 0.03  # no jumps between frames


def test_template_pools_disjoint_and_scripts_rarely_repeat():
    for kind in TEMPLATES:
        tr = {t for _, t in template_pool(kind, "train")}
        te = {t for _, t in template_pool(kind, "test")}
        assert tr and te and not tr & te
    turns = make_script(np.random.default_rng(0), "train", 400)
    texts = [t.text for t in turns]
    assert len(set(texts)) / len(texts) > 0.9
    test_turns = make_script(np.random.default_rng(0), "test", 100)
    test_ids = {i for k in TEMPLATES for i, _ in template_pool(k, "test")}
    assert all(t.template in test_ids for t in test_turns)


def test_cli_tiny_corpus_splits_and_identities(tmp_path):
    out = tmp_path / "corpus"
    rc = main(["synth", "--sessions", "5", "--seconds", "8", "--seed", "2", "--workers", "1", "-o", str(out)])
    assert rc == 0
    man = json.loads((out / "manifest.json").read_text())
    assert len(man["sessions"]) == 5 and man["splits"]["test"] and man["splits"]["train"]
    ids = man["identities"]
    assert not set(ids["train"]) & set(ids["test"]) and not set(ids["val"]) & set(ids["test"])
    assert not set(ids["train"]) & set(ids["val"])
    for d in list_sessions(out):
        s = read_session(d)
        assert s.T == 200 and s.meta["source"] == "synth"
        assert np.load(d / "A" / "landmarks.npy", mmap_mode="r").dtype == np.float16
        for who in ("A", "B"):  # lossless FLAC by default (a listener's track is mostly silence)
            assert (d / who / "audio.flac").is_file() and not (d / who / "audio.wav").exists()
        if s.meta["split"] == "test":
            assert s.meta["template_pool"] == "test"
    assert json.loads((out / "config.json").read_text())["seed"] == 2


def test_cli_audio_format_wav_stores_the_same_samples(tmp_path):
    args = ["synth", "--sessions", "1", "--seconds", "5", "--seed", "5", "--workers", "1"]
    assert main(args + ["-o", str(tmp_path / "f")]) == 0
    assert main(args + ["--audio-format", "wav", "-o", str(tmp_path / "w")]) == 0
    (f,), (w,) = list_sessions(tmp_path / "f"), list_sessions(tmp_path / "w")
    assert (w / "A" / "audio.wav").is_file() and not (w / "A" / "audio.flac").exists()
    assert json.loads((tmp_path / "w" / "config.json").read_text())["audio_format"] == "wav"
    for who in ("A", "B"):
        np.testing.assert_array_equal(read_session(f).participant(who).audio, read_session(w).participant(who).audio)
    assert (f / "B" / "audio.flac").stat().st_size < 0.6 * (w / "B" / "audio.wav").stat().st_size


def test_cli_bad_arguments_are_clean_errors(tmp_path, capsys):
    assert main(["synth", "--sessions", "0", "-o", str(tmp_path / "x")]) == 2
    assert "sessions" in capsys.readouterr().err
    assert main(["synth", "--set", "audio_format=mp3", "-o", str(tmp_path / "x")]) == 2
    assert "audio_format" in capsys.readouterr().err
