import numpy as np
import pytest

from echo_ihg.constants import SAMPLE_RATE
from echo_ihg.errors import EchoError
from echo_ihg.synth.espeak import Voice, synthesize
from echo_ihg.synth.visemes import MOUTH_CONTROLS, mouth_track, viseme_classes


def test_synthesize_words_and_phonemes_are_timed():
    sp = synthesize("Hello there, how was the trip to Paris?", Voice("en-us+f3", 160, 60, 50))
    assert sp.audio.dtype == np.float32 and sp.audio.ndim == 1
    assert 1.0 < sp.duration < 5.0
    assert [w for _, _, w in sp.words] == ["Hello", "there", "how", "was", "the trip", "to", "Paris"]
    starts = [a for a, _, _ in sp.phonemes]
    assert starts == sorted(starts) and all(b >= a for a, b, _ in sp.phonemes)
    assert sp.phonemes[-1][1] <= sp.duration + 1e-6
    # audio energy sits inside the voiced phonemes: silence before the first one
    first = next(a for a, _, p in sp.phonemes if not p.startswith("_"))
    assert np.abs(sp.audio[: int(first * SAMPLE_RATE)]).max() < 0.05


def test_voice_changes_the_audio_and_bad_voice_is_an_error():
    a = synthesize("The weather is nice today.", Voice("en+m3", 150, 30, 40)).audio
    b = synthesize("The weather is nice today.", Voice("en+f3", 180, 70, 60)).audio
    assert len(a) != len(b) or not np.allclose(a, b)
    with pytest.raises(EchoError, match="no voice"):
        synthesize("hi", Voice("xx-nonexistent-voice"))


def test_viseme_track_is_smooth_and_closes_lips_on_bilabials():
    sp = synthesize("Mama made a big apple pie.", Voice("en"))
    n = int(sp.duration * 25) + 5
    track = mouth_track(sp.phonemes, n)
    assert track.shape == (n, len(MOUTH_CONTROLS))
    assert np.abs(np.diff(track, axis=0)).max() < 0.35  # no frame-to-frame jumps
    press = track[:, MOUTH_CONTROLS.index("lip_press")]
    assert press.max() > 0.5
    assert viseme_classes("p")[0] == "bilabial" and viseme_classes("aI") == ("open", "close_front")
    assert viseme_classes("_:")[0] == "rest"
