"""bench/listening_check.py: its measures on synthetic motion with planted nods / smiles at known times, and a
short user clip built from a real photo and real recorded speech."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from echo_ihg.constants import FPS
from echo_ihg.errors import InputError

_PATH = Path(__file__).resolve().parents[2] / "bench" / "listening_check.py"
_spec = importlib.util.spec_from_file_location("listening_check", _PATH)
lc = importlib.util.module_from_spec(_spec)
sys.modules["listening_check"] = lc          # its dataclass needs its module registered
_spec.loader.exec_module(lc)

T = 60 * FPS
ENDS = np.arange(2.0, 57.0, 3.3)                       # 17 phrase ends


def _pitch(rng: np.random.Generator, nods_at: np.ndarray, depth: float) -> np.ndarray:
    """Noisy head pitch (T,) deg with a nose-down dip of `depth` deg 0.5 s after each time."""
    from scipy.ndimage import gaussian_filter1d

    t = np.arange(T) / FPS
    x = gaussian_filter1d(rng.normal(0, 1.0, T), 2) + 2.0 * np.sin(2 * np.pi * t / 17)   # jitter + slow drift
    for e in nods_at:
        x -= depth * np.exp(-0.5 * ((t - e - 0.5) / 0.12) ** 2)
    return x


def test_nod_response_recovers_planted_nods():
    rng = np.random.default_rng(0)
    r = lc.nod_response(_pitch(rng, ENDS, 3.0), ENDS)
    assert r["n_ends"] == len(ENDS) and r["n_random"] >= 200
    assert 2.4 < r["response_deg"] < 3.3 and r["pass"]          # 3° planted; the 1.5-s high-pass takes ~0.3°


def test_nod_response_is_null_without_nods_and_for_upward_moves():
    rng = np.random.default_rng(1)
    none = lc.nod_response(_pitch(rng, ENDS, 0.0), ENDS)
    assert abs(none["response_deg"]) < 3 * none["se_deg"] and not none["pass"]
    up = lc.nod_response(_pitch(rng, ENDS, -3.0), ENDS)         # nose up after phrase ends: not a nod
    assert up["response_deg"] < 0.5 and not up["pass"]
    late = lc.nod_response(_pitch(rng, ENDS + 1.5, 3.0), ENDS)   # nods outside the 0.2–1.0 s window
    assert late["response_deg"] < 1.0


def _smiles(onsets: np.ndarray, amp: float) -> np.ndarray:
    t = np.arange(T) / FPS
    s = np.zeros(T)
    for o in onsets:
        s = np.maximum(s, np.clip(np.minimum((t - o) / 0.3, (o + 1.5 - t) / 0.3), 0, 1))
    return amp * s


def test_smile_response_recovers_planted_gain():
    rng = np.random.default_rng(2)
    onsets = lc.smile_onsets(60.0, rng)
    assert len(onsets) == 8 and np.diff(onsets).min() > 4.0
    user = _smiles(onsets, 0.08)
    avatar = 0.3 * user + rng.normal(0, 0.002, T)
    r = lc.smile_response(lc.smile_ratios(avatar, user, onsets))
    assert r["n_onsets"] == 8 and abs(r["response"] - 0.3) < 0.02 and r["pass"]
    ctl = lc.smile_control_ratios(avatar, user, onsets)      # between the user's smiles: no change
    assert len(ctl) >= 7 and abs(ctl.mean()) < 0.02
    away = lc.smile_response(lc.smile_ratios(np.roll(avatar, 2 * FPS), user, onsets))  # smiles 2 s late
    assert abs(away["response"]) < 0.05 and not away["pass"]


def test_phrase_ends_from_vad():
    vad = np.zeros(10 * FPS)
    vad[25:50] = vad[55:75] = 1.0            # one phrase with a 0.2-s gap inside, ends at 3.0 s
    vad[100:150] = 1.0                       # ends at 6.0 s
    vad[240:] = 1.0                          # runs to the clip's end: no phrase end
    assert np.allclose(lc.phrase_ends(vad), [3.0, 6.0])


def test_missing_recordings_name_the_debian_package(monkeypatch, tmp_path):
    monkeypatch.setitem(lc.VOICES, "alsa", ("alsa-utils", str(tmp_path / "none" / "*.wav")))
    with pytest.raises(InputError, match="alsa-utils"):
        lc.voice_files("alsa")


@pytest.mark.skipif(not list(Path("/usr/share/sounds/alsa").glob("*.wav")), reason="alsa-utils not installed")
def test_build_clip_from_a_real_photo_and_real_speech(tmp_path):
    from echo_ihg.audio.vad import speech_probability
    from echo_ihg.io.media import load_audio, video_info

    clip = lc.build_clip("lfw0", "alsa", 10.0, tmp_path, size=128, bars=False)
    info = video_info(clip.video)
    assert abs(info.n_frames - 10 * FPS) <= 1
    assert len(clip.scripted_ends) >= 2
    # the user's rendered face smiles at the scripted onsets
    assert (lc.smile_changes(clip.user_smile, clip.smile_onsets) > 0.01).all()
    # the VAD of the muxed audio finds the scripted phrase ends (within 0.3 s)
    ends = lc.phrase_ends(speech_probability(load_audio(clip.video)))
    assert len(ends) == len(clip.scripted_ends)
    assert np.abs(ends - clip.scripted_ends).max() < 0.3


def test_report_pools_clips_and_writes_the_figure(tmp_path):
    """clip_result → pooled → table → figure on planted motion: the pooled row reads the planted responses."""
    rng = np.random.default_rng(3)
    onsets = lc.smile_onsets(60.0, rng)
    user = _smiles(onsets, 0.08)
    vad = np.zeros(T)
    for e in ENDS:
        vad[int((e - 1.5) * FPS): int(e * FPS)] = 1.0
    rows, series = [], []
    for k in range(2):
        clip = lc.Clip(f"c{k}", tmp_path / "user.mp4", 60.0, onsets, ENDS, user)
        att = {"head_pitch": _pitch(rng, ENDS, 3.0), "smile": 0.5 * user + rng.normal(0, 0.002, T)}
        rows.append(lc.clip_result(clip, att, vad))
        series.append({"clip": clip.name, "pitch": att["head_pitch"], "smile": att["smile"], "user_smile": user,
                       "ends": rows[-1]["_ends"], "random": rows[-1]["_random"],
                       "onsets": onsets})
    pooled = lc.pooled(rows)
    assert np.allclose(rows[0]["_ends"], ENDS, atol=1 / FPS) and pooled["phrase_ends_vad"] == 2 * len(ENDS)
    assert pooled["nod"]["pass"] and 2.4 < pooled["nod"]["response_deg"] < 3.3
    assert pooled["smile"]["n_onsets"] == 16 and abs(pooled["smile"]["response"] - 0.5) < 0.02
    assert abs(pooled["smile_control"]["response"]) < 0.02
    text = lc.table(rows + [pooled], "header")
    assert text.count("\n| ") == 4 and "| pooled | 120 |" in text
    lc.figure(tmp_path / "f.png", series)
    assert (tmp_path / "f.png").stat().st_size > 10_000
