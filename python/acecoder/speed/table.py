"""Figures and tables for the benchmarks: one ``Measurement`` per (runner, workload), printed side by side.

Throughput is always jobs (or tests) over the wall time of the whole batch, measured by the caller; latencies are
per job and only describe the distribution, never the throughput.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

Value = TypeVar("Value")


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` (0..1) percentile by linear interpolation between order statistics; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def timed(function: Callable[[], Value]) -> tuple[Value, float]:
    """Calls ``function`` and returns its value with the wall-clock seconds it took."""
    started = time.perf_counter()
    value = function()
    return value, time.perf_counter() - started


def timed_batch(function: Callable[[], Value]) -> tuple[Value, float, float]:
    """``timed``, plus the cores other processes kept busy meanwhile. Call it while the runner's processes live."""
    before = cpu_snapshot()
    value, seconds = timed(function)
    return value, seconds, other_cores(before, cpu_snapshot(), seconds)


# ------------------------------------------------------------------------------------------- other load

# The machines these benchmarks run on are small and shared: another process taking a core halves a 2-worker
# runner's throughput. So each measurement also reports how many cores were busy *outside* the benchmark's own
# process tree during its batch (system-wide busy time from /proc/stat minus this tree's CPU time), and a reader
# can tell a slow runner from a noisy minute.


def _system_busy_seconds() -> float:
    with open("/proc/stat", encoding="ascii") as handle:
        fields = [int(value) for value in handle.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    guest = sum(fields[8:10]) if len(fields) > 9 else 0  # already counted in user/nice
    return (sum(fields) - idle - guest) / os.sysconf("SC_CLK_TCK")


def _tree_cpu_seconds(root: int) -> float:
    """CPU time of ``root`` and its live descendants, including the children they have reaped."""
    parents: dict[int, list[int]] = {}
    times: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry)
        parents.setdefault(int(fields[1]), []).append(pid)
        times[pid] = sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
    total, stack, seen = 0, [root], set()
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += times.get(pid, 0)
        stack.extend(parents.get(pid, []))
    return total / os.sysconf("SC_CLK_TCK")


def cpu_snapshot() -> tuple[float, float]:
    """(system-wide busy CPU seconds, this process tree's CPU seconds), for ``other_cores``."""
    if not os.path.exists("/proc/stat"):
        return (math.nan, math.nan)
    return _system_busy_seconds(), _tree_cpu_seconds(os.getpid())


def other_cores(before: tuple[float, float], after: tuple[float, float], seconds: float) -> float:
    """Average number of cores that processes outside this tree kept busy between two snapshots."""
    if seconds <= 0:
        return math.nan
    return max(0.0, (after[0] - before[0]) - (after[1] - before[1])) / seconds


# ------------------------------------------------------------------------------------------ measurements


@dataclass
class Measurement:
    """One runner on one workload: what it computed and how long the batch took."""

    runner: str
    workload: str
    programs: int
    tests: int
    seconds: float
    passed: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    mismatches: int | None = None  # jobs whose pass count differs from the reference runner's
    other_cores: float | None = None  # cores busy outside the benchmark during the batch (see ``other_cores``)

    @property
    def programs_per_second(self) -> float:
        return self.programs / self.seconds if self.seconds > 0 else math.inf

    @property
    def tests_per_second(self) -> float:
        return self.tests / self.seconds if self.seconds > 0 else math.inf

    def latency_milliseconds(self, fraction: float) -> float:
        return percentile(self.latencies, fraction) * 1000

    def summary(self) -> dict:
        """JSON-ready figures (no per-job lists)."""
        figures = {
            "runner": self.runner,
            "workload": self.workload,
            "programs": self.programs,
            "tests": self.tests,
            "seconds": round(self.seconds, 4),
            "programs_per_second": round(self.programs_per_second, 2),
            "tests_per_second": round(self.tests_per_second, 2),
            "passed_tests": sum(count for count in self.passed if count > 0),
            "mismatches": self.mismatches,
            "other_cores": None if self.other_cores is None else round(self.other_cores, 2),
        }
        if self.latencies:
            for name, fraction in (("p50_ms", 0.5), ("p90_ms", 0.9), ("p99_ms", 0.99)):
                figures[name] = round(self.latency_milliseconds(fraction), 3)
        return figures


def count_mismatches(reference: Sequence[int], other: Sequence[int]) -> int:
    """Jobs whose pass counts differ (a length difference counts every missing job)."""
    differing = sum(1 for left, right in zip(reference, other) if left != right)
    return differing + abs(len(reference) - len(other))


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, left: int = 1, indent: str = "  ") -> str:
    """A plain-text table: the first ``left`` columns (labels) left-aligned, the others (figures) right-aligned."""
    cells = [[str(header) for header in headers]] + [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]
    lines = []
    for row in cells:
        parts = [
            cell.ljust(width) if column < left else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths))
        ]
        lines.append(indent + "  ".join(parts).rstrip())
    return "\n".join(lines)


def rate(value: float) -> str:
    """A throughput figure with thousands separators."""
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}x" if denominator > 0 else "n/a"
