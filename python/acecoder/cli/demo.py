"""The whole AceCoder data pipeline on the bundled default, offline on a CPU, in a few minutes.

MBPP train questions (tasks 601-974, with their own tests) → programs sampled by the packaged
SmolLM2-135M-Instruct (transformers on the CPU) → pass rates through the sandboxed engine → preference pairs
(AceCoder's rule) → the hard subset → a report with plots. Every step writes its file into ``--output-dir`` and
resumes from it, and model answers are cached, so a second run takes seconds. ``--engine-only`` instead grades
the bundled MBPP+ sample (no model; seconds).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HELP = "run the data pipeline (sample → pass rates → pairs → report) on bundled MBPP train tasks with SmolLM2"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output-dir", type=Path, default=Path("acecoder-demo"), help="where every step's file goes")
    parser.add_argument("--questions", type=int, default=10, help="MBPP train questions (from task 601 on)")
    parser.add_argument("--n", type=int, default=6, help="programs sampled per question")
    parser.add_argument("--max-tokens", type=int, default=160, help="tokens per program")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--workers", type=int, default=None, help="engine workers (default: one per CPU)")
    parser.add_argument("--engine-only", action="store_true", help="only grade the bundled MBPP+ sample (no model)")
    parser.add_argument("--input", type=Path, default=None, help="with --engine-only: JSONL rows {program, tests}")
    parser.add_argument("--output", type=Path, default=Path("acecoder-demo-results.jsonl"), help="with --engine-only: per-job results")


def _stage(number: int, text: str) -> None:
    print(f"[{number}/5] {text}", flush=True)


def run(arguments: argparse.Namespace) -> int:
    if arguments.engine_only:
        from acecoder.cli import grade_sample

        return grade_sample.run(arguments)
    from acecoder.cli.progress import Progress
    from acecoder.data.acecode import read_acecode, write_rows
    from acecoder.data.seeds import mbpp_train_questions
    from acecoder.exec import Engine
    from acecoder.pairs.passrate import score_rows
    from acecoder.pairs.rules import build_pairs, hard_subset, pair_statistics
    from acecoder.pairs.sampling import sample_rows
    from acecoder.report import format_table, plot, summarize
    from acecoder.synth.backends import Sampling, make_backend

    directory = arguments.output_dir
    directory.mkdir(parents=True, exist_ok=True)
    samples, rates, pairs_path, hard = (directory / name for name in ("samples.jsonl", "passrates.jsonl", "pairs.jsonl", "hard_subset.jsonl"))
    started = time.perf_counter()
    questions = mbpp_train_questions()[: arguments.questions]
    _stage(1, f"sampling {arguments.n} programs for each of {len(questions)} MBPP train questions with SmolLM2-135M-Instruct (CPU)")
    try:
        backend = make_backend("transformers", "smollm2", batch_size=16)
    except (ImportError, OSError) as error:
        print(f"error: {error}\n(run `make install`, which installs the synth extra and the packaged model)", file=sys.stderr)
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
    return 0
