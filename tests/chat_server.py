"""A real, local OpenAI-compatible chat server for tests.

Generation code is tested against HTTP, not against a mocked SDK: status codes, headers, slow answers and dropped
connections then go through the same client stack as in production, and a change of SDK version cannot make a mock
silently wrong. A test passes a ``responder`` that decides each reply; the server records every request body and
its headers so the test can check what was sent.

    with ChatServer(lambda body: Reply(texts=["hello"])) as server:
        backend = OpenAIBackend("model", base_url=server.base_url)
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

COMPLETIONS_PATH = "/v1/chat/completions"


@dataclass
class Reply:
    """What the server answers to one request, after ``delay`` seconds. On 200, ``texts`` become the choices
    (``None``: ``n`` empty completions; a ``None`` text is a null content, as some servers send); otherwise ``error``
    is the message of an OpenAI-style error body."""

    status: int = 200
    texts: list[str | None] | None = None
    delay: float = 0.0
    headers: dict[str, str] | None = None
    error: str = ""
    # Misbehaviour: ``body`` replaces the whole 200 body with these bytes (cut JSON, junk, megabytes); ``drip``
    # sends the body a byte at a time, this many seconds apart; ``declared_length`` announces another
    # Content-Length than the bytes sent (more: the connection closes mid-body).
    body: bytes | None = None
    drip: float = 0.0
    declared_length: int | None = None


Responder = Callable[[dict], Reply]


def recorded(replies: dict[str, list[str]]) -> Responder:
    """A responder with canned answers: the first key found in the last user message picks the texts, repeated or
    cut to the ``n`` asked for. A prompt no key matches gets a 404 (not retried by clients)."""

    def respond(body: dict) -> Reply:
        prompt = last_user_message(body)
        wanted = int(body.get("n") or 1)
        for key, texts in replies.items():
            if key in prompt:
                return Reply(texts=[texts[index % len(texts)] for index in range(wanted)] if texts else [])
        return Reply(status=404, error=f"no recorded reply for the prompt {prompt[:80]!r}")

    return respond


def last_user_message(body: dict) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            return str(message.get("content") or "")
    return ""


class ChatServer:
    """Serves ``POST /v1/chat/completions`` on 127.0.0.1 from a background thread while the context is open."""

    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self._lock = threading.Lock()
        self._requests: list[dict] = []
        self._headers: list[dict[str, str]] = []
        self._in_flight = 0
        self._max_in_flight = 0
        # Set on exit: delayed replies stop waiting, so closing never waits for a slow test reply.
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> ChatServer:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.chat = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="chat-server", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exception: object) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()  # joins the handler threads
        if self._thread is not None:
            self._thread.join()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the server runs only inside its 'with' block")
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def requests(self) -> list[dict]:
        """The JSON bodies received, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def headers(self) -> list[dict[str, str]]:
        """The headers of each request (names in lower case), parallel to ``requests``."""
        with self._lock:
            return [dict(headers) for headers in self._headers]

    @property
    def max_in_flight(self) -> int:
        """The most requests the server was answering at once."""
        with self._lock:
            return self._max_in_flight

    def _record(self, body: dict, headers: dict[str, str]) -> None:
        with self._lock:
            self._requests.append(body)
            self._headers.append(headers)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def _finish(self) -> None:
        with self._lock:
            self._in_flight -= 1


class _Server(ThreadingHTTPServer):
    # Handler threads are joined on close, so no test leaves one running behind it.
    daemon_threads = False
    block_on_close = True
    chat: ChatServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (its timeout) closes the connection before a delayed reply is written: expected.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # One request per connection (HTTP/1.0), and no read waits forever: closing the server never hangs.
    protocol_version = "HTTP/1.0"
    timeout = 10

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        chat = self.server.chat
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.split("?", 1)[0] != COMPLETIONS_PATH:
            self._send_json(404, _error_body(404, f"no route for {self.path}"))
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._send_json(400, _error_body(400, "the body is not JSON"))
            return
        chat._record(body, {name.lower(): value for name, value in self.headers.items()})
        try:
            try:
                reply = chat.responder(body)
            except Exception as error:  # a broken responder shows up as a server error, not a hung test
                reply = Reply(status=500, error=f"responder failed: {error!r}")
            if reply.delay > 0:
                chat._stopping.wait(reply.delay)
            if reply.status == 200 and (reply.body is not None or reply.drip or reply.declared_length is not None):
                wanted = int(body.get("n") or 1)
                texts = list(reply.texts) if reply.texts is not None else [""] * wanted
                data = reply.body if reply.body is not None else json.dumps(_completion_body(body, texts)).encode()
                self._send_raw(data, reply)
            elif reply.status == 200:
                wanted = int(body.get("n") or 1)
                texts: list[str | None] = list(reply.texts) if reply.texts is not None else [""] * wanted
                self._send_json(200, _completion_body(body, texts), reply.headers)
            else:
                message = reply.error or f"error {reply.status}"
                self._send_json(reply.status, _error_body(reply.status, message), reply.headers)
        finally:
            chat._finish()

    def _send_json(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_raw(self, data: bytes, reply: Reply) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        length = reply.declared_length if reply.declared_length is not None else len(data)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if not reply.drip:
            self.wfile.write(data)
            return
        for index in range(len(data)):
            if self.server.chat._stopping.wait(reply.drip):
                return
            self.wfile.write(data[index : index + 1])
            self.wfile.flush()


def _completion_body(request: dict, texts: list[str | None]) -> dict:
    prompt_tokens = sum(len(str(message.get("content") or "").split()) for message in request.get("messages") or [])
    completion_tokens = sum(len((text or "").split()) for text in texts)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", ""),
        "choices": [
            {"index": index, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            for index, text in enumerate(texts)
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def _error_body(status: int, message: str) -> dict:
    kind = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error", 429: "rate_limit_error"}
    return {"error": {"message": message, "type": kind.get(status, "server_error"), "param": None, "code": None}}
