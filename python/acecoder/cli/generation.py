"""The generation-backend flags that `synth`, `sample` and `bon` share, and the backend they describe.

One place for them means a new backend option (or a changed default) reaches every verb that generates, and the
three verbs cannot drift apart in how they name or read the same setting. The defaults are ``make_backend``'s own,
read from its signature when the parser is built (``acecoder.generation`` imports nothing heavy), so the command line
and the library cannot disagree on them as they once did (a batch of 16 here, 8 there).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from acecoder.cli.config_flags import positive_float, positive_int
from acecoder.cli.vocabulary import add_option, keyword_default

BACKEND_CHOICES = ("openai", "vllm", "transformers")
MODEL_HELP = "model name, path, or 'smollm2' (the packaged SmolLM2-135M-Instruct)"


def backend_defaults() -> dict[str, Any]:
    """``make_backend``'s keyword defaults: concurrency, timeout, batch_size."""
    from acecoder.generation import make_backend

    return {name: keyword_default(make_backend, name) for name in ("concurrency", "timeout", "batch_size")}


def add_backend_arguments(parser: Any, *, required: bool, model_help: str, batch_size: bool = True) -> None:
    """--backend, --model, --base-url, --api-key, --concurrency, --request-timeout, --cache, --no-cache, and (unless
    the verb uses the name for something else) --batch-size, on ``parser`` or an argument group."""
    defaults = backend_defaults()
    parser.add_argument("--backend", choices=BACKEND_CHOICES, required=required, default=None,
                        help="where the model runs" + ("" if required else " (default: none; needs --model)"))  # fmt: skip
    parser.add_argument("--model", required=required, default=None,
                        help=model_help + ("" if required else " (default: none)"))  # fmt: skip
    parser.add_argument("--base-url", default=None, help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 "
                        "(default: the openai client's, $OPENAI_BASE_URL)")  # fmt: skip
    parser.add_argument("--api-key", default=None, help="API key (default: $OPENAI_API_KEY); never logged")
    parser.add_argument("--concurrency", type=positive_int, default=defaults["concurrency"],
                        help="requests in flight (openai backend)")  # fmt: skip
    add_option(parser, "--request-timeout", old=("--timeout",), type=positive_float, default=defaults["timeout"],
               help="seconds each request may take, the whole reply included (openai backend)")  # fmt: skip
    if batch_size:
        parser.add_argument("--batch-size", dest="backend_batch_size", type=positive_int, default=defaults["batch_size"],
                            help="sequences per forward pass (transformers)")  # fmt: skip
    parser.add_argument("--cache", type=Path, default=None,
                        help="response cache file (default: ~/.cache/acecoder/generations.sqlite)")  # fmt: skip
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the response cache")


def backend_from_arguments(
    arguments: argparse.Namespace,
    model: str | None = None,
    base_url: str | None = None,
    cache: Any = None,
    batch_size: int | None = None,
) -> Any:
    """The backend the flags describe. ``model`` and ``base_url`` override the flags' (e.g. for an oracle model);
    ``cache`` shares one ``ResponseCache`` between backends (default: the flags decide); ``batch_size`` overrides
    ``--batch-size`` (a verb without that flag gets ``make_backend``'s default)."""
    from acecoder.generation import ResponseCache, make_backend

    if cache is None and not arguments.no_cache:
        cache = ResponseCache(arguments.cache)
    size = batch_size if batch_size is not None else getattr(arguments, "backend_batch_size", None)
    sizes: dict[str, Any] = {} if size is None else {"batch_size": size}
    return make_backend(
        arguments.backend,
        model or arguments.model,
        cache=cache,
        base_url=base_url or arguments.base_url,
        api_key=arguments.api_key,
        concurrency=arguments.concurrency,
        timeout=arguments.request_timeout,
        **sizes,
    )
