"""Per-question time limits calibrated on the question's reference solution: the limit fits the work, not the worst case.

Why: the per-test CPU limit sets what a program that loops costs, and such programs dominate pass-rate runs and
stall RL steps: one fixed limit (4 CPU s) must be generous enough for the slowest question, so every looping
sample of every quick question pays it too. evalplus's rule fixes that for evaluation: the limit of an input is
``max(floor, factor x the canonical solution's time on it)``. This module is that rule, once, for everyone:
``acecoder evaluate`` applies it per input (``acecoder.eval.evalplus``), and the pass-rate step, the TRL rewards and
the reward server apply it per question, from a column computed once by ``calibrate``.

How a question is calibrated: its reference solution (the oracle ``synth`` kept, or a column the user names) runs
through the engine on the question's tests ``runs`` times; each test's CPU time is the most it used over the runs,
and the question's limit is ``time_limit(the slowest test's time)``. CPU time, as the verdicts are, so a loaded
machine neither inflates the calibration nor turns passes into timeouts. A reference that does not pass every
test gives no limit (the question keeps the engine's default): its times would measure a wrong program.

Stored form (one row per question, columns that AceCode readers ignore): ``test_cpu_seconds``, the limit (CPU
seconds per test, a float), and ``reference_cpu_seconds``, the reference's time on each test, from which other
floors and factors can be recomputed without running anything. A limit can only tighten the engine's own
``Limits.test_cpu_seconds``, never raise it (``Engine.run(test_cpu_seconds=...)``).

The defaults are evalplus's, kept after measuring the spread of correct solutions' CPU times
(``benches/bench_time_limits.py``, figures in the README): MBPP's own reference solutions against MBPP+'s canonical
ones take 2.61x at p99, and only an algorithmically slower one (25.8x) exceeds 4x; floors from 0.1 s to 1 s time out
the same correct solutions, and 1 s also covers what a quick test can cost besides (a lazy ``import networkx`` in a
function is 0.15 CPU s) with no false timeout at 2x oversubscription.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from acecoder.exec import Engine, ExecResult, Status, Test

__all__ = [
    "CALIBRATION_RUNS",
    "LIMIT_COLUMN",
    "MIN_TIME_LIMIT",
    "PROBLEMS",
    "REFERENCE_TIMES_COLUMN",
    "TIME_LIMIT_FACTOR",
    "Calibration",
    "calibrate",
    "calibrated_rows",
    "row_limit",
    "stored_limit",
    "time_limit",
]

# evalplus's defaults (evalplus/config.py), in CPU seconds here.
MIN_TIME_LIMIT = 1.0
TIME_LIMIT_FACTOR = 4.0
CALIBRATION_RUNS = 3
LIMIT_COLUMN = "test_cpu_seconds"
REFERENCE_TIMES_COLUMN = "reference_cpu_seconds"


def time_limit(seconds: float, floor: float = MIN_TIME_LIMIT, factor: float = TIME_LIMIT_FACTOR) -> float:
    """evalplus's rule: the limit for work the reference did in ``seconds``."""
    return max(floor, factor * seconds)


def _check_rule(floor: float, factor: float, runs: int) -> None:
    if not (isinstance(floor, (int, float)) and math.isfinite(floor) and floor > 0):
        raise ValueError(f"floor must be a positive number of seconds, got {floor!r}")
    if not (isinstance(factor, (int, float)) and math.isfinite(factor) and factor >= 1):
        raise ValueError(f"factor must be a number >= 1 (a limit below the reference's own time), got {factor!r}")
    if not isinstance(runs, int) or isinstance(runs, bool) or runs < 1:
        raise ValueError(f"runs must be a positive int, got {runs!r}")


@dataclass(frozen=True)
class Calibration:
    """One question's calibration: ``limit`` (CPU seconds per test, None when there is none to use),
    ``reference_seconds`` (the reference's most CPU per test over the runs) and ``problem`` (why no limit: one of
    ``PROBLEMS``, then any detail after a colon)."""

    limit: float | None
    reference_seconds: list[float] = field(default_factory=list)
    problem: str | None = None

    @property
    def cause(self) -> str | None:
        """``problem`` without its detail, for counting."""
        return None if self.problem is None else self.problem.split(":")[0]

    def columns(self) -> dict:
        """The stored form: the two columns a calibrated row carries."""
        return {LIMIT_COLUMN: self.limit, REFERENCE_TIMES_COLUMN: list(self.reference_seconds)}


PROBLEMS = ("no reference", "no tests", "the reference fails")


def _failure(result: ExecResult) -> str:
    for number, test in enumerate(result.tests, start=1):
        if test.status is not Status.PASSED:
            return f"the reference fails: test {number} {test.status.value}"
    return f"the reference fails: {result.status.value} {result.exception_type or ''}".rstrip()


def calibrate(
    references: Sequence[str | None],
    tests: Sequence[Sequence[Test]],
    *,
    engine: Engine,
    runs: int = CALIBRATION_RUNS,
    floor: float = MIN_TIME_LIMIT,
    factor: float = TIME_LIMIT_FACTOR,
) -> list[Calibration]:
    """One ``Calibration`` per question: ``references[i]`` (a program, or None) run ``runs`` times on ``tests[i]``.

    All runs of all questions go to ``engine`` as one batch, so they share its workers. The references run under
    the engine's own limits, so a limit never exceeds what they allow (it would be capped there anyway)."""
    _check_rule(floor, factor, runs)
    if len(references) != len(tests):
        raise ValueError(f"got {len(references)} references but {len(tests)} test lists: one list per reference")
    wanted = [index for index, reference in enumerate(references) if reference and reference.strip() and tests[index]]
    programs = [str(references[index]) for index in wanted for _ in range(runs)]
    results = engine.run(programs, [tests[index] for index in wanted for _ in range(runs)]) if wanted else []
    calibrations = [
        Calibration(None, problem="no tests" if reference and reference.strip() else "no reference")
        for reference in references
    ]
    for position, index in enumerate(wanted):
        mine = results[position * runs : (position + 1) * runs]
        failed = next((result for result in mine if result.status is not Status.PASSED), None)
        if failed is not None:
            calibrations[index] = Calibration(None, problem=_failure(failed))
            continue
        seconds = [max(result.tests[test].cpu_time for result in mine) for test in range(len(tests[index]))]
        calibrations[index] = Calibration(time_limit(max(seconds), floor, factor), seconds)
    return calibrations


def calibrated_rows(
    rows: Sequence[Mapping],
    reference_column: str,
    *,
    engine: Engine,
    tests_column: str = "test_cases",
    runs: int = CALIBRATION_RUNS,
    floor: float = MIN_TIME_LIMIT,
    factor: float = TIME_LIMIT_FACTOR,
) -> tuple[list[dict], list[Calibration]]:
    """Each row with its calibration's columns added (``Calibration.columns``), and the calibrations."""
    references = [row.get(reference_column) if isinstance(row.get(reference_column), str) else None for row in rows]
    tests = [list(row.get(tests_column) or ()) for row in rows]
    calibrations = calibrate(references, tests, engine=engine, runs=runs, floor=floor, factor=factor)
    return [{**row, **calibration.columns()} for row, calibration in zip(rows, calibrations)], calibrations


def stored_limit(value: object, where: str = LIMIT_COLUMN) -> float | None:
    """A stored limit as a number, None for a row without one; ``ValueError`` naming ``where`` for anything else
    (a bad value must not silently become the default, nor reach the engine)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{where} must be a positive number of CPU seconds or null, got {value!r}")
    return float(value)


def row_limit(row: Mapping, column: str = LIMIT_COLUMN) -> float | None:
    """The calibrated per-test limit a row carries, or None (the engine's default applies)."""
    return stored_limit(row.get(column), column)
