"""The evaluation runner end to end on a tiny synthetic corpus with a tiny random model: every metric per
segment, the GT reference row, the SDCM gate, the report files; bad inputs give clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from echo_ihg.errors import InputError
from echo_ihg.eval.runner import GT, EvalConfig, Variant, parse_variant, run_evaluation
from echo_ihg.inference.config import GenerationConfig
from echo_ihg.eval.suite import SEGMENTS

CFG = EvalConfig(GenerationConfig(steps=1, size=256), split="train", samples=2, max_sessions=1, participants=("A",),
                 video_seconds=0.0, react_window=100)
FRAME_METRICS = ("rPCC_expression", "SID_expression", "Var_expression", "FD_expression", "PFD_expression",
                 "L2_expression", "L2_lips_jaw", "FD_pose", "SID_pose", "LVE", "mouth_distance")


@pytest.fixture(scope="module")
def evaluated(tiny_synth_corpus, tiny_models, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "out"
    variants = [Variant(name, path) for name, path in tiny_models.items()]
    return run_evaluation(tiny_synth_corpus, variants, out, CFG), out


def test_metrics_per_segment_and_variant(evaluated):
    result, out = evaluated
    data = json.loads((out / "metrics.json").read_text())["results"]
    assert list(data) == [GT, "ECHO", "w/o SDCM"]
    assert len(result.items) == 1 and result.items[0].endswith(":A")     # one session, participant A as avatar
    for variant, res in data.items():
        assert set(SEGMENTS) | {"dependencies"} <= set(res)
        for seg in SEGMENTS:
            if res[seg]["frames"] < 50:                  # too few frames: reported as a count only
                continue
            for m in FRAME_METRICS:
                assert np.isfinite(res[seg][m]), (variant, seg, m)
        for seg in ("all", "speaking"):
            assert np.isfinite(res[seg]["LSE-D"]) and np.isfinite(res[seg]["LSE-C"])
        for m in ("FRCorr", "FRDist", "FRSyn", "FRVar"):
            assert res["all"][m] is not None, (variant, m)
        for m in ("lip_audio_corr", "nod_response", "smile_mirror"):
            assert res["dependencies"][m] is not None, (variant, m)
    gt, echo = data[GT]["all"], data["ECHO"]["all"]
    assert gt["FD_expression"] == pytest.approx(0.0, abs=1e-6) and gt["L2_lips_jaw"] == 0.0
    assert gt["LSE-D"] == pytest.approx(gt["LSE-D_gt"])     # ground truth scored as a prediction
    assert echo["FD_expression"] > 1e-3                      # a random model is not the ground truth
    assert echo["LSE-D"] > gt["LSE-D"]                       # ... and its lips are out of sync
    assert 0.0 < echo["SDCM_gate"] < 1.0 and "SDCM_gate" not in data["w/o SDCM"]["all"]
    assert "seam_ratio" in echo                              # chunk borders of the generation


def test_report_and_config(evaluated):
    result, out = evaluated
    page = result.report.read_text()
    figures = sorted(p.name for p in (out / "figures").iterdir())
    for name in ("bars_all.png", "bars_speaking.png", "bars_listening.png", "bars_dependencies.png",
                 "curves_0.png", "curves_1.png", "gate_0.png"):   # curves: one per variant
        assert name in figures and f"figures/{name}" in page
    assert "SDCM gate" in page and "w/o SDCM" in page
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["eval"]["samples"] == 2 and set(cfg["variants"]) == {"ECHO", "w/o SDCM"}
    assert cfg["variants"]["w/o SDCM"]["model"]["use_sdcm"] is False


def test_samples_differ_by_seed(evaluated):
    """The K generations are different draws (diversity metrics are not trivially zero); GT has K = 1."""
    result, _ = evaluated
    assert result.results["ECHO"]["all"]["FRDiv"] > 0
    assert result.results[GT]["all"]["FRDiv"] == 0


def test_bad_inputs(tiny_synth_corpus, tiny_models, tmp_path):
    ok = [Variant("ECHO", tiny_models["ECHO"])]
    with pytest.raises(InputError, match="checkpoint not found"):
        run_evaluation(tiny_synth_corpus, [Variant("x", tmp_path / "missing")], tmp_path / "o", CFG)
    with pytest.raises(InputError, match="split 'test'"):
        run_evaluation(tiny_synth_corpus, ok, tmp_path / "o", EvalConfig(split="test"))
    (tmp_path / "empty" / "test").mkdir(parents=True)
    with pytest.raises(InputError, match="no sessions in split 'test'"):
        run_evaluation(tmp_path / "empty", ok, tmp_path / "o", EvalConfig(split="test"))
    with pytest.raises(InputError, match="data folder not found"):
        run_evaluation(tmp_path / "nowhere", ok, tmp_path / "o", CFG)
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        run_evaluation(tiny_synth_corpus, ok, tmp_path / "file", CFG)
    with pytest.raises(InputError, match="unique"):
        run_evaluation(tiny_synth_corpus, ok + ok, tmp_path / "o", CFG)


def test_untracked_avatars_are_an_error(tiny_synth_corpus, tiny_models, tmp_path):
    """A session whose faces are lost on most frames has no valid avatar: a clear error naming the split."""
    import shutil

    src = sorted((tiny_synth_corpus / "train").iterdir())[0]
    dst = tmp_path / "corpus" / "test" / src.name
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("cache", "extra"))
    for who in ("A", "B"):
        valid = np.load(dst / who / "valid.npy")
        valid[: len(valid) // 2] = False
        np.save(dst / who / "valid.npy", valid)
    with pytest.raises(InputError, match="tracked on"):
        run_evaluation(tmp_path / "corpus", [Variant("ECHO", tiny_models["ECHO"])], tmp_path / "o",
                       EvalConfig(GenerationConfig(steps=1, size=256), samples=1, video_seconds=0.0))


def test_parse_variant():
    assert parse_variant("runs/echo/model", 0) == Variant("model", Path("runs/echo/model"))
    assert parse_variant("w/o SDCM=runs/x", 1).name == "w/o SDCM"
    with pytest.raises(InputError):
        parse_variant("name=", 0)


def test_react_appropriate_groups_in_the_suite():
    """Items of one appropriate-listener group (REACT meta) accept each other's ground truth as references."""
    from echo_ihg.eval.suite import EvalItem, evaluate_items

    layout = {"lips_jaw": slice(0, 2), "left_eye": slice(2, 4), "pose": slice(4, 6)}
    rng = np.random.default_rng(0)
    t = 200
    gts = [np.cumsum(rng.normal(size=(t, 6)), 0) for _ in range(2)]
    vad = np.r_[np.ones(t // 2), np.zeros(t // 2)]

    def items(group: str):
        # each item predicts the *other* listener's reaction exactly
        return [EvalItem(f"s{i}", gts[i], gts[1 - i][None], gts[1 - i], rng.normal(size=(4 * t, 80)), vad,
                         1 - vad, group=group) for i in range(2)]

    alone = evaluate_items(items(""), layout, react_window=100)["all"]
    grouped = evaluate_items(items("train/session7"), layout, react_window=100)["all"]
    assert grouped["FRCorr"] == pytest.approx(1.0) and grouped["FRDist"] == pytest.approx(0.0, abs=1e-6)
    assert alone["FRCorr"] < 0.9 and alone["FRDist"] > 1.0


def test_explicit_test_sessions_are_chosen_by_id(tiny_synth_corpus):
    from echo_ihg.data.session import list_sessions
    from echo_ihg.eval.inputs import load_inputs

    ids = [d.name for d in list_sessions(tiny_synth_corpus, "train")]
    cfg = EvalConfig(split="train", participants=("A",), sessions=(ids[-1],))
    inputs = load_inputs(tiny_synth_corpus, cfg)
    assert [i.session_dir.name for i in inputs] == [ids[-1]]          # not the first session
    with pytest.raises(InputError, match="no session nope"):
        load_inputs(tiny_synth_corpus, EvalConfig(split="train", sessions=("nope",)))


def test_shuffle_user_conditions_on_another_session(tiny_synth_corpus):
    """--shuffle-user: the generator reads another session's user (audio, motion, attributes, VAD, words,
    relabelled), while the input itself, which the scores read, keeps its own session's user."""
    from echo_ihg.eval.runner import load_inputs, motion_of, shuffle_users, user_conditions
    from echo_ihg.motion.codec import default_codec

    inputs = load_inputs(tiny_synth_corpus, EvalConfig(split="train", participants=("A",)))
    assert len({i.session_dir for i in inputs}) >= 2
    codec = default_codec()
    own = user_conditions(inputs[0], codec)
    shuffle_users(inputs)
    inp, donor = inputs[0], inputs[0].user_source
    assert donor.session_dir != inp.session_dir
    mel, motion, attrs, vad, words = user_conditions(inp, codec)
    n = min(inp.T, donor.T)
    np.testing.assert_array_equal(mel[:n], donor.user_mel[:n])
    np.testing.assert_array_equal(motion[:n], motion_of(donor, donor.user, codec)[:n])
    assert len(mel) == len(vad) == inp.T and not np.array_equal(mel[:n], own[0][:n])
    user_words = [e["text"] for e in words if e["speaker"] == inp.user]
    assert user_words == [e["text"] for e in donor.session.transcript if e["speaker"] == donor.user]
    assert [e["text"] for e in words if e["speaker"] == inp.who] == \
        [e["text"] for e in inp.session.transcript if e["speaker"] == inp.who]
    with pytest.raises(InputError, match="two sessions"):
        shuffle_users(inputs[:1])
