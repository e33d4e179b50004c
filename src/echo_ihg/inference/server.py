"""`echo-ihg serve`: a FastAPI app with the live WebSocket protocol (docs/protocol.md) and the browser page.

    live = LiveModel(checkpoint, portrait, LiveConfig())
    app = create_app(live, Limits(), token=None)        # GET / (page), GET /health, WS /ws
    run_server(ServerConfig(host="127.0.0.1", port=8765), live)

Safety: binds 127.0.0.1 unless told otherwise, and refuses to bind anywhere else without a token; limits on
sessions, message size, frame size and message rate; every refused or malformed message gets an error frame
and the session goes on (until `max_errors`); a session's failure closes that session only.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import itertools
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from fastapi import FastAPI, WebSocket
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from echo_ihg.constants import FPS
from echo_ihg.errors import EchoError
from echo_ihg.inference.live import LiveModel, LiveSession, check_session_error
from echo_ihg.inference.protocol import (AVATAR_AUDIO, AVATAR_FILE, USER_AUDIO, VIDEO, Limits, ProtocolError,
                                         RateLimiter, parse_binary, parse_text)

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
OUT_QUEUE = 50          # messages waiting for a slow client; the oldest frames are dropped beyond it


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    limits: Limits = field(default_factory=Limits)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to serve beyond this machine without a token."""
    if not is_loopback(host) and not token:
        raise EchoError(f"refusing to bind {host}: other machines could connect; pass --token SECRET (clients "
                        "send it in their hello message) or bind 127.0.0.1")
    if token is not None and len(token) < 8:
        raise EchoError("the token must have at least 8 characters")


class _Outbox:
    """Thread-safe, never-blocking delivery from a session's threads to its WebSocket sender."""

    def __init__(self, loop: asyncio.AbstractEventLoop, session_stats):
        self.loop, self.q = loop, asyncio.Queue(maxsize=OUT_QUEUE)
        self.stats = session_stats

    def send(self, kind: str, payload: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(self._put, (kind, payload))
        except RuntimeError:      # the loop is gone: the connection ended
            pass

    def _put(self, item) -> None:
        while self.q.full():      # a slow client loses the oldest messages, never the clock's time
            self.q.get_nowait()
            if self.stats is not None:
                self.stats.out_dropped += 1
        self.q.put_nowait(item)


def create_app(live: LiveModel, limits: Limits = Limits(), token: str | None = None):
    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        sessions = list(app.state.sessions.values())   # server shutdown: end every session's threads
        for s in sessions:
            s.signal_stop()
        for s in sessions:
            await asyncio.to_thread(s.stop)

    app = FastAPI(title="echo-ihg live", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.sessions = {}      # id -> LiveSession
    app.state.live, app.state.limits = live, limits
    ids = itertools.count(1)

    @app.get("/")
    def index():
        return FileResponse(STATIC_DIR / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/health")
    def health():
        return JSONResponse({"sessions": len(app.state.sessions), "max_sessions": limits.max_sessions,
                             "token_required": token is not None})

    @app.websocket("/ws")
    async def ws_endpoint(ws: WebSocket):
        if not _origin_ok(ws, token):
            await ws.close(code=1008)
            return
        await ws.accept()
        try:
            hello = await _hello(ws, limits, token)
        except ProtocolError as exc:
            await _send_error(ws, exc.code, exc.message, fatal=True)
            await ws.close(code=1008)
            return
        if hello is None:
            return
        if len(app.state.sessions) >= limits.max_sessions:
            await _send_error(ws, "too_many_sessions", f"the server runs at most {limits.max_sessions} "
                                                       "session(s); try again later", fatal=True)
            await ws.close(code=1013)
            return
        sid = f"s{next(ids)}"
        await _session(ws, app, sid, live, limits)

    return app


def _origin_ok(ws, token: str | None) -> bool:
    """Without a token, only pages served by this server (or non-browser clients) may connect: another web
    site open in the user's browser must not drive the local server."""
    origin = ws.headers.get("origin")
    if token or not origin:
        return True
    return urlparse(origin).netloc == ws.headers.get("host")


async def _hello(ws, limits: Limits, token: str | None) -> dict | None:
    try:
        msg = await asyncio.wait_for(ws.receive(), limits.hello_timeout_s)
    except asyncio.TimeoutError:
        raise ProtocolError("no_hello", f"no hello message within {limits.hello_timeout_s:.0f} s") from None
    if msg["type"] == "websocket.disconnect":
        return None
    text = msg.get("text")
    if text is None or len(text) > 65536:
        raise ProtocolError("no_hello", "the first message must be a JSON hello")
    hello = parse_text(text, limits)
    if hello["type"] != "hello":
        raise ProtocolError("no_hello", "the first message must be {\"type\": \"hello\", ...}")
    if token is not None and not (isinstance(hello.get("token"), str)
                                  and hmac.compare_digest(hello["token"].encode(), token.encode())):
        raise ProtocolError("unauthorized", "a valid token is required")
    return hello


async def _send_error(ws, code: str, message: str, fatal: bool = False) -> None:
    try:
        await ws.send_text(json.dumps({"type": "error", "code": code, "message": message, "fatal": fatal}))
    except Exception:       # the client is gone; nothing to tell
        pass


async def _sender(ws, outbox: _Outbox, session: LiveSession) -> None:
    while True:
        kind, payload = await outbox.q.get()
        if kind == "frame":
            data, arrival = payload
            await ws.send_bytes(data)
            now = time.perf_counter()
            st = session.stats
            st.frames_sent += 1
            st.sent_times.append(now)
            if arrival is not None:
                st.latency_ms.append((now - arrival) * 1000)
        else:
            if payload.get("type") == "stats":
                payload = session.snapshot()
            await ws.send_text(json.dumps(payload))
            if payload.get("fatal"):
                return


async def _session(ws, app, sid: str, live: LiveModel, limits: Limits) -> None:
    loop = asyncio.get_running_loop()
    outbox = _Outbox(loop, None)
    session = LiveSession(live, outbox.send, limits.max_avatar_audio_s, limits.max_frame_pixels)
    outbox.stats = session.stats
    app.state.sessions[sid] = session
    sender = asyncio.create_task(_sender(ws, outbox, session))
    cfg = live.config
    await ws.send_text(json.dumps({
        "type": "ready", "session": sid, "fps": FPS, "size": cfg.generation.size, "limits": limits.public(),
        "user_lag_frames": cfg.user_lag_frames, "max_user_lag_frames": cfg.max_user_lag_frames,
        "avatar_lookahead_frames": live.lookahead,
        "chunk_frames": live.chunk_new_frames}))
    session.start()
    limiter, errors = RateLimiter(limits.max_messages_per_s, limits.burst_messages), 0
    try:
        while not session.stopped.is_set():
            receive = asyncio.create_task(ws.receive())
            done, _ = await asyncio.wait({receive, sender}, return_when=asyncio.FIRST_COMPLETED)
            if receive not in done:           # the sender ended (fatal error or a closed socket)
                receive.cancel()
                break
            msg = receive.result()
            if msg["type"] == "websocket.disconnect":
                break
            try:
                if await _dispatch(msg, session, limits, limiter, loop, outbox):
                    break
            except ProtocolError as exc:
                errors += 1
                outbox.send("json", {"type": "error", "code": exc.code, "message": exc.message,
                                     "fatal": errors >= limits.max_errors})
                if errors >= limits.max_errors:
                    break
            except Exception as exc:          # input the session refused: report, go on
                errors += 1
                code, message = check_session_error(exc)
                if code == "internal":
                    log.exception("session %s: message handling failed", sid)
                outbox.send("json", {"type": "error", "code": code, "message": message, "fatal": False})
    finally:
        app.state.sessions.pop(sid, None)
        session.signal_stop()         # before any await: this block may itself be cancelled
        await _drain(ws, outbox, sender, session)
        await asyncio.to_thread(session.stop)


async def _dispatch(msg: dict, session: LiveSession, limits: Limits, limiter: RateLimiter, loop,
                    outbox: _Outbox) -> bool:
    """Handle one client message; True when the client asked to stop."""
    data, text = msg.get("bytes"), msg.get("text")
    size = len(data) if data is not None else len(text or "")
    if size > limits.max_message_bytes:
        raise ProtocolError("message_too_large", f"{size} bytes; the limit is {limits.max_message_bytes}")
    if not limiter.allow(time.perf_counter()):
        raise ProtocolError("rate_limited", f"more than {limits.max_messages_per_s:.0f} messages/s")
    if data is not None:
        kind, payload = parse_binary(data, limits)
        if kind == VIDEO:
            session.on_video(payload, time.perf_counter())
        elif kind == USER_AUDIO:
            session.on_user_audio(payload)
        elif kind == AVATAR_AUDIO:
            session.on_avatar_audio(payload)
        elif kind == AVATAR_FILE:
            seconds = await asyncio.to_thread(session.on_avatar_file, payload)
            outbox.send("json", {"type": "avatar_audio", "queued_s": round(seconds, 3)})
        return False
    req = parse_text(text or "", limits)
    if req["type"] == "transcript":
        session.on_transcript(req["entries"])
    elif req["type"] == "stop":
        return True
    elif req["type"] == "hello":
        raise ProtocolError("bad_type", "hello was already received")
    return False


async def _drain(ws, outbox: _Outbox, sender: asyncio.Task, session: LiveSession) -> None:
    """Final stats and bye (if the socket is still open), then close."""
    if not sender.done():
        outbox.send("json", {"type": "stats"})
        outbox.send("json", {"type": "bye", "failed": session.failed})
        try:
            await asyncio.wait_for(_until_sent(outbox), 2.0)
        except asyncio.TimeoutError:
            pass
        sender.cancel()
    try:
        await ws.close()
    except Exception:     # already closed by the client
        pass


async def _until_sent(outbox: _Outbox) -> None:
    await asyncio.sleep(0)
    while not outbox.q.empty():
        await asyncio.sleep(0.01)


def run_server(config: ServerConfig, live: LiveModel) -> None:
    """Serve until interrupted (Ctrl-C)."""
    import uvicorn

    check_bind(config.host, config.token)
    app = create_app(live, config.limits, config.token)
    log.info("echo-ihg live: http://%s:%d/ (%s)", config.host, config.port,
             "token required" if config.token else "loopback only")
    try:
        uvicorn.run(app, host=config.host, port=config.port, ws_max_size=config.limits.max_message_bytes,
                    log_level="warning", ws="websockets-sansio")
    finally:
        live.close()
