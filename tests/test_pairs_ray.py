"""The pass-rate step over Ray: the same pass rates as ``score_rows`` on hand-made rows, resume, a cluster the
call starts itself (and stops), the caller's cluster left running (with the actors' CPUs given back), and
``acecoder passrate --ray``. One small local cluster serves the rest of the module; none may leave a process
behind."""

from __future__ import annotations

import json
import os
import time

import pytest

ray = pytest.importorskip("ray")

from acecoder.cli import main  # noqa: E402
from acecoder.data.acecode import write_rows  # noqa: E402
from acecoder.pairs.passrate import score_rows  # noqa: E402
from acecoder.pairs.ray_runner import actor_plan, score_rows_with_ray  # noqa: E402
from conftest import FAST_LIMITS, descendants  # noqa: E402

# Deprecation notices raised inside Ray itself (some versions have them) are not ours to fix; ours still fail.
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.*"),
    pytest.mark.filterwarnings("ignore::FutureWarning:ray.*"),
]

ADD_TESTS = ["assert add(1, 2) == 3", "assert add(0, 0) == 0", "assert add(-1, 1) == 0", "assert add(2, 2) == 4"]
CORRECT = "Here you go:\n```python\ndef add(a, b):\n    return a + b\n```\nIt adds."
WRONG = "```python\ndef add(a, b):\n    return a - b if a == 2 else a + b\n```"  # fails add(2, 2) only
LOOP = "def add(a, b):\n    while True:\n        pass\n"  # every test times out
BROKEN = "```python\ndef add(a, b)\n    return a + b\n```"  # a syntax error: every test fails


def inference(number: int, completion: str) -> dict:
    return {"model_name": "hand", "completion_id": number, "completion": completion}


def hand_rows() -> list[dict]:
    rows = [
        {
            "id": "add",
            "question": "Write add(a, b).",
            "test_cases": ADD_TESTS,
            "inferences": [inference(0, CORRECT), inference(1, WRONG), inference(2, LOOP), inference(3, CORRECT)],
        },
        {"id": "no-tests", "question": "Anything.", "test_cases": [], "inferences": [inference(0, "x = 1")]},
        {"id": "no-inferences", "question": "Nothing sampled.", "test_cases": ["assert True"], "inferences": []},
    ]
    for number in range(8):  # enough rows for several runs per actor at chunk_jobs=3
        completions = [CORRECT, WRONG, BROKEN][number % 3 :] + [CORRECT]
        rows.append(
            {
                "id": f"q{number}",
                "question": "Write add(a, b).",
                "test_cases": ADD_TESTS[: 2 + number % 3],
                "inferences": [inference(index, text) for index, text in enumerate(completions)],
            }
        )
    return rows


@pytest.fixture(scope="module")
def cluster():
    before = descendants(os.getpid())
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()
        deadline = time.monotonic() + 20
        while descendants(os.getpid()) - before and time.monotonic() < deadline:
            time.sleep(0.1)
        assert descendants(os.getpid()) - before == set(), "Ray left processes behind"


def read_rows(path) -> dict[str, dict]:
    return {row["id"]: row for row in map(json.loads, path.read_text().splitlines())}


def test_actor_plan_fills_the_cluster():
    assert actor_plan(8, None) == (4, 2)
    assert actor_plan(2, 2) == (2, 1)
    assert actor_plan(1, None) == (1, 1)
    assert actor_plan(16, 3) == (3, 5)
    with pytest.raises(ValueError, match="no CPUs"):
        actor_plan(0, None)
    with pytest.raises(ValueError, match="actors"):
        actor_plan(4, 0)


def test_starts_and_stops_its_own_cluster(tmp_path):
    # Runs before the module's cluster exists: the call starts a local Ray, and shuts down only what it started.
    if ray.is_initialized():
        pytest.skip("a Ray cluster is already running in this process")
    before = descendants(os.getpid())
    rows = [row for row in hand_rows() if row["id"] in ("q0", "q1")]
    summary = score_rows_with_ray(rows, tmp_path / "rates.jsonl", actors=1, limits=FAST_LIMITS)
    assert (summary.scored, summary.jobs_run) == (2, 6)
    assert not ray.is_initialized()
    deadline = time.monotonic() + 20
    while descendants(os.getpid()) - before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert descendants(os.getpid()) - before == set()


def test_same_pass_rates_as_score_rows(cluster, engine, tmp_path):
    rows = hand_rows()
    single = score_rows(rows, engine, tmp_path / "single.jsonl", chunk_jobs=3)
    sharded = score_rows_with_ray(rows, tmp_path / "ray.jsonl", actors=2, limits=FAST_LIMITS, chunk_jobs=3)
    expected, got = read_rows(tmp_path / "single.jsonl"), read_rows(tmp_path / "ray.jsonl")
    assert got == expected
    assert [item["pass_rate"] for item in got["add"]["inferences"]] == [1.0, 0.75, 0.0, 1.0]
    assert set(got["add"]["inferences"][2]["test_statuses"]) == {"timeout"}
    assert got["no-tests"]["inferences"][0]["pass_rate"] is None
    for field in ("questions", "scored", "resumed", "programs", "jobs_run", "tests_run", "statuses"):
        assert getattr(sharded, field) == getattr(single, field), field
    assert sharded.seconds > 0
    # The caller's cluster lives on, and the actors gave their CPUs back.
    assert ray.is_initialized()
    deadline = time.monotonic() + 20
    while ray.available_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ray.available_resources().get("CPU", 0) == 2


def test_resume_skips_rows_already_written(cluster, engine, tmp_path):
    rows = [row for row in hand_rows() if row["id"] != "add"]  # no timeouts: quick
    output = tmp_path / "rates.jsonl"
    score_rows(rows[:3], engine, output)
    seen: list[tuple[int, int]] = []
    summary = score_rows_with_ray(
        rows,
        output,
        actors=1,
        limits=FAST_LIMITS,
        chunk_jobs=4,
        progress=lambda label, done, total: seen.append((done, total)),
    )
    assert (summary.resumed, summary.scored, summary.questions) == (3, len(rows) - 3, len(rows))
    lines = output.read_text().splitlines()
    assert sorted(json.loads(line)["id"] for line in lines) == sorted(row["id"] for row in rows)
    assert seen and seen[-1] == (len(rows), len(rows))
    again = score_rows_with_ray(rows, output, actors=1, limits=FAST_LIMITS)
    assert (again.resumed, again.scored, again.jobs_run) == (len(rows), 0, 0)
    assert output.read_text().splitlines() == lines


def test_passrate_command_with_ray(cluster, tmp_path, capsys):
    pytest.importorskip("datasets")
    rows = hand_rows()
    source = tmp_path / "rows.jsonl"
    write_rows(rows, source)
    output = tmp_path / "rates.parquet"
    command = [
        "passrate",
        "--input",
        str(source),
        "--output",
        str(output),
        "--ray",
        "--ray-actors",
        "2",
        "--test-cpu-seconds",
        "1",
        "--quiet",
    ]
    assert main(command) == 0
    assert f"scored {len(rows)}" in capsys.readouterr().out
    from acecoder.data.acecode import read_acecode

    written = read_acecode(output)
    assert [row["id"] for row in written] == [row["id"] for row in rows]  # Parquet keeps the input order
    assert [item["pass_rate"] for item in written[0]["inferences"]] == [1.0, 0.75, 0.0, 1.0]
    assert main(command) == 0
    assert f"resumed {len(rows)}" in capsys.readouterr().out
