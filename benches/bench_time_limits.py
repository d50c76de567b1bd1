"""How tight a calibrated limit may be: the spread of correct solutions' CPU times against their reference's, and
false timeouts at the calibrated limits on an oversubscribed machine.

A calibrated limit is ``max(floor, factor x the reference's slowest test)`` (``acecoder.time_limits``). A limit so
tight that a correct but slower solution times out is a wrong verdict, so the factor must cover how much slower a
correct solution can be than the reference, and the floor what a quick test can cost. Two measurements, one run:

1. Spread. References run ``--runs`` times (the calibration); other correct solutions of the same questions once:
   MBPP's original reference solution against the MBPP+ canonical one on the MBPP+ assert tests (``bench_passrate``'s
   tests, up to 16 per task), and, with ``--samples``, SmolLM2 samples that pass every test of an MBPP train question
   against that task's MBPP reference (``acecoder passrate`` output, e.g. the demo's). Printed: the distribution of
   the ratio (a solution's slowest test over its reference's), and how many correct solutions each (floor, factor)
   would time out.
2. Load. Every HumanEval+ and MBPP+ canonical solution with its assert tests (``bench_sandbox``'s jobs) calibrated
   idle, then run at those limits while one CPU hog per core runs beside the engine's workers (2x oversubscription):
   a test that passed idle and times out loaded is a false timeout.

    .venv/bin/python benches/bench_time_limits.py [--samples passrates.jsonl ...] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from acecoder.data.benchmarks import data_file, file_digest, load_mbpp, load_mbpp_plus
from acecoder.eval.expected import MBPP_NOT_NONE_ENTRY_POINTS, load_expected_outputs
from acecoder.exec import Engine, Limits, Status
from acecoder.time_limits import CALIBRATION_RUNS, MIN_TIME_LIMIT, TIME_LIMIT_FACTOR, calibrate, time_limit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_passrate import task_tests  # noqa: E402
from bench_sandbox import canonical_jobs, start_hogs  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "bench_time_limits.json"
FLOORS = (0.1, 0.25, 0.5, 1.0)
FACTORS = (1.5, 2.0, 3.0, 4.0)


def mbpp_pairs(tests_per_task: int, workers: int) -> list[tuple[str, str, str, list[str]]]:
    """(name, reference, other correct candidate, tests): MBPP+ canonical against MBPP's own reference solution."""
    tasks = {task_id: task for task_id, task in load_mbpp_plus().items()
             if task["entry_point"] not in MBPP_NOT_NONE_ENTRY_POINTS}  # fmt: skip
    expected = load_expected_outputs(tasks, "mbpp", file_digest(data_file("mbpp_plus")), workers=workers)
    originals = {f"Mbpp/{row['task_id']}": row["code"].replace("\r\n", "\n") for row in load_mbpp()}
    pairs = []
    for task_id, task in tasks.items():
        tests = task_tests(task, expected[task_id], tests_per_task)
        if tests and task_id in originals:
            pairs.append((task_id, task["canonical_solution"], originals[task_id], tests))
    return pairs


def sample_pairs(paths: list[Path]) -> list[tuple[str, str, str, list[str]]]:
    """(name, MBPP reference, passing sample, tests) from ``acecoder passrate`` outputs on MBPP train questions."""
    originals = {f"mbpp/{row['task_id']}": row["code"].replace("\r\n", "\n") for row in load_mbpp()}
    pairs, seen = [], set()
    for path in paths:
        for line in path.read_text().splitlines():
            row = json.loads(line)
            reference = originals.get(str(row.get("id")))
            for inference in row.get("inferences", []):
                key = (row["id"], inference.get("program"))
                if reference and inference.get("pass_rate") == 1.0 and key not in seen:
                    seen.add(key)
                    pairs.append((row["id"], reference, inference["program"], list(row["test_cases"])))
    return pairs


def spread(engine: Engine, pairs: list[tuple[str, str, str, list[str]]], runs: int) -> list[dict]:
    """Per pair whose both solutions pass every test: the reference's and the candidate's slowest test (CPU s)."""
    calibrations = calibrate([reference for _, reference, _, _ in pairs], [tests for *_, tests in pairs],
                             engine=engine, runs=runs, floor=1e-9, factor=1.0)  # fmt: skip
    results = engine.run([candidate for _, _, candidate, _ in pairs], [tests for *_, tests in pairs])
    measured = []
    for (name, *_), calibration, result in zip(pairs, calibrations, results):
        if calibration.limit is None or result.status is not Status.PASSED:
            continue
        measured.append({"name": name, "reference": max(calibration.reference_seconds),
                         "candidate": max(test.cpu_time for test in result.tests)})  # fmt: skip
    return measured


def print_spread(label: str, measured: list[dict], total: int) -> dict:
    ratios = sorted(item["candidate"] / item["reference"] for item in measured)
    slowest = sorted(measured, key=lambda item: -item["candidate"])[:3]
    quantile = lambda fraction: ratios[min(len(ratios) - 1, int(fraction * len(ratios)))]  # noqa: E731
    print(f"  {label}: {len(measured)} of {total} pairs with both solutions correct; candidate / reference, slowest "
          f"test: median {statistics.median(ratios):.2f}, p90 {quantile(0.9):.2f}, p99 {quantile(0.99):.2f}, "
          f"max {ratios[-1]:.2f}")  # fmt: skip
    print("    slowest candidates: " + ", ".join(
        f"{item['name']} {item['candidate'] * 1000:.0f} ms (reference {item['reference'] * 1000:.0f} ms)" for item in slowest
    ))  # fmt: skip
    grid = {}
    for floor in FLOORS:
        cells = []
        for factor in FACTORS:
            wrong = sum(1 for item in measured if item["candidate"] >= time_limit(item["reference"], floor, factor))
            grid[f"{floor}x{factor}"] = wrong
            cells.append(f"{factor}x: {wrong}")
        print(f"    floor {floor:>4} s, correct solutions that would time out: " + ", ".join(cells))
    return {"pairs": total, "measured": len(measured), "median": statistics.median(ratios), "p90": quantile(0.9),
            "p99": quantile(0.99), "max": ratios[-1], "would_time_out": grid}  # fmt: skip


def under_load(engine: Engine, runs: int, rounds: int) -> dict:
    names, programs, tests = canonical_jobs()
    calibrations = calibrate(programs, tests, engine=engine, runs=runs)
    limits = [calibration.limit for calibration in calibrations]
    idle = engine.run(programs, tests, test_cpu_seconds=limits)
    baseline = [[test.status for test in result.tests] for result in idle]
    hogs = start_hogs(os.cpu_count() or 1)
    false_timeouts, checked, seconds = [], 0, []
    try:
        time.sleep(0.5)
        for _ in range(rounds):
            started = time.perf_counter()
            loaded = engine.run(programs, tests, test_cpu_seconds=limits)
            seconds.append(time.perf_counter() - started)
            for name, before, result in zip(names, baseline, loaded):
                for status, test in zip(before, result.tests):
                    checked += status is Status.PASSED
                    if status is Status.PASSED and test.status is Status.TIMEOUT:
                        false_timeouts.append(name)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    calibrated = [limit for limit in limits if limit is not None]
    print(f"  {len(programs)} canonical solutions, {sum(map(len, tests))} tests; calibrated {len(calibrated)} "
          f"(limits: {sum(limit == MIN_TIME_LIMIT for limit in calibrated)} at the {MIN_TIME_LIMIT} s floor, max "
          f"{max(calibrated):.2f} s); idle at those limits: {sum(result.status is Status.PASSED for result in idle)} "
          "pass")  # fmt: skip
    print(f"  with {len(hogs)} CPU hogs beside {engine.workers} workers ({rounds} rounds, "
          f"{statistics.mean(seconds):.1f} s/round): {len(false_timeouts)} false timeouts in {checked} test runs "
          f"that passed idle{': ' + ', '.join(sorted(set(false_timeouts))) if false_timeouts else ''}")  # fmt: skip
    return {"jobs": len(programs), "calibrated": len(calibrated), "checked": checked,
            "false_timeouts": len(false_timeouts), "rounds": rounds}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--samples",
        type=Path,
        nargs="*",
        default=[],
        help="acecoder passrate outputs on MBPP train questions (passing samples are compared)",
    )
    parser.add_argument("--tests", type=int, default=16, help="at most this many MBPP+ tests per task (default 16)")
    parser.add_argument("--runs", type=int, default=CALIBRATION_RUNS, help="calibration runs per reference")
    parser.add_argument("--rounds", type=int, default=1, help="loaded rounds (default 1)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-load", action="store_true")
    arguments = parser.parse_args()
    figures: dict = {"floor": MIN_TIME_LIMIT, "factor": TIME_LIMIT_FACTOR}
    with Engine(workers=arguments.workers, limits=Limits()) as engine:
        print("1. spread of correct solutions' CPU times against their reference's")
        pairs = mbpp_pairs(arguments.tests, arguments.workers)
        figures["mbpp"] = print_spread("MBPP+ canonical vs MBPP reference", spread(engine, pairs, arguments.runs),
                                       len(pairs))  # fmt: skip
        if arguments.samples:
            samples = sample_pairs(arguments.samples)
            figures["samples"] = print_spread("MBPP reference vs SmolLM2 passing samples",
                                              spread(engine, samples, arguments.runs), len(samples))  # fmt: skip
        if not arguments.skip_load:
            print(
                f"2. calibrated limits (floor {MIN_TIME_LIMIT} s, factor {TIME_LIMIT_FACTOR}) under 2x oversubscription"
            )
            figures["load"] = under_load(engine, arguments.runs, arguments.rounds)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"figures written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
