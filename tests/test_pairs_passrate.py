"""The pass-rate step: code extraction from completions, exact pass rates on hand-made rows, hostile programs,
resume after a kill mid-run and after a torn last line, and the ``acecoder passrate`` command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from acecoder.cli import main
from acecoder.data.acecode import write_rows
from acecoder.pairs.passrate import check_rows, score_rows

ADD_TESTS = ["assert add(1, 2) == 3", "assert add(0, 0) == 0", "assert add(-1, 1) == 0", "assert add(2, 2) == 4"]


def inference(number: int, completion: str) -> dict:
    return {"model_name": "hand", "completion_id": number, "completion": completion}


ROWS = [
    {
        "id": "add",
        "question": "Write add(a, b).",
        "test_cases": ADD_TESTS,
        "inferences": [
            inference(0, "Sure:\n```python\ndef add(a, b):\n    return a + b\n```\nDone."),
            inference(1, "def add(a, b):\n    return a - b if a == 2 else a + b\n"),  # fails add(2, 2) only
            # Its own trailing test is wrong, but it is top-level test code: dropped, so the program passes.
            inference(2, "```python\ndef add(a, b):\n    return a + b\n\nassert add(1, 1) == 3\n```"),
            inference(3, "def add(a, b):\n    while True:\n        pass\n"),  # every test times out
            inference(4, ""),  # nothing: every test fails
            inference(5, "Sure:\n```python\ndef add(a, b):\n    return a + b\n```\nDone."),  # duplicate of 0
        ],
    },
    {"id": "no-tests", "question": "Anything.", "test_cases": [], "inferences": [inference(0, "x = 1")]},
    {"id": "no-inferences", "question": "Nothing sampled.", "test_cases": ["assert True"], "inferences": []},
]


def test_pass_rates_are_exact(engine, tmp_path):
    output = tmp_path / "rates.jsonl"
    summary = score_rows(ROWS, engine, output)
    rows = {row["id"]: row for row in map(json.loads, output.read_text().splitlines())}
    rates = [item["pass_rate"] for item in rows["add"]["inferences"]]
    assert rates == [1.0, 0.75, 1.0, 0.0, 0.0, 1.0]
    first = rows["add"]["inferences"][0]
    assert first["program"].strip() == "def add(a, b):\n    return a + b"
    assert first["test_statuses"] == ["passed"] * 4
    assert rows["add"]["inferences"][1]["test_statuses"] == ["passed", "passed", "passed", "failed"]
    assert "assert add(1, 1)" not in rows["add"]["inferences"][2]["program"]
    assert set(rows["add"]["inferences"][3]["test_statuses"]) == {"timeout"}
    assert rows["no-tests"]["inferences"][0]["pass_rate"] is None
    assert rows["no-inferences"]["inferences"] == []
    assert summary.scored == 3 and summary.programs == 7
    # Completions 0, 2 and 5 hold the same program once test code is stripped: it ran once. The row without tests
    # ran nothing.
    assert summary.jobs_run == 4


def test_pass_rate_divides_by_the_rows_tests(engine, tmp_path):
    row = {
        "id": "r",
        "question": "q",
        "test_cases": ADD_TESTS[:2] + ["assert add(5, 5) == 11"],
        "inferences": [inference(0, "def add(a, b):\n    return a + b\n")],
    }
    score_rows([row], engine, tmp_path / "out.jsonl")
    scored = json.loads((tmp_path / "out.jsonl").read_text())
    assert scored["inferences"][0]["pass_rate"] == pytest.approx(2 / 3)


def test_malformed_rows_are_rejected_before_any_work(engine, tmp_path):
    with pytest.raises(ValueError, match="row 2"):
        check_rows([ROWS[0], {"id": "x", "question": "q", "test_cases": "assert True", "inferences": []}])


def slow_rows(count: int) -> list[dict]:
    program = "import time\ntime.sleep(0.15)\ndef one():\n    return 1\n"
    return [
        {
            "id": f"q{number}",
            "question": "q",
            "test_cases": ["assert one() == 1"],
            "inferences": [inference(0, program)],
        }
        for number in range(count)
    ]


def test_resume_after_a_kill_mid_run(tmp_path):
    source = tmp_path / "rows.jsonl"
    write_rows(slow_rows(40), source)
    output = tmp_path / "rates.jsonl"
    command = [
        sys.executable,
        "-m",
        "acecoder",
        "passrate",
        "--input",
        str(source),
        "--output",
        str(output),
        "--workers",
        "1",
        "--quiet",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if output.exists() and len(output.read_text().splitlines()) >= 5:
                break
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    written_before = len(output.read_text().splitlines())
    assert 5 <= written_before < 40, "the kill should land mid-run"
    with open(output, "a") as handle:
        handle.write('{"id": "q39", "question": "torn')  # a torn last line, as a kill mid-write leaves
    assert main(["passrate", "--input", str(source), "--output", str(output), "--workers", "2", "--quiet"]) == 0
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert sorted(row["id"] for row in rows) == sorted(f"q{number}" for number in range(40))
    assert all(row["inferences"][0]["pass_rate"] == 1.0 for row in rows)


def test_passrate_command_writes_parquet(tmp_path, capsys):
    pytest.importorskip("datasets")
    source = tmp_path / "rows.jsonl"
    write_rows(ROWS, source)
    output = tmp_path / "rates.parquet"
    assert (
        main(
            [
                "passrate",
                "--input",
                str(source),
                "--output",
                str(output),
                "--workers",
                "2",
                "--quiet",
                "--test-cpu-seconds",
                "1",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "scored 3" in printed and "/s)" in printed
    from acecoder.data.acecode import read_acecode

    rows = read_acecode(output)
    assert [row["id"] for row in rows] == ["add", "no-tests", "no-inferences"]
    assert [item["pass_rate"] for item in rows[0]["inferences"]] == [1.0, 0.75, 1.0, 0.0, 0.0, 1.0]
    assert main(["passrate", "--input", str(tmp_path / "missing.jsonl"), "--output", str(output)]) == 2
