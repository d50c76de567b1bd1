"""What every generation backend shares: the request and result types and the ``Backend`` protocol.

A backend turns chat requests into completions. The pipeline never cares which one runs (an OpenAI-compatible
server, vLLM in-process, or transformers on a CPU): it builds ``ChatRequest`` objects, calls ``generate`` and reads
``Generation`` objects back, in request order. Failures are data here too: a request that still fails after its
retries comes back as a ``Generation`` with ``error`` set and no texts, so one bad request never sinks a batch.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

# One chat message: {"role": "system" | "user" | "assistant", "content": "..."}.
Message = dict[str, str]

# The largest completion a backend hands on, the cache stores and the synthesis parser reads, in UTF-8 bytes.
# Real replies are far smaller (2,048 tokens are ~10 KB); one this big is a server gone wrong, and refusing it
# bounds the memory and parse time a hostile server can cost.
MAX_REPLY_BYTES = 1_000_000


def oversized_reply(texts: Sequence[str], limit: int = MAX_REPLY_BYTES) -> str | None:
    """The failure of a generation with a completion over ``limit`` bytes (``"bad_reply: over N bytes"``), or None."""
    for text in texts:
        # A character is at most 4 bytes: only long texts need encoding to be measured.
        if len(text) > limit // 4 and len(text.encode("utf-8", "surrogatepass")) > limit:
            return f"bad_reply: over {limit:,} bytes"
    return None


@dataclass(frozen=True)
class Sampling:
    """Sampling parameters of one request. ``n`` completions come back per request."""

    n: int = 1
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 2048
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"n must be at least 1, got {self.n}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be at least 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {self.max_tokens}")

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ChatRequest:
    """A conversation to complete, and how to sample it."""

    messages: tuple[Message, ...]
    sampling: Sampling = field(default_factory=Sampling)

    def __post_init__(self) -> None:
        messages = tuple(dict(message) for message in self.messages)
        for message in messages:
            if set(message) != {"role", "content"} or not all(isinstance(value, str) for value in message.values()):
                raise ValueError(f"a chat message is {{'role': str, 'content': str}}, got {message!r}")
        object.__setattr__(self, "messages", messages)


@dataclass
class Generation:
    """The completions of one request (``sampling.n`` of them), or the reason there are none."""

    texts: list[str] = field(default_factory=list)
    error: str | None = None
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


def group_by_sampling(requests: Sequence[ChatRequest]) -> dict[Sampling, list[int]]:
    """Request indices grouped by sampling parameters: local backends generate each group in shared batches."""
    groups: dict[Sampling, list[int]] = {}
    for index, request in enumerate(requests):
        groups.setdefault(request.sampling, []).append(index)
    return groups


# Called as each request finishes (in completion order): its index in the batch and its result.
ResultCallback = Callable[[int, Generation], None]

# Called with the number of sequences (completions) that just finished, failed ones included; over one call the
# numbers add up to the requests' ``sampling.n`` summed. A request for 16 samples is 16 sequences, and a local
# backend finishes them a micro-batch (or a sequence) at a time: this is what lets a display move inside a call.
SequenceCallback = Callable[[int], None]


class Backend(Protocol):
    """A source of chat completions. ``model`` names the model (it is part of every cache key)."""

    model: str

    def generate(self, requests: Sequence[ChatRequest], on_result: ResultCallback | None = None) -> list[Generation]:
        """Completes every request; returns one ``Generation`` per request, in request order, and calls
        ``on_result`` as each one finishes (the cache stores results as they arrive, so an interrupted batch
        keeps what it already paid for)."""
        ...

    def close(self) -> None:
        """Releases the backend's resources (connections, model weights)."""
        ...


def generate_with_progress(
    backend: Backend,
    requests: Sequence[ChatRequest],
    on_result: ResultCallback | None = None,
    on_sequences: SequenceCallback | None = None,
) -> list[Generation]:
    """``backend.generate``, with finished sequences reported to ``on_sequences``: by the backend itself where its
    ``generate`` takes an ``on_sequences`` argument (the transformers backend, the cache), otherwise counted here
    from each result as it arrives (``sampling.n`` sequences a result; any the backend never reported, when it
    returns). ``Backend`` stays as it was: a backend without the argument still works, a result at a time."""
    if on_sequences is None:
        return backend.generate(requests, on_result=on_result)
    if "on_sequences" in inspect.signature(backend.generate).parameters:
        return backend.generate(requests, on_result=on_result, on_sequences=on_sequences)  # type: ignore[call-arg]
    counted: set[int] = set()

    def count(index: int, generation: Generation) -> None:
        if index not in counted:
            counted.add(index)
            on_sequences(requests[index].sampling.n)
        if on_result is not None:
            on_result(index, generation)

    generations = backend.generate(requests, on_result=count)
    unreported = sum(request.sampling.n for index, request in enumerate(requests) if index not in counted)
    if unreported:
        on_sequences(unreported)
    return generations
