"""The whole AceCoder data pipeline on the bundled default, offline on a CPU, in about five minutes.

MBPP train questions (with their own tests) → programs sampled by the packaged SmolLM2-135M-Instruct (transformers
on the CPU) → pass rates through the sandboxed engine → preference pairs (AceCoder's rule) → the hard subset → a
report with plots. Every step writes its file into ``--output-dir`` and resumes from it, and model answers are
cached, so a second run takes seconds. ``--engine-only`` instead grades the bundled MBPP+ sample (no model; seconds).

The questions are chosen, not the first ones: a pair needs one question with a program passing every test and
another passing some, and the 135M model passes nothing on most MBPP tasks (the first ten gave 0 pairs). The
bundled list ``DEMO_TASKS`` holds MBPP train tasks outside MBPP+ on which its programs differ, ranked by the pairs
expected from 16 samples (``benches/select_demo_questions.py`` measured it); 16 samples of few questions give more
pairs than 8 of many for the same generation time, since a question's pairs grow with the square of its samples.
A run that still ends without a pair says why and exits 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from acecoder.cli.config_flags import non_negative_float, positive_int
from acecoder.cli.vocabulary import add_option

# MBPP train tasks outside MBPP+ where SmolLM2-135M-Instruct's programs differ (some pass all 3 tests, some 1),
# most expected pairs first: benches/select_demo_questions.py over the 64 with the shortest reference solutions, 8
# samples each at temperature 0.7, 128 tokens (expected pairs from 16 samples: 19, 15, 11, 7.5, 7.5, 3.8).
DEMO_TASKS = ("mbpp/887", "mbpp/678", "mbpp/654", "mbpp/703", "mbpp/924", "mbpp/651")

HELP = "run the data pipeline (sample → pass rates → pairs → report) on bundled MBPP train tasks with SmolLM2"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output-dir", type=Path, default=Path("acecoder-demo"), help="where every step's file goes")
    add_option(parser, "--limit", old=("--questions",), type=positive_int, default=len(DEMO_TASKS),
               help=f"how many questions: the {len(DEMO_TASKS)} chosen MBPP train tasks where SmolLM2's "
               "programs differ first, then the other MBPP train tasks in order")  # fmt: skip
    parser.add_argument("--n", type=positive_int, default=16, help="programs sampled per question")
    parser.add_argument("--max-tokens", type=positive_int, default=128, help="tokens per program")
    parser.add_argument("--temperature", type=non_negative_float, default=0.7, help="sampling temperature")
    parser.add_argument("--workers", type=positive_int, default=None, help="engine workers (default: one per CPU)")
    parser.add_argument("--engine-only", action="store_true", help="only grade the bundled MBPP+ sample (no model)")
    parser.add_argument(
        "--input",
        type=Path,
        default=None,
        help="with --engine-only: JSONL rows {program, tests} (default: the bundled MBPP+ sample)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="with --engine-only: per-job results (default: OUTPUT_DIR/engine_results.jsonl)",
    )


def demo_questions(count: int) -> list[dict]:
    """The first ``count`` questions: ``DEMO_TASKS`` in their order, then the other MBPP train tasks."""
    from acecoder.data.seeds import mbpp_train_questions

    rows = mbpp_train_questions()
    by_id = {row["id"]: row for row in rows}
    chosen = [by_id[task] for task in DEMO_TASKS]
    return (chosen + [row for row in rows if row["id"] not in DEMO_TASKS])[:count]


def _stage(number: int, text: str) -> None:
    print(f"[{number}/5] {text}", flush=True)


def run(arguments: argparse.Namespace) -> int:
    if arguments.engine_only:
        from acecoder.cli import grade_sample

        if arguments.output is None:
            arguments.output = arguments.output_dir / "engine_results.jsonl"
        return grade_sample.run(arguments)
    from acecoder.cli.pairs import no_pairs_reason
    from acecoder.cli.progress import Progress
    from acecoder.data.acecode import read_acecode, write_rows
    from acecoder.exec import Engine
    from acecoder.generation import Sampling, make_backend
    from acecoder.pairs.passrate import score_rows
    from acecoder.pairs.rules import PairRule, build_pairs, hard_subset, pair_statistics
    from acecoder.pairs.sampling import sample_rows
    from acecoder.report import format_table, plot, summarize

    directory = arguments.output_dir
    directory.mkdir(parents=True, exist_ok=True)
    samples, rates, pairs_path, hard = (
        directory / name for name in ("samples.jsonl", "passrates.jsonl", "pairs.jsonl", "hard_subset.jsonl")
    )
    started = time.perf_counter()
    questions = demo_questions(arguments.limit)
    _stage(1, f"sampling {arguments.n} programs for each of {len(questions)} MBPP train questions with "
              "SmolLM2-135M-Instruct (CPU)")  # fmt: skip
    try:
        backend = make_backend("transformers", "smollm2", batch_size=16)
    except (ImportError, OSError) as error:
        print(
            f"error: {error}\n(run `make install`, which installs the synth extra and the packaged model)",
            file=sys.stderr,
        )
        return 2
    progress = Progress()
    try:
        sampling = Sampling(n=arguments.n, temperature=arguments.temperature, max_tokens=arguments.max_tokens, seed=0)
        sampled = sample_rows(questions, backend, samples, sampling, progress=progress.update)
    finally:
        progress.close()
        backend.close()
    if sampled.failures:
        print(f"error: {sum(sampled.failures.values())} generations failed; rerun to retry", file=sys.stderr)
        return 1
    _stage(2, "pass rates: every program against its question's tests in the sandboxed engine")
    with Engine(workers=arguments.workers) as engine:
        scored = score_rows(read_acecode(samples), engine, rates, progress=progress.update)
    progress.close()
    print(f"      {scored.jobs_run} programs run ({scored.programs_per_second:,.0f}/s), {scored.tests_run} tests")
    rows = read_acecode(rates)
    _stage(3, "preference pairs (chosen ≥ 0.8, chosen − rejected ≥ 0.4, rejected > 0)")
    pairs = list(build_pairs(rows))
    write_rows(pairs, pairs_path)
    statistics = pair_statistics(rows, pairs)
    print(f"      {statistics.pairs} pairs from {statistics.questions_with_pairs} of {statistics.questions} questions")
    _stage(4, "hard subset for RL (mean pass rate ≤ median, then std ≥ median)")
    subset = hard_subset(rows)
    write_rows(subset, hard)
    print(f"      {len(subset)} questions")
    _stage(5, "report")
    print(format_table(summarize(rows, pairs)))
    plots = plot(rows, pairs, directory / "plots")
    print(f"\ndone in {time.perf_counter() - started:,.0f} s. Outputs:")
    for path in (samples, rates, pairs_path, hard, *plots):
        print(f"  {path}")
    if not pairs:
        print(f"error: the demo made no preference pair: {no_pairs_reason(rows, PairRule())}", file=sys.stderr)
        return 1
    print(NEXT_STEPS.format(directory=directory))
    return 0


NEXT_STEPS = """
Next:
  acecoder train-rm --input {directory}/pairs.jsonl --model smollm2 --output-dir rm --max_steps 10 --global_batch_size 8
      a Bradley-Terry reward model on these pairs (README: "Reward model and best-of-N")
  acecoder train-rl --input {directory}/hard_subset.jsonl --model smollm2 --output-dir rl --max_steps 5 --max_completion_length 128
      GRPO with the engine's test-pass reward on the hard subset (README: "RL: rewards, GRPO and a reward server")
  acecoder synth --backend transformers --model smollm2 --limit 8 --output questions.jsonl
      tests synthesized for your own seed programs, then `acecoder sample --input questions.jsonl ...`"""
