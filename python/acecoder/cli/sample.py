"""Sample N programs per question with a policy model (AceCoder step two) and store them as AceCode inferences.

Resumable: each question is written the moment its programs (and those of the questions before it) arrive, so
Ctrl-C or a kill loses at most the batch in flight; rerunning the same command skips the questions written, takes
answered requests from the response cache, and ends with the file an uninterrupted run writes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from acecoder.cli.config_flags import non_negative_float, non_negative_int, positive_int, probability
from acecoder.cli.generation import MODEL_HELP, add_backend_arguments

HELP = "sample N programs per question (AceCode inferences)"
DEFAULT_QUESTIONS = "mbpp-train"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input",
        default=DEFAULT_QUESTIONS,
        help="AceCode rows (JSONL or Parquet) with question and "
        "test_cases; default: the bundled MBPP train tasks 601-974 with their own tests",
    )
    parser.add_argument("--output", type=Path, required=True, help=".jsonl or .parquet")
    add_backend_arguments(parser, required=True, model_help=MODEL_HELP)
    parser.add_argument("--n", type=positive_int, default=16, help="programs per question")
    parser.add_argument("--temperature", type=non_negative_float, default=0.7, help="sampling temperature")
    parser.add_argument("--top-p", type=probability, default=1.0, help="nucleus sampling mass")
    parser.add_argument("--max-tokens", type=positive_int, default=1024, help="tokens per program")
    parser.add_argument("--seed", type=non_negative_int, default=None, help="sampling seed (default: none, random)")
    parser.add_argument("--limit", type=positive_int, default=None, help="only the first N questions (default: all)")
    parser.add_argument("--quiet", action="store_true", help="no progress display")


def load_questions(source: str) -> list[dict]:
    from acecoder.data.acecode import check_questions, read_acecode
    from acecoder.data.seeds import mbpp_train_questions

    if source == DEFAULT_QUESTIONS:
        return mbpp_train_questions()
    rows = read_acecode(source)
    check_questions(rows, source)  # a prompt is built from each: a string of tests would give its first letter
    return rows


def run(arguments: argparse.Namespace) -> int:
    from acecoder.cli.generation import backend_from_arguments
    from acecoder.cli.progress import Progress
    from acecoder.data.acecode import output_format
    from acecoder.data.journal import output_journal
    from acecoder.generation import Sampling
    from acecoder.pairs.sampling import sample_rows

    try:
        output_format(arguments.output)
        rows = load_questions(arguments.input)[: arguments.limit]
        sampling = Sampling(
            n=arguments.n,
            temperature=arguments.temperature,
            top_p=arguments.top_p,
            max_tokens=arguments.max_tokens,
            seed=arguments.seed,
        )
        if not rows:
            print(f"error: {arguments.input} holds no questions; nothing to sample, nothing written", file=sys.stderr)
            return 1
        backend = backend_from_arguments(arguments)
    except (ImportError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    progress = None if arguments.quiet else Progress()
    try:
        summary = sample_rows(rows, backend, arguments.output, sampling, progress=progress.update if progress else None)
    except KeyboardInterrupt:
        if progress:
            progress.close()
            progress = None
        journal = output_journal(arguments.output)
        print(f"interrupted: {len(journal.rows())} of {len(rows)} questions kept in {journal.path}; rerun the same "
              "command to resume", file=sys.stderr)  # fmt: skip
        return 130
    finally:
        if progress:
            progress.close()
        backend.close()
    print(
        f"questions {summary.questions}: sampled {summary.sampled}, resumed {summary.resumed}, "
        f"completions {summary.completions}, failed requests {sum(summary.failures.values())} (rerun to retry)"
    )
    if not arguments.output.exists():
        print(f"error: nothing was written to {arguments.output}", file=sys.stderr)
        return 1
    print(f"wrote {arguments.output}")
    return 0 if not summary.failures else 1
