"""Pass rates: every sampled program of every question run against the question's tests (AceCoder step two).

Per inference the step stores the ``program`` extracted from the completion (fences and chatter removed, trailing
top-level test code dropped: ``acecoder.extract``), its ``pass_rate`` and the per-test ``test_statuses``. The
pass rate divides by the number of tests the row holds, the oracle-filtered tests; AceCoder's released script
divided by the unfiltered count, which deflates every rate of a question that lost tests (DESIGN.md).

At scale (87K questions × 16 programs) this must stream, survive hostile programs and resume: rows are cut into
chunks of about ``chunk_jobs`` jobs, the next chunk is queued while the current one drains (the workers never
idle at a chunk boundary), and each row is appended to the output the moment it and every row before it are
finished, so the output keeps the input's order and a resumed run writes the file an uninterrupted one would. A
kill at any point loses at most the rows of the chunks in flight; a rerun skips the rows already written, matched
by position as well as id (``acecoder.data.journal``), so rows that repeat an id each keep their own result.
Identical programs within a question (common among samples) run once.

A row's ``test_cpu_seconds`` column (its calibrated limit, ``acecoder.time_limits``) sets the per-test limit of its
programs; rows without one keep the engine's. The summary counts the programs that timed out and the CPU their
timed-out tests took, against the CPU of all tests: what the limit cost.

One bad row never costs the rest: a row that cannot be scored (a line that is not a JSON object, tests that are
not a list of strings, no id) becomes an error record in its place, ``{"id", "row", "error"}``, and the run goes
on; the command exits non-zero when any row erred (``--strict`` stops at the first instead). A completion longer
than ``MAX_COMPLETION_CHARACTERS`` is not extracted (its status says ``completion_too_long`` and it fails every
test): extraction is linear in a completion's length, but its syntax tree takes a few hundred bytes per character.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from acecoder.data.acecode import UnreadableRow, question_problem
from acecoder.data.resume import ResumableOutput
from acecoder.exec import Engine, ExecResult, Status
from acecoder.extract import extract_code
from acecoder.time_limits import row_limit

Progress = Callable[[str, int, int], None]

# 1 MB of text: past a 32K-token completion (about 130 KB) with room to spare, and its syntax tree fits in a few
# hundred MB. A longer completion is the model looping, not a program.
MAX_COMPLETION_CHARACTERS = 1_000_000
TOO_LONG = "completion_too_long"


# Counters of one run, one plain field each; the other steps' summaries have the same shape, deliberately (each step
# counts its own things, and a shared base would hide which counts a step has).
@dataclass
class PassRateSummary:
    questions: int = 0
    scored: int = 0
    resumed: int = 0
    programs: int = 0
    jobs_run: int = 0
    tests_run: int = 0
    seconds: float = 0.0
    statuses: collections.Counter = field(default_factory=collections.Counter)
    errors: list[str] = field(default_factory=list)  # "row N: why", for every error record in the output
    calibrated: int = 0  # questions scored at their own (calibrated) limit
    timed_out: int = 0  # programs run with at least one test that timed out
    timeout_cpu_seconds: float = 0.0  # CPU those timed-out tests used
    test_cpu_seconds: float = 0.0  # CPU every test used

    def count(self, result: ExecResult) -> None:
        """Adds one finished job to the figures."""
        self.jobs_run += 1
        self.tests_run += len(result.tests)
        self.statuses[result.status.value] += 1
        timed_out = [test.cpu_time for test in result.tests if test.status is Status.TIMEOUT]
        self.timed_out += bool(timed_out)
        self.timeout_cpu_seconds += sum(timed_out)
        self.test_cpu_seconds += sum(test.cpu_time for test in result.tests)

    @property
    def programs_per_second(self) -> float:
        return self.jobs_run / self.seconds if self.seconds > 0 else 0.0

    @property
    def tests_per_second(self) -> float:
        return self.tests_run / self.seconds if self.seconds > 0 else 0.0


def row_problem(row: dict | UnreadableRow) -> str | None:
    """Why a row cannot be scored, or ``None`` when it can."""
    if isinstance(row, UnreadableRow):
        return row.reason
    if not isinstance(row, dict):
        return f"a {type(row).__name__}, not an object"
    identifier = row.get("id")
    if identifier is None or isinstance(identifier, bool) or not isinstance(identifier, (str, int, float)):
        return "no 'id' (a string or a number)"
    problem = question_problem(row)
    if problem is not None:
        return problem
    if not isinstance(row.get("inferences"), list) or not all(isinstance(item, dict) for item in row["inferences"]):
        return "'inferences' is not a list of objects"
    try:
        row_limit(row)
    except ValueError as error:
        return str(error)
    return None


def check_rows(rows: Sequence[dict | UnreadableRow]) -> None:
    """Raises ``ValueError`` naming the first malformed rows (before any work starts): the strict check."""
    problems = [
        f"row {number}: {problem}"
        for number, row in enumerate(rows, start=1)
        if (problem := row_problem(row)) is not None
    ]
    if problems:
        raise ValueError(f"{len(problems)} malformed rows: " + "; ".join(problems[:5]))


def error_record(row: dict | UnreadableRow, number: int, reason: str) -> dict:
    """What the output holds in place of a row that cannot be scored: its id when it has a usable one, its row
    number and the reason. Only these: the row's own fields may be of any type, and a Parquet column holds one."""
    identifier = row.get("id") if isinstance(row, dict) else None
    if isinstance(identifier, bool) or not isinstance(identifier, (str, int, float)):
        identifier = None
    return {"id": identifier, "row": number, "error": reason}


def scored_inference(inference: dict, program: str | None, result: ExecResult | None, test_count: int) -> dict:
    if program is None:  # too long to extract: fails every test without running
        pass_rate = 0.0 if test_count else None
        return {**inference, "program": "", "pass_rate": pass_rate, "test_statuses": [], "status": TOO_LONG}
    if result is None:  # a row without tests: nothing to score
        return {**inference, "program": program, "pass_rate": None, "test_statuses": [], "status": None}
    statuses = [test.status.value for test in result.tests]
    passed = sum(1 for status in statuses if status == Status.PASSED.value)
    pass_rate = None if result.status == Status.SANDBOX_ERROR else passed / test_count
    return {
        **inference,
        "program": program,
        "pass_rate": pass_rate,
        "test_statuses": statuses,
        "status": result.status.value,
    }


def _program(inference: dict) -> str | None:
    """The program of a sampled completion; ``None`` when the completion is too long to extract."""
    completion = str(inference.get("completion") or "")
    return None if len(completion) > MAX_COMPLETION_CHARACTERS else extract_code(completion)


class _Chunk:
    """The jobs of a run of rows: one job per distinct program of each row. ``indexes`` are the rows' places in
    the caller's order (``score_rows``: among the rows it writes)."""

    def __init__(self, rows: Sequence[dict], indexes: Sequence[int] = ()) -> None:
        self.rows = list(rows)
        self.indexes = list(indexes)
        self.programs: list[str] = []
        self.tests: list[list[str]] = []
        self.limits: list[float | None] = []  # job → its row's calibrated per-test limit (None: the engine's)
        self.owner: list[int] = []  # job → row position
        # Row position → each inference's extracted program (extracted once, here), and program → job.
        self.programs_of_row: list[list[str | None]] = []
        self.jobs_of_row: list[dict[str, int]] = []
        for position, row in enumerate(self.rows):
            programs = [_program(inference) for inference in row["inferences"]]
            jobs: dict[str, int] = {}
            if row["test_cases"]:
                limit = row_limit(row)
                for program in programs:
                    if program is not None and program not in jobs:
                        jobs[program] = len(self.programs)
                        self.programs.append(program)
                        self.tests.append(row["test_cases"])
                        self.limits.append(limit)
                        self.owner.append(position)
            self.programs_of_row.append(programs)
            self.jobs_of_row.append(jobs)
        self.results: dict[int, ExecResult] = {}
        self.remaining = [len(jobs) for jobs in self.jobs_of_row]
        self.calibrated = sum(1 for row in self.rows if row["test_cases"] and row_limit(row) is not None)

    def stream(self, engine: Engine) -> Iterator[tuple[int, ExecResult]]:
        """The chunk's jobs on ``engine``, each at its row's limit, as they finish."""
        return engine.stream(self.programs, self.tests, test_cpu_seconds=self.limits)

    def finished_row(self, position: int) -> dict:
        row = self.rows[position]
        jobs = self.jobs_of_row[position]
        test_count = len(row["test_cases"])
        inferences = []
        for inference, program in zip(row["inferences"], self.programs_of_row[position]):
            job = jobs.get(program) if program is not None else None
            result = self.results.get(job) if job is not None else None
            inferences.append(scored_inference(inference, program, result, test_count))
        return {**row, "inferences": inferences}


def _row_runs(rows: Sequence[dict], chunk_jobs: int) -> Iterator[Sequence[dict]]:
    """Consecutive runs of rows with about ``chunk_jobs`` inferences each (a larger row makes a run alone)."""
    start = 0
    while start < len(rows):
        end, jobs = start, 0
        while end < len(rows) and (jobs == 0 or jobs + len(rows[end]["inferences"]) <= chunk_jobs):
            jobs += len(rows[end]["inferences"])
            end += 1
        yield rows[start:end]
        start = end


def score_rows(
    rows: Sequence[dict | UnreadableRow],
    engine: Engine,
    output: str | Path,
    chunk_jobs: int = 2048,
    progress: Progress | None = None,
) -> PassRateSummary:
    """Scores every row not yet in ``output`` (``.jsonl`` or ``.parquet``) and appends it there, in input order; a
    row that cannot be scored (``row_problem``) gets an error record instead (``summary.errors``)."""
    resume = ResumableOutput.of_rows(output, rows)
    summary = PassRateSummary(questions=len(rows), resumed=resume.resumed)
    summary.errors.extend(
        f"row {row.get('row')}: {row['error']}" for row in resume.done.values() if row.get("error") is not None
    )
    started = time.perf_counter()
    appender = resume.appender(len(resume.pending))
    scorable: list[tuple[int, dict]] = []  # (place among the pending rows, row)
    for index, position in enumerate(resume.pending):
        row = rows[position]
        problem = row_problem(row)
        if problem is None:
            scorable.append((index, row))  # type: ignore[arg-type]
        else:
            summary.errors.append(f"row {position + 1}: {problem}")
            appender.finish(index, error_record(row, position + 1, problem))
    finished_rows = len(rows) - len(scorable)
    total_rows = len(rows)
    chunks = _chunks(scorable, chunk_jobs)
    current = next(chunks, None)
    current_stream = current.stream(engine) if current else None
    while current is not None and current_stream is not None:
        following = next(chunks, None)  # queued now: it runs while this chunk drains
        following_stream = following.stream(engine) if following else None
        for position, count in enumerate(current.remaining):
            if count == 0:
                appender.finish(current.indexes[position], current.finished_row(position))
                finished_rows += 1
        for index, result in current_stream:
            current.results[index] = result
            summary.count(result)
            position = current.owner[index]
            current.remaining[position] -= 1
            if current.remaining[position] == 0:
                appender.finish(current.indexes[position], current.finished_row(position))
                finished_rows += 1
                if progress is not None:
                    progress("pass rates", finished_rows, total_rows)
        summary.scored += len(current.rows)
        summary.calibrated += current.calibrated
        summary.programs += sum(len(row["inferences"]) for row in current.rows)
        too_long = sum(program is None for programs in current.programs_of_row for program in programs)
        if too_long:
            summary.statuses[TOO_LONG] += too_long
        current, current_stream = following, following_stream
    summary.seconds = time.perf_counter() - started
    resume.finish()
    return summary


def _chunks(scorable: Sequence[tuple[int, dict]], chunk_jobs: int) -> Iterator[_Chunk]:
    """Chunks of the rows in ``scorable`` (each with its place among the rows written)."""
    rows = [row for _, row in scorable]
    offset = 0
    for run in _row_runs(rows, chunk_jobs):
        yield _Chunk(run, [index for index, _ in scorable[offset : offset + len(run)]])
        offset += len(run)
