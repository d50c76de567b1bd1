"""An on-disk cache of completions, so reruns cost nothing and an interrupted run resumes where it stopped.

Keyed by a SHA-256 of (model, messages, sampling parameters): the same request to the same model is answered from
disk. SQLite, because it is in the standard library, commits each answer atomically (a run killed mid-batch
keeps every answer it already received) and lets several processes share one file. Only successful generations
are stored: a failed request is retried on the next run. Failures are not stored on purpose, a bad reply
included (cut short, junk, over ``MAX_REPLY_BYTES``): such a reply is the server's fault, not the request's, so a
stored failure would pin a passing fault forever, while asking again costs at most one capped, deadlined request.
Completions over the cap are neither stored nor served (an entry from before the cap counts as a miss). No API key
or server address is part of the key or the stored record, so a cache can be shared, and a model served at another
address still hits.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from acecoder.caching import cache_root
from acecoder.generation.base import (
    Backend,
    ChatRequest,
    Generation,
    ResultCallback,
    SequenceCallback,
    generate_with_progress,
    oversized_reply,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS completions (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    request TEXT NOT NULL,
    texts TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def default_cache_path() -> Path:
    return cache_root() / "generations.sqlite"


def request_record(model: str, request: ChatRequest) -> str:
    """The canonical JSON text of what identifies a request: model, messages and sampling."""
    document = {"model": model, "messages": list(request.messages), "sampling": request.sampling.as_dict()}
    return json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def request_key(model: str, request: ChatRequest) -> str:
    return hashlib.sha256(request_record(model, request).encode("utf-8")).hexdigest()


class ResponseCache:
    """Completions stored by request key. Safe to use from several threads (one connection, one lock)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._connection = sqlite3.connect(self.path, check_same_thread=False, timeout=60.0)
        with self._lock:
            self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.execute(SCHEMA)
            self._connection.commit()

    def get(self, model: str, request: ChatRequest) -> list[str] | None:
        with self._lock:
            row = self._connection.execute(
                "SELECT texts FROM completions WHERE key = ?", (request_key(model, request),)
            ).fetchone()
        return None if row is None else list(json.loads(row[0]))

    def put(self, model: str, request: ChatRequest, texts: Sequence[str]) -> None:
        record = request_record(model, request)
        with self._lock:
            self._connection.execute(
                "INSERT OR REPLACE INTO completions (key, model, request, texts, created) VALUES (?, ?, ?, ?, ?)",
                (request_key(model, request), model, record, json.dumps(list(texts)), time.time()),
            )
            self._connection.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._connection.execute("SELECT COUNT(*) FROM completions").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._connection.close()


class CachedBackend:
    """A backend whose answers are looked up in, and stored to, a ``ResponseCache``.

    Hits come back with ``cached=True`` and never reach the wrapped backend; misses are stored the moment the
    wrapped backend reports them (its ``on_result``), not at the end of the batch.
    """

    def __init__(self, backend: Backend, cache: ResponseCache) -> None:
        self.backend = backend
        self.cache = cache
        self.model = backend.model

    def generate(
        self,
        requests: Sequence[ChatRequest],
        on_result: ResultCallback | None = None,
        on_sequences: SequenceCallback | None = None,
    ) -> list[Generation]:
        """The wrapped backend's ``generate`` for the misses; hits count as finished sequences at once."""
        results: list[Generation | None] = [None] * len(requests)
        missing: list[int] = []
        for index, request in enumerate(requests):
            texts = self.cache.get(self.model, request)
            # An oversized entry (from before the cap) is a miss: asked again, not handed on.
            if texts is not None and len(texts) == request.sampling.n and oversized_reply(texts) is None:
                hit = results[index] = Generation(texts=texts, cached=True)
                if on_result is not None:
                    on_result(index, hit)
                if on_sequences is not None:
                    on_sequences(request.sampling.n)
            else:
                missing.append(index)
        if missing:

            def store(position: int, generation: Generation) -> None:
                index = missing[position]
                if generation.ok and oversized_reply(generation.texts) is None:
                    self.cache.put(self.model, requests[index], generation.texts)
                results[index] = generation
                if on_result is not None:
                    on_result(index, generation)

            asked = [requests[index] for index in missing]
            answered = generate_with_progress(self.backend, asked, on_result=store, on_sequences=on_sequences)
            for position, generation in enumerate(answered):
                if results[missing[position]] is None:  # a backend that did not call on_result
                    store(position, generation)
        return [result if result is not None else Generation(error="no result") for result in results]

    def close(self) -> None:
        self.backend.close()
        self.cache.close()
