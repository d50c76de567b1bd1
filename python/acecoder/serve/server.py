"""The reward server: HTTP in front of one long-lived engine, with bounded admission.

Why these choices:

- One ``Engine`` for the life of the server, shared by every request thread: its zygote workers start once and
  the HTTP process never forks, so a server that has loaded a large dataset stays cheap to run jobs from.
- Standard library only (``ThreadingHTTPServer``): a thread per connection is enough, because the threads spend
  their time waiting on the engine, which releases the GIL.
- A request is admitted only once its whole body is in: connections that send headers and then a trickle of body
  (64 of them once took every admission slot) hold a thread, never a slot, and are dropped when ``read_seconds``
  pass before the body is complete.
- Bodies held in memory, being read or being answered, are bounded in bytes (``max_buffered_bytes``), counted as
  they arrive rather than as declared, so a stalled body holds only what it sent; a body that would go over the
  bound is read to its end without being kept and answered 503 with ``Retry-After``: many large bodies at once cost
  a bounded amount of memory, never one body limit per connection.
- Bounded admission: at most ``max_pending`` requests are admitted at once (running or waiting for a worker);
  the next one gets 503 with ``Retry-After`` at once. A trainer that sends faster than the workers run then
  learns it at once, instead of timing out on a queue that grows without bound.
- Admitted requests share the engine by jobs, not by arrival (``acecoder.serve.sharing``): a request of 10,000
  responses takes turns of 8 jobs (or one per worker) with everyone else, so a small request beside it finishes
  first; and once its client has closed the connection, its remaining jobs are never submitted (checked before each
  turn: the socket reads as end of file; a client that half-closes its side after sending counts as gone, as HTTP
  clients do not).
- Strict framing, because a body read by other rules than the client's is the next request's beginning (request
  smuggling): one Content-Length of ASCII digits, or 400 and the connection closed; Transfer-Encoding (chunked or
  not) is refused, with 400 beside a Content-Length and 411 alone; no body bytes are ever parsed as a request.
- A body over ``max_body_bytes`` is answered 413 and then read and dropped (up to ``OVERSIZE_DRAIN_BYTES``, within
  ``read_seconds``) before the connection closes, so the client, still writing, reads the 413 instead of a reset.
- HTTP/1.1 keep-alive with a Content-Length on every answer, and errors as ``{"error": "..."}`` JSON; no log
  line per request unless asked, because a trainer calls this thousands of times.

Example::

    with RewardServer(rows, port=0, workers=2) as server:
        server.start()
        # POST {"query": [...], "prompts": [...]} to server.url + "/get_reward"
"""

from __future__ import annotations

import json
import re
import select
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, final
from urllib.parse import urlsplit

from acecoder.exec import Engine, EngineError, Limits
from acecoder.serve.questions import Question, QuestionIndex, questions_from_rows
from acecoder.serve.scoring import DEFAULT_MAX_RESPONSE_BYTES, MODES, RequestError, run_jobs, score_queries
from acecoder.serve.sharing import DEFAULT_JOBS_PER_TURN, ClientGone, FairShare

DEFAULT_MAX_BODY_BYTES = 64 << 20
# Seconds a client has, from the end of its headers, to send the whole body (64 MiB at 10 MB/s takes under 7).
DEFAULT_READ_SECONDS = 30.0
# An oversized body is read and dropped up to this much before the connection closes (see the module doc).
OVERSIZE_DRAIN_BYTES = 128 << 20
# Content-Length as RFC 9110 has it (1*DIGIT), short enough for any int; no sign, underscore, space or other digits.
CONTENT_LENGTH = re.compile(r"[0-9]{1,18}")
POST_PATHS = ("/get_reward", "/run_batch")
PATHS_HINT = "POST /get_reward, POST /run_batch, GET /health"
# An idle keep-alive connection is closed after this long; a trainer's session reconnects transparently.
IDLE_CONNECTION_SECONDS = 300.0


class ByteBudget:
    """Bytes of request bodies held at once, taken as they arrive and given back when the request is done."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._lock = threading.Lock()

    def take(self, count: int) -> bool:
        with self._lock:
            if self.held + count > self.limit:
                return False
            self.held += count
            return True

    def give(self, count: int) -> None:
        with self._lock:
            self.held -= count


class Admission:
    """Counts the requests admitted and refuses any beyond ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.pending = 0
        self._condition = threading.Condition()

    def try_enter(self) -> bool:
        with self._condition:
            if self.pending >= self.limit:
                return False
            self.pending += 1
            return True

    def leave(self) -> None:
        with self._condition:
            self.pending -= 1
            self._condition.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._condition:
            return self._condition.wait_for(lambda: self.pending == 0, timeout)


@final
class RewardServer:
    """Serves ``/get_reward``, ``/run_batch`` and ``/health`` for ``questions`` (rows or ``Question``s).

    ``max_buffered_bytes`` (request bodies held in memory at once) defaults to four bodies of ``max_body_bytes``.
    The socket is bound and the engine started here, so ``url`` is known (``port=0`` picks a free port);
    ``start()`` serves from a background thread; ``close()`` (or leaving the ``with`` block) stops accepting,
    lets admitted requests finish for up to ``drain_seconds``, ends idle connections and closes the engine.
    """

    def __init__(
        self,
        questions: QuestionIndex | Sequence[Question | Mapping],
        host: str = "127.0.0.1",
        port: int = 0,
        mode: str = "binary",
        workers: int | None = None,
        limits: Limits | None = None,
        max_pending: int = 64,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        *,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_buffered_bytes: int | None = None,
        read_seconds: float = DEFAULT_READ_SECONDS,
        jobs_per_turn: int | None = None,
        verbose: bool = False,
        drain_seconds: float = 10.0,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        for name, value in (
            ("max_pending", max_pending),
            ("max_body_bytes", max_body_bytes),
            ("max_response_bytes", max_response_bytes),
            ("max_buffered_bytes", 4 * max_body_bytes if max_buffered_bytes is None else max_buffered_bytes),
            ("jobs_per_turn", DEFAULT_JOBS_PER_TURN if jobs_per_turn is None else jobs_per_turn),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if isinstance(read_seconds, bool) or not isinstance(read_seconds, (int, float)) or not read_seconds > 0:
            raise ValueError(f"read_seconds must be a positive number, got {read_seconds!r}")
        if isinstance(questions, QuestionIndex):
            self.index = questions
        else:
            rows = list(questions)
            if all(isinstance(row, Question) for row in rows):
                self.index = QuestionIndex(rows)  # type: ignore[arg-type]
            else:
                self.index = QuestionIndex(questions_from_rows(rows))  # type: ignore[arg-type]
        self.mode = mode
        self.max_body_bytes = max_body_bytes
        self.max_response_bytes = max_response_bytes
        self.buffered = ByteBudget(4 * max_body_bytes if max_buffered_bytes is None else max_buffered_bytes)
        self.read_seconds = float(read_seconds)
        self.verbose = verbose
        self.drain_seconds = drain_seconds
        self.admission = Admission(max_pending)
        self._counts = dict.fromkeys(
            (
                "served",
                "rejected",
                "errors",
                "responses",
                "unmatched",
                "no_tests",
                "no_code",
                "sandbox_errors",
                "too_large",
                "over_budget",
                "disconnected",
                "timed_out",
            ),
            0,
        )
        self._counts_lock = threading.Lock()
        self._http = _HTTPServer(host, port, self)
        try:
            self.engine = Engine(workers=workers, limits=limits)
        except BaseException:
            self._http.server_close()
            raise
        self.share = FairShare(self.engine, jobs_per_turn)
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def url(self) -> str:
        host = self._http.server_address[0]
        host = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    @property
    def port(self) -> int:
        return int(self._http.server_address[1])

    def start(self) -> RewardServer:
        """Serves from a background thread; returns self."""
        if self._closed:
            raise RuntimeError("the server is closed")
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._http.serve_forever, kwargs={"poll_interval": 0.1}, name="reward-server", daemon=True
            )
            self._thread.start()
        return self

    def close(self) -> None:
        """Stops serving and closes the engine. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._http.shutdown()
            self._thread.join()
        self.admission.wait_idle(self.drain_seconds)
        self._http.end_connections()
        self._http.server_close()  # joins the connection threads
        self.engine.close()

    def __enter__(self) -> RewardServer:
        return self

    def __exit__(self, *exception: object) -> None:
        self.close()

    # --- figures ---

    def count(self, **increments: int) -> None:
        with self._counts_lock:
            for name, value in increments.items():
                self._counts[name] += value

    def health(self) -> dict:
        with self._counts_lock:
            counts = dict(self._counts)
        return {
            "status": "ok",
            "questions": len(self.index),
            "pending": self.admission.pending,
            "buffered_bytes": self.buffered.held,
            "max_pending": self.admission.limit,
            **counts,
            "jobs_run": self.share.jobs_run,
            "jobs_cancelled": self.share.jobs_cancelled,
            "mode": self.mode,
            "workers": self.engine.workers,
        }

    # --- requests ---

    def answer(self, path: str, body: object, gone: Callable[[], bool] | None = None) -> dict:
        """The reply to an admitted POST; raises ``RequestError`` (400), ``EngineError`` (500) or ``ClientGone``
        (``gone()`` said the client left: no reply)."""
        runner = self.share.for_request(gone)
        if path == "/run_batch":
            batch = run_jobs(body, runner, self.max_response_bytes)
            self.count(served=1, responses=len(batch["results"]), too_large=len(batch["too_large"]))
            return batch
        reply = score_queries(body, self.index, runner, self.mode, self.max_response_bytes)
        self.count(
            served=1,
            responses=len(reply.rewards),
            unmatched=len(reply.unmatched),
            no_tests=len(reply.no_tests),
            no_code=len(reply.no_code),
            sandbox_errors=len(reply.sandbox_errors),
            too_large=len(reply.too_large),
        )
        return reply.to_dict()


class _HTTPServer(ThreadingHTTPServer):
    # Connection threads are joined on close, after their sockets are shut down (see ``end_connections``).
    daemon_threads = False
    block_on_close = True
    # socketserver's backlog of 5 makes a burst of trainer workers connecting at once wait or fail in the kernel,
    # before admission control could answer them.
    request_queue_size = 128

    def __init__(self, host: str, port: int, reward: RewardServer) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.reward = reward
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__((host, port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def end_connections(self) -> None:
        """Wakes every connection thread (idle keep-alive ones wait for a next request that will not come)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer is its own business; anything else is a bug worth a traceback.
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)) and not self.reward.verbose:
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_CONNECTION_SECONDS
    # Headers and body leave in two writes; with Nagle's algorithm on, the body would wait for the client's
    # delayed ACK (~40 ms on Linux) on every keep-alive request.
    disable_nagle_algorithm = True
    server: _HTTPServer

    # --- methods ---

    def do_GET(self) -> None:
        body = self._read_body()
        if body is None:
            return
        self.server.reward.buffered.give(len(body))  # a GET's body is read only to keep the framing
        path = urlsplit(self.path).path
        if path == "/health":
            self._send(HTTPStatus.OK, self.server.reward.health())
        elif path in POST_PATHS:
            self._error(HTTPStatus.METHOD_NOT_ALLOWED, f"{path} takes POST", allow="POST")
        else:
            self._error(HTTPStatus.NOT_FOUND, f"no such path: {path} ({PATHS_HINT})")

    def do_POST(self) -> None:
        raw = self._read_body()  # before admission: a slow body holds no slot
        if raw is None:
            return
        try:
            self._post(raw)
        finally:
            self.server.reward.buffered.give(len(raw))

    def _post(self, raw: bytearray) -> None:
        reward = self.server.reward
        path = urlsplit(self.path).path
        if path not in POST_PATHS:
            if path == "/health":
                self._error(HTTPStatus.METHOD_NOT_ALLOWED, "/health takes GET", allow="GET")
            else:
                self._error(HTTPStatus.NOT_FOUND, f"no such path: {path} ({PATHS_HINT})")
            return
        if not reward.admission.try_enter():
            reward.count(rejected=1)
            message = f"overloaded: {reward.admission.pending} requests pending (max_pending={reward.admission.limit})"
            self._error(HTTPStatus.SERVICE_UNAVAILABLE, message, retry_after=True)
            return
        try:
            answer = self._answer(path, raw)
        finally:
            reward.admission.leave()
        if answer is None:
            self.close_connection = True  # nobody to answer
            return
        self._send(*answer)

    def _wrong_method(self) -> None:
        body = self._read_body()
        if body is None:
            return
        self.server.reward.buffered.give(len(body))
        path = urlsplit(self.path).path
        allowed = "GET" if path == "/health" else "POST" if path in POST_PATHS else None
        if allowed is None:
            self._error(HTTPStatus.NOT_FOUND, f"no such path: {path} ({PATHS_HINT})")
        else:
            self._error(HTTPStatus.METHOD_NOT_ALLOWED, f"{path} takes {allowed}, not {self.command}", allow=allowed)

    do_PUT = do_DELETE = do_PATCH = do_HEAD = _wrong_method

    # --- the work ---

    def _answer(self, path: str, raw: bytearray) -> tuple[HTTPStatus, dict] | None:
        """The status and reply, or None when the client left before it was ready."""
        reward = self.server.reward
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError) as error:
            reward.count(errors=1)
            return HTTPStatus.BAD_REQUEST, {"error": f"the body is not valid JSON: {error}"}
        try:
            return HTTPStatus.OK, reward.answer(path, body, self._client_gone)
        except ClientGone:
            reward.count(disconnected=1)
            return None
        except RequestError as error:
            reward.count(errors=1)
            return HTTPStatus.BAD_REQUEST, {"error": str(error)}
        except EngineError as error:
            reward.count(errors=1)
            return HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"engine failure: {error}"}
        except Exception as error:  # noqa: BLE001 (a bug here must still answer the trainer, not drop it)
            reward.count(errors=1)
            traceback.print_exc(file=sys.stderr)
            return HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"internal error: {type(error).__name__}: {error}"}

    def _client_gone(self) -> bool:
        """Whether the client has closed its side: the socket reads as end of file. Bytes waiting (a pipelined
        next request) mean it is still there; they stay unread."""
        try:
            ready = select.poll()
            ready.register(self.connection, select.POLLIN | select.POLLPRI)
            if not ready.poll(0):
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    # --- framing ---

    def _read_body(self) -> bytearray | None:
        """The request's body (empty when it has none), or None after answering why it will not be read; then the
        connection is closed, since what follows on it could not be told apart from a next request. The body's
        bytes are held in ``reward.buffered``: the caller gives them back."""
        reward = self.server.reward
        lengths = self.headers.get_all("Content-Length") or []
        if self.headers.get_all("Transfer-Encoding"):
            self.close_connection = True
            if lengths:
                self._error(HTTPStatus.BAD_REQUEST, "Transfer-Encoding and Content-Length together: ambiguous framing")
            else:
                message = "Transfer-Encoding is not accepted (chunked bodies neither): send a Content-Length"
                self._error(HTTPStatus.LENGTH_REQUIRED, message)
            return None
        if len(lengths) > 1:
            self.close_connection = True
            self._error(HTTPStatus.BAD_REQUEST, f"{len(lengths)} Content-Length headers: exactly one is accepted")
            return None
        if not lengths:
            if self.command == "POST":
                self.close_connection = True
                self._error(HTTPStatus.LENGTH_REQUIRED, "a Content-Length header is required")
                return None
            return bytearray()
        if not CONTENT_LENGTH.fullmatch(lengths[0]):
            self.close_connection = True
            self._error(HTTPStatus.BAD_REQUEST, f"bad Content-Length: {lengths[0]!r} (ASCII digits only)")
            return None
        length = int(lengths[0])
        if length > reward.max_body_bytes:
            self.close_connection = True
            message = f"body of {length} bytes is over the limit of {reward.max_body_bytes}"
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, message)
            self._receive(min(length, OVERSIZE_DRAIN_BYTES), keep=False)
            return None
        body = self._receive(length, keep=True)
        if body is None:
            self.close_connection = True
        return body

    def _receive(self, length: int, *, keep: bool) -> bytearray | None:
        """``length`` body bytes, read within ``read_seconds`` and held in ``reward.buffered``; None if the client
        stopped sending or was too slow (told so with 408, in case it still reads) or the bytes would not fit in
        the budget (read to the end without being kept, then 503)."""
        reward = self.server.reward
        deadline = time.monotonic() + reward.read_seconds
        body = bytearray()
        remaining = length
        over_budget = False
        try:
            while remaining > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                self.connection.settimeout(left)
                chunk = self.rfile.read1(min(remaining, 1 << 16))
                if not chunk:
                    return None
                remaining -= len(chunk)
                if keep and not over_budget:
                    if reward.buffered.take(len(chunk)):
                        body += chunk
                    else:
                        over_budget = True
                        reward.buffered.give(len(body))
                        body = bytearray()
        except TimeoutError:
            reward.count(timed_out=1)
            if keep:
                self.close_connection = True
                seconds = reward.read_seconds
                self._error(HTTPStatus.REQUEST_TIMEOUT, f"the body did not arrive within {seconds:g} seconds")
            return None
        except OSError:
            return None
        finally:
            self.connection.settimeout(self.timeout)
            if not keep or over_budget or remaining > 0:
                reward.buffered.give(len(body))
        if over_budget:
            reward.count(over_budget=1)
            limit = reward.buffered.limit
            message = f"busy: request bodies in memory would pass {limit} bytes; retry shortly"
            self._error(HTTPStatus.SERVICE_UNAVAILABLE, message, retry_after=True)
            return None
        return body

    # --- answers ---

    def _error(self, status: HTTPStatus, message: str, *, allow: str | None = None, retry_after: bool = False) -> None:
        headers = {}
        if allow:
            headers["Allow"] = allow
        if retry_after:
            headers["Retry-After"] = "1"
        self._send(status, {"error": message}, headers)

    def _send(self, status: HTTPStatus, payload: dict, headers: Mapping[str, str] | None = None) -> None:
        body = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # The base class answers malformed request lines and unknown methods in HTML; clients here expect JSON.
        self.close_connection = True
        try:
            status = HTTPStatus(code)
        except ValueError:
            status = HTTPStatus.BAD_REQUEST
        self._send(status, {"error": message or explain or status.phrase})

    def log_message(self, format: str, *arguments: Any) -> None:
        if self.server.reward.verbose:
            super().log_message(format, *arguments)
