"""Evaluate code samples on HumanEval(+) or MBPP(+) with evalplus's verdicts, and print pass@k.

Reads evalplus's samples format (one ``{"task_id", "solution"}`` or ``{"task_id", "completion"}`` per line) and
writes evalplus's results format, by default next to the samples (``samples.jsonl`` ->
``samples_eval_results.json``), so tools that read evalplus results read these; each sample's record adds a
``failure`` reason (no code, syntax error, which input failed and how), and the reasons are counted at the end.
The samples file is ``--input`` (``--samples`` before), the per-input CPU floor ``--test-cpu-seconds`` (evalplus's
``--min-time-limit``). ``--sanitize`` first takes the code out of chatty samples, as evalplus's ``sanitize`` does.
Tasks without a sample are named in a warning: pass@k then covers only the tasks sampled. ``humaneval`` and
``mbpp`` use the base tests only; ``humaneval+`` and ``mbpp+`` add the extra (plus) tests. Expected outputs are computed once
per machine through the engine and cached (``$ACECODER_CACHE_DIR``, default ``~/.cache/acecoder``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from acecoder.cli.config_flags import positive_float, positive_int
from acecoder.cli.vocabulary import add_option
from acecoder.eval.evalplus import MIN_TIME_LIMIT, TIME_LIMIT_FACTOR

HELP = "evaluate samples on HumanEval(+)/MBPP(+) with evalplus's verdicts; print pass@k"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--benchmark", required=True, choices=("humaneval", "humaneval+", "mbpp", "mbpp+"),
                        help="humaneval and mbpp: base tests only; the + forms add the plus tests")  # fmt: skip
    add_option(parser, "--input", old=("--samples",), required=True, type=Path,
               help="the samples: JSON lines, task_id plus solution or completion")  # fmt: skip
    parser.add_argument("--output", type=Path, default=None, help="results file (default: INPUT_eval_results.json)")
    parser.add_argument("--data", type=Path, default=None, help="benchmark file (default: the packaged release)")
    parser.add_argument("--workers", type=positive_int, default=None, help="parallel jobs (default: one per CPU)")
    add_option(parser, "--test-cpu-seconds", old=("--min-time-limit",), type=positive_float, default=MIN_TIME_LIMIT,
               help="CPU seconds one input may use at least: its limit is the larger of this and "
               "--gt-time-limit-factor times the canonical solution's time")  # fmt: skip
    parser.add_argument("--gt-time-limit-factor", type=positive_float, default=TIME_LIMIT_FACTOR,
                        help="per-input limit as a multiple of the canonical solution's time")  # fmt: skip
    parser.add_argument(
        "--sanitize",
        action="store_true",
        help="take the code out of chatty samples first (fenced "
        "blocks, prose, top-level test code), as evalplus's sanitize does; with acecoder's extractor",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress display")


def default_output(samples: Path) -> Path:
    """evalplus's rule: ``x.jsonl`` -> ``x_eval_results.json``."""
    name = samples.name[: -len(".jsonl")] if samples.name.endswith(".jsonl") else samples.name
    return samples.with_name(name + "_eval_results.json")


def run(arguments: argparse.Namespace) -> int:
    from acecoder.cli.progress import Progress
    from acecoder.eval.evalplus import evaluate, failure_counts, get_benchmark, read_samples
    from acecoder.files import atomic_write_text

    if not arguments.input.is_file():
        print(f"error: no samples file at {arguments.input}", file=sys.stderr)
        return 2
    benchmark = get_benchmark(arguments.benchmark)
    tasks = benchmark.load(arguments.data)
    try:
        samples, warnings = read_samples(arguments.input, tasks, sanitize_code=arguments.sanitize)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if not samples:
        print("error: no sample belongs to this benchmark; nothing written", file=sys.stderr)
        return 1
    sampled = {sample.task_id for sample in samples}
    missing = [task_id for task_id in tasks if task_id not in sampled]
    if missing:
        print(f"warning: {len(missing)} of {len(tasks)} tasks have no sample ({_some(missing)}); pass@k covers the "
              f"other {len(sampled)} only and is not comparable with a full run", file=sys.stderr)  # fmt: skip
    progress = None if arguments.quiet else Progress()
    evaluation = evaluate(
        benchmark, samples, data_path=arguments.data, workers=arguments.workers,
        min_time_limit=arguments.test_cpu_seconds, time_limit_factor=arguments.gt_time_limit_factor,
        on_progress=None if progress is None else progress.update, tasks=tasks,
    )  # fmt: skip
    if progress is not None:
        progress.close()
    output = arguments.output or default_output(arguments.input)
    output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(output, json.dumps(evaluation.results))
    coverage = f" (of {len(tasks)}: {len(missing)} without a sample)" if missing else ""
    print(f"{benchmark.name}: {len(samples)} samples of {len(sampled)} tasks{coverage}")
    labels = {"base": f"{benchmark.family} (base tests)", "plus": f"{benchmark.family}+ (base + extra tests)"}
    for split, figures in evaluation.pass_at_k.items():
        print(labels[split])
        for name, value in figures.items():
            print(f"  {name}:\t{value:.3f}")
    failures = failure_counts(evaluation.results)
    if failures:
        print("failures: " + ", ".join(f"{kind} {count}" for kind, count in failures.most_common())
              + " (each sample's reason: 'failure' in the results)")  # fmt: skip
    if not arguments.sanitize:
        chatty = _sanitize_would_change(evaluation.results)
        if chatty:
            print(f"hint: failing samples that do not parse as they are but hold code that does: {chatty}; "
                  "--sanitize takes the code out of them (as evalplus's sanitize does)", file=sys.stderr)  # fmt: skip
    if evaluation.sandbox_errors:
        print(f"warning: {evaluation.sandbox_errors} runs lost their worker (sandbox_error); counted as fail",
              file=sys.stderr)  # fmt: skip
    print(f"results: {output}")
    return 0


def _some(names: list[str], shown: int = 3) -> str:
    """The first few of ``names``, and how many more."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _sanitize_would_change(results: dict) -> int:
    """Failing samples that do not parse but whose extracted code does: the ones ``--sanitize`` would rescue."""
    from acecoder.eval.evalplus import failure_kind, sanitize
    from acecoder.extract import parse_python

    count = 0
    for runs in results["eval"].values():
        for run in runs:
            if run.get("failure") and failure_kind(run["failure"]) in ("syntax error", "no code"):
                code = sanitize(run["solution"])
                count += bool(code.strip()) and code != run["solution"] and parse_python(code) is not None
    return count
