"""Live server: protocol, limits, malformed messages, session isolation (FastAPI TestClient, real threads)."""

from __future__ import annotations

import json
import time

import cv2
import numpy as np
import pytest

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from echo_ihg.errors import EchoError  # noqa: E402
from echo_ihg.inference import protocol as P  # noqa: E402


@pytest.fixture(scope="module")
def live(gen_inputs):
    from echo_ihg.inference.config import GenerationConfig
    from echo_ihg.inference.live import LiveConfig, LiveModel

    live = LiveModel(gen_inputs["checkpoint"], None,
                     LiveConfig(GenerationConfig(size=160, steps=2), hop_frames=8, max_hop_frames=11,
                                user_lag_frames=4, max_gap=3))
    yield live
    live.close()


@pytest.fixture(scope="module")
def face_jpeg() -> bytes:
    from echo_ihg.assets import default_user_portrait
    from echo_ihg.io.media import read_image

    img = cv2.resize(read_image(default_user_portrait()), (240, 240))
    return cv2.imencode(".jpg", img[:, :, ::-1])[1].tobytes()


@pytest.fixture(autouse=True)
def no_session_threads_left():
    """Every session's threads end with it (a thread left running would outlive the test)."""
    import threading

    yield
    end = time.monotonic() + 15
    while any(t.name.startswith("live-") for t in threading.enumerate()):
        assert time.monotonic() < end, [t.name for t in threading.enumerate()]
        time.sleep(0.05)


def client(live, **limits):
    from echo_ihg.inference.server import create_app

    token = limits.pop("token", None)
    return TestClient(create_app(live, P.Limits(**limits), token=token))


def hello(ws, **extra) -> dict:
    ws.send_text(json.dumps({"type": "hello", **extra}))
    return ws.receive_json()


def receive(ws, n_frames: int, max_messages: int = 2000) -> tuple[list[dict], list[dict]]:
    """Read until n_frames avatar frames arrived -> (frames, json messages)."""
    frames, texts = [], []
    for _ in range(max_messages):
        msg = ws.receive()
        if msg.get("bytes") is not None:
            frames.append(P.unpack_frame(msg["bytes"]))
            if len(frames) >= n_frames:
                break
        elif msg.get("text") is not None:
            texts.append(json.loads(msg["text"]))
            if texts[-1].get("fatal"):
                break
        else:
            break
    return frames, texts


def errors(texts: list[dict]) -> list[str]:
    return [t["code"] for t in texts if t["type"] == "error"]


# ---- protocol (no server) -------------------------------------------------------------------------------
def test_protocol_parsing_refuses_bad_messages():
    lim = P.Limits(max_frame_bytes=2048)
    kind, vf = P.parse_binary(P.pack_video(7, 123.5, b"\xff\xd8jpegdata"), lim)
    assert kind == P.VIDEO and vf.seq == 7 and vf.client_ms == 123.5 and vf.jpeg.startswith(b"\xff\xd8")
    kind, pcm = P.parse_binary(P.pack_audio(P.USER_AUDIO, np.array([0.5, -0.5])), lim)
    assert kind == P.USER_AUDIO and pcm.tolist() == [16383, -16383]
    bad = {b"": "empty_message", b"\x09abc": "unknown_kind", b"\x02abc": "bad_audio",
           P.pack_video(1, 0, b"PNGxxxxxxx"): "bad_video", b"\x01\x00": "bad_video",
           P.pack_video(1, 0, b"\xff\xd8" + bytes(4096)): "frame_too_large", b"\x04short": "bad_audio"}
    for data, code in bad.items():
        with pytest.raises(P.ProtocolError) as e:
            P.parse_binary(data, lim)
        assert e.value.code == code, (data[:12], e.value.code)
    for text, code in {"{": "bad_json", "[1]": "bad_type", '{"type": "dance"}': "bad_type",
                       '{"type": "transcript", "entries": 3}': "bad_transcript",
                       '{"type": "transcript", "entries": [{"speaker": "C", "start": 0, "end": 1, "text": ""}]}':
                           "bad_transcript",
                       '{"type": "transcript", "entries": [{"speaker": "A", "start": 2, "end": 1, "text": ""}]}':
                           "bad_transcript"}.items():
        with pytest.raises(P.ProtocolError) as e:
            P.parse_text(text, lim)
        assert e.value.code == code, text
    big = cv2.imencode(".jpg", np.zeros((1000, 1500, 3), np.uint8))[1].tobytes()   # small file, many pixels
    assert P.jpeg_size(big) == (1500, 1000)
    with pytest.raises(P.ProtocolError) as e:
        P.parse_binary(P.pack_video(1, 0, big), P.Limits(max_frame_pixels=1000 * 1000))
    assert e.value.code == "frame_too_large"
    ok = P.parse_text('{"type": "transcript", "entries": [{"speaker": "B", "start": 0, "end": 1.5, '
                      '"text": "hi"}]}', lim)
    assert ok["entries"][0]["end"] == 1.5
    msg = P.pack_frame(3, None, None, 12.5, np.arange(640, dtype=np.int16), b"\xff\xd8img")
    f = P.unpack_frame(msg)
    assert (f["index"], f["user_seq"], f["client_ms"], f["jpeg"]) == (3, None, None, b"\xff\xd8img")
    assert f["audio"].tolist() == list(range(640)) and abs(f["latency_ms"] - 12.5) < 1e-3


def test_rate_limiter_and_bind_policy():
    from echo_ihg.cli.main import main
    from echo_ihg.inference.server import check_bind

    r = P.RateLimiter(rate=10, burst=3)
    assert [r.allow(0.0) for _ in range(4)] == [True, True, True, False]
    assert r.allow(0.1) and not r.allow(0.1)              # 0.1 s refills one token at 10/s
    check_bind("127.0.0.1", None)
    check_bind("::1", None)
    check_bind("0.0.0.0", "long-enough-secret")
    for host, token in (("0.0.0.0", None), ("192.168.1.5", ""), ("127.0.0.1", "short")):
        with pytest.raises(EchoError):
            check_bind(host, token)
    t = time.perf_counter()
    assert main(["serve", "--host", "0.0.0.0"]) == 2          # refused before loading anything
    assert time.perf_counter() - t < 5


# ---- a live session -------------------------------------------------------------------------------------
@pytest.mark.timeout(120)
def test_session_streams_frames_with_avatar_audio(live, gen_inputs, face_jpeg):
    with client(live) as c, c.websocket_connect("/ws") as ws:
        ready = hello(ws)
        assert ready["type"] == "ready" and ready["fps"] == 25 and ready["limits"]["max_sessions"] == 2
        look = ready["avatar_lookahead_frames"]
        ws.send_bytes(bytes([P.AVATAR_FILE]) + gen_inputs["avatar_audio"].read_bytes())
        ws.send_text(json.dumps({"type": "transcript", "entries": [
            {"speaker": "B", "start": 0.0, "end": 0.5, "text": "Hello there, how are you?"}]}))
        frames, texts = [], []
        t0, seq = time.perf_counter(), 0
        while len(frames) < look + 40 and time.perf_counter() - t0 < 60:
            for _ in range(3):    # more user frames than ticks: the surplus is dropped, never queued
                ws.send_bytes(P.pack_video(seq, seq * 40.0, face_jpeg))
                seq += 1
            ws.send_bytes(P.pack_audio(P.USER_AUDIO, 0.1 * np.sin(np.arange(640) * 0.3)))
            f, t = receive(ws, 1)
            frames += f
            texts += t
        ws.send_text(json.dumps({"type": "stop"}))
        rest, tail = receive(ws, 10 ** 6)
        texts += tail
    assert not errors(texts), texts
    types = [t["type"] for t in texts]
    assert "avatar_audio" in types and "started" in types and types[-1] == "bye"
    assert len(frames) >= look + 40
    idx = [f["index"] for f in frames]
    assert idx == list(range(len(idx))), "the avatar clock sends every frame index once, in order"
    img = cv2.imdecode(np.frombuffer(frames[-1]["jpeg"], np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == (160, 160, 3)
    assert all(len(f["audio"]) == 640 for f in frames)
    # the speech file is played sample for sample from the frame where it was committed to the timeline
    from echo_ihg.io.media import load_audio

    speech = load_audio(gen_inputs["avatar_audio"])
    got = np.concatenate([f["audio"] for f in frames]).astype(np.float32) / 32767
    k = int(np.flatnonzero(np.abs(got) > 1e-3)[0]) // 640 * 640
    n = min(len(got) - k, len(speech))
    assert n > 20 * 640 and np.abs(got[k:k + n] - speech[:n]).max() < 2e-4
    assert k <= look * 640                      # queued before the clock started: heard within the look-ahead
    shown = [f for f in frames if f["user_seq"] is not None]
    assert shown and all(np.isfinite(f["latency_ms"]) and f["latency_ms"] >= 0 for f in shown)
    stats = [t for t in texts if t["type"] == "stats"][-1]
    assert stats["user_frames"] == seq and stats["user_dropped"] > 0 and stats["user_tracked"] > 0
    assert stats["latency_ms"]["p50"] is not None and stats["frames_sent"] >= len(frames)


@pytest.mark.timeout(120)
def test_pushed_avatar_pcm_is_played_after_the_lookahead(live):
    """A TTS-like stream: PCM chunks pushed mid-session are heard, contiguous and unchanged, once the clock has
    passed the look-ahead that was already committed (silence until then)."""
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)).astype(np.float32)
    with client(live) as c, c.websocket_connect("/ws") as ws:
        look = hello(ws)["avatar_lookahead_frames"]
        frames, _ = receive(ws, 5)
        pushed_at = frames[-1]["index"]
        for chunk in np.array_split(tone, 8):
            ws.send_bytes(P.pack_audio(P.AVATAR_AUDIO, chunk))
        more, texts = receive(ws, look + 40)
    assert not errors(texts)
    audio = np.concatenate([f["audio"] for f in more]).astype(np.float32) / 32767
    first = int(np.flatnonzero(np.abs(audio) > 1e-3)[0])
    assert more[first // 640]["index"] >= pushed_at + look - 2
    k = first // 640 * 640
    assert np.abs(audio[k:k + len(tone)] - tone).max() < 2e-4
    assert np.abs(audio[k + len(tone):]).max() == 0


@pytest.mark.timeout(120)
def test_malformed_messages_get_error_frames_and_the_session_goes_on(live, face_jpeg):
    bad_binary = [b"\x00", b"\x7f" + bytes(10), b"\x02\x01", P.pack_video(0, 0, b"GIF89a....."),
                  P.pack_video(1, 0, b"\xff\xd8" + bytes(300 * 1024)), bytes([P.AVATAR_FILE]) + bytes(2000),
                  P.pack_video(2, 0, b"\xff\xd8 not really a jpeg"),
                  P.pack_audio(P.AVATAR_AUDIO, np.full(16000 * 11, 0.1))]
    bad_text = ["not json", "[]", '{"type": 5}', '{"type": "hello"}', '{"type": "transcript"}']
    with client(live, max_avatar_audio_s=10) as c, c.websocket_connect("/ws") as ws:
        assert hello(ws)["type"] == "ready"
        for data in bad_binary:
            ws.send_bytes(data)
        for text in bad_text:
            ws.send_text(text)
        frames, texts = receive(ws, 30)
        codes = errors(texts)
        while len(codes) < len(bad_binary) + len(bad_text):
            f, t = receive(ws, 1)
            frames += f
            codes += errors(t)
        ws.send_bytes(P.pack_video(3, 0, face_jpeg))
        more, _ = receive(ws, 10)
    assert sorted(codes) == sorted(["unknown_kind", "unknown_kind", "bad_audio", "bad_video", "frame_too_large",
                                    "bad_input", "bad_video", "bad_input", "bad_json", "bad_type", "bad_type",
                                    "bad_type", "bad_transcript"])
    assert len(more) == 10 and more[-1]["index"] > frames[-1]["index"]


@pytest.mark.timeout(60)
def test_token_session_limit_hello_and_rate(live):
    with client(live, token="s3cret-token", max_sessions=1, max_messages_per_s=5, burst_messages=5) as c:
        with c.websocket_connect("/ws") as ws:
            reply = hello(ws, token="wrong-token")
            assert reply["type"] == "error" and reply["code"] == "unauthorized"
        with c.websocket_connect("/ws") as ws:
            ws.send_bytes(b"\x02\x00\x00")
            assert ws.receive_json()["code"] == "no_hello"
        with c.websocket_connect("/ws") as ws:
            assert hello(ws, token="s3cret-token")["type"] == "ready"
            with c.websocket_connect("/ws") as ws2:
                reply = hello(ws2, token="s3cret-token")
                assert reply["code"] == "too_many_sessions" and reply["fatal"]
            for _ in range(20):
                ws.send_bytes(P.pack_audio(P.USER_AUDIO, np.zeros(64)))
            codes = []
            for _ in range(200):
                codes += errors(receive(ws, 1)[1])
                if codes.count("rate_limited") >= 10:
                    break
            assert codes.count("rate_limited") >= 10


@pytest.mark.timeout(120)
def test_one_session_failing_does_not_affect_another(live):
    with client(live) as c, c.websocket_connect("/ws") as a, c.websocket_connect("/ws") as b:
        sa, sb = hello(a)["session"], hello(b)["session"]
        receive(a, 5)
        receive(b, 5)
        session = c.app.state.sessions[sa]

        def broken_tick(*args):
            raise RuntimeError("simulated failure inside session A")

        session._tick = broken_tick
        _, texts = receive(a, 10 ** 6)
        assert texts[-1]["code"] == "session_failed" and texts[-1]["fatal"]
        before = receive(b, 1)[0][0]["index"]
        after, texts_b = receive(b, 40)
        assert not errors(texts_b)
        assert [f["index"] for f in after] == list(range(before + 1, before + 41))
        t = time.perf_counter()
        while sa in c.app.state.sessions and time.perf_counter() - t < 5:
            time.sleep(0.05)
        assert sa not in c.app.state.sessions and sb in c.app.state.sessions


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_cli_serve_answers_on_loopback_and_stops_cleanly(gen_inputs):
    import signal
    import socket
    import subprocess
    import sys
    import urllib.request

    from websockets.sync.client import connect

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "echo_ihg.cli.main", "serve", "--port", str(port),
                             "--checkpoint", str(gen_inputs["checkpoint"]), "--max-sessions", "1",
                             "--set", "size=160"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        end = time.monotonic() + 120
        while True:
            try:
                health = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2))
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < end, proc.stdout.read()
                time.sleep(0.3)
        assert health == {"sessions": 0, "max_sessions": 1, "token_required": False}
        with connect(f"ws://127.0.0.1:{port}/ws") as ws:
            ws.send(json.dumps({"type": "hello"}))
            assert json.loads(ws.recv(timeout=30))["type"] == "ready"
            frames = 0
            while frames < 10:
                frames += isinstance(ws.recv(timeout=60), bytes)
            proc.send_signal(signal.SIGINT)          # Ctrl-C with a session open: it ends cleanly
            assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
