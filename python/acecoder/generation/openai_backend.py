"""A backend for any server that speaks the OpenAI chat-completions API: OpenAI itself, or a local vLLM, SGLang,
llama.cpp or Ollama server behind ``base_url``.

Test synthesis sends thousands of requests, so this backend is built for long batches against servers that
misbehave in ordinary ways: rate limits (429), overload (5xx), slow answers and dropped connections are retried with
capped exponential backoff and full jitter, honouring ``Retry-After``; other client errors (400, 401, ...) are not
retried, since sending the same request again cannot fix them. A request that still fails comes back as a
``Generation`` with ``error`` set, never as an exception, so one bad request never sinks a batch. The error names
the cause a user can act on (connection refused, a DNS lookup that failed, a timeout, the server's own message),
and each distinct cause is logged as a warning the first time it happens in a batch and again when it ends a
request, so an unreachable server is named at once rather than after a minute of silent retries. Some servers ignore
``n`` and answer with one choice; the missing completions are asked for again until ``n`` arrive.

Misbehaving on purpose is covered too. ``timeout`` is the deadline of a whole attempt, body included (httpx's
timeouts bound each read, so a server dripping a byte a second would never trip them): a reply still arriving at
the deadline is a timeout, retried like one. The body is read here rather than by the SDK, at most
``max_reply_bytes`` per completion, and a 200 that holds no readable completions (cut short, not JSON, another
shape, too big) is a failed generation named ``bad_reply: ...`` (see ``replies``), not retried in the batch and
never cached.

The ``openai`` package is an optional dependency (``pip install 'acecoder[synth]'``): it is imported when a backend
is built, never when ``acecoder`` is imported. The SDK's own retries are switched off; ours know which failures are
worth another try and report how many were made.

Backoff with full jitter: https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import random
import socket
import ssl
import sys
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from acecoder.generation.base import MAX_REPLY_BYTES, ChatRequest, Generation, ResultCallback
from acecoder.generation.replies import BadReply, reply_texts

if TYPE_CHECKING:
    import openai

# The placeholder key local servers accept (vLLM and friends check it only when started with --api-key).
PLACEHOLDER_API_KEY = "EMPTY"

# Error texts from servers can be whole HTML pages; a Generation keeps only the start.
MESSAGE_LIMIT = 200

# What a chat-completions body may hold besides its completions (ids, roles, usage, logprobs left off).
ENVELOPE_BYTES = 65_536

logger = logging.getLogger(__name__)


class OpenAIBackend:
    """Chat completions from an OpenAI-compatible server, ``concurrency`` requests at a time.

    The API key comes from ``api_key`` or the ``OPENAI_API_KEY`` environment variable; a local server (``base_url``
    given) needs neither and gets the placeholder ``"EMPTY"``. The key is never logged nor shown by ``repr``.
    """

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        concurrency: int = 16,
        timeout: float = 120.0,
        max_retries: int = 6,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        max_reply_bytes: int = MAX_REPLY_BYTES,
    ) -> None:
        try:
            import openai
        except ImportError as error:
            raise ImportError("OpenAIBackend needs the 'openai' package: pip install 'acecoder[synth]'") from error
        if not model:
            raise ValueError("model must name a model")
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        if max_reply_bytes < 1:
            raise ValueError(f"max_reply_bytes must be at least 1, got {max_reply_bytes}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be at least 0, got {max_retries}")
        if backoff_base < 0 or backoff_max < 0:
            raise ValueError(f"backoff_base and backoff_max must be at least 0, got {backoff_base}, {backoff_max}")
        key = api_key or os.environ.get("OPENAI_API_KEY")
        if not key and base_url is None:
            raise ValueError("no API key for the OpenAI API: pass api_key or set OPENAI_API_KEY")
        self.model = model
        self.base_url = base_url
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_reply_bytes = max_reply_bytes
        self._openai = openai
        self._api_key = key or PLACEHOLDER_API_KEY
        self._closed = False
        self._reported: set[str] = set()  # failure causes already logged in the current batch
        # Hooks for tests: how backoff waits, and where its jitter comes from.
        self._sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep
        self._random = random.Random()

    def __repr__(self) -> str:
        return (
            f"OpenAIBackend(model={self.model!r}, base_url={self.base_url!r}, concurrency={self.concurrency}, "
            f"timeout={self.timeout}, max_retries={self.max_retries})"
        )

    def __enter__(self) -> OpenAIBackend:
        return self

    def __exit__(self, *exception: object) -> None:
        self.close()

    def close(self) -> None:
        """Marks the backend closed; later calls to ``generate`` raise. Each batch opens its own client and closes it
        before returning (an async client's connections belong to the event loop that opened them, and ``generate``
        runs a fresh loop per call), so no connection outlives a batch and there is nothing else to release."""
        self._closed = True

    def generate(self, requests: Sequence[ChatRequest], on_result: ResultCallback | None = None) -> list[Generation]:
        """Completes every request; one ``Generation`` per request, in request order. ``on_result`` is called as each
        request finishes (from a worker thread when the caller's thread already runs an event loop)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.generate_async(requests, on_result))
        # asyncio.run refuses to nest inside a running loop (a notebook, an async caller): run ours on another thread.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="acecoder-openai") as executor:
            return executor.submit(lambda: asyncio.run(self.generate_async(requests, on_result))).result()

    async def generate_async(
        self, requests: Sequence[ChatRequest], on_result: ResultCallback | None = None
    ) -> list[Generation]:
        """The same as ``generate``, on the caller's event loop."""
        if self._closed:
            raise RuntimeError("OpenAIBackend is closed")
        requests = list(requests)
        results: list[Generation | None] = [None] * len(requests)
        if not requests:
            return []
        self._reported = set()
        semaphore = asyncio.Semaphore(self.concurrency)
        client = self._openai.AsyncOpenAI(
            base_url=self.base_url, api_key=self._api_key, max_retries=0, timeout=self.timeout
        )

        async def run_one(index: int, request: ChatRequest) -> None:
            # The slot is held through backoff too: a server that asks us to slow down gets fewer requests, not the
            # same number from other requests.
            async with semaphore:
                generation = await self._complete(client, request)
            results[index] = generation
            if on_result is not None:
                on_result(index, generation)

        tasks = [asyncio.ensure_future(run_one(index, request)) for index, request in enumerate(requests)]
        try:
            await asyncio.gather(*tasks)
        finally:
            # On a failing callback or a cancellation, stop the other requests before the client goes away.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await client.close()
        return [generation if generation is not None else Generation(error="not completed") for generation in results]

    async def _complete(self, client: openai.AsyncOpenAI, request: ChatRequest) -> Generation:
        """All ``n`` completions of one request, asking again for the ones a server left out."""
        wanted = request.sampling.n
        texts: list[str] = []
        while len(texts) < wanted:
            outcome = await self._call_with_retries(client, request, wanted - len(texts), follow_up=len(texts))
            if isinstance(outcome, str):
                return Generation(error=outcome)
            if not outcome:
                return Generation(error="the server answered with no choices")
            texts.extend(outcome[: wanted - len(texts)])
        return Generation(texts=texts)

    async def _call_with_retries(
        self, client: openai.AsyncOpenAI, request: ChatRequest, count: int, follow_up: int
    ) -> list[str] | str:
        """The texts of one chat-completions call for ``count`` choices, or why it failed after its retries."""
        sampling = request.sampling
        arguments: dict[str, Any] = {
            "model": self.model,
            "messages": list(request.messages),
            "n": count,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
        }
        if sampling.seed is not None:
            # A follow-up with the same seed would repeat the completions already received.
            arguments["seed"] = sampling.seed + follow_up
        attempts = self.max_retries + 1
        for attempt in range(attempts):
            try:
                return await asyncio.wait_for(self._attempt(client, arguments, count), self.timeout)
            except BadReply as error:
                # A server that sent junk once will send it again: not retried here, not cached, asked again by
                # the next run.
                self._report(f"request failed: {error}")
                return str(error)
            except (asyncio.TimeoutError, self._openai.APITimeoutError):
                # The deadline of the whole attempt, or httpx's per-read timeout (the same number) before it.
                description = f"timeout: no complete reply within {self.timeout:g} s"
                retryable, retry_after = True, None
            except _BodyLost as error:
                retryable, description, retry_after = True, f"connection error: {error}", None
            except self._openai.OpenAIError as error:
                retryable, description, retry_after = self._describe(error)
            if not retryable:
                self._report(f"request failed: {description}")
                return description
            if attempt + 1 == attempts:
                description = _after_attempts(description, attempts)
                self._report(f"request failed: {description}")
                return description
            if attempt == 0:
                self._report(f"{description}; retrying up to {self.max_retries} times with backoff")
            await self._sleep(self._backoff(attempt, retry_after))
        raise AssertionError("unreachable: the last attempt returns")

    async def _attempt(self, client: openai.AsyncOpenAI, arguments: dict[str, Any], count: int) -> list[str]:
        """One call: the status checked by the SDK, the body read here (see ``replies``), at most ``count``
        completions' worth of it."""
        limit = self.max_reply_bytes * count + ENVELOPE_BYTES
        async with client.chat.completions.with_streaming_response.create(**arguments) as response:
            body = await _read_body(response, limit)
        return reply_texts(body, self.max_reply_bytes)

    def _report(self, text: str) -> None:
        """Logs ``text`` as a warning, once per batch: a dead server fails every request the same way."""
        if text not in self._reported:
            self._reported.add(text)
            logger.warning("openai backend: %s", text)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before the next attempt: what the server asked for, else capped exponential backoff with
        full jitter (so requests that failed together do not come back together)."""
        if retry_after is not None:
            return min(self.backoff_max, max(0.0, retry_after))
        return self._random.uniform(0.0, min(self.backoff_max, self.backoff_base * 2**attempt))

    def _describe(self, error: Exception) -> tuple[bool, str, float | None]:
        """Whether ``error`` is worth another try, a short description, and the server's ``Retry-After``."""
        openai = self._openai
        if isinstance(error, openai.APIConnectionError):
            retryable, cause = _connection_failure(error, self.base_url)
            return retryable, f"connection error: {cause}", None
        if isinstance(error, openai.APIStatusError):
            status = error.status_code
            description = f"http {status}: {_short(_server_message(error))}"
            retryable = status in (408, 429) or status >= 500
            return retryable, description, _retry_after(error.response.headers) if retryable else None
        # Anything else the SDK raises: asking again would not change it.
        return False, f"{type(error).__name__}: {_short(str(error))}", None


class _BodyLost(ConnectionError):
    """The connection failed while the body was being read (the SDK's own mapping covers only the headers)."""


async def _read_body(response: Any, limit: int) -> bytes:
    """The whole body, or ``BadReply`` as soon as it passes ``limit`` bytes (decompressed: a small gzip bomb is
    caught too). Transport failures while reading become ``_BodyLost`` or a timeout."""
    # httpx's exception classes, from the module of the response itself: the SDK has used httpx and httpx2.
    http = sys.modules[type(response.http_response).__module__.partition(".")[0]]
    body = bytearray()
    try:
        async for chunk in response.iter_bytes():
            body += chunk
            if len(body) > limit:
                raise BadReply(f"over {limit:,} bytes")
    except http.TimeoutException:
        raise asyncio.TimeoutError from None
    except http.DecodingError:
        raise BadReply("undecodable body (content encoding)") from None
    except http.TransportError as error:
        cause = _short(str(error)) or type(error).__name__
        raise _BodyLost(f"the connection failed while the reply was read ({cause})") from None
    return bytes(body)


def _after_attempts(description: str, attempts: int) -> str:
    """``"http 429: slow down"`` → ``"http 429 after 7 attempts: slow down"``."""
    head, separator, tail = description.partition(": ")
    return f"{head} after {attempts} attempt{'s' if attempts != 1 else ''}{separator}{tail}"


def _connection_failure(error: BaseException, base_url: str | None) -> tuple[bool, str]:
    """Whether a connection failure is worth another try, and what went wrong below the SDK's "Connection error.":
    the OS error in the exception chain, named (connection refused, DNS lookup failed, reset, TLS), with the address
    it concerned. A refused connection is retried (a server may still be starting); a host name that does not
    exist, or a certificate that does not verify, is not (asking again cannot fix them)."""
    where = base_url or "the OpenAI API"
    host = urlsplit(base_url).hostname if base_url else "api.openai.com"
    seen: set[int] = set()
    cause: BaseException | None = error
    deepest = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ConnectionRefusedError):
            return True, f"connection refused by {where} (is the server running, and on that port?)"
        if isinstance(cause, socket.gaierror):
            return cause.errno != socket.EAI_NONAME, f"DNS lookup failed for {host} ({cause.strerror or cause})"
        if isinstance(cause, ConnectionResetError):
            return True, f"connection reset by {where}"
        if isinstance(cause, ssl.SSLError):
            retryable = not isinstance(cause, ssl.SSLCertVerificationError)  # a bad certificate stays bad
            return retryable, f"TLS error with {where} ({_short(str(cause))})"
        if isinstance(cause, TimeoutError):
            return True, f"connecting to {where} timed out"
        deepest = cause
        cause = cause.__cause__ or cause.__context__
    return True, f"{_short(str(deepest))} ({where})"


def _server_message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    if isinstance(body, str) and body:
        return body
    return error.message


def _retry_after(headers: Any) -> float | None:
    """The delay a server asked for, in seconds (``Retry-After`` as an HTTP date is rare and not worth a parser)."""
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            continue
        if math.isfinite(seconds):
            return seconds
    return None


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 3] + "..."
