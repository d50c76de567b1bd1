"""Execution benchmark: acecoder against the harness patterns people use, on the same jobs, in one run.

Runners (all with the same number of workers and the same per-test time limit):

- ``acecoder``: ``Engine.run`` (a judge and a sandboxed runner per worker, a runner forked per program run, never
  forks the caller);
- ``previous commit`` (with ``--previous COMMIT``): that commit's engine, built beside this checkout and run in a
  process of its own (``previous.py``), its batches alternated with acecoder's on pools kept warm, so both see the
  same minutes of a drifting machine;
- ``bare floor``: warm unisolated Python workers that fork per job (``acecoder.speed.floor``), the least
  work a fork-per-job design can do, so acecoder's price for isolation shows as the ratio to it;
- ``evalplus pattern``: evalplus/AceCoder's process pool with one ``multiprocessing.Process`` per program
  (``baselines.EvalplusPattern``);
- ``subprocess``: a fresh ``python -c`` per program (``baselines.SubprocessRunner``).

Workloads: ``tiny`` (2,000 programs x 10 asserts), ``mbpp`` (MBPP+ canonical solutions with their asserts) and
``mixed`` (failures, errors and infinite loops). Then everything again with the caller holding ~4 GB of touched
memory, as an RL trainer does: patterns that fork the caller (or copies of it) pay for its page tables on every
program; acecoder's workers are separate small processes and should not notice.

Pools are started and warmed before timing; only the batch is timed. Every runner's per-job pass counts are
compared with acecoder's and the number of differing jobs is printed. Figures go to stdout and to
``benches/results/bench_exec.json``.

    .venv/bin/python benches/bench_exec.py            # full run (several minutes on 2 cores)
    .venv/bin/python benches/bench_exec.py --quick    # smaller batches
    .venv/bin/python benches/bench_exec.py --previous 3643795 --repeat 3   # against that commit's engine
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from acecoder.exec import Engine, Limits
from acecoder.speed.floor import BareFloor
from acecoder.speed.table import Measurement, count_mismatches, format_table, rate, timed_batch
from acecoder.speed.workloads import Workload, build_workload

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baselines import EvalplusPattern, SubprocessRunner  # noqa: E402
from previous import PreviousEngine, build  # noqa: E402

Value = TypeVar("Value")
RUNNERS = ("acecoder", "bare floor", "evalplus pattern", "subprocess")
FULL_SIZES = {"tiny": 2000, "mbpp": 756, "mixed": 800}  # mbpp: each of the 378 MBPP+ tasks twice
QUICK_SIZES = {"tiny": 300, "mbpp": 150, "mixed": 150}
SHARED_MBPP_PLUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "MbppPlus.jsonl.gz"
RESULTS = Path(__file__).resolve().parent / "results" / "bench_exec.json"


# ------------------------------------------------------------------------------------------------------ runners


def _warm_up_slice(workload: Workload, workers: int) -> tuple[list[str], list[list[str]]]:
    count = min(len(workload), 4 * workers)
    return workload.programs[:count], workload.tests[:count]


def _fastest(batch: Callable[[], Value], repeat: int) -> tuple[Value, float, float]:
    """Runs the batch ``repeat`` times on the same warm pool; the fastest run's value, seconds and other load."""
    runs = [timed_batch(batch) for _ in range(max(1, repeat))]
    return min(runs, key=lambda run: run[1])


def measure_acecoder(workload: Workload, workers: int, repeat: int) -> Measurement:
    with Engine(workers=workers, limits=Limits(test_cpu_seconds=workload.test_seconds)) as engine:
        engine.run(*_warm_up_slice(workload, workers))
        results, seconds, other = _fastest(lambda: engine.run(workload.programs, workload.tests), repeat)
    return Measurement(
        "acecoder", workload.name, len(workload), workload.test_count, seconds,
        passed=[result.passed for result in results], latencies=[result.wall_time for result in results],
        other_cores=other,
    )  # fmt: skip


def measure_against_previous(
    workload: Workload, workers: int, repeat: int, previous: Path, ballast_gb: float
) -> tuple[Measurement, Measurement]:
    """acecoder and the previous commit's engine, each on a warm pool, their batches alternated ``repeat`` times;
    each keeps its fastest batch."""
    runs: dict[str, list] = {"acecoder": [], "previous commit": []}
    with (
        Engine(workers=workers, limits=Limits(test_cpu_seconds=workload.test_seconds)) as engine,
        PreviousEngine(previous, workers, workload.test_seconds, ballast_gb) as other,
    ):
        engine.run(*_warm_up_slice(workload, workers))
        other.run(*_warm_up_slice(workload, workers))
        for _ in range(max(1, repeat)):
            results, seconds, load = timed_batch(lambda: engine.run(workload.programs, workload.tests))
            runs["acecoder"].append(([r.passed for r in results], seconds, [r.wall_time for r in results], load))
            passed, seconds, latencies = other.run(workload.programs, workload.tests)
            runs["previous commit"].append((passed, seconds, latencies, None))
    measurements = []
    for runner, attempts in runs.items():
        passed, seconds, latencies, load = min(attempts, key=lambda attempt: attempt[1])
        measurements.append(Measurement(
            runner, workload.name, len(workload), workload.test_count, seconds, passed=passed, latencies=latencies,
            other_cores=load,
        ))  # fmt: skip
    return measurements[0], measurements[1]


def measure_floor(workload: Workload, workers: int, repeat: int) -> Measurement:
    with BareFloor(workers, test_seconds=workload.test_seconds) as floor:
        floor.run(*_warm_up_slice(workload, workers))
        result, seconds, other = _fastest(lambda: floor.run(workload.programs, workload.tests), repeat)
    return Measurement(
        "bare floor", workload.name, len(workload), workload.test_count, seconds,
        passed=result.passed, latencies=result.latencies, other_cores=other,
    )  # fmt: skip


def _measure_runner(name: str, runner_class: Callable, workload: Workload, workers: int, repeat: int) -> Measurement:
    with runner_class(workers, workload.test_seconds) as runner:
        runner.run(*_warm_up_slice(workload, workers))
        passed, seconds, other = _fastest(lambda: runner.run(workload.programs, workload.tests), repeat)
    return Measurement(
        name, workload.name, len(workload), workload.test_count, seconds, passed=passed, other_cores=other
    )


MEASURES: dict[str, Callable[[Workload, int, int], Measurement]] = {
    "acecoder": measure_acecoder,
    "bare floor": measure_floor,
    "evalplus pattern": lambda *arguments: _measure_runner("evalplus pattern", EvalplusPattern, *arguments),
    "subprocess": lambda *arguments: _measure_runner("subprocess", SubprocessRunner, *arguments),
}


def engine_fingerprint() -> tuple[int, int]:
    """Modification time and size of the engine's shared library.

    Workers load that file when they start, while this process keeps the copy it imported: a rebuild during the
    run (``make install`` from another shell) would mix two versions and make acecoder's figures meaningless.
    """
    from acecoder import _engine

    status = os.stat(_engine.__file__)
    return status.st_mtime_ns, status.st_size


# ------------------------------------------------------------------------------------------------------ ballast


def memory_status() -> dict[str, int]:
    """VmSize and VmRSS of this process, in bytes (what a fork of it has to copy page tables for)."""
    figures = {}
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            name, _, value = line.partition(":")
            if name in ("VmSize", "VmRSS"):
                figures[name] = int(value.split()[0]) * 1024
    return figures


def hold_memory(gigabytes: float) -> bytearray:
    """Allocates ``gigabytes`` (10^9 bytes) and writes to every page, so all of it is resident and mapped."""
    size = int(gigabytes * 1e9)
    ballast = bytearray(size)
    page = os.sysconf("SC_PAGE_SIZE")
    ballast[::page] = b"\x01" * len(range(0, size, page))
    return ballast


# ------------------------------------------------------------------------------------------------------ printing

LINE_HEADERS = ("caller", "workload", "runner", "programs", "tests", "seconds", "programs/s", "tests/s",
                "p50 ms", "p90 ms", "p99 ms", "mismatches", "other cores")  # fmt: skip


def measurement_row(memory: str, measurement: Measurement) -> list[object]:
    latency = [f"{measurement.latency_milliseconds(q):.2f}" if measurement.latencies else "-" for q in (0.5, 0.9, 0.99)]
    mismatches = "-" if measurement.mismatches is None else measurement.mismatches
    return [memory, measurement.workload, measurement.runner, measurement.programs, measurement.tests,
            f"{measurement.seconds:.2f}", rate(measurement.programs_per_second), rate(measurement.tests_per_second),
            *latency, mismatches, f"{measurement.other_cores:.2f}" if measurement.other_cores is not None else "-"]  # fmt: skip


def print_line(memory: str, measurement: Measurement) -> None:
    row = [str(cell) for cell in measurement_row(memory, measurement)]
    print(
        f"  {row[0]:<7}{row[1]:<7}{row[2]:<18}{row[3]:>6}{row[4]:>8}{row[5]:>9} s{row[6]:>10} prog/s{row[7]:>10} tests/s"
        f"   p50/p90/p99 {row[8]}/{row[9]}/{row[10]} ms   mismatches {row[11]}   other cores {row[12]}",
        flush=True,
    )


def speedup(measurements: dict, memory: str, workload: str, runner: str) -> float:
    ours = measurements[(memory, workload, "acecoder")].programs_per_second
    theirs = measurements[(memory, workload, runner)].programs_per_second
    return ours / theirs


def target_checks(measurements: dict, workloads: list[str], light: str, heavy: str | None) -> list[dict]:
    """The issue's targets, evaluated on every workload: (name, value per workload, threshold)."""
    checks = [
        ("acecoder >= 1.0x bare floor", light, "bare floor", 1.0),
        ("acecoder >= 2x evalplus pattern", light, "evalplus pattern", 2.0),
        ("acecoder >= 10x subprocess", light, "subprocess", 10.0),
    ]
    if heavy is not None:
        checks.insert(2, (f"acecoder >= 20x evalplus pattern, caller {heavy}", heavy, "evalplus pattern", 20.0))
    rows = []
    for name, memory, runner, threshold in checks:
        values = {workload: speedup(measurements, memory, workload, runner) for workload in workloads}
        rows.append({"target": name, "threshold": threshold, "values": values})
    if heavy is not None:
        values = {}
        for workload in workloads:
            before = measurements[(light, workload, "acecoder")].programs_per_second
            after = measurements[(heavy, workload, "acecoder")].programs_per_second
            values[workload] = after / before
        rows.append({"target": f"acecoder with caller {heavy} >= 0.8x without", "threshold": 0.8, "values": values})
    return rows


# --------------------------------------------------------------------------------------------------------- main


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small batches (a quick check, noisy figures)")
    parser.add_argument("--workers", type=int, default=2, help="workers for every runner (default 2)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="time each batch N times on the same warm pool and keep the fastest, for every runner")  # fmt: skip
    parser.add_argument("--ballast-gb", type=float, default=4.0,
                        help="memory the caller holds in the second half, in 10^9 bytes (0 skips it). The default "
                             "stays under evalplus's absolute 4 GiB RLIMIT_AS, which a larger caller would exceed")  # fmt: skip
    parser.add_argument(
        "--mbpp", type=Path, default=None, help="MBPP+ release file (default ../shared/data if present)"
    )
    parser.add_argument("--workloads", default="tiny,mbpp,mixed", help="comma-separated subset of tiny,mbpp,mixed")
    parser.add_argument(
        "--previous",
        default=None,
        metavar="COMMIT",
        help="also run this commit's engine, alternated with acecoder's (built into benches/.previous)",
    )
    parser.add_argument("--only-previous", action="store_true",
                        help="run acecoder and the previous commit only (skip the other runners)")  # fmt: skip
    parser.add_argument("--output", type=Path, default=RESULTS, help="JSON figures (default benches/results/)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    sizes = QUICK_SIZES if arguments.quick else FULL_SIZES
    mbpp_path = arguments.mbpp or (SHARED_MBPP_PLUS if SHARED_MBPP_PLUS.exists() else None)
    names = [name.strip() for name in arguments.workloads.split(",") if name.strip()]
    workloads = [build_workload(name, sizes[name], mbpp_path=mbpp_path) for name in names]
    print(f"acecoder execution benchmark: {arguments.workers} workers per runner, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, {platform.system()} {platform.release()}")  # fmt: skip
    for workload in workloads:
        source = f" from {mbpp_path.name if mbpp_path else 'the bundled sample'}" if workload.name == "mbpp" else ""
        print(f"  workload {workload.name}: {len(workload)} programs, {workload.test_count} tests{source}, "
              f"per-test limit {workload.test_seconds} s")  # fmt: skip

    previous = build(arguments.previous) if arguments.previous else None
    runners = list(RUNNERS)
    if previous is not None:
        runners.insert(1, "previous commit")
        if arguments.only_previous:
            runners = ["acecoder", "previous commit"]
    light = "0 GB"
    heavy = f"{arguments.ballast_gb:g} GB" if arguments.ballast_gb > 0 else None
    memories = [light] + ([heavy] if heavy else [])
    measurements: dict[tuple[str, str, str], Measurement] = {}
    ballast = None
    fingerprint = engine_fingerprint()
    engine_changed = False
    started = time.perf_counter()
    for memory in memories:
        if memory == heavy:
            ballast = hold_memory(arguments.ballast_gb)
        status = memory_status()
        print(f"\ncaller holding {memory}: VmRSS {status['VmRSS'] / 1e9:.2f} GB, VmSize {status['VmSize'] / 1e9:.2f} GB",
              flush=True)  # fmt: skip
        for workload in workloads:
            reference = None
            for runner in runners:
                if runner == "previous commit":
                    continue  # measured with acecoder, alternated
                if runner == "acecoder" and previous is not None:
                    ballast_gb = arguments.ballast_gb if memory == heavy else 0.0
                    pair = measure_against_previous(workload, arguments.workers, arguments.repeat, previous, ballast_gb)
                else:
                    pair = (MEASURES[runner](workload, arguments.workers, arguments.repeat),)
                for measurement in pair:
                    if reference is None:
                        reference = measurement.passed
                    measurement.mismatches = count_mismatches(reference, measurement.passed)
                    measurements[(memory, workload.name, measurement.runner)] = measurement
                    print_line(memory, measurement)
                if not engine_changed and engine_fingerprint() != fingerprint:
                    engine_changed = True
                    print("  WARNING: the engine library was rebuilt during this run; acecoder's figures from here "
                          "on mix two builds", flush=True)  # fmt: skip
    del ballast
    elapsed = time.perf_counter() - started

    print("\nall figures")
    print(format_table(LINE_HEADERS, [measurement_row(key[0], value) for key, value in measurements.items()], left=3))

    print("\nacecoder's speed-up (its programs/s over each runner's, same caller and workload)")
    ratio_rows = []
    for memory in memories:
        for workload in workloads:
            cells = [f"{speedup(measurements, memory, workload.name, runner):.2f}x" for runner in runners[1:]]
            ratio_rows.append([memory, workload.name, *cells])
    print(format_table(["caller", "workload", *(f"vs {runner}" for runner in runners[1:])], ratio_rows, left=2))

    names = [workload.name for workload in workloads]
    checks = [] if arguments.only_previous else target_checks(measurements, names, light, heavy)
    if previous is not None:
        for memory in memories:
            values = {name: speedup(measurements, memory, name, "previous commit") for name in names}
            checks.append({"target": f"acecoder >= 0.9x the previous commit ({arguments.previous}), caller {memory}",
                           "threshold": 0.9, "values": values})  # fmt: skip
    print("\ntargets (value per workload; PASS when the value meets the threshold)")
    check_rows = []
    for check in checks:
        cells = []
        for name in names:
            value = check["values"][name]
            cells.append(f"{value:.2f}x {'PASS' if value >= check['threshold'] else 'MISS'}")
        check_rows.append([check["target"], *cells])
    print(format_table(["target", *names], check_rows))
    total_mismatches = sum(measurement.mismatches or 0 for measurement in measurements.values())
    print(f"\npass-count mismatches against acecoder, all runners: {total_mismatches}")
    busiest = max(measurements.values(), key=lambda measurement: measurement.other_cores or 0.0)
    print(f"most cores busy outside the benchmark during a batch: {busiest.other_cores or 0.0:.2f} "
          f"({busiest.runner}, {busiest.workload}); figures from batches with other load above ~0.2 are noisy")  # fmt: skip
    print(f"benchmark wall time: {elapsed:.0f} s")
    if engine_changed:
        print("WARNING: the engine library was rebuilt during this run: rerun on a stable build before quoting figures")

    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "system": platform.platform()},
        "settings": {
            "workers": arguments.workers,
            "quick": arguments.quick,
            "ballast_gb": arguments.ballast_gb,
            "repeat": arguments.repeat,
            "sizes": {workload.name: len(workload) for workload in workloads},
        },  # fmt: skip
        "measurements": [dict(caller=key[0], **value.summary()) for key, value in measurements.items()],
        "targets": checks,
        "pass_count_mismatches": total_mismatches,
        "engine_rebuilt_during_run": engine_changed,
    }
    arguments.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"figures written to {arguments.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
