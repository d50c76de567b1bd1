"""Measure the execution engine on this machine: per-job latency and throughput, next to the bare floor.

The bare floor is the least a fork-per-job runner can do (warm unisolated Python workers that fork per job, see
``acecoder.speed.floor``); it runs the same jobs with the same number of workers in the same run, so the
ratio says what acecoder's sandboxing costs here, whatever the machine. Both are started and warmed up before
timing; only the batch is timed. For the comparison with other harnesses, see ``benches/bench_exec.py``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from acecoder.cli.config_flags import positive_int

HELP = "measure engine latency and throughput on this machine, next to the bare floor"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers", type=positive_int, default=None, help="workers for both runners (default: one per CPU)"
    )
    parser.add_argument("--workload", choices=("tiny", "mbpp", "mixed"), default="tiny", help="jobs to run")
    parser.add_argument(
        "--jobs", type=positive_int, default=None, help="number of programs (default: 1000 tiny, 500 mbpp/mixed)"
    )
    parser.add_argument(
        "--mbpp", type=Path, default=None, help="MBPP+ release file for --workload mbpp (default: bundled)"
    )


def run(arguments: argparse.Namespace) -> int:
    from acecoder.exec import Engine, Limits
    from acecoder.speed.floor import BareFloor
    from acecoder.speed.table import Measurement, count_mismatches, format_table, rate, ratio, timed
    from acecoder.speed.workloads import build_workload

    workload = build_workload(arguments.workload, arguments.jobs, mbpp_path=arguments.mbpp)
    warm_up = min(len(workload), 20)
    print(f"acecoder bench: workload {workload.name}, {len(workload)} programs, {workload.test_count} tests, "
          f"per-test limit {workload.test_seconds} s")  # fmt: skip

    print("  running acecoder...", file=sys.stderr, flush=True)
    with Engine(workers=arguments.workers, limits=Limits(test_cpu_seconds=workload.test_seconds)) as engine:
        workers = engine.workers
        engine.run(workload.programs[:warm_up], workload.tests[:warm_up])
        results, seconds = timed(lambda: engine.run(workload.programs, workload.tests))
    ours = Measurement("acecoder", workload.name, len(workload), workload.test_count, seconds,
                       passed=[result.passed for result in results],
                       latencies=[result.wall_time for result in results])  # fmt: skip

    print("  running the bare floor...", file=sys.stderr, flush=True)
    with BareFloor(workers, test_seconds=workload.test_seconds) as floor:
        floor.run(workload.programs[:warm_up], workload.tests[:warm_up])
        floor_result, seconds = timed(lambda: floor.run(workload.programs, workload.tests))
    theirs = Measurement("bare floor", workload.name, len(workload), workload.test_count, seconds,
                         passed=floor_result.passed, latencies=floor_result.latencies)  # fmt: skip
    theirs.mismatches = count_mismatches(ours.passed, theirs.passed)

    print(f"  {workers} workers each\n")
    rows = [
        [m.runner, f"{m.latency_milliseconds(0.5):.2f}", f"{m.latency_milliseconds(0.9):.2f}",
         f"{m.latency_milliseconds(0.99):.2f}", rate(m.programs_per_second), rate(m.tests_per_second)]
        for m in (ours, theirs)
    ]  # fmt: skip
    print(format_table(["runner", "p50 ms", "p90 ms", "p99 ms", "programs/s", "tests/s"], rows))
    print()
    print(f"  acecoder / bare floor: {ratio(ours.programs_per_second, theirs.programs_per_second)} programs/s")
    print(f"  pass counts: {len(workload) - theirs.mismatches}/{len(workload)} jobs agree with the bare floor")
    print("  (latency: acecoder's own per-job wall time in the worker; the floor's, send to answer in the caller)")
    return 0
