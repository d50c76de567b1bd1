"""How strong are a question's tests? Mutation audit: mutants of its reference solution run against them.

Why: AceCoder keeps a synthesized test when the oracle solution passes it. That removes wrong tests but not weak
ones, and a suite a wrong program also passes rewards that program: RL learns from it. A mutant of the reference
(one operator changed: ``acecoder.data.mutants.mutant_set``) is a wrong program in all but rare cases, so the share
of mutants a suite kills (its kill rate) measures how well its pass rate separates right from wrong programs.

Per question: every mutant and the reference run against the question's tests in one engine batch per chunk of
questions, with no early stop, so each test's own verdict says which mutants it kills. A test counts only where
the reference passes it (a test the reference fails cannot tell anything apart). A mutant that raises at import
or times out is killed by exactly the tests where it does not pass; one that fails every test is killed by every
test. What each question gets:

- ``mutants``, ``killed``, ``kill_rate`` (killed / mutants), ``killed_by`` (per mutant, the tests that kill it),
  ``kills_per_test``, and the survivors with their diffs;
- ``redundant_tests``: the tests that kill no mutant another test does not kill as well (two tests with the same
  kills are both listed: either may go, not both); ``covering_tests``: a small set of tests that kills every
  mutant the whole suite kills (greedy), what a leaner suite could keep;
- ``possibly_equivalent``: survivors no test of any source kills. A mutant can behave exactly as the reference
  (``x < n`` against ``x <= n`` where ``x`` never equals ``n``): no suite should be blamed for it.
- with a second, independent suite (the ground truth, e.g. MBPP+'s tests for MBPP's): each mutant is also run
  against it (stopping at its first failure: only whether it kills matters), ``weak`` counts the survivors it
  kills (proof that the question's tests let a wrong program through) and ``possibly_equivalent`` only the
  survivors it does not kill either; ``ground_truth_kill_rate`` is the second suite's own kill rate.

Mutants get a short per-test CPU limit: the question's calibrated limit where the row has one
(``acecoder.time_limits``, evalplus's rule on the reference's own time), else ``DEFAULT_TEST_CPU_SECONDS``. Loops
are common among mutants (a flipped comparison in a ``while``), and each costs the limit on every test it reaches.
A sandbox failure is no verdict: the question is left out of the output (``transient``) and a rerun does it again.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acecoder.data.mutants import Mutant, mutant_set
from acecoder.data.resume import ResumableOutput
from acecoder.exec import Engine, ExecResult, Status, Test
from acecoder.time_limits import MIN_TIME_LIMIT, row_limit

DEFAULT_MUTANTS = 20
# Per test, for mutants and the reference alike, where a question has no calibrated limit: the floor of the
# calibrated ones. The questions' tests are small (an assert, a call); a mutant that loops pays this on every test
# it reaches, and AceCode-sized suites have about 20.
DEFAULT_TEST_CPU_SECONDS = MIN_TIME_LIMIT
# Questions' jobs per engine batch: enough to keep every worker busy, few enough that a kill loses little.
CHUNK_JOBS = 1024


@dataclass
class AuditQuestion:
    """What one question's audit needs: its reference solution, its tests and, optionally, a second suite."""

    reference: str | None
    tests: Sequence[Test]
    ground_truth: Sequence[Test] | None = None
    # The per-test CPU limit on its own tests (a calibrated limit, ``acecoder.time_limits``); None: the engine's.
    test_cpu_seconds: float | None = None


@dataclass
class _Plan:
    """One question's jobs: the reference and its mutants; filled with results as they come."""

    question: AuditQuestion
    mutants: list[Mutant]
    status: str  # "audited", or why the question is not: no_reference, no_tests, unparsable_reference, no_mutants
    reference_result: ExecResult | None = None
    reference_truth_result: ExecResult | None = None  # the reference on the ground truth: a job of its own
    mutant_results: dict[int, ExecResult] = field(default_factory=dict)
    ground_truth_results: dict[int, ExecResult] = field(default_factory=dict)


def plan_question(question: AuditQuestion, mutants: int = DEFAULT_MUTANTS) -> _Plan:
    if not isinstance(question.reference, str) or not question.reference.strip():
        return _Plan(question, [], "no_reference")
    if not question.tests:
        return _Plan(question, [], "no_tests")
    try:
        found = mutant_set(question.reference, mutants)
    except (SyntaxError, ValueError):
        return _Plan(question, [], "unparsable_reference")
    return _Plan(question, found, "audited" if found else "no_mutants")


def _passed(result: ExecResult, count: int) -> list[bool]:
    """Per test, whether it passed (tests the job never reached did not)."""
    statuses = [test.status == Status.PASSED for test in result.tests]
    return (statuses + [False] * count)[:count]


# A failure's description is cut to this many characters (an expected value can be huge).
FAILURE_CHARACTERS = 300


def _first_failure(result: ExecResult) -> str:
    """What the first failing test of ``result`` said: how a person checks that a weak survivor is really wrong."""
    for test in result.tests:
        if test.status != Status.PASSED:
            text = " ".join(
                ": ".join(part for part in (test.status.value, test.exception_type, test.message) if part).split()
            )
            return text[:FAILURE_CHARACTERS]
    return " ".join(
        ": ".join(part for part in (result.status.value, result.exception_type, result.message) if part).split()
    )[:FAILURE_CHARACTERS]


def _covering(kills: Mapping[int, set[int]]) -> list[int]:
    """A small set of tests that kills every mutant the whole suite kills (greedy: the test that kills the most
    not yet killed first, ties to the earlier test), in test order."""
    left = set().union(*kills.values())
    chosen: list[int] = []
    while left:
        best = max(kills, key=lambda index: (len(kills[index] & left), -index))
        chosen.append(best)
        left -= kills[best]
    return sorted(chosen)


def judge_plan(plan: _Plan) -> dict[str, Any]:
    """The audit of one question from its results (see the module doc for the fields)."""
    record: dict[str, Any] = {"status": plan.status, "mutants": len(plan.mutants)}
    if plan.status != "audited":
        return record | {"kill_rate": None}
    assert plan.reference_result is not None
    own = len(plan.question.tests)
    reference_passes = _passed(plan.reference_result, own)
    if plan.reference_truth_result is not None:
        reference_passes += _passed(plan.reference_truth_result, len(plan.question.ground_truth or ()))
    valid = [index for index in range(own) if reference_passes[index]]
    record["tests"] = own
    record["tests_reference_fails"] = [index for index in range(own) if not reference_passes[index]]
    if not valid:
        return record | {"status": "reference_fails", "kill_rate": None}
    kills: dict[int, set[int]] = {index: set() for index in valid}  # test → the mutants it kills
    for number, result in plan.mutant_results.items():
        passed = _passed(result, own)
        for index in valid:
            if not passed[index]:
                kills[index].add(number)
    killed = set().union(*kills.values())
    record["killed_by"] = [
        sorted(index for index in valid if number in kills[index]) for number in range(len(plan.mutants))
    ]
    record["killed"] = len(killed)
    record["kill_rate"] = len(killed) / len(plan.mutants)
    record["kills_per_test"] = [len(kills[index]) if index in kills else None for index in range(own)]
    record["redundant_tests"] = [
        index for index in valid
        if kills[index] <= set().union(*(kills[other] for other in valid if other != index))
    ]  # fmt: skip
    record["covering_tests"] = _covering(kills)
    ground_truth_kills: set[int] | None = None
    if plan.question.ground_truth is not None:
        record["ground_truth_tests"] = len(plan.question.ground_truth)
        record["ground_truth_reference_fails"] = sum(not passed for passed in reference_passes[own:])
    if plan.question.ground_truth and record["ground_truth_reference_fails"] < len(plan.question.ground_truth):
        ground_truth_kills = {
            mutant for mutant, result in plan.ground_truth_results.items() if result.status != Status.PASSED
        }
        record["ground_truth_kill_rate"] = len(ground_truth_kills) / len(plan.mutants)
    survivors = []
    for number, mutant in enumerate(plan.mutants):
        if number in killed:
            continue
        verdict = None if ground_truth_kills is None else ("kills" if number in ground_truth_kills else "passes")
        survivor = {"mutant": number, "operator": mutant.operator, "line": mutant.line, "diff": mutant.diff,
                    "ground_truth": verdict}  # fmt: skip
        if verdict == "kills":
            survivor["ground_truth_failure"] = _first_failure(plan.ground_truth_results[number])
        survivors.append(survivor)
    record["surviving"] = len(survivors)
    record["survivors"] = survivors
    if ground_truth_kills is None:
        record["weak"] = None
        record["possibly_equivalent"] = len(survivors)
    else:
        record["weak"] = sum(survivor["ground_truth"] == "kills" for survivor in survivors)
        record["possibly_equivalent"] = len(survivors) - record["weak"]
    return record


# Counters of one run, the same shape as the other steps' summaries, deliberately (see pairs/passrate.py).
@dataclass
class AuditCounters:
    """What ran: for the summary and the throughput figures."""

    jobs: int = 0
    tests: int = 0
    cpu_seconds: float = 0.0
    sandbox_errors: int = 0

    def count(self, result: ExecResult) -> None:
        self.jobs += 1
        self.tests += len(result.tests)
        self.cpu_seconds += result.cpu_time
        self.sandbox_errors += result.status == Status.SANDBOX_ERROR


def audit_questions(
    questions: Sequence[AuditQuestion],
    engine: Engine,
    mutants: int = DEFAULT_MUTANTS,
    *,
    chunk_jobs: int = CHUNK_JOBS,
    counters: AuditCounters | None = None,
    on_job: Callable[[], object] | None = None,
) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """Audits ``questions`` chunk by chunk; yields ``(position, audit)`` for every question, in input order,
    ``None`` for a question whose jobs met a sandbox failure (no verdict: do it again later)."""
    counters = counters if counters is not None else AuditCounters()
    plans = [plan_question(question, mutants) for question in questions]
    for chunk in _chunks(plans, chunk_jobs):
        _run_chunk([plans[position] for position in chunk], engine, counters, on_job)
        for position in chunk:
            plan = plans[position]
            results = [plan.reference_result, plan.reference_truth_result, *plan.mutant_results.values(),
                       *plan.ground_truth_results.values()]  # fmt: skip
            failed = any(result is not None and result.status == Status.SANDBOX_ERROR for result in results)
            yield position, None if failed else judge_plan(plan)
            plans[position] = _Plan(plan.question, [], plan.status)  # let its results go


def _chunks(plans: Sequence[_Plan], chunk_jobs: int) -> Iterator[list[int]]:
    chunk: list[int] = []
    jobs = 0
    for position, plan in enumerate(plans):
        weight = 1 + len(plan.mutants) * (2 if plan.question.ground_truth is not None else 1)
        if chunk and jobs + weight > chunk_jobs:
            yield chunk
            chunk, jobs = [], 0
        chunk.append(position)
        jobs += weight
    if chunk:
        yield chunk


def _run_chunk(
    plans: Sequence[_Plan], engine: Engine, counters: AuditCounters, on_job: Callable[[], object] | None
) -> None:
    # First batch: each reference on its own tests and on the ground truth (every test: which ones it passes), each
    # mutant on the question's own tests (every test: which ones kill it).
    owners: list[tuple[_Plan, int]] = []  # job → (plan, the mutant's number; -1, -2: the reference's jobs)
    programs: list[str] = []
    tests: list[list[Test]] = []
    limits: list[float | None] = []  # the question's limit on its own tests; the ground truth's CallTests carry theirs
    for plan in plans:
        if plan.status != "audited":
            continue
        assert plan.question.reference is not None
        owners.append((plan, -1))
        programs.append(plan.question.reference)
        tests.append(list(plan.question.tests))
        limits.append(plan.question.test_cpu_seconds)
        if plan.question.ground_truth:  # apart: a job's tests are all asserts or all calls
            owners.append((plan, -2))
            programs.append(plan.question.reference)
            tests.append(list(plan.question.ground_truth))
            limits.append(None)
        for number, mutant in enumerate(plan.mutants):
            owners.append((plan, number))
            programs.append(mutant.source)
            tests.append(list(plan.question.tests))
            limits.append(plan.question.test_cpu_seconds)
    for index, result in engine.stream(programs, tests, test_cpu_seconds=limits):
        counters.count(result)
        plan, number = owners[index]
        if number == -2:
            plan.reference_truth_result = result
        elif number == -1:
            plan.reference_result = result
        else:
            plan.mutant_results[number] = result
        if on_job is not None:
            on_job()
    # Second batch: each mutant on the ground-truth tests its reference passes, stopping at the first failure.
    owners, programs, tests = [], [], []
    for plan in plans:
        if plan.status != "audited" or not plan.question.ground_truth or plan.reference_truth_result is None:
            continue
        passed = _passed(plan.reference_truth_result, len(plan.question.ground_truth))
        usable = [test for test, ok in zip(plan.question.ground_truth, passed) if ok]
        if not usable:
            continue  # the reference fails every one: the second suite says nothing here
        for number, mutant in enumerate(plan.mutants):
            owners.append((plan, number))
            programs.append(mutant.source)
            tests.append(usable)
    if not programs:
        return
    for index, result in engine.stream(programs, tests, fail_fast=True):
        counters.count(result)
        plan, number = owners[index]
        plan.ground_truth_results[number] = result
        if on_job is not None:
            on_job()


def reference_of(row: Mapping[str, Any], column: str | None = None) -> str | None:
    """A row's reference solution: its ``column`` when one is named, else the oracle solution ``synth`` kept
    (``provenance["oracle_solution"]``). None when it has none."""
    if column is not None:
        value = row.get(column)
    else:
        provenance = row.get("provenance")
        value = provenance.get("oracle_solution") if isinstance(provenance, dict) else None
    return value if isinstance(value, str) else None


def question_of(
    row: Mapping[str, Any],
    reference_column: str | None,
    ground_truth: Sequence[Test] | None,
    test_cpu_seconds: float | None = None,
) -> AuditQuestion:
    """A row as a question to audit, with its calibrated limit (``acecoder.time_limits``: the ``test_cpu_seconds``
    column) where it has one, else ``test_cpu_seconds``."""
    tests = row.get("test_cases")
    usable = [test for test in tests if isinstance(test, str)] if isinstance(tests, list) else []
    limit = row_limit(row) or test_cpu_seconds
    return AuditQuestion(reference_of(row, reference_column), usable, ground_truth, limit)


@dataclass
class AuditSummary:
    """The figures the command prints and the plot draws."""

    questions: int = 0
    resumed: int = 0
    transient: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    kill_rates: list[float] = field(default_factory=list)
    mutants: int = 0
    killed: int = 0
    with_survivor: int = 0
    with_weak_survivor: int | None = None
    possibly_equivalent: int = 0
    weak: int | None = None
    redundant_tests: int = 0
    tests: int = 0
    ground_truth_kill_rates: list[float] = field(default_factory=list)
    seconds: float = 0.0
    counters: AuditCounters = field(default_factory=AuditCounters)

    def add(self, audit: Mapping[str, Any]) -> None:
        self.statuses[audit["status"]] = self.statuses.get(audit["status"], 0) + 1
        if audit.get("kill_rate") is None:
            return
        self.kill_rates.append(audit["kill_rate"])
        self.mutants += audit["mutants"]
        self.killed += audit["killed"]
        self.with_survivor += audit["surviving"] > 0
        self.possibly_equivalent += audit["possibly_equivalent"]
        self.redundant_tests += len(audit["redundant_tests"])
        self.tests += audit["tests"]
        if audit.get("weak") is not None:
            self.weak = (self.weak or 0) + audit["weak"]
            self.with_weak_survivor = (self.with_weak_survivor or 0) + (audit["weak"] > 0)
            self.ground_truth_kill_rates.append(audit["ground_truth_kill_rate"])

    def table(self) -> str:
        def mean(values: list[float]) -> str:
            return f"{statistics.fmean(values):.3f}" if values else "-"

        lines: list[tuple[str, object]] = [
            ("questions", self.questions),
            ("resumed from the output", self.resumed),
            *((f"questions {status.replace('_', ' ')}", count) for status, count in sorted(self.statuses.items())),
            ("left for a rerun (sandbox errors)", self.transient),
            ("mutants run", self.mutants),
            ("mutants killed", self.killed),
            ("kill rate, mean over questions", mean(self.kill_rates)),
            ("kill rate, median", f"{statistics.median(self.kill_rates):.3f}" if self.kill_rates else "-"),
            ("questions with a surviving mutant", self.with_survivor),
            ("survivors no test kills (possibly equivalent)", self.possibly_equivalent),
            ("tests that kill nothing new (redundant)", f"{self.redundant_tests} of {self.tests}"),
        ]
        if self.weak is not None:
            lines += [
                ("survivors the ground truth kills (weak)", self.weak),
                ("questions with such a survivor", self.with_weak_survivor),
                ("ground truth kill rate, mean", mean(self.ground_truth_kill_rates)),
            ]
        rate = self.counters.jobs / self.seconds if self.seconds > 0 else 0.0
        lines += [("programs run", f"{self.counters.jobs:,} ({rate:,.1f}/s, {self.counters.cpu_seconds:,.1f} CPU s)")]
        width = max(len(name) for name, _ in lines)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in lines)


def summarize(audits: Sequence[Mapping[str, Any]]) -> AuditSummary:
    summary = AuditSummary(questions=len(audits))
    for audit in audits:
        summary.add(audit)
    return summary


def plot_kill_rates(summary: AuditSummary, path: str | Path) -> Path:
    """A histogram of the questions' kill rates (and the ground truth's, where there is one) as a PNG. Needs
    matplotlib; the figure is drawn on its own Agg canvas, so the caller's pyplot state is left alone."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4))
    axes = figure.add_subplot()
    bins = [index / 10 for index in range(11)]
    axes.hist(summary.kill_rates, bins=bins, color="#4c72b0", alpha=0.8, label="the questions' tests")
    if summary.ground_truth_kill_rates:
        axes.hist(summary.ground_truth_kill_rates, bins=bins, histtype="step", color="#c44e52", linewidth=2,
                  label="ground truth tests")  # fmt: skip
        axes.legend()
    axes.set_xlabel("kill rate (mutants killed / mutants)")
    axes.set_ylabel("questions")
    axes.set_title(f"Mutation kill rate ({len(summary.kill_rates)} questions)")
    FigureCanvasAgg(figure)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path


def audit_rows(
    rows: Sequence[dict],
    engine: Engine,
    output: str | Path,
    *,
    mutants: int = DEFAULT_MUTANTS,
    reference_column: str | None = None,
    ground_truth: Mapping[str, Sequence[Test]] | None = None,
    progress: Callable[[str, int, int], object] | None = None,
    chunk_jobs: int = CHUNK_JOBS,
    test_cpu_seconds: float | None = None,
) -> tuple[list[dict], AuditSummary]:
    """Audits every row not yet in ``output`` and appends it there with ``kill_rate`` and ``audit`` added, in
    input order, so a killed run resumes where it stopped; returns the output's rows and their summary.

    ``ground_truth`` maps a row's id (as a string) to its second suite; rows it lacks get none. Each question's
    own tests run under its calibrated limit (the ``test_cpu_seconds`` column) where it has one, else under
    ``test_cpu_seconds`` (None: the engine's); either only tightens the engine's own limit. A row whose jobs
    met a sandbox failure is not written (``summary.transient``); the next run does it again."""
    started = time.perf_counter()
    resume = ResumableOutput.of_rows(output, rows)
    pending = resume.pending
    questions = [
        question_of(
            rows[position], reference_column,
            None if ground_truth is None else ground_truth.get(str(rows[position].get("id"))), test_cpu_seconds,
        )
        for position in pending
    ]  # fmt: skip
    appender = resume.appender(len(pending))
    counters = AuditCounters()
    transient = 0
    audits = audit_questions(questions, engine, mutants, chunk_jobs=chunk_jobs, counters=counters)
    for finished, (place, audit) in enumerate(audits, start=1):
        if audit is None:
            transient += 1
            appender.finish(place, None)
        else:
            appender.finish(place, {**rows[pending[place]], "kill_rate": audit["kill_rate"], "audit": audit})
        if progress is not None:
            progress("audit", resume.resumed + finished, len(rows))
    resume.finish()
    audited = resume.completed()
    summary = summarize([row["audit"] for row in audited if isinstance(row.get("audit"), dict)])
    summary.questions, summary.resumed, summary.transient = len(rows), resume.resumed, transient
    summary.seconds, summary.counters = time.perf_counter() - started, counters
    return audited, summary
