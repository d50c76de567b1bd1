"""Synthesize questions and tests from seed code (AceCoder step one) and write AceCode rows.

Rerunning the same command resumes: seeds already judged are skipped (the journal beside the output) and model
calls already answered come from the response cache. The summary table at the end covers the whole run,
resumed seeds included.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from acecoder.cli.generation import MODEL_HELP, add_backend_arguments

HELP = "synthesize questions and oracle-filtered tests from seed code (AceCode format)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seeds", default=None, help="seed rows {id, program[, instruction]}: JSONL, Parquet or a "
                        "saved dataset directory (default: the bundled MBPP train tasks 601-974)")
    parser.add_argument("--output", type=Path, required=True, help="AceCode rows: .jsonl or .parquet")
    add_backend_arguments(parser, required=True, model_help=MODEL_HELP)
    parser.add_argument("--oracle-model", default=None, help="model writing the oracle solutions (default: --model)")
    parser.add_argument("--oracle-base-url", default=None, help="server of the oracle model (default: --base-url)")
    parser.add_argument("--num-tests", type=int, default=20, help="tests to ask for per question")
    parser.add_argument("--min-tests", type=int, default=5, help="drop questions with fewer surviving tests")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--max-tokens", type=int, default=2048, help="tokens per reply")
    parser.add_argument("--limit", type=int, default=None, help="only the first N seeds")
    parser.add_argument("--seed", type=int, default=None, help="sampling seed")
    parser.add_argument("--workers", type=int, default=None, help="engine workers (default: one per CPU)")
    parser.add_argument("--quiet", action="store_true", help="no progress display")


def run(arguments: argparse.Namespace) -> int:
    from acecoder.cli.progress import Progress
    from acecoder.data.acecode import output_format
    from acecoder.data.seeds import load_seeds
    from acecoder.exec import Engine
    from acecoder.cli.generation import backend_from_arguments
    from acecoder.synth.backends import ResponseCache
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
    try:
        backend = backend_from_arguments(arguments, cache=cache)
    except (ImportError, OSError, ValueError) as error:
        print(f"error: cannot start the {arguments.backend} backend: {error}", file=sys.stderr)
        return 2
    oracle_backend = backend
    oracle_url = arguments.oracle_base_url or arguments.base_url
    if (arguments.oracle_model or arguments.model) != arguments.model or oracle_url != arguments.base_url:
        oracle_backend = backend_from_arguments(arguments, arguments.oracle_model, oracle_url, cache=cache)
    progress = None if arguments.quiet else Progress()
    print(f"acecoder synth: {len(seeds)} seeds → {arguments.output} ({arguments.backend}: {arguments.model}; "
          f"oracle: {oracle_backend.model})", file=sys.stderr)
    try:
        with Engine(workers=arguments.workers) as engine:
            update = progress.update if progress else None
            synthesizer = Synthesizer(backend, engine, arguments.output, config, oracle_backend, progress=update)
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
