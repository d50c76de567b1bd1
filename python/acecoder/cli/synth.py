"""Synthesize questions and tests from seed code (AceCoder step one) and write AceCode rows.

Rerunning the same command resumes: seeds already judged are skipped (the journal beside the output) and model
calls already answered come from the response cache. The summary table at the end covers the whole run,
resumed seeds included.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from acecoder.cli.config_flags import non_negative_float, non_negative_int, positive_int
from acecoder.cli.generation import MODEL_HELP, add_backend_arguments
from acecoder.cli.vocabulary import add_option

# The lines format's own defaults (a small model's short replies); the json format's are SynthConfig's.
LINES_MAX_TOKENS = 128
LINES_MIN_TESTS = 3

HELP = "synthesize questions and oracle-filtered tests from seed code (AceCode format)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from acecoder.synth.harden import HardenConfig
    from acecoder.synth.pipeline import SynthConfig

    defaults = SynthConfig()  # AceCoder's settings as the pipeline holds them
    harden_defaults = HardenConfig()
    add_option(parser, "--input", old=("--seeds",), default=None,
               help="seed rows {id, program[, instruction]}: JSONL, Parquet or a saved dataset directory (default: "
               "the bundled MBPP train tasks 601-974)")  # fmt: skip
    parser.add_argument("--output", type=Path, required=True, help="AceCode rows: .jsonl or .parquet")
    add_backend_arguments(parser, required=True, model_help=MODEL_HELP)
    parser.add_argument("--oracle-model", default=None, help="model writing the oracle solutions (default: --model)")
    parser.add_argument("--oracle-base-url", default=None, help="server of the oracle model (default: --base-url)")
    parser.add_argument(
        "--num-tests", type=positive_int, default=defaults.num_tests, help="tests to ask for per question"
    )
    parser.add_argument("--min-tests", type=non_negative_int, default=None,
                        help=f"drop questions with fewer surviving tests (default: {defaults.min_tests}; "
                        f"{LINES_MIN_TESTS} in the lines format)")  # fmt: skip
    parser.add_argument("--temperature", type=non_negative_float, default=defaults.temperature,
                        help="sampling temperature")  # fmt: skip
    parser.add_argument("--max-tokens", type=positive_int, default=None,
                        help=f"tokens per reply (default: {defaults.max_tokens} in the json format, {LINES_MAX_TOKENS} per "
                        "sample in the lines format)")  # fmt: skip
    parser.add_argument(
        "--format",
        choices=("auto", "json", "lines"),
        default="auto",
        help="json: AceCoder's rewrite (a question and its tests as JSON); lines: for small models, "
        "the seed's task as the question and tests continued line by line from 'assert name(' "
        "(needs the transformers or vllm backend); auto: lines for the packaged smollm2, else json",
    )
    parser.add_argument(
        "--oracle",
        choices=("auto", "model", "seed"),
        default="auto",
        help="what judges the tests: the oracle model's greedy solution (AceCoder) or the seed's own "
        "program; auto: seed with the lines format, else model",
    )
    add_option(parser, "--n", old=("--samples",), type=positive_int, default=defaults.samples,
               help="replies per seed in the lines format (each a few tests)")  # fmt: skip
    parser.add_argument("--limit", type=positive_int, default=None, help="only the first N seeds (default: all)")
    parser.add_argument("--seed", type=non_negative_int, default=None, help="sampling seed (default: none, random)")
    parser.add_argument("--workers", type=positive_int, default=None, help="engine workers (default: one per CPU)")
    parser.add_argument("--harden", action="store_true", help="after oracle filtering, show the model each question's "
                        "tests and a mutant of the oracle solution they let through, and keep its new tests that the "
                        "oracle solution passes and that kill a surviving mutant (acecoder.synth.harden)")  # fmt: skip
    parser.add_argument("--harden-rounds", type=positive_int, default=harden_defaults.rounds,
                        help="rounds of hardening per question")  # fmt: skip
    parser.add_argument("--mutants", type=positive_int, default=harden_defaults.mutants,
                        help="mutants of the oracle solution per question, for --harden")  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="no progress display")


def run(arguments: argparse.Namespace) -> int:
    from acecoder.cli.generation import backend_from_arguments
    from acecoder.cli.progress import Progress
    from acecoder.data.acecode import output_format
    from acecoder.data.seeds import load_seeds
    from acecoder.exec import Engine
    from acecoder.generation import ResponseCache
    from acecoder.synth.pipeline import SynthConfig, Synthesizer

    synth_format = resolved_format(arguments)
    oracle = arguments.oracle if arguments.oracle != "auto" else "seed" if synth_format == "lines" else "model"
    if synth_format == "lines" and arguments.backend == "openai":
        print(
            "error: --format lines continues a reply the model has begun, which the openai backend cannot ask "
            "of a server; use --backend transformers or vllm, or --format json",
            file=sys.stderr,
        )
        return 2
    defaults = SynthConfig()
    max_tokens = arguments.max_tokens or (LINES_MAX_TOKENS if synth_format == "lines" else defaults.max_tokens)
    try:
        output_format(arguments.output)
        seeds = load_seeds(arguments.input)
        config = SynthConfig(
            num_tests=arguments.num_tests,
            min_tests=arguments.min_tests
            if arguments.min_tests is not None
            else LINES_MIN_TESTS
            if synth_format == "lines"
            else defaults.min_tests,
            temperature=arguments.temperature,
            max_tokens=max_tokens,
            oracle_max_tokens=arguments.max_tokens or defaults.oracle_max_tokens,
            seed=arguments.seed,
            format=synth_format,
            samples=arguments.n,
            oracle=oracle,
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
    oracle_name = "the seed's program" if oracle == "seed" else oracle_backend.model
    print(
        f"acecoder synth: {len(seeds)} seeds → {arguments.output} ({arguments.backend}: {arguments.model}, "
        f"{synth_format} format; oracle: {oracle_name})",
        file=sys.stderr,
    )
    try:
        with Engine(workers=arguments.workers) as engine:
            update = progress.update if progress else None
            synthesizer = Synthesizer(backend, engine, arguments.output, config, oracle_backend, progress=update)
            summary = synthesizer.run(seeds)
            print(summary.table())
            harden_status = None
            if arguments.harden and summary.questions_out:
                harden_status = _harden(arguments, backend, engine, synth_format, progress)
    finally:
        if progress:
            progress.close()
        backend.close()
        if oracle_backend is not backend:
            oracle_backend.close()
    if summary.questions_out == 0:
        causes = ", ".join(f"{cause} {count}" for cause, count in sorted(summary.failures.items())) or "none recorded"
        if summary.failed_generations:
            causes += (
                " (failed generations: "
                + ", ".join(f"{cause} {count}" for cause, count in sorted(summary.failed_generations.items()))
                + ")"
            )
        print(
            f"error: no question kept of {summary.questions_in} (dropped: {causes}); nothing written to "
            f"{arguments.output}. A small model needs --format lines (the default for smollm2); fewer "
            "--min-tests or more --n keep more",
            file=sys.stderr,
        )
        return 1
    if harden_status:
        return harden_status
    print(f"wrote {summary.questions_out} questions to {arguments.output} (journal: {synthesizer.journal.path})")
    return 0


def _harden(arguments: argparse.Namespace, backend, engine, synth_format: str, progress) -> int:
    """``--harden``: the written questions hardened in place (resumable: a journal beside the output)."""
    from acecoder.data.acecode import read_acecode, write_rows
    from acecoder.synth.harden import HardenConfig, Hardener

    lines = synth_format == "lines"
    config = HardenConfig(
        rounds=arguments.harden_rounds, mutants=arguments.mutants, temperature=arguments.temperature,
        max_tokens=arguments.max_tokens or (LINES_MAX_TOKENS if lines else HardenConfig.max_tokens),
        seed=arguments.seed, format="lines" if lines else "chat", samples=arguments.n if lines else 1,
    )  # fmt: skip
    hardener = Hardener(backend, engine, config, progress=progress.update if progress else None)
    hardened, summary = hardener.run(read_acecode(arguments.output), arguments.output)
    write_rows(hardened, arguments.output)
    if progress:
        progress.close()
    print(summary.table())
    if summary.failed_generations:
        print(f"error: {summary.failed_generations} hardening calls failed; their questions were written as far as "
              "they got and are not journaled: rerun the same command to finish them", file=sys.stderr)  # fmt: skip
        return 1
    return 0


def resolved_format(arguments: argparse.Namespace) -> str:
    """``--format auto``: the line format for the packaged small model on a local backend, else AceCoder's JSON."""
    if arguments.format != "auto":
        return arguments.format
    from acecoder.models.names import PACKAGED_MODELS

    local = arguments.backend in ("transformers", "vllm")
    return "lines" if local and arguments.model in PACKAGED_MODELS else "json"
