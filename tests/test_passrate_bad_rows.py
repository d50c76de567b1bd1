"""One bad row never costs the rest: a lone surrogate, a JSON array, ``test_cases`` as a string, a line that is
not UTF-8 and a repeated id, all in one ``acecoder passrate`` input. Every row comes out, in input order, with its
own result or an error record naming its row, with and without resume (a run on a prefix, a run killed mid-way),
as JSON lines and as Parquet; the exit status says some rows erred, and ``--strict`` stops at the first. A 20 MB
completion is scored in bounded memory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from acecoder.cli import main

GOOD = "```python\ndef f(x):\n    return x\n```"
BAD = "def f(x):\n    return None\n"


def line(row: object) -> bytes:
    return json.dumps(row).encode() + b"\n"


def question(identifier: str, tests: object, completion: str) -> dict:
    return {"id": identifier, "question": "Write f.", "test_cases": tests,
            "inferences": [{"model_name": "hand", "completion_id": 0, "completion": completion}]}  # fmt: skip


# The failing input first: each of these lines once crashed the run or lost a row.
LINES = [
    line(question("a", ["assert f(1) == 1"], GOOD)),
    # json.dumps writes "\udcff" as the escape "\\udcff", which json.loads turns back into a lone surrogate.
    line(question("surrogate", ["assert f('\udcff') == '\udcff'"], GOOD + "\n# \udcff")),
    line(["an", "array"]),
    line(question("string-tests", "assert f(1) == 1", GOOD)),
    b'{"id": "latin-1", "question": "caf\xe9"}\n',
    line(question("a", ["assert f(1) == 1"], BAD)),  # the id again, a different program: its own result
    line(question("b", ["assert f(2) == 2"], GOOD)),
]
EXPECTED = [  # (id, pass rate or the start of the error)
    ("a", 1.0),
    ("surrogate", 1.0),
    (None, "line 3: an array, not an object"),
    ("string-tests", "'test_cases' is not a list of strings"),
    (None, "line 5: not UTF-8"),
    ("a", 0.0),
    ("b", 1.0),
]


def write_input(path: Path, count: int = len(LINES)) -> Path:
    path.write_bytes(b"".join(LINES[:count]))
    return path


def passrate(source: Path, output: Path, *flags: str) -> int:
    return main(["passrate", "--input", str(source), "--output", str(output), "--workers", "2", "--test-cpu-seconds", "2",
                 "--quiet", *flags])  # fmt: skip


def read_output(output: Path) -> list[dict]:
    if output.suffix == ".parquet":
        import pyarrow.parquet

        return pyarrow.parquet.read_table(output).to_pylist()
    return [json.loads(text) for text in output.read_text(encoding="utf-8").splitlines()]


def check_output(output: Path) -> None:
    rows = read_output(output)
    assert len(rows) == len(EXPECTED)
    for number, (row, (identifier, expected)) in enumerate(zip(rows, EXPECTED), start=1):
        assert row["id"] == identifier, number
        if isinstance(expected, float):
            assert row.get("error") is None, row
            assert row["inferences"][0]["pass_rate"] == expected, (number, row["inferences"][0])
        else:
            assert row["row"] == number and row["error"].startswith(expected), row


def output_path(tmp_path: Path, suffix: str) -> Path:
    if suffix == ".parquet":
        pytest.importorskip("datasets")
    return tmp_path / f"rates{suffix}"


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_every_row_comes_out_in_order_with_its_result_or_error(tmp_path, capsys, suffix):
    output = output_path(tmp_path, suffix)
    assert passrate(write_input(tmp_path / "rows.jsonl"), output) == 1  # some rows erred: not a success
    check_output(output)
    captured = capsys.readouterr()
    assert "scored 4" in captured.out and "errors 3" in captured.out
    assert "3 of 7 rows could not be scored" in captured.err and "row 3: line 3" in captured.err
    if suffix == ".jsonl":  # the surrogate is kept exactly, escaped on disk
        surrogate = read_output(output)[1]
        assert surrogate["test_cases"] == ["assert f('\udcff') == '\udcff'"]
        assert "\\udcff" in output.read_text(encoding="utf-8").splitlines()[1]


@pytest.mark.parametrize("prefix", [1, 3, 5])
@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_a_resumed_run_writes_what_an_uninterrupted_one_does(tmp_path, suffix, prefix):
    # Interrupted after `prefix` rows (a run on the file's first lines): the rerun on the whole file scores the rest,
    # the second "a" included, which once was skipped as already done.
    output = output_path(tmp_path, suffix)
    passrate(write_input(tmp_path / "head.jsonl", prefix), output)
    assert len(read_output(output)) == prefix
    assert passrate(write_input(tmp_path / "rows.jsonl"), output) == 1
    check_output(output)
    assert passrate(tmp_path / "rows.jsonl", output) == 1  # nothing left to do; the error records still count
    check_output(output)


def test_strict_stops_at_the_first_bad_row_before_any_work(tmp_path, capsys):
    output = tmp_path / "rates.jsonl"
    assert passrate(write_input(tmp_path / "rows.jsonl"), output, "--strict") == 2
    assert "row 3: line 3: an array, not an object" in capsys.readouterr().err
    assert not output.exists()


@pytest.mark.parametrize("verb", ["pairs", "hard-subset", "sample"])
def test_readers_of_the_same_input_name_the_line(tmp_path, capsys, verb):
    source = write_input(tmp_path / "rows.jsonl")
    arguments = [verb, "--input", str(source), "--output", str(tmp_path / "out.jsonl")]
    if verb == "sample":
        arguments += ["--backend", "openai", "--base-url", "http://127.0.0.1:9", "--model", "none"]
    assert main(arguments) == 2
    assert "line 3: an array, not an object" in capsys.readouterr().err


@pytest.mark.parametrize("verb", ["pairs", "sample"])
def test_readers_that_prompt_with_the_tests_refuse_a_string_of_tests(tmp_path, capsys, verb):
    source = tmp_path / "rows.jsonl"
    source.write_bytes(LINES[0] + LINES[3])
    arguments = [verb, "--input", str(source), "--output", str(tmp_path / "out.jsonl")]
    if verb == "sample":
        arguments += ["--backend", "openai", "--base-url", "http://127.0.0.1:9", "--model", "none"]
    assert main(arguments) == 2
    assert "row 2 (id 'string-tests'): 'test_cases' is not a list of strings" in capsys.readouterr().err


def test_pairs_leave_out_the_error_records_of_a_passrate_output(tmp_path, capsys):
    rates = tmp_path / "rates.jsonl"
    passrate(write_input(tmp_path / "rows.jsonl"), rates)
    capsys.readouterr()
    main(["hard-subset", "--input", str(rates), "--output", str(tmp_path / "hard.jsonl")])
    assert "left out 3 error records" in capsys.readouterr().err


SCORE_A_LARGE_COMPLETION = """
import json, sys
from pathlib import Path
from acecoder.cli import main
source, output, peak = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
statements = "x = compute(1, 2) + 3\\n" * (20_000_000 // 22)
rows = [{"id": "large", "question": "q", "test_cases": ["assert f(1) == 1"],
         "inferences": [{"completion": statements}, {"completion": "def f(x):\\n    return x\\n"}]}]
source.write_text(json.dumps(rows[0]) + "\\n")
del rows, statements
code = main(["passrate", "--input", str(source), "--output", str(output), "--workers", "1", "--quiet"])
# KiB, this program's own high-water mark. Not getrusage: Linux carries ru_maxrss across exec, so it would report
# the forking pytest process's size.
peak.write_text(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))
sys.exit(code)
"""


def test_a_20_mb_completion_is_scored_in_bounded_memory(tmp_path):
    output = tmp_path / "rates.jsonl"
    peak = tmp_path / "peak_kib.txt"
    subprocess.run([sys.executable, "-c", SCORE_A_LARGE_COMPLETION, str(tmp_path / "rows.jsonl"), str(output),
                    str(peak)], check=True, timeout=600)  # fmt: skip
    # The run's own peak, read in the run: RUSAGE_CHILDREN here would be the largest child of this whole session.
    peak_mib = int(peak.read_text()) / 1024
    assert peak_mib < 1024, f"peak {peak_mib:.0f} MiB"
    inferences = json.loads(output.read_text())["inferences"]
    assert inferences[0]["status"] == "completion_too_long" and inferences[0]["pass_rate"] == 0.0
    assert inferences[1]["pass_rate"] == 1.0


def test_a_run_killed_mid_way_resumes_to_the_same_rows(tmp_path):
    # Slow rows around the bad lines, so the kill lands mid-run; the rerun completes the file in input order.
    slow = "```python\nimport time\ntime.sleep(0.1)\ndef f(x):\n    return x\n```"
    lines = [line(question(f"slow{number}", ["assert f(1) == 1"], slow)) for number in range(12)]
    source = tmp_path / "rows.jsonl"
    source.write_bytes(b"".join(lines[:6]) + b"".join(LINES) + b"".join(lines[6:]))
    output = tmp_path / "rates.jsonl"
    command = [sys.executable, "-m", "acecoder", "passrate", "--input", str(source), "--output", str(output),
               "--workers", "1", "--quiet"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (output.exists() and len(output.read_bytes().splitlines()) >= 3):
            time.sleep(0.02)
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    assert 3 <= len(output.read_bytes().splitlines()) < 19, "the kill should land mid-run"
    assert passrate(source, output) == 1
    rows = read_output(output)
    assert [row["id"] for row in rows] == [f"slow{number}" for number in range(6)] + [
        identifier for identifier, _ in EXPECTED] + [f"slow{number}" for number in range(6, 12)]  # fmt: skip
    assert [row["row"] for row in rows if row.get("error")] == [9, 10, 11]
