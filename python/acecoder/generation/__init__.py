"""LLM backends behind one protocol (``Backend``): OpenAI-compatible HTTP, vLLM offline, transformers local.

Each backend module imports its heavy dependency (openai, vllm, torch) only when it is constructed, so importing
this package costs nothing. ``make_backend`` builds one by name and, unless told not to, wraps it in the on-disk
response cache.
"""

from __future__ import annotations

from pathlib import Path

from acecoder.generation.base import (
    Backend,
    ChatRequest,
    Generation,
    Message,
    ResultCallback,
    Sampling,
    SequenceCallback,
    generate_with_progress,
)
from acecoder.generation.cache import CachedBackend, ResponseCache

__all__ = [
    "BACKENDS",
    "Backend",
    "CachedBackend",
    "ChatRequest",
    "Generation",
    "Message",
    "ResponseCache",
    "ResultCallback",
    "Sampling",
    "SequenceCallback",
    "generate_with_progress",
    "make_backend",
]

BACKENDS = ("openai", "vllm", "transformers")


def make_backend(
    name: str,
    model: str,
    *,
    cache: ResponseCache | str | Path | None | bool = True,
    base_url: str | None = None,
    api_key: str | None = None,
    concurrency: int = 16,
    timeout: float = 120.0,
    batch_size: int = 8,
    device: str | None = None,
) -> Backend:
    """A backend by name (one of ``BACKENDS``). ``cache``: True for the default cache file, a path or a
    ``ResponseCache`` for another, False or None for none."""
    backend: Backend
    if name == "openai":
        from acecoder.generation.openai_backend import OpenAIBackend

        backend = OpenAIBackend(model, base_url=base_url, api_key=api_key, concurrency=concurrency, timeout=timeout)
    elif name == "vllm":
        from acecoder.generation.vllm_backend import VLLMBackend

        backend = VLLMBackend(model)
    elif name == "transformers":
        from acecoder.generation.transformers_backend import TransformersBackend

        backend = TransformersBackend(model, device=device, batch_size=batch_size)
    else:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if cache is None or cache is False:
        return backend
    if cache is True:
        return CachedBackend(backend, ResponseCache())
    if isinstance(cache, ResponseCache):
        return CachedBackend(backend, cache)
    return CachedBackend(backend, ResponseCache(cache))
