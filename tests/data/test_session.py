"""Session format: write/read round trip, validation failures naming the file, listing, float16, cache."""

import json
import wave

import numpy as np
import pytest

from echo_ihg.constants import SAMPLES_PER_FRAME
from echo_ihg.data.cache import cached_feature
from echo_ihg.data.session import (Participant, Session, list_sessions, read_session, validate_session,
                                   write_session)
from echo_ihg.errors import InputError


def _participant(T: int, seed: int, dtype=np.float32) -> Participant:
    rng = np.random.default_rng(seed)
    return Participant(
        audio=(0.1 * rng.standard_normal(T * SAMPLES_PER_FRAME)).astype(np.float32),
        landmarks=rng.random((T, 478, 3)).astype(dtype),
        valid=rng.random(T) > 0.1,
        vad=rng.random(T).astype(np.float32),
        extra={"emotion_valence": rng.standard_normal((T, 2)).astype(np.float32)},
    )


def _session(T: int = 20, dtype=np.float32) -> Session:
    transcript = [{"speaker": "B", "start": 0.3, "end": 0.5, "text": "yes"},
                  {"speaker": "A", "start": 0.0, "end": 0.4, "text": "hello there"}]
    return Session("s001", {"source": "test", "participants": {"A": {"source_id": "x"}}}, transcript,
                   _participant(T, 1, dtype), _participant(T, 2, dtype))


def test_round_trip(tmp_path):
    s = _session()
    d = write_session(tmp_path / "train" / "s001", s)
    r = read_session(d)
    assert r.T == 20 and r.session_id == "s001" and r.path == d
    assert r.meta["fps"] == 25 and r.meta["T"] == 20 and r.meta["source"] == "test"
    assert r.meta["participants"]["A"]["source_id"] == "x" and "B" in r.meta["participants"]
    assert [e["text"] for e in r.transcript] == ["hello there", "yes"]  # sorted by start
    for who in "AB":
        a, b = s.participant(who), r.participant(who)
        np.testing.assert_array_equal(a.landmarks, b.landmarks)
        np.testing.assert_array_equal(a.valid, b.valid)
        np.testing.assert_allclose(a.vad, b.vad)
        np.testing.assert_allclose(a.audio, b.audio, atol=1.0 / 32767)  # PCM16
        np.testing.assert_array_equal(a.extra["emotion_valence"], b.extra["emotion_valence"])
        assert isinstance(b.landmarks, np.memmap)  # memory-mapped by default
    assert not list(tmp_path.glob("train/.*"))  # no temporary directories left behind


def test_optional_video_is_copied(tmp_path):
    from echo_ihg.io.media import write_mp4

    s = _session(T=10)
    write_mp4(tmp_path / "crop.mp4", (np.zeros((32, 32, 3), np.uint8) for _ in range(10)))
    s.B.video = tmp_path / "crop.mp4"
    d = write_session(tmp_path / "s", s)
    r = read_session(d)
    assert r.A.video is None and r.B.video == d / "B" / "video.mp4"
    assert r.B.video.read_bytes() == (tmp_path / "crop.mp4").read_bytes()
    s.A.video = tmp_path / "missing.mp4"
    with pytest.raises(InputError, match="video not found"):
        write_session(tmp_path / "s2", s)


def test_float16_landmarks_upcast(tmp_path):
    d = write_session(tmp_path / "s", _session(dtype=np.float16))
    assert np.load(d / "A" / "landmarks.npy").dtype == np.float16
    r = read_session(d)
    assert r.A.landmarks.dtype == np.float32


def test_rewrite_replaces_whole_dir(tmp_path):
    d = write_session(tmp_path / "s", _session(T=20))
    (d / "A" / "cache").mkdir()
    (d / "A" / "cache" / "old.npy").write_bytes(b"x")
    write_session(d, _session(T=10))
    assert read_session(d).T == 10 and not (d / "A" / "cache").exists()


def _corrupt_cases():
    def lm_shape(d):
        np.save(d / "A/landmarks.npy", np.zeros((20, 468, 3), np.float32))

    def lm_nan(d):
        a = np.load(d / "B/landmarks.npy")
        a[5, 3, 1] = np.nan
        np.save(d / "B/landmarks.npy", a)

    def valid_T(d):
        np.save(d / "A/valid.npy", np.ones(19, bool))

    def vad_T(d):
        np.save(d / "B/vad.npy", np.zeros(21, np.float32))

    def vad_range(d):
        np.save(d / "B/vad.npy", np.full(20, 1.5, np.float32))

    def b_T(d):
        np.save(d / "B/landmarks.npy", np.zeros((19, 478, 3), np.float32))

    def audio_short(d):
        with wave.open(str(d / "A/audio.wav"), "wb") as w:
            w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
            w.writeframes(np.zeros(18 * 640, "<i2").tobytes())

    def audio_rate(d):
        with wave.open(str(d / "A/audio.wav"), "wb") as w:
            w.setnchannels(2), w.setsampwidth(2), w.setframerate(48000)
            w.writeframes(np.zeros(20 * 640 * 6, "<i2").tobytes())

    def audio_garbage(d):
        (d / "B/audio.wav").write_bytes(b"not a wav")

    def meta_bad(d):
        (d / "meta.json").write_text("{oops")

    def meta_T(d):
        m = json.loads((d / "meta.json").read_text())
        m["T"] = 21
        (d / "meta.json").write_text(json.dumps(m))

    def transcript_bad(d):
        (d / "transcript.jsonl").write_text('{"speaker": "C", "start": 0, "end": 1, "text": "x"}\n')

    def npy_garbage(d):
        (d / "A/vad.npy").write_bytes(b"garbage")

    def missing(d):
        (d / "B/valid.npy").unlink()

    return [(lm_shape, "A/landmarks.npy"), (lm_nan, "B/landmarks.npy"), (valid_T, "A/valid.npy"),
            (vad_T, "B/vad.npy"), (vad_range, "B/vad.npy"), (b_T, "B/landmarks.npy"),
            (audio_short, "A/audio.wav"), (audio_rate, "A/audio.wav"), (audio_garbage, "B/audio.wav"),
            (meta_bad, "meta.json"), (meta_T, "A/landmarks.npy"), (transcript_bad, "transcript.jsonl"),
            (npy_garbage, "A/vad.npy"), (missing, "B/valid.npy")]


@pytest.mark.parametrize("corrupt,culprit", _corrupt_cases(), ids=lambda x: getattr(x, "__name__", x))
def test_validation_names_the_file(tmp_path, corrupt, culprit):
    d = write_session(tmp_path / "s", _session())
    corrupt(d)
    with pytest.raises(InputError) as err:
        validate_session(d)
    assert err.value.path == d / culprit, str(err.value)


def test_audio_slack_of_one_frame(tmp_path):
    s = _session()
    s.A.audio = s.A.audio[: 19 * 640 + 10]  # 630 samples short: within one frame
    s.B.audio = np.concatenate([s.B.audio, np.zeros(600, np.float32)])
    d = write_session(tmp_path / "s", s)
    r = read_session(d)
    assert len(r.A.audio) == len(r.B.audio) == 20 * 640
    s.A.audio = s.A.audio[:18 * 640]
    with pytest.raises(InputError, match="at most one frame"):
        write_session(tmp_path / "s2", s)
    assert not (tmp_path / "s2").exists()


def test_write_rejects_nan_and_mismatch(tmp_path):
    s = _session()
    s.B.landmarks = s.B.landmarks[:19]
    with pytest.raises(InputError) as err:
        write_session(tmp_path / "s", s)
    assert err.value.path == tmp_path / "s" / "B" / "landmarks.npy"
    s = _session()
    s.A.vad[3] = np.nan
    with pytest.raises(InputError, match="NaN"):
        write_session(tmp_path / "s", s)


def test_list_sessions(tmp_path):
    for split, sid in [("train", "a"), ("train", "b"), ("test", "c")]:
        write_session(tmp_path / split / sid, _session(T=5))
    (tmp_path / "train" / "notes").mkdir()
    (tmp_path / "train" / ".c.x1.tmp").mkdir()  # an interrupted atomic write is not a session
    (tmp_path / "train" / ".c.x1.tmp" / "meta.json").write_text("{}")
    assert [p.name for p in list_sessions(tmp_path, "train")] == ["a", "b"]
    assert [p.name for p in list_sessions(tmp_path)] == ["c", "a", "b"]
    assert list_sessions(tmp_path / "test" / "c") == [tmp_path / "test" / "c"]
    with pytest.raises(InputError, match="split"):
        list_sessions(tmp_path, "val")
    with pytest.raises(InputError):
        list_sessions(tmp_path / "nope")


def test_cached_feature_rebuilds_on_version_change(tmp_path):
    d = write_session(tmp_path / "s", _session())
    calls = []

    def mean_x(p):
        calls.append(1)
        return p.landmarks[:, :, 0].mean(1) + len(calls)

    v1 = np.array(cached_feature(d, "A", "mx", "v1", mean_x))
    v1b = np.array(cached_feature(d, "A", "mx", "v1", mean_x))
    assert len(calls) == 1 and np.array_equal(v1, v1b)
    assert (d / "A" / "cache" / "mx.npy").is_file()
    assert json.loads((d / "A" / "cache" / "mx.json").read_text())["version"] == "v1"
    v2 = np.array(cached_feature(d, "A", "mx", "v2", mean_x))
    assert len(calls) == 2 and np.allclose(v2, v1 + 1)
    cached_feature(d, "B", "mx", "v2", mean_x)  # per participant
    assert len(calls) == 3
    # the input data changed -> rebuilt even with the same version
    s = read_session(d, mmap=False)
    np.save(d / "A" / "vad.npy", np.zeros(s.T, np.float32))
    cached_feature(d, "A", "mx", "v2", mean_x)
    assert len(calls) == 4
    # session-level feature gets the whole session
    t = cached_feature(d, None, "nwords", "v1", lambda sess: np.array([len(sess.transcript)]))
    assert int(t[0]) == 2


def test_flac_audio_round_trip_is_bit_exact(tmp_path):
    from echo_ihg.io.media import to_pcm16

    s = _session(T=40)
    s.A.audio[:5000] = 0.0  # long silences are what FLAC compresses well
    s.B.audio[100] = 1.5  # clipped like write_wav clips
    d = write_session(tmp_path / "s", s, audio_format="flac")
    for who in "AB":
        assert (d / who / "audio.flac").is_file() and not (d / who / "audio.wav").exists()
    r = read_session(d)
    w = read_session(write_session(tmp_path / "w", s))  # the same session stored as WAV
    for who in "AB":
        got = r.participant(who).audio
        assert got.dtype == np.float32 and len(got) == 40 * SAMPLES_PER_FRAME
        np.testing.assert_array_equal(to_pcm16(got), to_pcm16(s.participant(who).audio))  # PCM16 exact
        np.testing.assert_array_equal(got, w.participant(who).audio)  # reads back as the WAV does
    assert (d / "A" / "audio.flac").stat().st_size < (tmp_path / "w" / "A" / "audio.wav").stat().st_size
    # a second write of what was read stores the same samples again
    np.testing.assert_array_equal(read_session(write_session(tmp_path / "s2", r, "flac")).A.audio, r.A.audio)


def test_flac_audio_is_within_the_cache_fingerprint(tmp_path):
    d = write_session(tmp_path / "s", _session(), audio_format="flac")
    calls = []
    feature = lambda p: np.array([len(calls.append(1) or calls), p.audio.sum()])  # noqa: E731
    cached_feature(d, "A", "f", "v1", feature)
    cached_feature(d, "A", "f", "v1", feature)
    assert len(calls) == 1
    assert "audio.flac" in json.loads((d / "A" / "cache" / "f.json").read_text())["inputs"]


@pytest.mark.parametrize("problem", ["both", "neither"])
def test_both_or_neither_audio_file_is_an_error_naming_the_folder(tmp_path, problem):
    d = write_session(tmp_path / "s", _session(), audio_format="flac")
    if problem == "both":
        write_session(tmp_path / "w", _session())
        (d / "B" / "audio.wav").write_bytes((tmp_path / "w" / "B" / "audio.wav").read_bytes())
    else:
        (d / "B" / "audio.flac").unlink()
    with pytest.raises(InputError, match="both" if problem == "both" else "no audio file") as err:
        validate_session(d)
    assert err.value.path == d / "B"


def test_bad_flac_files_name_the_file(tmp_path):
    from echo_ihg.io.media import write_mp4

    d = write_session(tmp_path / "s", _session(), audio_format="flac")
    (d / "A" / "audio.flac").write_bytes(b"fLaC but not really")
    with pytest.raises(InputError) as err:
        validate_session(d)
    assert err.value.path == d / "A" / "audio.flac"
    # a lossy codec under the .flac name is refused (session audio is lossless PCM16)
    d = write_session(tmp_path / "s", _session(), audio_format="flac")
    write_mp4(tmp_path / "v.mp4", (np.zeros((16, 16, 3), np.uint8) for _ in range(20)),
              audio=np.zeros(20 * 640, np.float32))
    (d / "B" / "audio.flac").write_bytes((tmp_path / "v.mp4").read_bytes())
    with pytest.raises(InputError, match="FLAC") as err:
        validate_session(d)
    assert err.value.path == d / "B" / "audio.flac"
    with pytest.raises(ValueError, match="audio_format"):
        write_session(tmp_path / "x", _session(), audio_format="mp3")


def test_stereo_or_48k_flac_is_refused(tmp_path):
    import av

    d = write_session(tmp_path / "s", _session(), audio_format="flac")
    with av.open(str(d / "A" / "audio.flac"), "w", format="flac") as out:  # stereo 48 kHz, right length
        st = out.add_stream("flac", rate=48000)
        st.layout, st.format = "stereo", "s16"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 2 * 20 * 1920), "<i2"), format="s16", layout="stereo")
        frame.sample_rate, frame.pts = 48000, 0
        for packet in [*st.encode(frame), *st.encode(None)]:
            out.mux(packet)
    with pytest.raises(InputError, match="48000 Hz, 2 channel") as err:
        validate_session(d)
    assert err.value.path == d / "A" / "audio.flac"
