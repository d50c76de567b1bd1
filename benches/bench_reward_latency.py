"""Reward latency: how long a GRPO step waits for the verdicts of its 8 programs, this engine against another commit's.

A reward function scores one small batch per step (TRL's GRPO: ``num_generations`` completions of one prompt,
8 here), so what the trainer feels is the latency of a batch of 8, not throughput. Both engines run the same
batches, alternating batch by batch in one run (the other commit's in a process of its own, timed there), each
batch 8 programs of one MBPP+ question with its assert tests: the canonical solution and mechanical mutants
(``acecoder.data.mutants``), as a policy's samples would be, some passing and some not.

Reported: median and 90th percentile of the batch wall time for each engine, and the ratio of medians (this
engine's latency over the other's: 1.0 is unchanged, below is faster). Figures to stdout and to
benches/results/bench_reward_latency.json.

    .venv/bin/python benches/bench_reward_latency.py --previous 3643795 --batches 60
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from acecoder.speed.workloads import DEFAULT_TEST_SECONDS
from acecoder.data.benchmarks import load_mbpp_plus
from acecoder.data.mutants import mutants
from acecoder.data.tests import split_test_script
from acecoder.exec import Engine, Limits

from previous import PreviousEngine, build

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--previous", required=True, help="the commit to compare with (built into benches/.previous)")
    parser.add_argument("--batches", type=int, default=60, help="batches of 8 programs (default 60)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--output", type=Path, default=RESULTS)
    arguments = parser.parse_args()
    groups = batches(arguments.batches)
    limits = Limits(test_cpu_seconds=DEFAULT_TEST_SECONDS)
    timings: dict[str, list[float]] = {"acecoder": [], "previous": []}
    mismatches = 0
    with Engine(workers=arguments.workers, limits=limits) as engine, PreviousEngine(
        build(arguments.previous), arguments.workers, DEFAULT_TEST_SECONDS
    ) as previous:
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
        name: {"median_s": statistics.median(values), "p90_s": percentile(values, 0.9)} for name, values in timings.items()
    }
    ratio = figures["acecoder"]["median_s"] / figures["previous"]["median_s"]
    for name, figure in figures.items():
        print(f"  {name:<9} median {1000 * figure['median_s']:6.1f} ms   p90 {1000 * figure['p90_s']:6.1f} ms")
    print(f"  latency ratio (acecoder / {arguments.previous}, medians): {ratio:.2f}x over {len(groups)} batches of "
          f"{GROUP}; pass-count mismatches: {mismatches}")
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps({
        "previous": arguments.previous, "batches": len(groups), "figures": figures, "ratio": ratio,
        "mismatches": mismatches,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
