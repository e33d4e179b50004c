"""LLM adapters (Φ and Ψ) against a fake local OpenAI-compatible server."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from echo_ihg.model.affect import LLMAffect
from echo_ihg.model.describe import LLMDescriber
from echo_ihg.model.llm import LLMError, OpenAICompatClient


class _Handler(BaseHTTPRequestHandler):
    mode = "ok"
    requests: list = []

    def do_POST(self):  # noqa: N802 — http.server API
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append((self.path, dict(self.headers), body))
        if self.mode == "slow":
            time.sleep(1.5)
        if self.mode == "500":
            self.send_error(500, "boom")
            return
        reply = (b"not json" if self.mode == "garbage" else
                 json.dumps({"choices": [{"message": {"role": "assistant",
                                                      "content": f"  reply to {len(body['messages'])} msgs\n"}}]}).encode())
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    _Handler.mode, _Handler.requests = "ok", []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()
    srv.server_close()


def test_describer_and_affect_through_the_endpoint(server):
    client = OpenAICompatClient(server, model="fake-vlm", timeout=5, api_key="k")
    attrs = {"smile": np.linspace(0, 0.1, 100), "head_pitch": np.zeros(100)}
    text = LLMDescriber(client).describe(attrs, np.zeros(100), np.ones(100), 100,
                                         frames=[np.zeros((8, 8, 3), np.uint8)])
    assert text == "reply to 2 msgs"
    path, headers, body = _Handler.requests[-1]
    assert path == "/v1/chat/completions" and body["model"] == "fake-vlm"
    assert headers["Authorization"] == "Bearer k"
    content = body["messages"][1]["content"]
    assert content[0]["type"] == "text" and "smile" in content[0]["text"] and "user_vad" in content[0]["text"]
    assert content[1]["image_url"]["url"].startswith("data:image/png;base64,")
    hist = [{"speaker": "B", "start": 0, "end": 1, "text": "I feel great"},
            {"speaker": "A", "start": 1.5, "end": 2, "text": "Glad to hear"}]
    assert LLMAffect(client).describe(hist, avatar="A") == "reply to 2 msgs"
    lines = _Handler.requests[-1][2]["messages"][1]["content"]
    assert "USER: I feel great" in lines and "AVATAR: Glad to hear" in lines


@pytest.mark.parametrize("mode,match", [("500", "HTTP 500"), ("garbage", "not an OpenAI chat completion"),
                                        ("slow", "no answer within")])
def test_endpoint_failures_are_clear(server, mode, match):
    _Handler.mode = mode
    client = OpenAICompatClient(server, timeout=0.5)
    with pytest.raises(LLMError, match=match):
        LLMAffect(client).describe([])


def test_unreachable_endpoint():
    with pytest.raises(LLMError, match="cannot reach"):
        OpenAICompatClient("http://127.0.0.1:9/v1", timeout=1).chat("s", "u")
