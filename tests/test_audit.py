"""Mutation audit (acecoder.audit, `acecoder audit`), through the real engine on handmade questions whose kills are
worked out by hand: which test kills which mutant, equivalent mutants apart from weak tests, a mutant that fails
at import or loops, and a run killed mid-way that resumes to the file an uninterrupted run writes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from acecoder.audit import AuditQuestion, audit_questions, audit_rows, reference_of
from acecoder.cli import main
from acecoder.data.mutants import mutant_set
from acecoder.exec import CallTest, Engine, Limits

REPOSITORY = Path(__file__).resolve().parents[1]

CLAMP = "def clamp(x, low, high):\n    if x < low:\n        return low\n    if x > high:\n        return high\n    return x\n"
# Its 4 mutants: `x < low` → `<=` (equivalent: returns low where x == low), → `>`; `x > high` → `>=` (equivalent),
# → `<`. clamp(-5, 0, 10) kills only `>` (it returns -5); clamp(0, 0, 10) only `<` (returns 10); clamp(0, 0, 0)
# nothing; the last test is wrong (the reference fails it), so it counts for nothing.
CLAMP_TESTS = ["assert clamp(-5, 0, 10) == 0", "assert clamp(0, 0, 10) == 0", "assert clamp(0, 0, 0) == 0",
               "assert clamp(3, 0, 10) == 4"]  # fmt: skip
ADULT = "def is_adult(age):\n    return age >= 18\n"
# Mutants: `>` (survives 30 and 5), `<=` (killed by both), 18 → 19 and 18 → 17 (survive both): 3 real survivors,
# which the boundary tests 18 and 17 kill.
ADULT_TESTS = ["assert is_adult(30)", "assert not is_adult(5)"]
ADULT_GROUND_TRUTH = ["assert is_adult(18)", "assert not is_adult(17)"]
# A mutant of the index (`[0][1]`) raises IndexError at import: every test kills it. `x * OFFSET` returns 0, which
# only shift(3) tells apart.
SHIFT = "OFFSET = [0][0]\ndef shift(x):\n    return x + OFFSET\n"
SHIFT_TESTS = ["assert shift(3) == 3", "assert shift(0) == 0"]
# `n -= 1` → `n += 1` never ends for n > 0: count_down(3) times out (a kill), count_down(0) still passes.
COUNT_DOWN = (
    "def count_down(n):\n    steps = 0\n    while n > 0:\n        n -= 1\n        steps += 1\n    return steps\n"
)
COUNT_DOWN_TESTS = ["assert count_down(3) == 3", "assert count_down(0) == 0"]


def _audit(engine, question: AuditQuestion) -> dict:
    [(position, audit)] = list(audit_questions([question], engine, mutants=50))
    assert position == 0 and audit is not None
    return audit


def _by_operator(program: str, audit: dict) -> dict[str, list[int]]:
    return {mutant.operator: audit["killed_by"][number] for number, mutant in enumerate(mutant_set(program, 50))}


def test_each_test_kills_exactly_the_mutants_worked_out_by_hand(engine) -> None:
    audit = _audit(engine, AuditQuestion(CLAMP, CLAMP_TESTS))
    assert _by_operator(CLAMP, audit) == {"< → <=": [], "< → >": [0], "> → >=": [], "> → <": [1]}
    assert (audit["mutants"], audit["killed"], audit["kill_rate"], audit["surviving"]) == (4, 2, 0.5, 2)
    assert audit["tests_reference_fails"] == [3]
    assert audit["kills_per_test"] == [1, 1, 0, None]
    assert audit["redundant_tests"] == [2]  # clamp(0, 0, 0) kills nothing; each of the others kills its own mutant
    assert audit["covering_tests"] == [0, 1]
    assert {survivor["operator"] for survivor in audit["survivors"]} == {"< → <=", "> → >="}
    assert all(survivor["diff"].startswith("--- reference\n+++ mutant\n") for survivor in audit["survivors"])
    assert "-    if x < low:\n+    if x <= low:\n" in {s["operator"]: s["diff"] for s in audit["survivors"]}["< → <="]
    # No second suite: every survivor may be equivalent, none is known to be weak.
    assert (audit["weak"], audit["possibly_equivalent"]) == (None, 2)


def test_a_mutant_failing_at_import_is_killed_by_every_test_and_a_loop_only_where_it_times_out(engine) -> None:
    shift = _audit(engine, AuditQuestion(SHIFT, SHIFT_TESTS))
    killed_by = {mutant.source: shift["killed_by"][number] for number, mutant in enumerate(mutant_set(SHIFT, 50))}
    assert killed_by["OFFSET = [0][1]\n\ndef shift(x):\n    return x + OFFSET"] == [0, 1]
    assert killed_by["OFFSET = [0][0]\n\ndef shift(x):\n    return x * OFFSET"] == [0]
    assert killed_by["OFFSET = [0][0]\n\ndef shift(x):\n    return x - OFFSET"] == []  # x - 0: equivalent
    count_down = _audit(engine, AuditQuestion(COUNT_DOWN, COUNT_DOWN_TESTS))
    looping = [number for number, mutant in enumerate(mutant_set(COUNT_DOWN, 50)) if "n += 1" in mutant.source]
    assert [count_down["killed_by"][number] for number in looping] == [[0]]


def test_a_second_suite_separates_weak_tests_from_possibly_equivalent_mutants(engine) -> None:
    adult = _audit(engine, AuditQuestion(ADULT, ADULT_TESTS, ADULT_GROUND_TRUTH))
    assert (adult["killed"], adult["surviving"], adult["weak"], adult["possibly_equivalent"]) == (1, 3, 3, 0)
    assert adult["ground_truth_kill_rate"] == 1.0
    assert {survivor["ground_truth"] for survivor in adult["survivors"]} == {"kills"}
    ground_truth = ["assert clamp(5, 0, 10) == 5", "assert clamp(-1, 0, 10) == 0", "assert clamp(11, 0, 10) == 10",
                    "assert clamp(1, 0, 10) == 2"]  # fmt: skip
    clamp = _audit(engine, AuditQuestion(CLAMP, CLAMP_TESTS, ground_truth))
    # The two survivors are equivalent: no suite kills them. The wrong last ground-truth test is left out.
    assert (clamp["weak"], clamp["possibly_equivalent"], clamp["ground_truth_reference_fails"]) == (0, 2, 1)
    assert {survivor["ground_truth"] for survivor in clamp["survivors"]} == {"passes"}
    assert clamp["ground_truth_kill_rate"] == 0.5


def test_a_ground_truth_of_call_tests_is_judged_apart_from_the_asserts(engine) -> None:
    # A job's tests are all asserts or all CallTests: the reference runs the two suites as two jobs.
    truth = [CallTest("is_adult", [18], True), CallTest("is_adult", [17], False), CallTest("is_adult", [40], False)]
    adult = _audit(engine, AuditQuestion(ADULT, ADULT_TESTS, truth))
    assert (adult["weak"], adult["possibly_equivalent"], adult["ground_truth_reference_fails"]) == (3, 0, 1)
    assert all("returned" in survivor["ground_truth_failure"] for survivor in adult["survivors"])


def test_questions_that_cannot_be_audited_say_why(engine) -> None:
    questions = [AuditQuestion(None, ["assert True"]), AuditQuestion(ADULT, []), AuditQuestion("def f(:\n", ["x"]),
                 AuditQuestion("def f():\n    return g\n", ["assert f() is None"]),
                 AuditQuestion(ADULT, ["assert is_adult(3)"])]  # fmt: skip
    audits = [audit for _, audit in audit_questions(questions, engine)]
    assert [audit["status"] for audit in audits] == [  # type: ignore[index]
        "no_reference", "no_tests", "unparsable_reference", "no_mutants", "reference_fails"
    ]  # fmt: skip
    assert all(audit["kill_rate"] is None for audit in audits)  # type: ignore[index]


def test_reference_is_the_named_column_or_the_synth_oracle_solution() -> None:
    row = {"code": "a", "provenance": {"oracle_solution": "b"}}
    assert reference_of(row, "code") == "a" and reference_of(row) == "b"
    assert reference_of({"provenance": {}}) is None and reference_of({"code": 3}, "code") is None


def _rows(count: int) -> list[dict]:
    programs = [(CLAMP, CLAMP_TESTS), (ADULT, ADULT_TESTS), (SHIFT, SHIFT_TESTS), (COUNT_DOWN, COUNT_DOWN_TESTS)]
    return [{"id": f"q{number}", "question": "?", "reference": programs[number % 4][0],
             "test_cases": programs[number % 4][1]} for number in range(count)]  # fmt: skip


def test_command_writes_rows_with_kill_rates_a_table_and_a_plot(tmp_path: Path, capsys) -> None:
    pytest.importorskip("matplotlib")
    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join(json.dumps(row) + "\n" for row in _rows(4)))
    truth = tmp_path / "truth.jsonl"
    truth.write_text(json.dumps({"id": "q1", "question": "", "test_cases": ADULT_GROUND_TRUTH}) + "\n")
    output = tmp_path / "audit.jsonl"
    status = main(["audit", "--input", str(questions), "--output", str(output), "--reference-column", "reference",
                   "--ground-truth-tests", str(truth), "--workers", "2", "--test-cpu-seconds", "0.5", "--quiet"])  # fmt: skip
    assert status == 0
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [row["id"] for row in rows] == ["q0", "q1", "q2", "q3"]
    assert [row["kill_rate"] for row in rows] == [0.5, 0.25, 4 / 6, 1.0]
    assert rows[1]["audit"]["weak"] == 3 and rows[0]["audit"]["weak"] is None
    printed = capsys.readouterr().out
    assert re.search(r"survivors the ground truth kills \(weak\) +3\n", printed)
    assert (tmp_path / "audit.kill_rate.png").stat().st_size > 1000


def test_command_without_references_fails_and_says_which_flag(tmp_path: Path, capsys) -> None:
    questions = tmp_path / "questions.jsonl"
    questions.write_text(json.dumps({"id": 1, "question": "?", "test_cases": ["assert True"]}) + "\n")
    status = main(["audit", "--input", str(questions), "--output", str(tmp_path / "out.jsonl"), "--quiet"])
    assert status == 1
    assert "no_reference 1" in capsys.readouterr().err


_KILLABLE_RUN = """
import json, sys
from acecoder.audit import audit_rows
from acecoder.exec import CallTest, Engine, Limits
rows = [json.loads(line) for line in open(sys.argv[1])]
with Engine(workers=1, limits=Limits(test_cpu_seconds=0.3, program_cpu_seconds=2.0)) as engine:
    audit_rows(rows, engine, sys.argv[2], reference_column="reference", chunk_jobs=8)
"""


def test_a_run_killed_mid_way_resumes_to_the_uninterrupted_output(tmp_path: Path) -> None:
    rows = _rows(12)
    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join(json.dumps(row) + "\n" for row in rows))
    output = tmp_path / "audit.jsonl"
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY / "python")}
    process = subprocess.Popen([sys.executable, "-c", _KILLABLE_RUN, str(questions), str(output)], env=environment,
                               start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if output.exists() and output.read_text().count("\n") >= 3:
            break
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    written = output.read_text().count("\n")
    assert 3 <= written < 12, "the kill came too late to test resuming"
    with Engine(workers=2, limits=Limits(test_cpu_seconds=0.3, program_cpu_seconds=2.0)) as engine:
        resumed_rows, summary = audit_rows(rows, engine, output, reference_column="reference")
        assert summary.resumed == written
        fresh_rows, _ = audit_rows(rows, engine, tmp_path / "fresh.jsonl", reference_column="reference")
    assert [row["id"] for row in resumed_rows] == [row["id"] for row in rows]
    assert resumed_rows == fresh_rows
    assert output.read_text() == (tmp_path / "fresh.jsonl").read_text()


def _scored(identifier: str, kill_rate: object, rates: list[float]) -> dict:
    inferences = [{"completion": f"def f():\n    return {n}\n", "program": f"def f():\n    return {n}\n",
                   "pass_rate": rate} for n, rate in enumerate(rates)]  # fmt: skip
    row = {"id": identifier, "question": "Write f().", "test_cases": ["assert f() == 0"] * 5, "inferences": inferences}
    return row if kill_rate is None else {**row, "kill_rate": kill_rate}


def test_pairs_and_hard_subset_leave_out_questions_below_the_kill_rate(tmp_path: Path, capsys) -> None:
    rows = [_scored("strong", 0.9, [1.0, 0.2, 0.0]), _scored("weak", 0.3, [1.0, 0.4, 0.0]),
            _scored("unaudited", None, [1.0, 0.2, 0.0]), _scored("no-mutants", None, [0.8, 0.2, 0.0])]  # fmt: skip
    rates = tmp_path / "rates.jsonl"
    rates.write_text("".join(json.dumps(row) + "\n" for row in rows))
    pairs = tmp_path / "pairs.jsonl"
    assert main(["pairs", "--input", str(rates), "--output", str(pairs), "--min-kill-rate", "0.5"]) == 0
    assert {json.loads(line)["id"] for line in pairs.read_text().splitlines()} == {"strong"}
    assert "kept 1 of 4 questions (1 below it, 2 without a kill rate)" in capsys.readouterr().err
    assert main(["pairs", "--input", str(rates), "--output", str(pairs), "--min-kill-rate", "0.3"]) == 0
    assert {json.loads(line)["id"] for line in pairs.read_text().splitlines()} == {"strong", "weak"}  # 0.3 is in
    hard = tmp_path / "hard.jsonl"
    assert main(["hard-subset", "--input", str(rates), "--output", str(hard), "--min-kill-rate", "0.5"]) == 0
    assert [json.loads(line)["id"] for line in hard.read_text().splitlines()] == ["strong"]
    assert main(["hard-subset", "--input", str(rates), "--output", str(hard)]) == 0  # no flag: all take part
    assert {"strong"} < {json.loads(line)["id"] for line in hard.read_text().splitlines()}
    unaudited = tmp_path / "unaudited.jsonl"
    unaudited.write_text(json.dumps(rows[2]) + "\n")
    capsys.readouterr()
    assert main(["hard-subset", "--input", str(unaudited), "--output", str(hard), "--min-kill-rate", "0.5"]) == 2
    assert "run `acecoder audit" in capsys.readouterr().err


def test_passrate_carries_the_kill_rate_and_report_summarizes_it(tmp_path: Path) -> None:
    from acecoder.report import format_table, summarize

    rows = [{**_scored("a", 0.25, []), "inferences": [{"completion": "def f():\n    return 0\n"}]},
            {**_scored("b", 0.75, []), "inferences": [{"completion": "def f():\n    return 1\n"}]}]  # fmt: skip
    questions = tmp_path / "samples.jsonl"
    questions.write_text("".join(json.dumps(row) + "\n" for row in rows))
    rates = tmp_path / "rates.jsonl"
    assert main(["passrate", "--input", str(questions), "--output", str(rates), "--workers", "1", "--quiet"]) == 0
    scored = [json.loads(line) for line in rates.read_text().splitlines()]
    assert [(row["kill_rate"], row["inferences"][0]["pass_rate"]) for row in scored] == [(0.25, 1.0), (0.75, 0.0)]
    summary = summarize(scored)
    assert (summary["questions_audited"], summary["kill_rate_mean"], summary["kill_rate_median"]) == (2, 0.5, 0.5)
    assert "kill rate of the tests (mean)" in format_table(summary)
    assert "questions_audited" not in summarize([_scored("x", None, [1.0])])


def test_command_reads_the_oracle_solution_synth_keeps_by_default(tmp_path: Path) -> None:
    questions = tmp_path / "questions.jsonl"
    row = {"id": "adult", "question": "?", "test_cases": ADULT_TESTS, "provenance": {"oracle_solution": ADULT}}
    questions.write_text(json.dumps(row) + "\n")
    output = tmp_path / "audit.jsonl"
    assert main(["audit", "--input", str(questions), "--output", str(output), "--workers", "1", "--quiet",
                 "--plot", str(tmp_path / "plot.png")]) == 0  # fmt: skip
    [audited] = [json.loads(line) for line in output.read_text().splitlines()]
    assert audited["kill_rate"] == 0.25 and audited["provenance"] == row["provenance"]


def test_a_row_calibrated_limit_is_the_limit_of_its_tests(tmp_path: Path) -> None:
    # The reference needs about 0.1 CPU s per test: under the command's 0.02 s it fails its own tests, under the
    # row's calibrated 3 s (acecoder calibrate's test_cpu_seconds column) it passes and the audit goes on.
    slow = "def total(n):\n    value = 0\n    for i in range(n):\n        value += i\n    return value\n"
    expected = sum(range(1_500_000))
    row = {"id": "slow", "question": "?", "reference": slow, "test_cases": [f"assert total(1_500_000) == {expected}"]}
    questions = tmp_path / "questions.jsonl"
    questions.write_text(
        json.dumps(row) + "\n" + json.dumps({**row, "id": "calibrated", "test_cpu_seconds": 3.0}) + "\n"
    )
    output = tmp_path / "audit.jsonl"
    main(["audit", "--input", str(questions), "--output", str(output), "--reference-column", "reference",
          "--test-cpu-seconds", "0.02", "--workers", "2", "--quiet", "--plot", str(tmp_path / "plot.png")])  # fmt: skip
    audits = {json.loads(line)["id"]: json.loads(line)["audit"] for line in output.read_text().splitlines()}
    assert audits["slow"]["status"] == "reference_fails"
    assert audits["calibrated"]["status"] == "audited" and audits["calibrated"]["kill_rate"] > 0
