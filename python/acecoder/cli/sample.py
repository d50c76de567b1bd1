"""Sample N programs per question with a policy model (AceCoder step two) and store them as AceCode inferences.

Resumable: rerunning the same command skips questions already written and takes answered requests from the
response cache.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from acecoder.cli.generation import MODEL_HELP, add_backend_arguments

HELP = "sample N programs per question (AceCode inferences)"
DEFAULT_QUESTIONS = "mbpp-train"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", default=DEFAULT_QUESTIONS, help="AceCode rows (JSONL or Parquet) with question and "
                        "test_cases; default: the bundled MBPP train tasks 601-974 with their own tests")
    parser.add_argument("--output", type=Path, required=True, help=".jsonl or .parquet")
    add_backend_arguments(parser, required=True, model_help=MODEL_HELP)
    parser.add_argument("--n", type=int, default=16, help="programs per question")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--max-tokens", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--limit", type=int, default=None, help="only the first N questions")
    parser.add_argument("--quiet", action="store_true")


def load_questions(source: str) -> list[dict]:
    from acecoder.data.acecode import read_acecode
    from acecoder.data.seeds import mbpp_train_questions

    return mbpp_train_questions() if source == DEFAULT_QUESTIONS else read_acecode(source)


def run(arguments: argparse.Namespace) -> int:
    from acecoder.cli.progress import Progress
    from acecoder.data.acecode import output_format
    from acecoder.pairs.sampling import sample_rows
    from acecoder.cli.generation import backend_from_arguments
    from acecoder.synth.backends import Sampling

    try:
        output_format(arguments.output)
        rows = load_questions(arguments.input)[: arguments.limit]
        sampling = Sampling(n=arguments.n, temperature=arguments.temperature, top_p=arguments.top_p,
                            max_tokens=arguments.max_tokens, seed=arguments.seed)
        backend = backend_from_arguments(arguments)
    except (ImportError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    progress = None if arguments.quiet else Progress()
    try:
        summary = sample_rows(rows, backend, arguments.output, sampling, progress=progress.update if progress else None)
    finally:
        if progress:
            progress.close()
        backend.close()
    print(f"questions {summary.questions}: sampled {summary.sampled}, resumed {summary.resumed}, "
          f"completions {summary.completions}, failed requests {sum(summary.failures.values())} (rerun to retry)")
    print(f"wrote {arguments.output}")
    return 0 if not summary.failures else 1
