"""Reward latency: how long a GRPO step waits for the verdicts of its 8 programs, this engine against another commit's.

A reward function scores one small batch per step (TRL's GRPO: ``num_generations`` completions of one prompt,
8 here), so what the trainer feels is the latency of a batch of 8, not throughput. Both engines run the same
batches, alternating batch by batch in one run (the other commit's in a process of its own, timed there), each
batch 8 programs of one MBPP+ question with its assert tests: the canonical solution and mechanical mutants
(``acecoder.data.mutants``), as a policy's samples would be, some passing and some not.

Reported: median and 90th percentile of the batch wall time for each engine, and the ratio of medians (this
engine's latency over the other's: 1.0 is unchanged, below is faster). Figures to stdout and to
benches/results/bench_reward_latency.json.

``--time-limits`` measures instead what one looping sample costs a step: ``test_pass_reward`` (and its pass-rate
form) on 8 programs of an MBPP+ question with its 3 asserts, all correct, then with one of the 8 looping on every
test, at the fixed limit (4 CPU s per test) and at the question's calibrated limit (``acecoder.time_limits``,
measured here on the canonical solution), binary and pass rate, in one run. The target printed: the binary reward
with a looping sample at the calibrated limit within 2x of (the all-correct latency + one calibrated limit).

    .venv/bin/python benches/bench_reward_latency.py --previous 3643795 --batches 60
    .venv/bin/python benches/bench_reward_latency.py --time-limits --questions 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from acecoder.data.benchmarks import load_mbpp_plus
from acecoder.data.mutants import mutants
from acecoder.data.tests import split_test_script
from acecoder.exec import Engine, Limits, shared_engine
from acecoder.rewards import make_test_pass_reward
from acecoder.speed.table import cpu_snapshot, other_cores
from acecoder.speed.workloads import DEFAULT_TEST_SECONDS
from acecoder.time_limits import calibrate

RESULTS = Path(__file__).resolve().parent / "results" / "bench_reward_latency.json"
GROUP = 8


def batches(count: int) -> list[tuple[list[str], list[list[str]]]]:
    """``count`` groups of 8 programs, each group one MBPP+ question's canonical solution and its mutants."""
    groups = []
    for _, task in sorted(load_mbpp_plus().items()):
        tests = split_test_script(task["assertion"])
        programs = [task["canonical_solution"], *mutants(task["canonical_solution"], GROUP - 1)]
        if len(programs) < GROUP or not tests:
            continue
        groups.append((programs[:GROUP], [tests] * GROUP))
        if len(groups) == count:
            break
    return groups


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def looping_questions(count: int) -> list[tuple[str, str, list[str]]]:
    """(task id, canonical solution, its 3 asserts) for the first ``count`` MBPP+ questions with exactly 3 asserts."""
    found = []
    for task_id, task in sorted(load_mbpp_plus().items()):
        tests = split_test_script(task["assertion"])
        if len(tests) == 3:
            found.append((task_id, task["canonical_solution"], tests))
        if len(found) == count:
            break
    return found


def looping(canonical: str) -> str:
    """The canonical solution with every function body turned into an endless loop first."""
    lines = []
    for line in canonical.splitlines():
        lines.append(line)
        stripped = line.lstrip()
        if stripped.startswith("def ") and stripped.rstrip().endswith(":"):
            indent = line[: len(line) - len(stripped)] + "    "
            lines.append(f"{indent}while True:\n{indent}    pass")
    return "\n".join(lines) + "\n"


def time_limit_latency(questions: int, workers: int, output: Path) -> None:
    """The seconds one reward call takes per configuration (median over the questions), side by side."""
    chosen = looping_questions(questions)
    limits = Limits(test_cpu_seconds=DEFAULT_TEST_SECONDS)
    engine = shared_engine(limits=limits, workers=workers)
    calibrations = calibrate([canonical for _, canonical, _ in chosen], [tests for *_, tests in chosen], engine=engine)
    rewards = {mode: make_test_pass_reward(mode, limits=limits, workers=workers) for mode in ("binary", "pass_rate")}
    configurations = [
        ("8 correct, binary, fixed limit", "binary", False, False),
        ("8 correct, binary, calibrated", "binary", False, True),
        ("1 of 8 looping, pass rate, fixed limit (the binary reward before fail-fast)", "pass_rate", True, False),
        ("1 of 8 looping, binary, fixed limit", "binary", True, False),
        ("1 of 8 looping, pass rate, calibrated", "pass_rate", True, True),
        ("1 of 8 looping, binary, calibrated", "binary", True, True),
    ]
    seconds: dict[str, list[float]] = {name: [] for name, *_ in configurations}
    before, started_all = cpu_snapshot(), time.perf_counter()
    for (task_id, canonical, tests), calibration in zip(chosen, calibrations):
        rewards["binary"](prompts=["p"], completions=[canonical], test_cases=[tests])  # warm
        for name, mode, loops, calibrated in configurations:
            programs = [canonical] * (GROUP - 1) + [looping(canonical) if loops else canonical]
            column = [calibration.limit] * GROUP if calibrated else None
            started = time.perf_counter()
            values = rewards[mode](prompts=["p"] * GROUP, completions=programs, test_cases=[tests] * GROUP,
                                   test_cpu_seconds=column)  # fmt: skip
            seconds[name].append(time.perf_counter() - started)
            assert values[:-1] == [1.0] * (GROUP - 1), (task_id, name, values)  # the correct ones still pass
            assert values[-1] == (0.0 if loops else 1.0), (task_id, name, values)
    other = other_cores(before, cpu_snapshot(), time.perf_counter() - started_all)
    limit = statistics.median(calibration.limit or DEFAULT_TEST_SECONDS for calibration in calibrations)
    print(f"  {len(chosen)} MBPP+ questions x {GROUP} programs x 3 asserts, {workers} workers; fixed limit "
          f"{DEFAULT_TEST_SECONDS} CPU s per test, calibrated limits {[c.limit for c in calibrations]} (median "
          f"{limit} s); other processes kept {other:.2f} cores busy meanwhile (wall time grows with them, CPU time "
          "does not)")  # fmt: skip
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    for name, value in medians.items():
        print(f"  {name:<78} median {value:7.3f} s")
    correct = medians["8 correct, binary, fixed limit"]
    binary = medians["1 of 8 looping, binary, calibrated"]
    bound = 2 * (correct + limit)
    print(f"  target: binary with a looping sample at the calibrated limit <= 2 x (all correct + one limit) = "
          f"{bound:.2f} s: {'PASS' if binary <= bound else 'MISS'} ({binary:.2f} s; "
          f"{medians['1 of 8 looping, pass rate, fixed limit (the binary reward before fail-fast)'] / binary:.1f}x "
          "faster than the binary reward before)")  # fmt: skip
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"questions": [task_id for task_id, *_ in chosen], "medians_s": medians,
                                  "calibrated_limit_s": limit, "bound_s": bound, "other_cores": other},
                                 indent=2))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--previous", help="the commit to compare with (built into benches/.previous)")
    parser.add_argument("--batches", type=int, default=60, help="batches of 8 programs (default 60)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--time-limits",
        action="store_true",
        help="measure a looping sample's cost at fixed and calibrated limits instead",
    )
    parser.add_argument("--questions", type=int, default=3, help="questions for --time-limits (default 3)")
    parser.add_argument("--output", type=Path, default=None)
    arguments = parser.parse_args()
    if arguments.time_limits:
        output = arguments.output or RESULTS.with_name("bench_reward_time_limits.json")
        time_limit_latency(arguments.questions, arguments.workers, output)
        return
    if not arguments.previous:
        parser.error("--previous is required (or --time-limits)")
    from previous import PreviousEngine, build

    arguments.output = arguments.output or RESULTS
    groups = batches(arguments.batches)
    limits = Limits(test_cpu_seconds=DEFAULT_TEST_SECONDS)
    timings: dict[str, list[float]] = {"acecoder": [], "previous": []}
    mismatches = 0
    with (
        Engine(workers=arguments.workers, limits=limits) as engine,
        PreviousEngine(build(arguments.previous), arguments.workers, DEFAULT_TEST_SECONDS) as previous,
    ):
        for programs, tests in groups[:3]:  # warm both
            engine.run(programs, tests)
            previous.run(programs, tests)
        for programs, tests in groups:
            started = time.perf_counter()
            results = engine.run(programs, tests)
            timings["acecoder"].append(time.perf_counter() - started)
            passed, seconds, _ = previous.run(programs, tests)
            timings["previous"].append(seconds)
            mismatches += sum(result.passed != count for result, count in zip(results, passed))
    figures = {
        name: {"median_s": statistics.median(values), "p90_s": percentile(values, 0.9)}
        for name, values in timings.items()
    }
    ratio = figures["acecoder"]["median_s"] / figures["previous"]["median_s"]
    for name, figure in figures.items():
        print(f"  {name:<9} median {1000 * figure['median_s']:6.1f} ms   p90 {1000 * figure['p90_s']:6.1f} ms")
    print(
        f"  latency ratio (acecoder / {arguments.previous}, medians): {ratio:.2f}x over {len(groups)} batches of "
        f"{GROUP}; pass-count mismatches: {mismatches}"
    )
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps({
        "previous": arguments.previous, "batches": len(groups), "figures": figures, "ratio": ratio,
        "mismatches": mismatches,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
