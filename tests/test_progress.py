"""The progress line: no rate before it means something, resumed items never inflate it, a line per tenth in logs."""

from __future__ import annotations

import io

from acecoder.cli import progress as progress_module
from acecoder.cli.progress import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_rate_counts_only_items_finished_after_the_first_report(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(progress_module.time, "monotonic", clock)
    stream = io.StringIO()
    display = Progress(stream)
    display.update("sample", 40, 100)  # 40 resumed from an earlier run, reported at once
    clock.now += 10.0
    display.update("sample", 60, 100)  # 20 more in 10 s
    clock.now += 10.0
    display.update("sample", 100, 100)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "sample: 40/100 (0.0 s)"  # no rate from a single report
    assert lines[1] == "sample: 60/100 (2.00/s, 10.0 s, about 20 s left)"
    assert lines[2] == "sample: 100/100 (3.00/s, 20.0 s)"


def test_a_new_stage_starts_its_own_clock_and_logs_a_line_per_tenth(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(progress_module.time, "monotonic", clock)
    stream = io.StringIO()
    display = Progress(stream)
    for done in range(1, 101):
        clock.now += 0.5
        display.update("pass rates", done, 100)
    display.update("pairs", 1, 1)
    lines = stream.getvalue().splitlines()
    assert len([line for line in lines if line.startswith("pass rates")]) == 11  # the first, then one per tenth
    assert lines[-1] == "pairs: 1/1 (0.0 s)"
