"""Per-question time limits: the engine honours a job's own limit (tightening, never raising, the engine's), the
calibration measures a reference and stores a limit that the rewards and the reward server read back, rows without
a reference keep the default, binary rewards stop at the first failure, and a correct solution slower than its
reference (within the factor) still passes at its calibrated limit on an oversubscribed machine."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from acecoder import time_limits
from acecoder.eval import evalplus
from acecoder.exec import Engine, ExecResult, Limits, Status
from acecoder.integrations.scoring import score_responses
from acecoder.rewards import make_test_pass_reward
from acecoder.serve.questions import QuestionIndex, questions_from_rows
from acecoder.serve.scoring import score_queries
from acecoder.time_limits import Calibration, calibrate, calibrated_rows, row_limit, stored_limit, time_limit
from conftest import FAST_LIMITS

LOOPS = "def f(x):\n    while x:\n        pass\n    return x\n"
LOOP_TESTS = ["assert f(0) == 0", "assert f(1) == 1", "assert f(2) == 2"]


def work(name: str, rounds: int) -> str:
    """A function that spends about ``rounds`` units of CPU and returns 1 (its tests are honest and slow)."""
    return (
        f"def {name}(x):\n    total = 0\n    for i in range({rounds} * 100000):\n        total += i % 7\n    return 1\n"
    )


@pytest.fixture(scope="module", autouse=True)
def close_shared_engines():
    yield
    from acecoder.exec import shutdown_shared_engines

    shutdown_shared_engines()


def timeout_seconds(result) -> list[float]:
    return [test.cpu_time for test in result.tests if test.status is Status.TIMEOUT]


def test_the_rule_is_evalplus_and_evaluate_uses_the_same_one():
    assert time_limit(0.001) == time_limits.MIN_TIME_LIMIT == 1.0
    assert time_limit(2.0) == 4.0 * 2.0
    assert time_limit(0.3, floor=0.1, factor=2.0) == pytest.approx(0.6)
    assert evalplus.MIN_TIME_LIMIT is time_limits.MIN_TIME_LIMIT
    assert evalplus.TIME_LIMIT_FACTOR is time_limits.TIME_LIMIT_FACTOR


def test_limits_are_honoured_per_job_capped_by_the_engines_and_checked(engine):
    results = engine.run([LOOPS] * 3, [LOOP_TESTS[:2]] * 3, test_cpu_seconds=[0.2, None, 30.0])
    for result in results:
        assert [test.status for test in result.tests] == [Status.PASSED, Status.TIMEOUT]
    tight, _, capped = results
    assert timeout_seconds(tight)[0] < 0.6  # its own 0.2 s, not the engine's 1.0 s
    # 30 s is capped at the engine's 1.0 s: killed by 1.0 s of CPU or its 4 s wall backstop, never 30 s or 91 s.
    assert capped.wall_time < 10
    one_for_all = engine.run([LOOPS], [LOOP_TESTS[:2]], test_cpu_seconds=0.2)[0]
    assert timeout_seconds(one_for_all)[0] < 0.6
    for bad in (0, -1.0, math.nan, math.inf, True):
        with pytest.raises(ValueError, match="test_cpu_seconds"):
            engine.run([LOOPS], [LOOP_TESTS], test_cpu_seconds=[bad])
    with pytest.raises(ValueError, match="one per program"):
        engine.run([LOOPS, LOOPS], [LOOP_TESTS] * 2, test_cpu_seconds=[0.5])
    with pytest.raises(TypeError, match="test_cpu_seconds"):
        engine.run([LOOPS], [LOOP_TESTS], test_cpu_seconds="0.5")  # type: ignore[arg-type]


def test_calibration_measures_the_reference_and_explains_what_it_cannot_calibrate(engine):
    slow = work("f", 3)
    references = [slow, "def f(x):\n    return 2\n", None, slow]
    tests = [["assert f(1) == 1", "assert f(0) == 1"], ["assert f(1) == 1"], ["assert f(1) == 1"], []]
    calibrations = calibrate(references, tests, engine=engine, runs=2, floor=0.01, factor=3.0)
    measured = calibrations[0]
    assert len(measured.reference_seconds) == 2 and min(measured.reference_seconds) > 0
    assert measured.limit == pytest.approx(3.0 * max(measured.reference_seconds))
    assert measured.problem is None
    assert calibrations[1] == Calibration(None, [], "the reference fails: test 1 failed")
    assert [calibration.cause for calibration in calibrations] == [None, "the reference fails", "no reference",
                                                                   "no tests"]  # fmt: skip
    assert {calibration.cause for calibration in calibrations[1:]} == set(time_limits.PROBLEMS)
    assert calibrations[2].limit is None and calibrations[2].problem == "no reference"
    assert calibrations[3].limit is None and calibrations[3].problem == "no tests"
    # The floor applies to quick references (evalplus's 1 s by default).
    quick = calibrate(["def f(x):\n    return 1\n"], [["assert f(1) == 1"]], engine=engine)[0]
    assert quick.limit == time_limits.MIN_TIME_LIMIT
    with pytest.raises(ValueError, match="factor"):
        calibrate([slow], [["assert f(1) == 1"]], engine=engine, factor=0.5)
    with pytest.raises(ValueError, match="runs"):
        calibrate([slow], [["assert f(1) == 1"]], engine=engine, runs=0)


def test_calibration_is_stored_in_rows_and_read_back_as_it_was_written(engine, tmp_path):
    rows = [
        {"id": "a", "question": "loop a", "test_cases": LOOP_TESTS, "solution": "def f(x):\n    return x\n"},
        {"id": "b", "question": "loop b", "test_cases": LOOP_TESTS},  # no reference: the default applies
    ]
    written, calibrations = calibrated_rows(rows, "solution", engine=engine, floor=0.2)
    path = tmp_path / "calibrated.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in written))
    stored = [json.loads(line) for line in path.read_text().splitlines()]
    assert stored[0][time_limits.LIMIT_COLUMN] == pytest.approx(0.2) == calibrations[0].limit
    assert len(stored[0][time_limits.REFERENCE_TIMES_COLUMN]) == 3
    assert stored[1][time_limits.LIMIT_COLUMN] is None and stored[1][time_limits.REFERENCE_TIMES_COLUMN] == []
    assert [row_limit(row) for row in stored] == [pytest.approx(0.2), None]
    assert row_limit({"id": "c"}) is None
    for bad in ("1", -1, 0, math.nan, True, [1.0]):
        with pytest.raises(ValueError, match="test_cpu_seconds"):
            stored_limit(bad)
    # Reused without measuring again: the reward server's questions carry the stored limit.
    questions = questions_from_rows(stored)
    assert [question.test_cpu_seconds for question in questions] == [pytest.approx(0.2), None]
    with pytest.raises(ValueError, match="row 1: test_cpu_seconds"):
        questions_from_rows([{**stored[0], "test_cpu_seconds": "fast"}])


def test_trl_rewards_read_the_column_and_binary_stops_at_the_first_failure():
    looping = "```python\n" + LOOPS + "```"
    binary = make_test_pass_reward("binary", limits=FAST_LIMITS, workers=2)
    logged: dict[str, float] = {}
    rewards = binary(prompts=["p"] * 2, completions=[looping, looping], test_cases=[LOOP_TESTS, LOOP_TESTS],
                     test_cpu_seconds=[0.2, None], log_metric=logged.__setitem__)  # fmt: skip
    assert rewards == [0.0, 0.0]
    assert logged["acecoder/timeouts"] == 2.0 and "acecoder/pass_rate_mean" not in logged
    # The outcomes behind a reward (the integrations' form): binary runs up to the first failure, pass rates all.
    outcomes = score_responses([looping], [LOOP_TESTS], "binary", limits=FAST_LIMITS, workers=2, test_cpu_seconds=[0.2])
    assert (outcomes[0]["score"], outcomes[0]["passed"], outcomes[0]["total"]) == (0.0, 1, 3)
    rates = score_responses([looping], [LOOP_TESTS], "pass_rate", limits=FAST_LIMITS, workers=2, test_cpu_seconds=[0.2])
    assert rates[0]["score"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="test_cpu_seconds of row 0"):
        binary(prompts=["p"], completions=[looping], test_cases=[LOOP_TESTS], test_cpu_seconds=[-1])
    with pytest.raises(ValueError, match="1 responses but 2 test_cpu_seconds"):
        binary(prompts=["p"], completions=[looping], test_cases=[LOOP_TESTS], test_cpu_seconds=[0.2, 0.2])


def test_the_reward_server_sends_each_questions_limit_and_fail_fast_in_binary_mode():
    rows = [{"id": "a", "question": "Write f.", "test_cases": LOOP_TESTS, "test_cpu_seconds": 0.3},
            {"id": "b", "question": "Write g.", "test_cases": ["assert g() == 1"]}]  # fmt: skip
    seen: dict = {}

    class Recording:
        def run(self, programs, tests, fail_fast=False, test_cpu_seconds=None):
            seen.update(fail_fast=fail_fast, limits=list(test_cpu_seconds))
            return [passed_result(len(each)) for each in tests]

    index = QuestionIndex(questions_from_rows(rows))
    body = {"query": ["```python\ndef f(x): return x\n```", "```python\ndef g(): return 1\n```"],
            "labels": ["a", "b"]}  # fmt: skip
    score_queries(body, index, Recording(), "binary")
    assert seen == {"fail_fast": True, "limits": [0.3, None]}
    score_queries(body, index, Recording(), "pass_rate")
    assert seen["fail_fast"] is False


def passed_result(count: int) -> ExecResult:
    return ExecResult(Status.PASSED, count, count, [])


def test_a_slow_but_correct_solution_within_the_factor_passes_at_its_limit_under_load():
    """The reference's CPU time sets the limit; a correct solution twice as slow passes at that limit while CPU hogs
    keep both cores busy (2x oversubscription with the engine's 2 workers), and a loop still times out there. The
    engine's own limit is the default 4 s, so only the calibrated limit decides (a busy machine that slows the
    reference cannot push the limit into the engine's cap)."""
    reference, slower = work("f", 10), work("f", 20)
    tests = ["assert f(1) == 1", "assert f(2) == 1", "assert f(3) == 1"]
    with Engine(workers=2) as engine:
        calibration = calibrate([reference], [tests], engine=engine, floor=0.05)[0]
        assert calibration.limit is not None and calibration.limit < Limits().test_cpu_seconds, calibration
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]
        try:
            results = engine.run([slower] * 4 + [LOOPS], [tests] * 4 + [LOOP_TESTS], test_cpu_seconds=calibration.limit)
        finally:
            for hog in hogs:
                hog.kill()
                hog.wait()
    measured = (calibration, [[round(test.cpu_time, 3) for test in result.tests] for result in results])
    for result in results[:4]:
        assert result.status is Status.PASSED, (result.tests, measured)
    assert [test.status for test in results[4].tests] == [Status.PASSED, Status.TIMEOUT, Status.TIMEOUT], measured


def test_pass_rates_run_each_row_at_its_limit_and_count_what_timeouts_cost(engine, tmp_path):
    from acecoder.pairs.passrate import score_rows

    looping = {"model_name": "m", "completion_id": 0, "completion": "```python\n" + LOOPS + "```"}
    right = {"model_name": "m", "completion_id": 1, "completion": "def f(x):\n    return x\n"}
    rows = [
        {"id": "calibrated", "question": "q", "test_cases": LOOP_TESTS, "inferences": [looping, right],
         "test_cpu_seconds": 0.2},
        {"id": "default", "question": "q", "test_cases": LOOP_TESTS[:2], "inferences": [looping, right]},
        {"id": "bad", "question": "q", "test_cases": LOOP_TESTS, "inferences": [right], "test_cpu_seconds": "fast"},
    ]  # fmt: skip
    output = tmp_path / "passrates.jsonl"
    summary = score_rows(rows, engine, output)
    written = [json.loads(line) for line in output.read_text().splitlines()]
    assert [item["pass_rate"] for item in written[0]["inferences"]] == [pytest.approx(1 / 3), 1.0]
    assert [item["pass_rate"] for item in written[1]["inferences"]] == [0.5, 1.0]
    assert written[0]["test_cpu_seconds"] == 0.2  # the column is kept for the next step
    assert "test_cpu_seconds" in written[2]["error"]
    assert summary.calibrated == 1 and summary.timed_out == 2
    # Two timeouts at 0.2 s and one at the engine's 1 s (or its wall backstop): together well under 3 limits of 1 s.
    assert 0 < summary.timeout_cpu_seconds < 2.6
    assert summary.timeout_cpu_seconds <= summary.test_cpu_seconds


def test_the_calibrate_command_stores_limits_that_passrate_reads(tmp_path, capsys):
    from acecoder.cli import main

    rows = [{"id": "a", "question": "q", "test_cases": LOOP_TESTS, "solution": "def f(x):\n    return x\n"},
            {"id": "b", "question": "q", "test_cases": LOOP_TESTS, "solution": "def f(x):\n    return 0\n"}]  # fmt: skip
    source, output = tmp_path / "questions.jsonl", tmp_path / "calibrated.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert main(["calibrate", "--input", str(source), "--output", str(output), "--reference-column", "solution",
                 "--test-cpu-seconds", "0.3", "--runs", "1", "--workers", "2"]) == 0  # fmt: skip
    written = [json.loads(line) for line in output.read_text().splitlines()]
    assert [row_limit(row) for row in written] == [pytest.approx(0.3), None]
    printed = capsys.readouterr().out
    assert "1 of 2 questions calibrated (1 at the 0.3 s floor" in printed
    assert "not calibrated (the default limit applies): the reference fails: 1" in printed
    assert main(["calibrate", "--input", str(source), "--output", str(output), "--reference-column", "nope"]) == 1


def test_the_corpus_timer_attacks_gain_nothing_under_a_calibrated_limit_or_fail_fast():
    # A question's own limit goes through the same timer as the engine's: every attack on that timer in our hostile
    # corpus (disarming it, ignoring or blocking its signal, catching the timeout, looping in C) must still lose its
    # looping test at a tight per-job limit, and fail_fast (the binary reward) must never count a test it did not run.
    corpus = Path(__file__).parent / "hostile" / "corpus.jsonl"
    cases = [case for case in map(json.loads, corpus.read_text().splitlines()) if case["class"] == "timer"]
    assert len(cases) >= 7
    programs, tests = [case["program"] for case in cases], [case["tests"] for case in cases]
    with Engine(workers=2, limits=FAST_LIMITS) as engine:
        every_test = engine.run(programs, tests, test_cpu_seconds=0.3)
        first_failure = engine.run(programs, tests, test_cpu_seconds=0.3, fail_fast=True)
    for case, full, fast in zip(cases, every_test, first_failure):
        assert full.passed == case["expected_passed"], f"{case['name']}: {full}"
        assert full.status is not Status.PASSED and fast.status is not Status.PASSED, case["name"]
        assert fast.passed <= full.passed, f"{case['name']}: {fast}"
        statuses = [test.status for test in fast.tests]
        stop = next(index for index, status in enumerate(statuses) if status is not Status.PASSED)
        assert all(status is Status.NOT_RUN for status in statuses[stop + 1 :]), f"{case['name']}: {statuses}"
