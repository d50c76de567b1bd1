"""Pass rates: every sampled program of every question run against the question's tests (AceCoder step two).

Per inference the step stores the ``program`` extracted from the completion (fences and chatter removed, trailing
top-level test code dropped: ``acecoder.extract``), its ``pass_rate`` and the per-test ``test_statuses``. The
pass rate divides by the number of tests the row holds, the oracle-filtered tests; AceCoder's released script
divided by the unfiltered count, which deflates every rate of a question that lost tests (DESIGN.md).

At scale (87K questions × 16 programs) this must stream, survive hostile programs and resume: rows are cut into
chunks of about ``chunk_jobs`` jobs, the next chunk is queued while the current one drains (the workers never
idle at a chunk boundary), and each row is appended to the output the moment its last program finishes. A kill
at any point loses at most the rows in flight; a rerun skips the rows already written. Identical programs within
a question (common among samples) run once.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from acecoder.data.acecode import output_format
from acecoder.data.journal import finish_output, output_journal
from acecoder.exec import Engine, ExecResult, Status
from acecoder.extract import extract_code

Progress = Callable[[str, int, int], None]


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

    @property
    def programs_per_second(self) -> float:
        return self.jobs_run / self.seconds if self.seconds > 0 else 0.0

    @property
    def tests_per_second(self) -> float:
        return self.tests_run / self.seconds if self.seconds > 0 else 0.0


def check_rows(rows: Sequence[dict]) -> None:
    """Raises ``ValueError`` naming the first malformed rows (before any work starts)."""
    problems = []
    for number, row in enumerate(rows, start=1):
        if not isinstance(row.get("question"), str):
            problems.append(f"row {number}: no 'question'")
        elif not isinstance(row.get("test_cases"), list) or not all(isinstance(test, str) for test in row["test_cases"]):
            problems.append(f"row {number}: 'test_cases' is not a list of strings")
        elif not isinstance(row.get("inferences"), list) or not all(isinstance(item, dict) for item in row["inferences"]):
            problems.append(f"row {number}: 'inferences' is not a list of objects")
        elif "id" not in row:
            problems.append(f"row {number}: no 'id'")
    if problems:
        raise ValueError(f"{len(problems)} malformed rows: " + "; ".join(problems[:5]))


def scored_inference(inference: dict, program: str, result: ExecResult | None, test_count: int) -> dict:
    if result is None:  # a row without tests: nothing to score
        return {**inference, "program": program, "pass_rate": None, "test_statuses": [], "status": None}
    statuses = [test.status.value for test in result.tests]
    passed = sum(1 for status in statuses if status == Status.PASSED.value)
    pass_rate = None if result.status == Status.SANDBOX_ERROR else passed / test_count
    return {**inference, "program": program, "pass_rate": pass_rate, "test_statuses": statuses, "status": result.status.value}


class _Chunk:
    """The jobs of a run of rows: one job per distinct program of each row."""

    def __init__(self, rows: Sequence[dict]) -> None:
        self.rows = list(rows)
        self.programs: list[str] = []
        self.tests: list[list[str]] = []
        self.owner: list[int] = []  # job → row position
        # Row position → each inference's extracted program (extracted once, here), and program → job.
        self.programs_of_row: list[list[str]] = []
        self.jobs_of_row: list[dict[str, int]] = []
        for position, row in enumerate(self.rows):
            programs = [extract_code(str(inference.get("completion") or "")) for inference in row["inferences"]]
            jobs: dict[str, int] = {}
            if row["test_cases"]:
                for program in programs:
                    if program not in jobs:
                        jobs[program] = len(self.programs)
                        self.programs.append(program)
                        self.tests.append(row["test_cases"])
                        self.owner.append(position)
            self.programs_of_row.append(programs)
            self.jobs_of_row.append(jobs)
        self.results: dict[int, ExecResult] = {}
        self.remaining = [len(jobs) for jobs in self.jobs_of_row]

    def finished_row(self, position: int) -> dict:
        row = self.rows[position]
        jobs = self.jobs_of_row[position]
        test_count = len(row["test_cases"])
        inferences = []
        for inference, program in zip(row["inferences"], self.programs_of_row[position]):
            job = jobs.get(program)
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


def _chunks(rows: Sequence[dict], chunk_jobs: int) -> Iterator[_Chunk]:
    return (_Chunk(run) for run in _row_runs(rows, chunk_jobs))


def score_rows(
    rows: Sequence[dict],
    engine: Engine,
    output: str | Path,
    chunk_jobs: int = 2048,
    progress: Progress | None = None,
) -> PassRateSummary:
    """Scores every row not yet in ``output`` (``.jsonl`` or ``.parquet``) and appends it there."""
    output_format(output)
    check_rows(rows)
    journal = output_journal(output)
    done = journal.load()
    pending = [row for row in rows if str(row["id"]) not in done]
    summary = PassRateSummary(questions=len(rows), resumed=len(rows) - len(pending))
    started = time.perf_counter()
    finished_rows = summary.resumed
    total_rows = len(rows)
    chunks = _chunks(pending, chunk_jobs)
    current = next(chunks, None)
    current_stream = engine.stream(current.programs, current.tests) if current else None
    while current is not None and current_stream is not None:
        following = next(chunks, None)  # queued now: it runs while this chunk drains
        following_stream = engine.stream(following.programs, following.tests) if following else None
        written = [current.finished_row(position) for position, count in enumerate(current.remaining) if count == 0]
        journal.append(written)
        finished_rows += len(written)
        for index, result in current_stream:
            current.results[index] = result
            summary.jobs_run += 1
            summary.tests_run += len(result.tests)
            summary.statuses[result.status.value] += 1
            position = current.owner[index]
            current.remaining[position] -= 1
            if current.remaining[position] == 0:
                journal.append([current.finished_row(position)])
                finished_rows += 1
                if progress is not None:
                    progress("pass rates", finished_rows, total_rows)
        summary.scored += len(current.rows)
        summary.programs += sum(len(row["inferences"]) for row in current.rows)
        current, current_stream = following, following_stream
    summary.seconds = time.perf_counter() - started
    finish_output(output, journal, [str(row["id"]) for row in rows])
    return summary
