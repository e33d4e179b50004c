"""Behaviour describer Φ and affect model Ψ: deterministic and sensible on hand-made inputs."""

from __future__ import annotations

import numpy as np

from echo_ihg.model.affect import LexiconAffect, emotion_scores, utterances
from echo_ihg.model.describe import BehaviourDescriber

FPS = 25


def _user(n=1500, smile_from=None, nod_from=None, away_from=None, speak_from=None):
    t = np.arange(n) / FPS
    a = {"smile": np.zeros(n), "head_pitch": np.zeros(n), "head_yaw": 0.2 * np.sin(0.5 * t),
         "gaze_yaw": np.zeros(n), "gaze_pitch": np.zeros(n), "brow_raise_l": np.zeros(n),
         "brow_raise_r": np.zeros(n), "brow_furrow": np.zeros(n)}
    if smile_from is not None:
        a["smile"][smile_from:] = 0.06
    if nod_from is not None:
        a["head_pitch"][nod_from:] = 5 * np.sin(2 * np.pi * 2 * t[nod_from:])    # 2 Hz nods, ±5°
    if away_from is not None:
        a["gaze_yaw"][away_from:] = 0.4
    vad = np.zeros(n)
    if speak_from is not None:
        vad[speak_from:] = 0.9
    return a, vad


def test_smiling_and_nodding_while_the_avatar_speaks_and_increasing_engagement():
    attrs, uvad = _user(smile_from=1000, nod_from=1100)
    text = BehaviourDescriber().describe(attrs, uvad, np.ones(1500), window=1500)
    assert text == ("the user is smiling, nodding and looking at the avatar while the avatar speaks; "
                    "over the last minute the user has been increasingly engaged")


def test_looking_away_while_speaking_in_a_pause_and_less_engaged():
    attrs, uvad = _user(smile_from=None, nod_from=None, away_from=900)
    attrs["smile"][:500] = 0.06                                         # smiled early on, then not
    text = BehaviourDescriber().describe(attrs, uvad, np.zeros(1500), window=1500)
    assert text.startswith("the user is looking away during a pause")
    assert text.endswith("has become less engaged")
    attrs2, uvad2 = _user(speak_from=1400)
    assert BehaviourDescriber().describe(attrs2, uvad2, np.zeros(1500), 1500).startswith(
        "the user is speaking and looking at the avatar;")


def test_describer_is_deterministic_windowed_and_robust():
    attrs, uvad = _user(smile_from=1000, nod_from=1100)
    d = BehaviourDescriber()
    texts = {d.describe(attrs, uvad, np.ones(1500), 1500) for _ in range(3)}
    assert len(texts) == 1
    short = d.describe(attrs, uvad, np.ones(1500), window=100)          # only the last 4 s
    assert "just started" in short
    assert d.describe({}, np.zeros(0), np.zeros(0), 100) == "the user has not been observed yet"
    nan_attrs = {k: np.full(1500, np.nan) for k in attrs}               # NaNs do not crash it
    assert d.describe(nan_attrs, uvad, np.ones(1500), 1500).startswith("the user is")


def test_affect_reads_emotions_with_recency():
    psi = LexiconAffect()
    sad = [{"speaker": "B", "start": 0.0, "end": 2.0, "text": "My dog died last week and I miss him so much"}]
    text = psi.describe(sad, avatar="A")
    assert "sounds sad" in text and "empathetic" in text and "negative" in text
    happy_then_sad = [{"speaker": "B", "start": 0.0, "end": 2.0, "text": "I got the job, I am so happy!"},
                      {"speaker": "B", "start": 120.0, "end": 123.0, "text": "but my mother is sick, I'm worried"}]
    assert "worried" in psi.describe(happy_then_sad)                    # the recent line dominates
    assert "happy" in psi.describe(happy_then_sad, now=10.0)            # nothing after `now` is read
    assert "no strong emotion" in psi.describe([])
    assert psi.describe(happy_then_sad) == LexiconAffect().describe(happy_then_sad)


def test_affect_speaker_weighting_and_word_level_transcripts():
    words = [{"speaker": "B", "start": 0.3 * i, "end": 0.3 * i + 0.25, "text": w}
             for i, w in enumerate("this is so unfair I am furious".split())]
    utts = utterances(words)
    assert len(utts) == 1 and utts[0]["text"] == "this is so unfair I am furious"
    assert "angry" in LexiconAffect().describe(words) and "calm and reassuring" in LexiconAffect().describe(words)
    # the avatar's own cheerful words weigh less than the user's anger
    mixed = words + [{"speaker": "A", "start": 3.0, "end": 4.0, "text": "great"}]
    assert "angry" in LexiconAffect().describe(mixed, avatar="A")
    assert emotion_scores("I am not happy")["joy"] == 0
