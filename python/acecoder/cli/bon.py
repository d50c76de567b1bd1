"""Best-of-N with a trained reward model: greedy, average, oracle (pass@N), RM-selected and random-selected accuracy
for N = 1, 2, 4, ... samples per problem (AceCoder's Table 2), and a bootstrap interval for the RM's gain over a
random pick.

Problems are a benchmark (HumanEval(+)/MBPP(+), judged with evalplus's verdicts) or AceCode questions (correct =
every synthesized test passes) given as ``--input``. Candidates come from ``--candidates`` (evalplus samples with
several solutions per task, or ``acecoder sample`` rows with inferences), or are sampled here with a generation
backend (resumable: the samples go to the output directory as they arrive, and a rerun skips those already there).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from acecoder.cli.config_flags import non_negative_float, non_negative_int, positive_int, probability
from acecoder.cli.generation import MODEL_HELP, add_backend_arguments
from acecoder.cli.vocabulary import add_option, keyword_default

if TYPE_CHECKING:
    from acecoder.eval.best_of_n import Candidates

Callback = Callable[[str, int, int], None] | None

HELP = "best-of-N with a reward model: greedy / average / oracle / RM-selected accuracy for N = 1, 2, 4, ..."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from acecoder.eval.best_of_n import bootstrap_interval
    from acecoder.models.scoring import RewardScorer

    parser.add_argument("--rm", required=True, help="reward model directory (acecoder train-rm output)")
    problems = parser.add_mutually_exclusive_group(required=True)
    problems.add_argument("--benchmark", choices=("humaneval", "humaneval+", "mbpp", "mbpp+"),
                          help="problems from a benchmark (default: none; give this or --input)")  # fmt: skip
    add_option(problems, "--input", old=("--questions",), type=Path,
               help="problems as AceCode rows (question, test_cases; inferences optional) (default: none; give this "
               "or --benchmark)")  # fmt: skip
    add_option(parser, "--candidates", old=("--samples",), type=Path, default=None,
               help="existing candidates: evalplus samples (several per task_id) or acecoder sample rows (default: "
               "none; sampled here with --backend, or the inferences of --input)")  # fmt: skip
    add_option(parser, "--greedy-candidates", old=("--greedy-samples",), type=Path, default=None,
               help="the policy's greedy answers, same formats, the first per problem counts (default: none; "
               "sampled here with --backend)")  # fmt: skip
    add_option(parser, "--limit", old=("--tasks",), type=positive_int, default=None,
               help="only the first N problems (default: all)")  # fmt: skip
    parser.add_argument("--output-dir", type=Path, default=Path("bon"), help="where the tables, plot and candidates go")
    parser.add_argument("--workers", type=positive_int, default=None, help="engine workers (default: one per CPU)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="bootstrap resampling and sampling seed")
    parser.add_argument("--resamples", type=positive_int, default=keyword_default(bootstrap_interval, "resamples"),
                        help="bootstrap resamples")  # fmt: skip
    generation = parser.add_argument_group("sampling candidates (instead of --candidates)")
    # --batch-size is the reward model's here; the policy generates in the backend's default batches.
    add_backend_arguments(generation, required=False, model_help="policy: " + MODEL_HELP, batch_size=False)
    generation.add_argument("--n", type=positive_int, default=16, help="samples per problem (AceCoder: 16, 32, 64)")
    generation.add_argument("--temperature", type=non_negative_float, default=1.0, help="sampling temperature")
    generation.add_argument("--top-p", type=probability, default=1.0, help="nucleus sampling mass")
    generation.add_argument("--max-tokens", type=positive_int, default=1024, help="tokens per sample")
    scoring = parser.add_argument_group("reward model")
    scoring.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    scoring.add_argument("--batch-size", type=positive_int, default=keyword_default(RewardScorer, "batch_size"),
                         help="sequences per RM forward pass")  # fmt: skip
    scoring.add_argument("--max-length", type=positive_int, default=keyword_default(RewardScorer, "max_length"),
                         help="RM input tokens (longer inputs are cut)")  # fmt: skip
    scoring.add_argument(
        "--conversational",
        action="store_true",
        help="pose prompts as chats: for an RM trained on `acecoder pairs --conversational` pairs",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress display")


def _check(arguments: argparse.Namespace) -> str | None:
    """The first problem with the arguments, or None."""
    if arguments.candidates is not None and arguments.backend is not None:
        return "give either --candidates or --backend, not both"
    if arguments.backend is not None and not arguments.model:
        return "--backend needs --model"
    if arguments.benchmark and arguments.candidates is None and arguments.backend is None:
        return "--benchmark needs --candidates or --backend"
    for path in (arguments.candidates, arguments.greedy_candidates, arguments.input):
        if path is not None and not path.exists():
            return f"no such file: {path}"
    return None


def _generate(arguments: argparse.Namespace, rows: list[dict], callback: Callback) -> tuple[Path, Path | None]:
    """Samples ``--n`` candidates (and, unless given, the greedy answer) per row into the output directory."""
    from acecoder.cli.generation import backend_from_arguments
    from acecoder.generation import Sampling
    from acecoder.pairs.sampling import sample_rows

    backend = backend_from_arguments(arguments)
    samples = arguments.output_dir / "samples.jsonl"
    greedy = arguments.greedy_candidates
    try:
        sampling = Sampling(n=arguments.n, temperature=arguments.temperature, top_p=arguments.top_p,
                            max_tokens=arguments.max_tokens, seed=arguments.seed)  # fmt: skip
        summary = sample_rows(rows, backend, samples, sampling, progress=callback)
        if summary.failures:
            print(f"warning: {sum(summary.failures.values())} requests failed; rerun to retry", file=sys.stderr)
        if greedy is None:
            greedy = arguments.output_dir / "greedy_samples.jsonl"
            sample_rows(rows, backend, greedy, Sampling(n=1, temperature=0.0, max_tokens=arguments.max_tokens),
                        progress=callback)  # fmt: skip
    finally:
        backend.close()
    return samples, greedy


def _benchmark_problems(arguments: argparse.Namespace, callback: Callback, warnings: list[str]) -> list[Candidates]:
    from acecoder.eval.best_of_n import benchmark_candidates, benchmark_rows
    from acecoder.eval.evalplus import get_benchmark

    samples, greedy = arguments.candidates, arguments.greedy_candidates
    if arguments.backend is not None:
        benchmark = get_benchmark(arguments.benchmark)
        tasks = benchmark.load()
        rows = benchmark_rows(benchmark, tasks, list(tasks)[: arguments.limit])
        samples, greedy = _generate(arguments, rows, callback)
    return benchmark_candidates(arguments.benchmark, samples, greedy=greedy, limit=arguments.limit,
                                workers=arguments.workers, progress=callback, warnings=warnings)  # fmt: skip


def _question_problems(arguments: argparse.Namespace, callback: Callback, warnings: list[str]) -> list[Candidates]:
    from acecoder.data.acecode import read_acecode
    from acecoder.eval.best_of_n import question_candidates
    from acecoder.exec import Engine, Limits

    rows = read_acecode(arguments.input)[: arguments.limit]
    greedy_path = arguments.greedy_candidates
    if arguments.backend is not None:
        samples_path, greedy_path = _generate(arguments, rows, callback)
        sampled = {str(row["id"]): row for row in read_acecode(samples_path)}
    elif arguments.candidates is not None:
        sampled = {str(row["id"]): row for row in read_acecode(arguments.candidates)}
    else:
        sampled = {str(row["id"]): row for row in rows if row.get("inferences")}
    merged = [{**row, "inferences": sampled[str(row["id"])]["inferences"]} for row in rows if str(row["id"]) in sampled]
    if len(merged) < len(rows):
        warnings.append(f"{len(rows) - len(merged)} of {len(rows)} questions have no candidates; left out")
    untested = sum(1 for row in merged if not row.get("test_cases") or not row["inferences"])
    if untested:
        warnings.append(f"{untested} questions without tests or inferences left out")
    greedy_rows = read_acecode(greedy_path) if greedy_path is not None else None
    with Engine(workers=arguments.workers, limits=Limits()) as engine:
        return question_candidates(merged, engine, greedy_rows=greedy_rows, progress=callback)


def run(arguments: argparse.Namespace) -> int:
    from acecoder.cli.progress import Progress
    from acecoder.data.acecode import write_rows
    from acecoder.eval.best_of_n import (
        attach_scores,
        bootstrap_interval,
        candidate_records,
        format_interval,
        format_table,
        plot,
        selection_table,
    )

    problem = _check(arguments)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    arguments.output_dir.mkdir(parents=True, exist_ok=True)
    progress = None if arguments.quiet else Progress()
    callback = progress.update if progress else None
    warnings: list[str] = []
    try:
        try:
            if arguments.benchmark:
                problems = _benchmark_problems(arguments, callback, warnings)
            else:
                problems = _question_problems(arguments, callback, warnings)
        except (ImportError, OSError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        if not problems:
            print("error: no problem has candidates to select from", file=sys.stderr)
            return 2
        try:
            from acecoder.models.scoring import RewardScorer

            scorer = RewardScorer(arguments.rm, device=arguments.device, batch_size=arguments.batch_size,
                                  max_length=arguments.max_length)  # fmt: skip
        except (ImportError, OSError, ValueError) as error:
            print(f"error: cannot load the reward model {arguments.rm}: {error}", file=sys.stderr)
            return 2
        attach_scores(problems, scorer, conversational=arguments.conversational, progress=callback)
    finally:
        if progress:
            progress.close()
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    counts = sorted({len(problem.programs) for problem in problems})
    if len(counts) > 1:
        print(f"warning: problems have {counts[0]} to {counts[-1]} candidates; the table uses the first {counts[0]}",
              file=sys.stderr)  # fmt: skip
    rows = selection_table(problems)
    interval = bootstrap_interval(problems, resamples=arguments.resamples, seed=arguments.seed)
    source = arguments.benchmark or str(arguments.input)
    table = format_table(rows)
    document = {"problems_from": source, "rm": str(arguments.rm), "problems": len(problems),
                "samples_per_problem": counts[0], "rows": rows, "rm_minus_random": interval.as_dict()}  # fmt: skip
    output = arguments.output_dir
    (output / "bon_table.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    title = f"Best-of-N on {source}: {len(problems)} problems, accuracy (%)"
    (output / "bon_table.md").write_text(f"{title}\n\n{table}\n\n{format_interval(interval)}\n", encoding="utf-8")
    write_rows(candidate_records(problems), output / "candidates.jsonl")
    try:
        plot(rows, output / "bon.png", title=f"Best-of-N on {source} ({len(problems)} problems)")
    except ImportError:
        print("warning: matplotlib is not installed; no bon.png", file=sys.stderr)
    print(title)
    print(table)
    print(format_interval(interval))
    print(f"wrote {output}")
    return 0
