"""Best-of-N with a reward model: does the RM pick a correct program out of N samples more often than chance?

This is the reward model's downstream test in AceCoder (arXiv 2502.01718, Table 2): sample N programs per problem at
temperature 1.0, let the RM score each, keep the highest-scoring one, and compare its accuracy with

- greedy: the policy's single greedy answer (the baseline best-of-N must beat to be worth its cost),
- average: the mean correctness of the N samples, which is also the expected accuracy of picking one at random
  ("random-selected"; an RM no better than chance lands here),
- oracle: whether any of the N is correct (pass@N), the ceiling any selector can reach.

Correctness comes from the execution engine: evalplus verdicts for HumanEval(+)/MBPP(+) (``plus_status`` on the
plus variants, which evalplus counts only when the base tests pass too), or a pass rate of 1.0 on the synthesized
tests of AceCode questions. The gap between RM-selected and random-selected is the RM's contribution; with a few
hundred problems it is noisy, so ``bootstrap_interval`` gives a 95% interval for it by resampling problems.

Nothing here imports torch: the scorer is passed in (``acecoder.models.scoring.RewardScorer``), so the table, the
interval and the plot work on saved scores alone. matplotlib is imported inside ``plot`` only.
"""

from __future__ import annotations

import json
import math
import random
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from acecoder.eval.evalplus import Benchmark, Sample, evaluate, get_benchmark, read_samples
from acecoder.exec import Engine
from acecoder.extract import extract_code
from acecoder.prompts import policy_prompt, response_text

Progress = Callable[[str, int, int], None]

METHODS = ("greedy", "average", "oracle", "rm_selected", "random_selected")
_METHOD_LABELS = {
    "greedy": "greedy",
    "average": "average",
    "oracle": "oracle (pass@N)",
    "rm_selected": "RM-selected",
    "random_selected": "random-selected",
}


@dataclass
class Candidates:
    """One problem's N sampled programs, in sample order, with their verdicts and (once scored) RM scores.

    ``correct[i]`` is the verdict the table counts; ``pass_rates[i]`` the fraction of tests passed where the problem
    has a pass rate (AceCode questions; None for benchmarks, which give verdicts only). ``greedy_correct`` is the
    verdict of the policy's greedy answer, when one was evaluated."""

    problem_id: str
    prompt: str  # what the RM sees as the prompt
    programs: list[str]
    correct: list[bool]
    pass_rates: list[float | None] = field(default_factory=list)
    scores: list[float] | None = None
    greedy_correct: bool | None = None

    def __post_init__(self) -> None:
        if len(self.correct) != len(self.programs):
            raise ValueError(f"{self.problem_id}: {len(self.programs)} programs but {len(self.correct)} verdicts")
        if not self.pass_rates:
            self.pass_rates = [None] * len(self.programs)
        if len(self.pass_rates) != len(self.programs):
            raise ValueError(f"{self.problem_id}: {len(self.programs)} programs but {len(self.pass_rates)} pass rates")
        if self.scores is not None and len(self.scores) != len(self.programs):
            raise ValueError(f"{self.problem_id}: {len(self.programs)} programs but {len(self.scores)} scores")

    @property
    def responses(self) -> list[str]:
        """The candidates as the RM sees them: code blocks, as a preference pair's responses are."""
        return [response_text(program) for program in self.programs]

    def selected(self, n: int) -> int:
        """Index of the highest-scoring candidate among the first ``n``; the earliest wins a tie. A score that is
        not a number (NaN) never wins."""
        if self.scores is None:
            raise ValueError(f"{self.problem_id}: no RM scores")
        return max(range(n), key=lambda index: _comparable(self.scores[index]))  # type: ignore[index]


def _comparable(score: float) -> float:
    return -math.inf if score is None or math.isnan(score) else score


# ---------------------------------------------------------------------------------------------------- the table


def default_ns(samples: int) -> list[int]:
    """1, 2, 4, ... up to ``samples``, and ``samples`` itself."""
    ns, n = [], 1
    while n <= samples:
        ns.append(n)
        n *= 2
    if samples >= 1 and ns[-1] != samples:
        ns.append(samples)
    return ns


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values)


def selection_table(candidates: Sequence[Candidates], ns: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """One row per N: ``{"n", "problems", "greedy", "average", "oracle", "rm_selected", "random_selected"}``, each
    an accuracy over problems, using every problem's first N samples.

    ``greedy`` is the same for every N (over the problems that have a greedy verdict; None when none has);
    ``rm_selected`` is None unless every problem has scores. ``ns`` defaults to ``default_ns`` of the fewest
    samples any problem has."""
    if not candidates:
        raise ValueError("no problems to tabulate")
    fewest = min(len(problem.programs) for problem in candidates)
    ns = default_ns(fewest) if ns is None else sorted(set(ns))
    if not ns or ns[0] < 1 or ns[-1] > fewest:
        raise ValueError(f"every N must be between 1 and {fewest}, the fewest samples of any problem; got {ns}")
    greedy_verdicts = [problem.greedy_correct for problem in candidates if problem.greedy_correct is not None]
    greedy = _mean(float(verdict) for verdict in greedy_verdicts) if greedy_verdicts else None
    scored = all(problem.scores is not None for problem in candidates)
    rows = []
    for n in ns:
        average = _mean(_mean(float(verdict) for verdict in problem.correct[:n]) for problem in candidates)
        picked = _mean(float(problem.correct[problem.selected(n)]) for problem in candidates) if scored else None
        rows.append({
            "n": n,
            "problems": len(candidates),
            "greedy": greedy,
            "average": average,
            "oracle": _mean(float(any(problem.correct[:n])) for problem in candidates),
            "rm_selected": picked,
            "random_selected": average,  # a uniform pick among N is right with the probability of the average
        })  # fmt: skip
    return rows


@dataclass(frozen=True)
class BootstrapInterval:
    """RM-selected minus random-selected accuracy at ``n`` samples, with a percentile bootstrap interval."""

    n: int
    difference: float
    low: float
    high: float
    confidence: float
    resamples: int
    problems: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def bootstrap_interval(
    candidates: Sequence[Candidates],
    n: int | None = None,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapInterval:
    """The RM's gain over a random pick at ``n`` samples (default: the most every problem has), with a
    ``confidence`` interval from ``resamples`` resamplings of the problems (with replacement, seeded).

    Each problem contributes one paired difference, (RM pick correct) - (mean correctness of its first n), so the
    interval accounts for problems being easy or hard for both selectors alike."""
    if not candidates:
        raise ValueError("no problems to resample")
    if not all(problem.scores is not None for problem in candidates):
        raise ValueError("every problem needs RM scores for the RM-vs-random interval")
    if resamples < 1 or not 0 < confidence < 1:
        raise ValueError(f"need resamples >= 1 and 0 < confidence < 1, got {resamples} and {confidence}")
    fewest = min(len(problem.programs) for problem in candidates)
    n = fewest if n is None else n
    if not 1 <= n <= fewest:
        raise ValueError(f"n must be between 1 and {fewest}, got {n}")
    differences = [
        float(problem.correct[problem.selected(n)]) - _mean(float(verdict) for verdict in problem.correct[:n])
        for problem in candidates
    ]
    low, high = paired_bootstrap(differences, resamples, confidence, seed)
    return BootstrapInterval(n, _mean(differences), low, high, confidence, resamples, len(differences))


def paired_bootstrap(
    differences: Sequence[float], resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """A percentile bootstrap interval of the mean of per-problem paired differences (problems resampled with
    replacement, seeded)."""
    if not differences:
        raise ValueError("no differences to resample")
    generator = random.Random(seed)
    count = len(differences)
    means = sorted(sum(generator.choices(differences, k=count)) / count for _ in range(resamples))
    tail = (1 - confidence) / 2
    low = means[min(resamples - 1, int(math.floor(tail * resamples)))]
    high = means[max(0, int(math.ceil((1 - tail) * resamples)) - 1)]
    return low, high


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The table as Markdown, accuracies in percent (as AceCoder's Table 2 prints them)."""
    header = ["N", *(_METHOD_LABELS[method] for method in METHODS)]
    lines = [header]
    for row in rows:
        lines.append([str(row["n"]), *(_percent(row[method]) for method in METHODS)])
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]

    def render(cells: list[str]) -> str:
        return "| " + " | ".join(cell.rjust(width) for cell, width in zip(cells, widths)) + " |"

    separator = "|" + "|".join("-" * (width + 1) + ":" for width in widths) + "|"
    return "\n".join([render(lines[0]), separator, *(render(line) for line in lines[1:])])


def format_interval(interval: BootstrapInterval) -> str:
    return (f"RM-selected - random-selected at N={interval.n}: {100 * interval.difference:+.1f} points "
            f"({100 * interval.confidence:.0f}% bootstrap interval {100 * interval.low:+.1f} to "
            f"{100 * interval.high:+.1f}, {interval.problems} problems, {interval.resamples} resamples)")  # fmt: skip


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def plot(rows: Sequence[Mapping[str, Any]], path: str | Path, title: str | None = None) -> Path:
    """Accuracy against N (log scale) for oracle, RM-selected, average (= random-selected) and greedy, as a PNG.
    Needs matplotlib; drawn on a Figure with the Agg canvas, so no global pyplot state changes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ns = [row["n"] for row in rows]
    figure = Figure(figsize=(7, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    series = (
        ("oracle", "oracle (pass@N)", "tab:green", "o"),
        ("rm_selected", "RM-selected", "tab:blue", "s"),
        ("average", "average = random-selected", "tab:orange", "^"),
    )
    for method, label, color, marker in series:
        values = [row[method] for row in rows]
        if all(value is not None for value in values):
            axes.plot(ns, [100 * value for value in values], label=label, color=color, marker=marker)
    greedy = rows[0]["greedy"] if rows else None
    if greedy is not None:
        axes.axhline(100 * greedy, label="greedy", color="tab:gray", linestyle="--")
    if len(ns) > 1:
        axes.set_xscale("log", base=2)
    axes.set_xticks(ns, [str(n) for n in ns])
    axes.set_xlabel("N (samples per problem)")
    axes.set_ylabel("accuracy (%)")
    problems = rows[0]["problems"] if rows else 0
    axes.set_title(title or f"Best-of-N over {problems} problems")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="best")
    figure.savefig(path, dpi=100)
    figure.clear()
    return path


# ------------------------------------------------------------------------------------------------------ scoring


class Scorer(Protocol):
    """What ``acecoder.models.scoring.RewardScorer`` offers: one scalar reward per (prompt, response)."""

    def score(self, prompts: Sequence[str | list[dict]], responses: Sequence[str]) -> list[float]: ...


def score_candidates(
    scorer: Scorer,
    prompts: Sequence[str | list[dict]],
    responses: Sequence[str],
    chunk_size: int = 256,
    progress: Progress | None = None,
) -> list[float]:
    """Scores of ``(prompts[i], responses[i])``, in that order. Pairs go to the scorer in chunks of similar
    length (shortest first), so its batches pad little and progress shows as chunks finish."""
    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
    order = sorted(range(len(prompts)), key=lambda index: len(str(prompts[index])) + len(responses[index]))
    scores: list[float] = [0.0] * len(prompts)
    for start in range(0, len(order), chunk_size):
        chunk = order[start : start + chunk_size]
        values = scorer.score([prompts[index] for index in chunk], [responses[index] for index in chunk])
        if len(values) != len(chunk):
            raise ValueError(f"the scorer returned {len(values)} scores for {len(chunk)} responses")
        for index, value in zip(chunk, values):
            scores[index] = float(value)
        if progress is not None:
            progress("reward model", min(start + chunk_size, len(order)), len(order))
    return scores


def attach_scores(
    candidates: Sequence[Candidates],
    scorer: Scorer,
    conversational: bool = False,
    chunk_size: int = 256,
    progress: Progress | None = None,
) -> None:
    """Scores every candidate of every problem and stores the scores on the problems. ``conversational``: pose
    each prompt as a one-message user chat, for a reward model trained on conversational pairs (the input must be
    formatted as in training for the scores to mean anything)."""
    prompts: list[str | list[dict]] = [
        [{"role": "user", "content": problem.prompt}] if conversational else problem.prompt
        for problem in candidates for _ in problem.programs
    ]  # fmt: skip
    responses = [response for problem in candidates for response in problem.responses]
    scores = score_candidates(scorer, prompts, responses, chunk_size=chunk_size, progress=progress)
    start = 0
    for problem in candidates:
        problem.scores = scores[start : start + len(problem.programs)]
        start += len(problem.programs)


def candidate_records(candidates: Sequence[Candidates]) -> list[dict[str, Any]]:
    """One JSON-ready record per candidate (for ``candidates.jsonl``)."""
    return [
        {
            "problem_id": problem.problem_id, "index": index, "correct": problem.correct[index],
            "pass_rate": problem.pass_rates[index], "score": None if problem.scores is None else problem.scores[index],
            "greedy_correct": problem.greedy_correct, "program": program,
        }
        for problem in candidates for index, program in enumerate(problem.programs)
    ]  # fmt: skip


# --------------------------------------------------------------------------------------------------- benchmarks


def benchmark_prompt(benchmark: Benchmark, task: Mapping[str, Any], mbpp_rows: Mapping[int, Mapping] | None) -> str:
    """The prompt a benchmark task is posed with, to the policy and the RM: HumanEval's code prompt; for MBPP,
    the MBPP question and its first test, as the training pairs' prompts were built (``policy_prompt``)."""
    return policy_prompt(*benchmark_question(benchmark, task, mbpp_rows))


def benchmark_question(
    benchmark: Benchmark, task: Mapping[str, Any], mbpp_rows: Mapping[int, Mapping] | None
) -> tuple[str, list[str]]:
    """(question, tests shown) of a benchmark task, as AceCode rows hold them."""
    if benchmark.family == "humaneval":
        return task["prompt"], []
    row = (mbpp_rows or {}).get(int(task["task_id"].rsplit("/", 1)[-1]))
    if row is None:  # not in the MBPP release: MBPP+'s own prompt already holds the question and one test
        return task["prompt"].strip().strip('"').strip(), []
    return row["text"], list(row["test_list"][:1])


def benchmark_rows(benchmark: Benchmark, tasks: Mapping[str, Mapping], task_ids: Sequence[str]) -> list[dict]:
    """AceCode-style rows (``id``, ``question``, ``test_cases``) for sampling programs for benchmark tasks."""
    mbpp_rows = _mbpp_rows(benchmark)
    rows = []
    for task_id in task_ids:
        question, tests = benchmark_question(benchmark, tasks[task_id], mbpp_rows)
        rows.append({"id": task_id, "question": question, "test_cases": tests})
    return rows


def _mbpp_rows(benchmark: Benchmark) -> dict[int, Mapping] | None:
    if benchmark.family != "mbpp":
        return None
    from acecoder.data.benchmarks import load_mbpp

    return {row["task_id"]: row for row in load_mbpp()}


def completion_solution(task: Mapping[str, Any], completion: str) -> tuple[str, str]:
    """(program, solution to evaluate) of a sampled completion. A HumanEval program that defines only a body is
    appended to the task's prompt; one that defines the function itself gets the prompt's imports in front (chat
    models often drop ``from typing import List``, which the prompt's signature needs)."""
    program = extract_code(completion)
    entry_point = task.get("entry_point", "")
    if "humaneval" not in task["task_id"].lower():
        return program, program
    if f"def {entry_point}(" not in program:
        return program, task["prompt"] + completion
    imports = [line for line in task["prompt"].splitlines() if line.startswith(("import ", "from "))]
    return program, "\n".join([*imports, program]) if imports else program


def _is_inference_rows(path: Path) -> bool:
    """Whether a samples file holds ``acecoder sample`` rows (with ``inferences``) rather than evalplus samples."""
    if path.suffix == ".parquet" or path.is_dir():
        return True
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                try:
                    first = json.loads(line)
                except json.JSONDecodeError:
                    return False
                return isinstance(first, dict) and "inferences" in first
    return False


def benchmark_samples(
    tasks: Mapping[str, Mapping], source: str | Path | Sequence[dict]
) -> tuple[list[Sample], list[str], list[str]]:
    """(samples in order, the program of each, warnings) from an evalplus samples file or list of rows
    (``task_id`` + ``solution``/``completion``), or from ``acecoder sample`` rows (``id`` + ``inferences``)."""
    warnings: list[str] = []
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not _is_inference_rows(path):
            samples, warnings = read_samples(path, tasks)
            return samples, [extract_code(sample.solution) for sample in samples], warnings
        from acecoder.data.seeds import read_rows

        rows: Sequence[dict] = read_rows(path)
    else:
        rows = source
    samples, programs = [], []
    for number, row in enumerate(rows, start=1):
        task_id = str(row.get("task_id", row.get("id")))
        task = tasks.get(task_id)
        if task is None:
            warnings.append(f"row {number}: task {task_id} is not in the benchmark; skipped")
            continue
        if "inferences" in row:
            texts = [str(inference.get("completion") or "") for inference in row["inferences"]]
            judged = [completion_solution(task, text) for text in texts]
        elif isinstance(row.get("solution"), str):
            judged = [(extract_code(row["solution"]), row["solution"])]
        elif isinstance(row.get("completion"), str):
            solution = task["prompt"] + row["completion"]
            judged = [(extract_code(solution), solution)]
        else:
            raise ValueError(f"row {number}: needs 'inferences', or a string 'solution' or 'completion'")
        for program, solution in judged:
            samples.append(Sample(task_id, solution, number))
            programs.append(program)
    return samples, programs, warnings


def _verdicts(benchmark: Benchmark, results: Mapping) -> dict[str, list[bool]]:
    """Per task, the verdict of each sample in sample order (plus verdicts already require the base ones)."""
    status = "plus_status" if benchmark.plus else "base_status"
    return {
        task_id: [run["base_status"] == "pass" and run[status] == "pass" for run in runs]
        for task_id, runs in results["eval"].items()
    }


def benchmark_candidates(
    benchmark_name: str,
    samples: str | Path | Sequence[dict],
    *,
    greedy: str | Path | Sequence[dict] | None = None,
    task_ids: Sequence[str] | None = None,
    limit: int | None = None,
    workers: int | None = None,
    engine: Engine | None = None,
    data_path: str | Path | None = None,
    progress: Progress | None = None,
    warnings: list[str] | None = None,
) -> list[Candidates]:
    """The candidates of each benchmark task with samples, in benchmark order, judged by
    ``acecoder.eval.evalplus.evaluate``. ``task_ids``: only these tasks; ``limit``: only the first that many;
    ``greedy``: the greedy answers (the first sample per task counts). Notes on skipped rows and tasks go to
    ``warnings`` when a list is given."""
    benchmark = get_benchmark(benchmark_name)
    tasks = benchmark.load(data_path)
    sample_list, programs, notes = benchmark_samples(tasks, samples)
    wanted = set(task_ids) if task_ids is not None else {sample.task_id for sample in sample_list}
    if limit is not None:
        present = {sample.task_id for sample in sample_list} & wanted
        wanted = set([task_id for task_id in tasks if task_id in present][:limit])
    kept = [index for index, sample in enumerate(sample_list) if sample.task_id in wanted]
    sample_list, programs = [sample_list[index] for index in kept], [programs[index] for index in kept]
    if not sample_list:
        raise ValueError(f"no samples for any selected task of {benchmark.name}")
    evaluation = evaluate(benchmark, sample_list, data_path=data_path, workers=workers, engine=engine, tasks=tasks,
                          on_progress=progress)  # fmt: skip
    verdicts = _verdicts(benchmark, evaluation.results)
    programs_by_task: dict[str, list[str]] = {}
    for sample, program in zip(sample_list, programs):
        programs_by_task.setdefault(sample.task_id, []).append(program)
    greedy_verdicts: dict[str, bool] = {}
    if greedy is not None:
        greedy_samples, _, greedy_notes = benchmark_samples(tasks, greedy)
        notes.extend(greedy_notes)
        first: dict[str, Sample] = {}
        for sample in greedy_samples:
            if sample.task_id in programs_by_task:
                first.setdefault(sample.task_id, sample)
        if first:
            greedy_evaluation = evaluate(benchmark, list(first.values()), data_path=data_path, workers=workers,
                                         engine=engine, tasks=tasks, on_progress=progress)  # fmt: skip
            greedy_verdicts = {
                task_id: runs[0] for task_id, runs in _verdicts(benchmark, greedy_evaluation.results).items()
            }
    mbpp_rows = _mbpp_rows(benchmark)
    problems = [
        Candidates(task_id, benchmark_prompt(benchmark, tasks[task_id], mbpp_rows), programs_by_task[task_id],
                   verdicts[task_id], greedy_correct=greedy_verdicts.get(task_id))
        for task_id in tasks if task_id in programs_by_task
    ]  # fmt: skip
    if warnings is not None:
        warnings.extend(notes)
        if task_ids is not None:
            missing = [task_id for task_id in task_ids if task_id not in programs_by_task]
            if missing:
                warnings.append(f"{len(missing)} selected tasks have no samples: {', '.join(missing[:5])}")
    return problems


# ---------------------------------------------------------------------------------------------- AceCode questions


def question_candidates(
    rows: Sequence[dict],
    engine: Engine,
    *,
    greedy_rows: Sequence[dict] | None = None,
    progress: Progress | None = None,
) -> list[Candidates]:
    """The candidates of AceCode rows (``question``, ``test_cases``, ``inferences``), judged by pass rate:
    correct means every test passes. Rows without tests or inferences are left out. ``greedy_rows``: rows with
    the greedy answer as their first inference, matched by ``id`` (judged by the tests of ``rows``)."""
    usable = [row for row in rows if row.get("test_cases") and row.get("inferences")]
    scored = _pass_rates(usable, engine, progress)
    greedy: dict[str, bool] = {}
    if greedy_rows:
        answers = {str(row.get("id")): row["inferences"][0] for row in greedy_rows if row.get("inferences")}
        # The greedy answer is judged by the question's own tests, whatever the greedy file's rows hold.
        firsts = [{**row, "inferences": [answers[str(row["id"])]]} for row in usable if str(row["id"]) in answers]
        for row in _pass_rates(firsts, engine, progress):
            greedy[str(row["id"])] = row["inferences"][0]["pass_rate"] == 1.0
    problems = []
    for row in scored:
        inferences = row["inferences"]
        rates = [inference["pass_rate"] for inference in inferences]
        problems.append(Candidates(
            str(row["id"]), policy_prompt(row["question"], row["test_cases"]),
            [inference["program"] for inference in inferences], [rate == 1.0 for rate in rates], rates,
            greedy_correct=greedy.get(str(row["id"])),
        ))  # fmt: skip
    return problems


def _pass_rates(rows: Sequence[dict], engine: Engine, progress: Progress | None) -> list[dict]:
    """``rows`` with pass rates, in input order. Scored into a scratch file: ``score_rows`` resumes from its
    output, and a stale output from other samples must never be taken for these."""
    from acecoder.data.acecode import read_acecode
    from acecoder.pairs.passrate import score_rows

    if not rows:
        return []
    with tempfile.TemporaryDirectory(prefix="acecoder-bon-") as directory:
        output = Path(directory) / "scored.jsonl"
        score_rows(rows, engine, output, progress=progress)
        by_id = {str(row["id"]): row for row in read_acecode(output)}
    return [by_id[str(row["id"])] for row in rows]
