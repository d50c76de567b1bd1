"""What the sandbox costs, and whether honest programs survive a saturated machine.

Two measurements, each side by side in one run:

1. Layers on vs off: throughput of the default engine (seccomp, Landlock, privilege drop, for the runner and the
   judge alike) against the same engine with those layers switched off, on the same jobs, alternating runs so that machine noise hits
   both alike. Target: the layers cost at most 15%.
2. Reliability under load: every HumanEval+ and MBPP+ canonical solution with its assert tests, first on an idle
   machine, then with the engine at full parallelism while CPU hogs saturate every core. A test that passes idle
   but fails loaded is a false verdict (a "false timeout" when its status is timeout). Target: none.

Run: ``python benches/bench_sandbox.py [--quick]``; figures go to stdout and benches/results/bench_sandbox.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from acecoder.data.tests import humaneval_check_test, split_test_script
from acecoder.exec import Engine, Status

REPOSITORY = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ACECODER_SHARED", REPOSITORY.parent / "shared"))
# The sandbox layers (the split into runner and judge is the engine's design, not a layer: it stays).
SANDBOX_OFF = {"seccomp": False, "landlock": False, "drop_privileges": False}


def canonical_jobs() -> tuple[list[str], list[str], list[list[str]]]:
    """(task ids, programs, tests) for every HumanEval+ and MBPP+ canonical solution with its assert tests."""
    names, programs, tests = [], [], []
    with gzip.open(SHARED / "data" / "HumanEvalPlus.jsonl.gz", "rt") as handle:
        for line in handle:
            task = json.loads(line)
            names.append(task["task_id"])
            programs.append(task["prompt"] + task["canonical_solution"])
            tests.append([humaneval_check_test(task)])
    with gzip.open(SHARED / "data" / "MbppPlus.jsonl.gz", "rt") as handle:
        for line in handle:
            task = json.loads(line)
            names.append(task["task_id"])
            programs.append(task["canonical_solution"])
            tests.append(split_test_script(task["assertion"]))
    return names, programs, tests


def tiny_jobs(count: int) -> tuple[list[str], list[list[str]]]:
    programs = [f"def f(x):\n    return x * {index % 7} + 1\n" for index in range(count)]
    tests = [[f"assert f({value}) == {value * (index % 7) + 1}" for value in range(10)] for index in range(count)]
    return programs, tests


def throughput(engine: Engine, programs: list[str], tests: list[list[str]]) -> float:
    started = time.perf_counter()
    engine.run(programs, tests)
    return len(programs) / (time.perf_counter() - started)


def layers_cost(workloads: dict, repeats: int) -> dict:
    """Median throughput of the default engine and of one without the sandbox layers (seccomp, Landlock,
    privilege drop); runs alternate so that noise hits both alike."""
    figures = {}
    with Engine() as on, Engine(**SANDBOX_OFF) as sandbox_off:
        engines = {"on": on, "sandbox off": sandbox_off}
        for name, (programs, tests) in workloads.items():
            for engine in engines.values():
                throughput(engine, programs[:50], tests[:50])  # warm
            rates: dict[str, list[float]] = {label: [] for label in engines}
            for _ in range(repeats):
                for label, engine in engines.items():
                    rates[label].append(throughput(engine, programs, tests))
            median = {label: statistics.median(values) for label, values in rates.items()}
            figures[name] = {
                "on": median["on"],
                "sandbox_off": median["sandbox off"],
                "sandbox_cost": 1 - median["on"] / median["sandbox off"],
            }
            print(
                f"  {name:<10} all on {median['on']:6.0f}   sandbox layers off {median['sandbox off']:6.0f} "
                f"(cost {100 * figures[name]['sandbox_cost']:5.1f}%)   programs/s, median of {repeats}"
            )
    return figures


def start_hogs(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def reliability(rounds: int) -> dict:
    names, programs, tests = canonical_jobs()
    total_tests = sum(map(len, tests))
    with Engine() as engine:
        idle = engine.run(programs, tests)
        baseline = [[test.status for test in result.tests] for result in idle]
        idle_failures = [
            (name, next(test for test in result.tests if test.status is not Status.PASSED))
            for name, result in zip(names, idle)
            if result.status is not Status.PASSED
        ]
        cores = os.cpu_count() or 1
        hogs = start_hogs(cores)
        false_verdicts: list[tuple[str, str]] = []
        loaded_seconds = []
        try:
            time.sleep(0.5)
            for _ in range(rounds):
                started = time.perf_counter()
                loaded = engine.run(programs, tests)
                loaded_seconds.append(time.perf_counter() - started)
                for name, before, result in zip(names, baseline, loaded):
                    for status_before, test in zip(before, result.tests):
                        if status_before is Status.PASSED and test.status is not Status.PASSED:
                            false_verdicts.append((name, test.status.value))
        finally:
            for hog in hogs:
                hog.kill()
                hog.wait()
    false_timeouts = sum(1 for _, status in false_verdicts if status == "timeout")
    checked = total_tests * rounds
    print(f"  {len(programs)} canonical solutions, {total_tests} tests; idle failures: {len(idle_failures)}")
    for name, test in idle_failures:
        print(
            f"    idle failure (dataset, not load): {name}: {test.status.value} {test.exception_type}: {test.message}"
        )
    print(
        f"  under load ({cores} CPU hogs on {cores} cores, engine at {engine.workers} workers, {rounds} rounds, "
        f"{statistics.mean(loaded_seconds):.1f} s/round): {len(false_verdicts)} false verdicts, "
        f"{false_timeouts} false timeouts in {checked} test runs -> false-timeout rate {false_timeouts / checked:.4%}"
    )
    return {
        "tests": total_tests,
        "rounds": rounds,
        "idle_failures": [name for name, _ in idle_failures],
        "false_verdicts": len(false_verdicts),
        "false_timeouts": false_timeouts,
        "false_timeout_rate": false_timeouts / checked,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller workloads and fewer rounds")
    arguments = parser.parse_args()
    _, programs, tests = canonical_jobs()
    size = 400 if arguments.quick else 2000
    workloads = {"tiny": tiny_jobs(size), "canonical": (programs, tests)}
    print("1. sandbox layers on vs off (same jobs, alternating runs)")
    cost = layers_cost(workloads, repeats=2 if arguments.quick else 5)
    sandbox_worst = max(figure["sandbox_cost"] for figure in cost.values())
    print(
        f"  target: layers cost <= 15%: {'PASS' if sandbox_worst <= 0.15 else 'MISS'} "
        f"(worst {100 * sandbox_worst:.1f}%)"
    )
    print("2. reliability under load")
    load = reliability(rounds=1 if arguments.quick else 3)
    print(f"  target: no false timeouts: {'PASS' if load['false_timeouts'] == 0 else 'MISS'}")
    output = REPOSITORY / "benches" / "results" / "bench_sandbox.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"layers": cost, "reliability": load}, indent=2))
    print(f"figures written to {output}")


if __name__ == "__main__":
    main()
