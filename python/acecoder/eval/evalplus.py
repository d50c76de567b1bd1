"""Benchmark evaluation with evalplus's verdicts: HumanEval(+) and MBPP(+), through the engine.

What evalplus 0.3.1 does (``evalplus/evaluate.py`` and ``evalplus/eval/__init__.py``), and how acecoder matches it:

- A sample is ``{"task_id", "solution"}``, or ``{"task_id", "completion"}`` appended to the task's prompt.
- Each sample runs twice, on ``base_input`` and on ``plus_input``, each time in a fresh process, stopping at the
  first input that fails (its "fast check"). Here: two engine jobs, ``fail_fast=True``, one ``CallTest`` per input.
- Per input, a time limit of ``max(1 s, 4 x the canonical solution's time on it)``; here a CPU-time limit of the
  same size (load on the machine cannot turn a pass into a timeout).
- Outputs are compared exactly, then by the special oracles of a few tasks, then within ``atol`` for floats
  (``harness/calls.py`` in the engine does this, on plain values).
- Status of each run: ``pass``; ``fail`` when the program raises, an input fails, raises or exceeds its time limit;
  ``timeout`` when the process itself dies or hangs (evalplus sees no result from it).
- The plus verdict counts only when the base verdict is ``pass`` too (``pass@k`` for "base + extra tests").

Beyond evalplus's document, each sample's record carries ``failure``: why it did not pass (``no code``, ``syntax
error``, ``missing function``, ``program error``/``program timeout`` for the program's own top level, or ``wrong
output``/``error``/``timeout`` on a named input, with the engine's message), null when it passed. ``sanitize``
(``read_samples``) does what evalplus's ``sanitize`` tool does for chatty samples, with acecoder's own extractor
(``acecoder.extract.extract_code``): the code block is taken out of the prose, and top-level test code dropped.

Known differences, all deliberate: a result must be plain data (an object with a lying ``__eq__`` fails), output
beyond the engine's cap fails, an expected output too large to send (over 4 MB pickled) is compared by digest, so
the result must match it in type as well as value (``1`` and ``True``, ``[1]`` and ``(1,)`` differ there), and
HumanEval/32's oracle counts a correct root as a pass (evalplus 0.3.1's ``continue`` skips the bookkeeping for that
task, so every solution of it fails there, the canonical one included).
"""

from __future__ import annotations

import collections
import datetime
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acecoder.data.benchmarks import data_file, file_digest, load_humaneval_plus, load_mbpp_plus
from acecoder.eval.expected import load_expected_outputs
from acecoder.eval.passk import allowed_ks, mean_pass_at_k
from acecoder.exec import CallTest, Engine, ExecResult, Limits, Status
from acecoder.extract import extract_code, parse_python
from acecoder.time_limits import MIN_TIME_LIMIT, TIME_LIMIT_FACTOR, time_limit

FLOAT_TOLERANCE = 1e-6  # the tolerance evalplus applies once an expected value is a float and the task has none

# Entry points with a special oracle (evalplus/eval/_special_oracle.py and unsafe_execute).
_MBPP_ORACLES = {
    "are_equivalent": "any", "sum_div": "or_zero", "surface_Area": "surface_area",
    "digit_distance_nums": "digit_distance", "check_str": "not_none", "text_match_three": "not_none",
    "text_starta_endb": "not_none",
    **{name: "set" for name in (
        "similar_elements", "find_char_long", "common_in_nested_lists", "extract_singly", "larg_nnum",
        "intersection_array", "find_dissimilar", "Diff",
    )},
}  # fmt: skip
_HUMANEVAL_ORACLES = {"find_zero": "poly_root"}


@dataclass(frozen=True)
class Benchmark:
    """One evaluation target: which dataset (``family``) and whether the extra (plus) inputs count."""

    name: str
    family: str  # "humaneval" or "mbpp": evalplus's dataset name
    plus: bool

    def load(self, path: str | Path | None = None) -> dict[str, dict]:
        return load_humaneval_plus(path) if self.family == "humaneval" else load_mbpp_plus(path)

    def data_path(self, path: str | Path | None = None) -> Path:
        return data_file("humaneval_plus" if self.family == "humaneval" else "mbpp_plus", path)

    @property
    def splits(self) -> tuple[str, ...]:
        """The input sets a sample runs on: ``base``, and ``plus`` where the extra inputs count."""
        return ("base", "plus") if self.plus else ("base",)


BENCHMARKS = {
    "humaneval": Benchmark("humaneval", "humaneval", plus=False),
    "humaneval+": Benchmark("humaneval+", "humaneval", plus=True),
    "mbpp": Benchmark("mbpp", "mbpp", plus=False),
    "mbpp+": Benchmark("mbpp+", "mbpp", plus=True),
}


def get_benchmark(name: str) -> Benchmark:
    try:
        return BENCHMARKS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown benchmark {name!r}; choose one of {', '.join(BENCHMARKS)}") from None


def _is_floats(value: object) -> bool:
    """evalplus's ``is_floats``: a float, or a non-empty list/tuple of floats."""
    if isinstance(value, float):
        return True
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(item, float) for item in value)


def build_tests(
    task: Mapping,
    family: str,
    split: str,
    expected: Mapping[str, list],
    *,
    min_time_limit: float = MIN_TIME_LIMIT,
    time_limit_factor: float = TIME_LIMIT_FACTOR,
) -> list[CallTest]:
    """One CallTest per input of ``task``'s ``split``, with evalplus's tolerance, oracle and time limit."""
    oracles = _MBPP_ORACLES if family == "mbpp" else _HUMANEVAL_ORACLES
    oracle = oracles.get(task["entry_point"])
    atol = float(task.get("atol") or 0.0)
    digests: Any = expected.get(f"{split}_digest", {})
    tests = []
    for index, (arguments, output, seconds) in enumerate(
        zip(task[f"{split}_input"], expected[split], expected[f"{split}_time"])
    ):
        limit = time_limit(seconds, min_time_limit, time_limit_factor)
        if index in digests:  # an output too large to carry (see expected.DIGEST_ABOVE_BYTES)
            digest_oracle, digest = digests[index]
            tests.append(CallTest(task["entry_point"], arguments, digest, oracle=digest_oracle, cpu_seconds=limit))
            continue
        # evalplus raises its tolerance to 1e-6 at the first float expected value and keeps it for the inputs
        # after it (the variable persists across its loop), so the effective tolerance depends on the order.
        if atol == 0 and _is_floats(output):
            atol = FLOAT_TOLERANCE
        tests.append(CallTest(task["entry_point"], arguments, output, atol=atol, oracle=oracle, cpu_seconds=limit))
    return tests


def evalplus_status(result: ExecResult) -> str:
    """``pass``, ``fail`` or ``timeout`` for one run, as evalplus reports it."""
    if result.status == Status.PASSED:
        return "pass"
    first = next((test for test in result.tests if test.status != Status.PASSED), None)
    if first is None or first.status == Status.NOT_RUN:
        # The program itself did not finish: evalplus has no time limit around it, only the process's.
        return "timeout" if result.status in (Status.TIMEOUT, Status.KILLED) else "fail"
    # A test that raised, failed or ran out of time fails the run; a process that died gives evalplus no result.
    return "timeout" if first.status == Status.KILLED else "fail"


# Most tasks fit one job; a task whose inputs and outputs are huge (HumanEval/130) is split into jobs of about
# this many encoded bytes. (Splitting by compute time as well was tried: a sample that fails early then still runs
# every later chunk, which cost more than the better balance saved. Starting the longest jobs first is enough.)
CHUNK_BYTES = 8 << 20


@dataclass
class Chunk:
    start: int  # index of the first test in the task's split
    tests: list[CallTest]
    seconds: float  # the canonical solution's time on these inputs: the order jobs are started in


def _chunks(tests: list[CallTest], seconds: Sequence[float]) -> list[Chunk]:
    """``tests`` in consecutive runs of at most CHUNK_BYTES encoded bytes."""
    chunks = [Chunk(0, [], 0.0)]
    size = 0
    for index, (test, cost) in enumerate(zip(tests, seconds)):
        weight = len(test.wire["arguments"]) + len(test.wire["expected"])
        current = chunks[-1]
        if current.tests and size + weight > CHUNK_BYTES:
            current = Chunk(index, [], 0.0)
            chunks.append(current)
            size = 0
        current.tests.append(test)
        current.seconds += cost
        size += weight
    return chunks


def _first_failure(parts: Mapping[int, tuple[str, list, str | None]]) -> tuple[str, list, str | None]:
    """The verdict of a split run as chunks: the first chunk (in input order) that did not pass decides."""
    for chunk in sorted(parts):
        if parts[chunk][0] != "pass":
            return parts[chunk]
    return ("pass", [], None)


def _failing_input(result: ExecResult, inputs: Sequence, offset: int) -> list:
    """The input of the first test that did not pass (``result`` ran ``inputs[offset:]``), as evalplus lists it."""
    for index, test in enumerate(result.tests):
        if test.status != Status.PASSED:
            return [] if test.status == Status.NOT_RUN else [inputs[offset + index]]
    return []


# A failure's detail is the engine's message, cut to this many characters (an expected value can be huge).
DETAIL_LIMIT = 300
_TEST_FAILURE_KINDS = {Status.FAILED: "wrong output", Status.ERROR: "error", Status.TIMEOUT: "timeout"}
_CODE_LIKE = re.compile(r"^[ \t]*(?:async[ \t]+def|def|class)[ \t]+\w|```", re.MULTILINE)


def _detail(exception_type: str | None, message: str | None) -> str:
    text = ": ".join(part for part in (exception_type, message) if part)
    text = " ".join(text.split())
    return text if len(text) <= DETAIL_LIMIT else text[: DETAIL_LIMIT - 3] + "..."


def has_no_code(solution: str) -> bool:
    """True for a sample with nothing to run: blank, or prose that neither parses nor holds a definition or a
    code fence (a refusal, an explanation)."""
    return not solution.strip() or (parse_python(solution) is None and not _CODE_LIKE.search(solution))


def failure_reason(result: ExecResult, split: str, offset: int, entry_point: str) -> str | None:
    """Why a run did not pass, as ``kind: detail``; None when it passed. ``result`` ran the split's inputs from
    ``offset`` on, so the input named is the task's own index."""
    if result.status == Status.PASSED:
        return None
    for index, test in enumerate(result.tests):
        if test.status == Status.PASSED:
            continue
        if test.status == Status.NOT_RUN:
            break  # the program itself did not get as far as its tests
        if f"name '{entry_point}' is not defined" in (test.message or ""):
            return f"missing function: the program defines no {entry_point}"
        kind = _TEST_FAILURE_KINDS.get(test.status, test.status.value.replace("_", " "))
        return f"{kind}: {split} input {offset + index}: {_detail(test.exception_type, test.message)}"
    detail = _detail(result.exception_type, result.message) or result.stderr[-DETAIL_LIMIT:].strip()
    if result.exception_type in ("SyntaxError", "IndentationError", "TabError"):
        return f"syntax error: {_detail(None, result.message) or result.exception_type}"
    if result.status in (Status.ERROR, Status.FAILED):
        return f"program error: {detail}"
    return f"program {result.status.value.replace('_', ' ')}: {detail or result.status.value}"


def failure_kind(reason: str) -> str:
    """``"wrong output: base input 3: ..."`` → ``"wrong output"``: what the summary counts."""
    return reason.split(":", 1)[0]


@dataclass
class Sample:
    task_id: str
    solution: str
    line: int


def sanitize(solution: str) -> str:
    """The code of a chatty sample, as evalplus's ``sanitize`` would run it: the (first defining) code block out of
    the prose around it, without top-level test code (``acecoder.extract.extract_code``)."""
    return extract_code(solution)


def read_samples(
    path: str | Path, tasks: Mapping[str, Mapping], *, sanitize_code: bool = False
) -> tuple[list[Sample], list[str]]:
    """Samples from an evalplus samples file (JSON lines), and warnings for lines that cannot be evaluated. With
    ``sanitize_code``, each solution (a completion after its task's prompt) goes through ``sanitize``."""
    samples, warnings = [], []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: not valid JSON ({error.msg})") from None
            if not isinstance(row, dict) or not isinstance(row.get("task_id"), str):
                raise ValueError(f"{path}:{number}: a sample needs a string task_id")
            task = tasks.get(row["task_id"])
            if task is None:
                warnings.append(f"{path}:{number}: task {row['task_id']} is not in the benchmark; skipped")
                continue
            if isinstance(row.get("solution"), str):
                solution = row["solution"]
            elif isinstance(row.get("completion"), str):
                solution = task["prompt"] + row["completion"]
            else:
                raise ValueError(f"{path}:{number}: a sample needs a string 'solution' or 'completion'")
            samples.append(Sample(row["task_id"], sanitize(solution) if sanitize_code else solution, number))
    return samples, warnings


@dataclass
class Evaluation:
    """Everything one evaluation produced: evalplus's results document and the pass@k figures."""

    results: dict
    pass_at_k: dict[str, dict[str, float]]
    sandbox_errors: int


def evaluation_engine(workers: int | None = None) -> Engine:
    # evalplus caps a run's address space at 4 GB; the per-test CPU limits come with each CallTest.
    return Engine(workers=workers, limits=Limits(memory_bytes=4 << 30, test_cpu_seconds=MIN_TIME_LIMIT))


def split_tests(
    benchmark: Benchmark,
    tasks: Mapping[str, Mapping],
    digest: str,
    *,
    workers: int | None = None,
    min_time_limit: float = MIN_TIME_LIMIT,
    time_limit_factor: float = TIME_LIMIT_FACTOR,
    on_progress: Callable[[int, int], object] | None = None,
) -> tuple[dict[str, dict[str, list]], dict[tuple[str, str], list[CallTest]]]:
    """The expected outputs of ``tasks`` (cached, computed where missing) and the CallTests of every (task, split)
    the benchmark counts; ``digest`` identifies the data file (``file_digest``)."""
    expected = load_expected_outputs(tasks, benchmark.family, digest, workers=workers, on_progress=on_progress)
    tests = {
        (task_id, split): build_tests(
            task, benchmark.family, split, expected[task_id],
            min_time_limit=min_time_limit, time_limit_factor=time_limit_factor,
        )
        for task_id, task in tasks.items() for split in benchmark.splits
    }  # fmt: skip
    return expected, tests


def evaluate(
    benchmark: Benchmark | str,
    samples: Iterable[Sample],
    *,
    data_path: str | Path | None = None,
    workers: int | None = None,
    min_time_limit: float = MIN_TIME_LIMIT,
    time_limit_factor: float = TIME_LIMIT_FACTOR,
    on_progress: Callable[[str, int, int], object] | None = None,
    engine: Engine | None = None,
    tasks: Mapping[str, Mapping] | None = None,
) -> Evaluation:
    """Evaluates samples on a benchmark; ``on_progress(stage, done, total)`` reports each stage's progress.
    ``tasks``: the benchmark as ``benchmark.load(data_path)`` returns it, if the caller has loaded it already."""
    if isinstance(benchmark, str):
        benchmark = get_benchmark(benchmark)
    if tasks is None:
        tasks = benchmark.load(data_path)
    digest = file_digest(benchmark.data_path(data_path))
    samples = list(samples)
    wanted = {task_id: tasks[task_id] for task_id in sorted({sample.task_id for sample in samples})}
    expected, tests = split_tests(
        benchmark, wanted, digest, workers=workers, min_time_limit=min_time_limit, time_limit_factor=time_limit_factor,
        on_progress=None if on_progress is None else lambda done, total: on_progress("expected outputs", done, total),
    )  # fmt: skip
    chunks = {
        (task_id, split): _chunks(key_tests, expected[task_id][f"{split}_time"])
        for (task_id, split), key_tests in tests.items()
    }
    # One job per (sample, split, chunk), the longest first; chunk results are combined in input order below.
    keys = [
        (position, split, chunk)
        for position in range(len(samples)) for split in benchmark.splits
        for chunk in range(len(chunks[samples[position].task_id, split]))
    ]  # fmt: skip
    keys.sort(key=lambda key: -chunks[samples[key[0]].task_id, key[1]][key[2]].seconds)
    programs = [samples[position].solution for position, _, _ in keys]
    job_tests = [chunks[samples[position].task_id, split][chunk].tests for position, split, chunk in keys]
    outcomes: dict[tuple[int, str], dict[int, tuple[str, list, str | None]]] = {}
    sandbox_errors = 0
    owned = engine is None
    engine = engine or evaluation_engine(workers)
    # Progress counts samples, as the unit says: a sample is done when its last job (of each split's chunks)
    # is; counting the jobs themselves showed "samples: 50/50" for 25 samples with base and plus tests.
    jobs_left = collections.Counter(position for position, _, _ in keys)
    samples_done = 0
    try:
        stream = engine.stream(programs, job_tests, fail_fast=True)
        for index, result in stream:
            position, split, chunk = keys[index]
            sandbox_errors += result.status == Status.SANDBOX_ERROR
            offset = chunks[samples[position].task_id, split][chunk].start
            task = tasks[samples[position].task_id]
            reason = failure_reason(result, split, offset, task["entry_point"])
            verdict = (evalplus_status(result), _failing_input(result, task[f"{split}_input"], offset), reason)
            outcomes.setdefault((position, split), {})[chunk] = verdict
            jobs_left[position] -= 1
            if jobs_left[position] == 0:
                samples_done += 1
                if on_progress is not None:
                    on_progress("samples", samples_done, len(samples))
    finally:
        if owned:
            engine.close()
    statuses = {key: _first_failure(parts) for key, parts in outcomes.items()}
    results = _results_document(samples, statuses, benchmark, digest)
    return Evaluation(results, summarize(results, benchmark.plus), sandbox_errors)


def _results_document(samples: list[Sample], statuses: Mapping, benchmark: Benchmark, digest: str) -> dict:
    document: dict = {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "hash": digest, "eval": {}}
    for position, sample in enumerate(samples):
        base_status, base_fail, base_reason = statuses[position, "base"]
        plus_status, plus_fail, plus_reason = statuses.get((position, "plus"), (None, [], None))
        # The base run's reason first: the plus verdict only counts once the base tests pass.
        failure = base_reason or plus_reason
        if failure is not None and has_no_code(sample.solution):
            failure = "no code: " + ("an empty sample" if not sample.solution.strip() else "prose without a program")
        document["eval"].setdefault(sample.task_id, []).append({
            "task_id": sample.task_id, "solution": sample.solution,
            "base_status": base_status, "plus_status": plus_status,
            "base_fail_tests": _jsonable(base_fail), "plus_fail_tests": _jsonable(plus_fail),
            "failure": failure,
        })  # fmt: skip
    return document


def failure_counts(results: Mapping) -> collections.Counter[str]:
    """How many samples of an evalplus results document failed for each kind of reason (``failure_kind``)."""
    return collections.Counter(
        failure_kind(run["failure"]) for runs in results["eval"].values() for run in runs if run.get("failure")
    )


def _jsonable(inputs: list) -> list:
    """Failing inputs as JSON can hold them (sets and complex numbers become lists and strings, as in evalplus)."""
    return json.loads(
        json.dumps(inputs, default=lambda value: list(value) if isinstance(value, (set, frozenset)) else str(value))
    )


def summarize(results: Mapping, plus: bool) -> dict[str, dict[str, float]]:
    """pass@k for base (and base + plus) for every k the samples allow, from an evalplus results document."""
    per_task = list(results["eval"].values())
    totals = [len(runs) for runs in per_task]
    base = [sum(run["base_status"] == "pass" for run in runs) for runs in per_task]
    figures = {"base": {f"pass@{k}": mean_pass_at_k(totals, base, k) for k in allowed_ks(totals)}}
    if plus:
        both = [sum(run["base_status"] == run["plus_status"] == "pass" for run in runs) for runs in per_task]
        figures["plus"] = {f"pass@{k}": mean_pass_at_k(totals, both, k) for k in allowed_ks(totals)}
    return figures
