"""Minimal client for a local OpenAI-compatible chat endpoint (llama.cpp server, vLLM, Ollama, LM Studio, ...).

Only the standard library (urllib): POST {base_url}/chat/completions with {"model", "messages", ...} and read
choices[0].message.content. Images (for multimodal models) go as PNG data URLs in the message content.
Every failure — unreachable server, timeout, HTTP error, malformed reply — raises `LLMError` with a message
that names the endpoint.
"""

from __future__ import annotations

import base64
import json
import socket
import urllib.error
import urllib.request
from typing import Any, Sequence

import numpy as np

from echo_ihg.errors import EchoError


class LLMError(EchoError):
    """The language-model endpoint could not be used."""


def image_part(rgb: np.ndarray) -> dict[str, Any]:
    """An RGB uint8 image (H, W, 3) as an OpenAI `image_url` content part (PNG data URL)."""
    import cv2

    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise LLMError("could not encode an image for the LLM request")
    return {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(buf).decode()}}


class OpenAICompatClient:
    def __init__(self, base_url: str = "http://127.0.0.1:8080/v1", model: str = "local", timeout: float = 20.0,
                 api_key: str | None = None, temperature: float = 0.0, max_tokens: int = 120):
        self.base_url = base_url.rstrip("/")
        self.model, self.timeout, self.api_key = model, float(timeout), api_key
        self.temperature, self.max_tokens = temperature, max_tokens

    @property
    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def chat(self, system: str, user: str, images: Sequence[np.ndarray] = ()) -> str:
        content: Any = user if not images else [{"type": "text", "text": user}, *map(image_part, images)]
        body = {"model": self.model, "temperature": self.temperature, "max_tokens": self.max_tokens,
                "messages": [{"role": "system", "content": system}, {"role": "user", "content": content}]}
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(self.url, json.dumps(body).encode(), headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise LLMError(f"{self.url}: HTTP {exc.code} {exc.reason}") from None
        except (socket.timeout, TimeoutError):
            raise LLMError(f"{self.url}: no answer within {self.timeout:g} s") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (socket.timeout, TimeoutError)):
                raise LLMError(f"{self.url}: no answer within {self.timeout:g} s") from None
            raise LLMError(f"{self.url}: cannot reach the LLM endpoint ({exc.reason})") from None
        try:
            text = json.loads(raw)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise LLMError(f"{self.url}: reply is not an OpenAI chat completion: {raw[:200]!r}") from None
        if not isinstance(text, str) or not text.strip():
            raise LLMError(f"{self.url}: empty completion")
        return " ".join(text.split())
