"""Synthesize questions and tests from seed code (AceCoder step one) and write AceCode rows.

Rerunning the same command resumes: seeds already judged are skipped (the journal beside the output) and model
calls already answered come from the response cache. The summary table at the end covers the whole run,
resumed seeds included.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "synthesize questions and oracle-filtered tests from seed code (AceCode format)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seeds", default=None, help="seed rows {id, program[, instruction]}: JSONL, Parquet or a "
                        "saved dataset directory (default: the bundled MBPP train tasks 601-974)")
    parser.add_argument("--output", type=Path, required=True, help="AceCode rows: .jsonl or .parquet")
    parser.add_argument("--backend", choices=("openai", "vllm", "transformers"), required=True)
    parser.add_argument("--model", required=True, help="model name, path, or 'smollm2' (the packaged SmolLM2-135M-Instruct)")
    parser.add_argument("--oracle-model", default=None, help="model that writes the oracle solutions (default: --model)")
    parser.add_argument("--base-url", default=None, help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--oracle-base-url", default=None, help="server of the oracle model (default: --base-url)")
    parser.add_argument("--api-key", default=None, help="API key (default: $OPENAI_API_KEY); never logged")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (openai backend)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per request (openai backend)")
    parser.add_argument("--batch-size", type=int, default=16, help="sequences per forward pass (transformers backend)")
    parser.add_argument("--num-tests", type=int, default=20, help="tests to ask for per question")
    parser.add_argument("--min-tests", type=int, default=5, help="drop questions with fewer surviving tests")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--max-tokens", type=int, default=2048, help="tokens per reply")
    parser.add_argument("--limit", type=int, default=None, help="only the first N seeds")
    parser.add_argument("--seed", type=int, default=None, help="sampling seed")
    parser.add_argument("--workers", type=int, default=None, help="engine workers (default: one per CPU)")
    parser.add_argument("--cache", type=Path, default=None, help="response cache file (default: ~/.cache/acecoder/generations.sqlite)")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the response cache")
    parser.add_argument("--quiet", action="store_true", help="no progress display")


def run(arguments: argparse.Namespace) -> int:
    from acecoder.cli.progress import Progress
    from acecoder.data.acecode import output_format
    from acecoder.data.seeds import load_seeds
    from acecoder.exec import Engine
    from acecoder.synth.backends import ResponseCache, make_backend
    from acecoder.synth.pipeline import Synthesizer, SynthConfig

    try:
        output_format(arguments.output)
        seeds = load_seeds(arguments.seeds)
        config = SynthConfig(
            num_tests=arguments.num_tests,
            min_tests=arguments.min_tests,
            temperature=arguments.temperature,
            max_tokens=arguments.max_tokens,
            oracle_max_tokens=arguments.max_tokens,
            seed=arguments.seed,
        )
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if arguments.limit is not None:
        seeds = seeds[: arguments.limit]
    cache = None if arguments.no_cache else ResponseCache(arguments.cache)
    options = dict(api_key=arguments.api_key, concurrency=arguments.concurrency, timeout=arguments.timeout, batch_size=arguments.batch_size)
    try:
        backend = make_backend(arguments.backend, arguments.model, cache=cache, base_url=arguments.base_url, **options)
    except (ImportError, OSError, ValueError) as error:
        print(f"error: cannot start the {arguments.backend} backend: {error}", file=sys.stderr)
        return 2
    oracle_backend = backend
    oracle_url = arguments.oracle_base_url or arguments.base_url
    if (arguments.oracle_model or arguments.model) != arguments.model or oracle_url != arguments.base_url:
        oracle_backend = make_backend(arguments.backend, arguments.oracle_model or arguments.model, cache=cache, base_url=oracle_url, **options)
    progress = None if arguments.quiet else Progress()
    print(f"acecoder synth: {len(seeds)} seeds → {arguments.output} ({arguments.backend}: {arguments.model}; "
          f"oracle: {oracle_backend.model})", file=sys.stderr)
    try:
        with Engine(workers=arguments.workers) as engine:
            synthesizer = Synthesizer(backend, engine, arguments.output, config, oracle_backend, progress=progress.update if progress else None)
            summary = synthesizer.run(seeds)
    finally:
        if progress:
            progress.close()
        backend.close()
        if oracle_backend is not backend:
            oracle_backend.close()
    print(summary.table())
    print(f"wrote {summary.questions_out} questions to {arguments.output} (journal: {synthesizer.journal.path})")
    return 0
