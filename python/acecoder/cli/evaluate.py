"""Evaluate code samples on HumanEval(+) or MBPP(+) with evalplus's verdicts, and print pass@k.

Reads evalplus's samples format (one ``{"task_id", "solution"}`` or ``{"task_id", "completion"}`` per line) and
writes evalplus's results format, by default next to the samples (``samples.jsonl`` ->
``samples_eval_results.json``), so tools that read evalplus results read these. ``humaneval`` and ``mbpp`` use
the base tests only; ``humaneval+`` and ``mbpp+`` add the extra (plus) tests. Expected outputs are computed once
per machine through the engine and cached (``$ACECODER_CACHE_DIR``, default ``~/.cache/acecoder``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = "evaluate samples on HumanEval(+)/MBPP(+) with evalplus's verdicts; print pass@k"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--benchmark", required=True, choices=("humaneval", "humaneval+", "mbpp", "mbpp+"))
    parser.add_argument("--samples", required=True, type=Path, help="JSON lines: task_id plus solution or completion")
    parser.add_argument("--output", type=Path, default=None, help="results file (default: SAMPLES_eval_results.json)")
    parser.add_argument("--data", type=Path, default=None, help="benchmark file (default: the packaged release)")
    parser.add_argument("--workers", type=int, default=None, help="parallel jobs (default: one per CPU)")
    parser.add_argument("--min-time-limit", type=float, default=1.0, help="per-input limit floor, seconds (default 1)")
    parser.add_argument("--gt-time-limit-factor", type=float, default=4.0,
                        help="per-input limit as a multiple of the canonical solution's time (default 4)")  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="no progress display")


def default_output(samples: Path) -> Path:
    """evalplus's rule: ``x.jsonl`` -> ``x_eval_results.json``."""
    name = samples.name[: -len(".jsonl")] if samples.name.endswith(".jsonl") else samples.name
    return samples.with_name(name + "_eval_results.json")


def run(arguments: argparse.Namespace) -> int:
    from acecoder.cli.progress import Progress
    from acecoder.eval.evalplus import evaluate, get_benchmark, read_samples

    if arguments.workers is not None and arguments.workers < 1:
        print("error: --workers must be at least 1", file=sys.stderr)
        return 2
    if not arguments.samples.is_file():
        print(f"error: no samples file at {arguments.samples}", file=sys.stderr)
        return 2
    benchmark = get_benchmark(arguments.benchmark)
    tasks = benchmark.load(arguments.data)
    try:
        samples, warnings = read_samples(arguments.samples, tasks)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if not samples:
        print("error: no sample belongs to this benchmark", file=sys.stderr)
        return 2
    missing = len(tasks) - len({sample.task_id for sample in samples})
    if missing:
        print(f"warning: {missing} of {len(tasks)} tasks have no sample; pass@k covers the others", file=sys.stderr)
    progress = None if arguments.quiet else Progress()
    evaluation = evaluate(
        benchmark, samples, data_path=arguments.data, workers=arguments.workers,
        min_time_limit=arguments.min_time_limit, time_limit_factor=arguments.gt_time_limit_factor,
        on_progress=None if progress is None else progress.update, tasks=tasks,
    )  # fmt: skip
    if progress is not None:
        progress.close()
    output = arguments.output or default_output(arguments.samples)
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(output.name + ".partial")
    temporary.write_text(json.dumps(evaluation.results), encoding="utf-8")
    temporary.replace(output)
    print(f"{benchmark.name}: {len(samples)} samples of {len(evaluation.results['eval'])} tasks")
    labels = {"base": f"{benchmark.family} (base tests)", "plus": f"{benchmark.family}+ (base + extra tests)"}
    for split, figures in evaluation.pass_at_k.items():
        print(labels[split])
        for name, value in figures.items():
            print(f"  {name}:\t{value:.3f}")
    if evaluation.sandbox_errors:
        print(f"warning: {evaluation.sandbox_errors} runs lost their worker (sandbox_error); counted as fail",
              file=sys.stderr)  # fmt: skip
    print(f"results: {output}")
    return 0
