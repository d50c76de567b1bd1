"""The benchmark's building blocks: workloads have the advertised shape, the bare floor computes what acecoder
computes, and ``acecoder bench`` runs end to end. Behaviour only; no assertion about speed."""

from __future__ import annotations

import os

import pytest
from acecoder.cli import main
from acecoder.exec import Engine, Limits, usable_cpus
from acecoder.speed.floor import BareFloor
from acecoder.speed.table import count_mismatches, cpu_snapshot, format_table, other_cores, percentile
from acecoder.speed.workloads import TESTS_PER_TINY_PROGRAM, WORKLOADS, build_workload
from conftest import SHARED, descendants


@pytest.mark.parametrize("name", WORKLOADS)
@pytest.mark.parametrize("count", [1, 7, 130])
def test_workloads_build_the_requested_number_of_jobs(name: str, count: int) -> None:
    workload = build_workload(name, count)
    assert len(workload.programs) == len(workload.tests) == len(workload) == count
    assert all(isinstance(program, str) and program for program in workload.programs)
    assert all(tests and all("assert" in test for test in tests) for tests in workload.tests)
    assert workload.test_count == sum(map(len, workload.tests))
    assert workload.test_seconds > 0


def test_tiny_workload_has_ten_asserts_per_program_and_varied_programs() -> None:
    workload = build_workload("tiny", 200)
    assert all(len(tests) == TESTS_PER_TINY_PROGRAM for tests in workload.tests)
    assert workload.test_count == 200 * TESTS_PER_TINY_PROGRAM
    assert len(set(workload.programs)) > 100
    functions = {program.split("def ", 1)[1].split("(", 1)[0] for program in workload.programs}
    assert len(functions) >= 5


def test_mixed_workload_has_a_small_time_limit_and_every_kind_of_job() -> None:
    workload = build_workload("mixed", 100)
    assert workload.test_seconds <= 1
    assert sum("while True" in program for program in workload.programs) == 2
    assert sum("undefined_setting" in program for program in workload.programs) == 2
    assert sum("// 0" in program for program in workload.programs) == 2
    assert sum(any("'wrong'" in test for test in tests) for tests in workload.tests) == 30


def test_workloads_are_deterministic() -> None:
    first, second = build_workload("mixed", 50, seed=3), build_workload("mixed", 50, seed=3)
    assert (first.programs, first.tests) == (second.programs, second.tests)


def test_mbpp_workload_repeats_the_bundled_canonical_solutions() -> None:
    from acecoder.data.bundled import load_demo_sample

    canonical = [row for row in load_demo_sample() if row["variant"] == "canonical"]
    workload = build_workload("mbpp", len(canonical) + 5)
    assert workload.programs[: len(canonical)] == [row["program"] for row in canonical]
    assert workload.programs[len(canonical) :] == [row["program"] for row in canonical[:5]]
    assert workload.tests[0] == canonical[0]["tests"]


def test_mbpp_workload_reads_an_mbpp_plus_release_file() -> None:
    path = SHARED / "data" / "MbppPlus.jsonl.gz"
    if not path.exists():
        pytest.skip(f"{path} not found (set ACECODER_SHARED)")
    workload = build_workload("mbpp", 400, mbpp_path=path)
    assert len(workload) == 400
    assert len(set(workload.programs)) > 300  # every one of the 378 tasks, then a few again
    assert all(any("assert" in test for test in tests) for tests in workload.tests)


def test_unknown_workload_and_bad_count_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown workload"):
        build_workload("huge", 10)
    with pytest.raises(ValueError, match="positive"):
        build_workload("tiny", 0)


def test_floor_computes_the_same_pass_counts_as_acecoder() -> None:
    workload = build_workload("mixed", 60, seed=1)  # failures, errors and one infinite loop
    with Engine(workers=2, limits=Limits(test_cpu_seconds=workload.test_seconds)) as engine:
        expected = [result.passed for result in engine.run(workload.programs, workload.tests)]
    with BareFloor(2, test_seconds=workload.test_seconds) as floor:
        result = floor.run(workload.programs, workload.tests)
    assert result.passed == expected
    assert len(set(expected)) > 1  # the workload really mixes outcomes
    assert len(result.latencies) == len(workload) and all(latency > 0 for latency in result.latencies)


def test_floor_survives_printing_programs_and_leaves_no_process_behind() -> None:
    with BareFloor(1, test_seconds=1.0) as floor:
        result = floor.run(
            ["print('noise ' * 1000)\ndef f():\n    return 2\n", "raise ValueError('boom')"],
            [["assert f() == 2", "print('more')", "assert f() == 3"], ["assert True"]],
        )
    assert result.passed == [2, 0]
    assert descendants(os.getpid()) == set()


def test_floor_default_workers_are_the_engines(monkeypatch: pytest.MonkeyPatch) -> None:
    """One CPU count for both sides of the comparison: the floor falls back to the CPU count where the affinity
    mask cannot be read, exactly as the engine does."""

    def refused(pid: int) -> set[int]:
        raise OSError("no affinity here")

    monkeypatch.setattr(os, "sched_getaffinity", refused)
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    with BareFloor(test_seconds=1.0) as floor:
        assert floor.workers == usable_cpus() == 1
        assert floor.run(["x = 1"], [["assert x == 1"]]).passed == [1]


def test_report_helpers() -> None:
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([1.0, 2.0], 1.0) == 2.0
    assert count_mismatches([1, 2, 3], [1, 0, 3]) == 1
    assert count_mismatches([1, 2], [1]) == 1
    table = format_table(["runner", "programs/s"], [["acecoder", "1,000"]])
    assert "runner" in table and "1,000" in table
    before = cpu_snapshot()
    sum(range(100_000))
    assert other_cores(before, cpu_snapshot(), 0.5) >= 0.0


def test_bench_cli_prints_latency_throughput_and_the_floor(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--workload", "tiny", "--jobs", "40", "--workers", "1"]) == 0
    output = capsys.readouterr().out
    assert "acecoder bench: workload tiny, 40 programs, 400 tests" in output
    for header in ("p50 ms", "p90 ms", "p99 ms", "programs/s", "tests/s"):
        assert header in output
    lines = output.splitlines()
    assert any(line.strip().startswith("acecoder ") for line in lines)
    assert any(line.strip().startswith("bare floor ") for line in lines)
    assert "acecoder / bare floor:" in output
    assert "40/40 jobs agree with the bare floor" in output


def test_bench_cli_rejects_a_bad_job_count(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--jobs", "0", "--workers", "1"]) == 2
    assert "--jobs" in capsys.readouterr().err
