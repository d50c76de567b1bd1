"""Pass-rate throughput at AceCode scale: ``score_rows`` on one engine against ``score_rows_with_ray``, one run.

AceCoder's second step runs every sampled program of every question against the question's tests: for
AceCode-87K that is 87,149 questions x 16 programs, about 1.4 million jobs of ~16 asserts each. This benchmark
builds a simulation of that work from real code and measures both ways of doing it side by side, on the same
cores, so the price (or gain) of sharding over Ray shows as a ratio, and the figures extrapolate to the full
dataset in core-hours.

The simulation: MBPP+ tasks (``load_mbpp_plus``) whose tests are ``assert entry_point(arguments) == expected``
built from the task's base and plus inputs, with expected outputs from the canonical solution (the cached
``load_expected_outputs``); only inputs whose repr round-trips and whose assert is short are kept, ~16 per task,
and only the tests the canonical solution passes (AceCode's tests are filtered the same way). Each question gets
16 programs: the canonical solution and mechanical mutants of it (``acecoder.data.mutants``), each wrapped in a
Markdown fence with some chatter, so code extraction runs as it does on real completions. Tasks are replicated
under distinct ids up to ``--questions``.

``--time-limits`` compares instead, in one run on one engine, the fixed per-test limit against each question's
calibrated one (``acecoder.time_limits``, measured on its canonical solution): wall time, CPU, the programs that
timed out and what they cost, and the programs whose pass rate differs (expected: only programs that loop). Use it
with ``--keep-loops``, or there is nothing for the limits to change.

    .venv/bin/python benches/bench_passrate.py --questions 1000
    .venv/bin/python benches/bench_passrate.py --questions 300 --json benches/results/bench_passrate.json
    .venv/bin/python benches/bench_passrate.py --questions 500 --keep-loops --time-limits --test-cpu-seconds 4
"""

from __future__ import annotations

import argparse
import ast
import json
import logging
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from acecoder.cli.vocabulary import add_option
from acecoder.data.benchmarks import data_file, file_digest, load_mbpp_plus
from acecoder.data.mutants import mutants
from acecoder.eval.expected import MBPP_NOT_NONE_ENTRY_POINTS, load_expected_outputs
from acecoder.exec import Engine, Limits, Status
from acecoder.pairs.passrate import PassRateSummary, score_rows
from acecoder.speed.table import cpu_snapshot, format_table, other_cores, rate, ratio
from acecoder.time_limits import MIN_TIME_LIMIT, calibrated_rows

ACECODE_QUESTIONS = 87_149
ACECODE_PROGRAMS_PER_QUESTION = 16
# An assumption, not a measurement: AceCode-87K keeps about 16 tests per question after the oracle filter. The
# extrapolation is printed both by programs/s (as if each job had this run's tests) and by tests/s (as if each had
# 16), with the assumption next to the figures.
ACECODE_TESTS_PER_QUESTION = 16
MAX_ASSERT_CHARACTERS = 300
CHATTER = (
    "Here is a solution:\n\n```python\n{program}\n```\n\nIt handles the edge cases in linear time.",
    "```python\n{program}\n```",
    "Sure! Let me think step by step.\nThe function below does what the task asks.\n\n```python\n{program}\n\n"
    'if __name__ == "__main__":\n    print("done")\n```\nLet me know if you need anything else.',
    "```py\n{program}\n```\nExplanation: the function computes the result directly.",
)


# ------------------------------------------------------------------------------------------------ workload


def _round_trips(value: object) -> bool:
    """True when ``repr(value)`` reads back (as a literal) to an equal value of the same type."""
    try:
        again = ast.literal_eval(repr(value))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False
    return type(again) is type(value) and again == value


def task_tests(task: dict, outputs: dict, limit: int) -> list[str]:
    """Up to ``limit`` distinct short assert tests of one task, base inputs first."""
    tests: list[str] = []
    for split in ("base", "plus"):
        digests = outputs.get(f"{split}_digest", {})
        for index, (arguments, expected) in enumerate(zip(task[f"{split}_input"], outputs.get(split, []))):
            if len(tests) >= limit:
                return tests
            if index in digests:
                continue
            call = ", ".join(repr(argument) for argument in arguments)
            test = f"assert {task['entry_point']}({call}) == {expected!r}"
            # The length first: parsing the repr back is what costs, and most plus inputs are far too long anyway.
            if len(test) >= MAX_ASSERT_CHARACTERS or test in tests:
                continue
            if all(_round_trips(argument) for argument in arguments) and _round_trips(expected):
                tests.append(test)
    return tests


def task_programs(canonical: str, count: int) -> list[str]:
    """The canonical solution and ``count - 1`` distinct wrong-ish variants: first-order mutants, then mutants of
    mutants, then (for programs with too few mutation sites) the canonical solution with a distinguishing comment."""
    programs = [canonical]
    seen = {canonical}
    first_order = mutants(canonical, limit=count - 1)
    for group in (first_order, *(mutants(mutant, limit=count) for mutant in first_order)):
        for program in group:
            if len(programs) >= count:
                return programs
            if program not in seen:
                seen.add(program)
                programs.append(program)
    return _padded(programs, count)


def _padded(programs: list[str], count: int) -> list[str]:
    """``programs`` filled up to ``count`` with copies of the first (the canonical solution) that differ in a
    comment, for tasks with too few mutation sites (or too many looping mutants)."""
    programs = list(programs)
    while len(programs) < count:
        programs.append(f"{programs[0].rstrip()}\n# variant {len(programs)}\n")
    return programs


@dataclass
class Workload:
    rows: list[dict]
    screened: int = 0  # mutants run in the loop screen
    looping: int = 0  # of those, the ones that timed out on some test (replaced by further mutants)


def _screen_loops(engine: Engine, candidates: list[tuple[str, dict, list[str], list[str]]]) -> list[set[int]]:
    """For each task, the positions of its mutants that time out on some test under the engine's (short) limit.

    Two passes keep the screen cheap: with ``fail_fast`` a program that loops on its first test that does not pass
    costs one limit, not sixteen; only the programs that first failed some other way run again on every test.
    """
    owners = [(task, at) for task, (*_, variants) in enumerate(candidates) for at in range(1, len(variants))]
    programs = [candidates[task][3][position] for task, position in owners]
    tests = [candidates[task][2] for task, _ in owners]
    first = engine.run(programs, tests, fail_fast=True)
    looping = {job for job, result in enumerate(first) if result.status == Status.TIMEOUT}
    again = [job for job, result in enumerate(first) if result.status not in (Status.PASSED, Status.TIMEOUT)]
    second = engine.run([programs[job] for job in again], [tests[job] for job in again])
    looping |= {job for job, result in zip(again, second) if Status.TIMEOUT in (test.status for test in result.tests)}
    positions: list[set[int]] = [set() for _ in candidates]
    for job in looping:
        task, position = owners[job]
        positions[task].add(position)
    return positions


def build_questions(count: int, programs: int, tests: int, workers: int, limits: Limits, keep_loops: bool) -> Workload:
    """``count`` AceCode-shaped rows (id, question, test_cases, inferences) built from MBPP+.

    Unless ``keep_loops``, mutants that loop are screened out (with a 0.1 s per-test limit) and replaced by further
    mutants: one program looping through 16 tests costs as much CPU as hundreds of ordinary ones, so a handful of
    them would turn every figure into a measure of the time limit (the report estimates their cost separately).
    """
    tasks = load_mbpp_plus()
    tasks = {task_id: task for task_id, task in tasks.items() if task["entry_point"] not in MBPP_NOT_NONE_ENTRY_POINTS}
    expected = load_expected_outputs(tasks, "mbpp", file_digest(data_file("mbpp_plus")), workers=workers)
    spare = 0 if keep_loops else max(2, programs // 4)
    candidates = []
    for task_id, task in tasks.items():
        found = task_tests(task, expected[task_id], tests)
        try:
            variants = task_programs(task["canonical_solution"].strip() + "\n", programs + spare)
        except SyntaxError:
            continue
        if found:
            candidates.append((task_id, task, found, variants))
    # The oracle filter: keep the tests the canonical solution passes within the runs' limits (as AceCode keeps the
    # tests its oracle passes), so no test times out for every program of its question.
    with Engine(workers=workers, limits=limits) as engine:
        results = engine.run([variants[0] for *_, variants in candidates], [found for _, _, found, _ in candidates])
    base = []
    for (task_id, task, found, variants), result in zip(candidates, results):
        kept = [test for test, outcome in zip(found, result.tests) if outcome.status == Status.PASSED]
        if kept:
            base.append((task_id, task, kept, variants))
    base = base[:count]  # only the tasks the questions use
    workload = Workload(rows=[])
    if not keep_loops:
        screen = Limits(test_cpu_seconds=0.1, program_cpu_seconds=1.0, wall_multiplier=3.0, wall_slack_seconds=0.5)
        with Engine(workers=workers, limits=screen) as engine:
            looping = _screen_loops(engine, base)
        workload.screened = sum(len(variants) - 1 for *_, variants in base)
        workload.looping = sum(len(positions) for positions in looping)
        base = [
            (task_id, task, kept, _padded([variant for at, variant in enumerate(variants) if at not in drop], programs))
            for (task_id, task, kept, variants), drop in zip(base, looping)
        ]
    for number in range(count):
        task_id, task, kept, variants = base[number % len(base)]
        question = task["prompt"].strip().strip('"').strip()
        inferences = [
            {"model_name": "simulated", "completion_id": index,
             "completion": CHATTER[(number + index) % len(CHATTER)].format(program=program.rstrip())}
            for index, program in enumerate(variants[:programs])
        ]  # fmt: skip
        workload.rows.append(
            {
                "id": f"{task_id}/{number // len(base)}",
                "question": question,
                "test_cases": kept,
                "inferences": inferences,
                "solution": variants[0],
            }
        )
    return workload


# ------------------------------------------------------------------------------------------------ runs


def run_single(rows: Sequence[dict], workers: int, limits: Limits, output: Path) -> tuple[PassRateSummary, float]:
    """``score_rows`` on one warm engine; the summary and the cores other processes kept busy meanwhile."""
    with Engine(workers=workers, limits=limits) as engine:
        engine.run(["def warm():\n    return 1\n"] * (2 * workers), [["assert warm() == 1"]] * (2 * workers))
        before = cpu_snapshot()
        summary = score_rows(rows, engine, output)
        return summary, other_cores(before, cpu_snapshot(), summary.seconds)


def run_ray(
    rows: Sequence[dict], workers: int, actors: int, limits: Limits, output: Path
) -> tuple[PassRateSummary, float, float]:
    """``score_rows_with_ray`` on a local cluster of ``workers`` CPUs started here (its start is timed apart)."""
    import ray
    from acecoder.pairs.ray_runner import score_rows_with_ray

    started = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    cluster_seconds = time.perf_counter() - started
    # The actors (and their engines' workers) are gone when the call returns, and with them their CPU time from
    # this process tree: the other-load figure is taken at the last progress report instead, while they live.
    before = cpu_snapshot()
    last: list = [before, time.perf_counter()]

    def snapshot(label: str, done: int, total: int) -> None:
        last[:] = [cpu_snapshot(), time.perf_counter()]

    try:
        started = time.perf_counter()
        summary = score_rows_with_ray(rows, output, actors=actors, limits=limits, progress=snapshot)
        return summary, cluster_seconds, other_cores(before, last[0], last[1] - started)
    finally:
        ray.shutdown()


def run_time_limits(rows: list[dict], workers: int, limits: Limits, json_path: Path | None) -> None:
    """Fixed against calibrated limits on one engine, one after the other, and the pass rates compared."""
    with Engine(workers=workers, limits=limits) as engine:
        started = time.perf_counter()
        calibrated, calibrations = calibrated_rows(rows, "solution", engine=engine)
        calibration_seconds = time.perf_counter() - started
        engine.run(["def warm():\n    return 1\n"] * (2 * workers), [["assert warm() == 1"]] * (2 * workers))
        figures, outputs = {}, {}
        with tempfile.TemporaryDirectory(prefix="bench-passrate-") as directory:
            for name, scored in (("fixed", rows), ("calibrated", calibrated)):
                output = Path(directory) / f"{name}.jsonl"
                before, started = cpu_snapshot(), time.perf_counter()
                summary = score_rows(scored, engine, output)
                after = cpu_snapshot()
                figures[name] = {
                    "wall_s": round(time.perf_counter() - started, 2), "cpu_s": round(after[1] - before[1], 2),
                    "test_cpu_s": round(summary.test_cpu_seconds, 2), "programs_run": summary.jobs_run,
                    "timed_out_programs": summary.timed_out, "timeout_cpu_s": round(summary.timeout_cpu_seconds, 2),
                    "other_cores": round(other_cores(before, after, summary.seconds), 2),
                }  # fmt: skip
                outputs[name] = [json.loads(line) for line in output.read_text().splitlines()]
    differing = looping = 0
    for fixed_row, calibrated_row in zip(outputs["fixed"], outputs["calibrated"]):
        for left, right in zip(fixed_row["inferences"], calibrated_row["inferences"]):
            if left["pass_rate"] != right["pass_rate"]:
                differing += 1
                looping += "timeout" in left["test_statuses"] or "timeout" in right["test_statuses"]
    limits_set = [calibration.limit for calibration in calibrations if calibration.limit is not None]
    print(f"  calibration: {len(limits_set)} of {len(rows)} questions in {calibration_seconds:.1f} s (3 runs of each "
          f"canonical solution); limits: {sum(limit == MIN_TIME_LIMIT for limit in limits_set)} at the "
          f"{MIN_TIME_LIMIT} s floor, max {max(limits_set, default=0):.2f} s\n")  # fmt: skip
    headers = ("limits", "wall s", "CPU s", "tests' CPU s", "programs run", "timed out", "their timeouts' CPU s",
               "other cores")  # fmt: skip
    print(format_table(headers, [
        [f"fixed {limits.test_cpu_seconds:g} s" if name == "fixed" else "calibrated", item["wall_s"], item["cpu_s"],
         item["test_cpu_s"], item["programs_run"], item["timed_out_programs"], item["timeout_cpu_s"],
         item["other_cores"]] for name, item in figures.items()
    ]))  # fmt: skip
    fixed, calibrated_figures = figures["fixed"], figures["calibrated"]
    print(f"\n  fixed / calibrated: wall {ratio(fixed['wall_s'], calibrated_figures['wall_s'])}, CPU "
          f"{ratio(fixed['cpu_s'], calibrated_figures['cpu_s'])}; programs whose pass rate differs: {differing} "
          f"({looping} of them with a timed-out test, {differing - looping} without)")  # fmt: skip
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(
            json.dumps(
                {
                    "questions": len(rows),
                    "fixed_test_seconds": limits.test_cpu_seconds,
                    "calibration_s": round(calibration_seconds, 2),
                    "figures": figures,
                    "differing": differing,
                    "differing_with_timeout": looping,
                },
                indent=2,
            )
            + "\n"
        )


def pass_rates(path: Path) -> dict[str, list]:
    rows = (json.loads(line) for line in path.read_text().splitlines())
    return {row["id"]: [item["pass_rate"] for item in row["inferences"]] for row in rows}


def count_mismatches(reference: dict[str, list], other: dict[str, list]) -> int:
    """Programs whose pass rate differs between the two outputs (a missing row counts all its programs)."""
    differing = 0
    for key, rates in reference.items():
        theirs = other.get(key, [])
        differing += sum(1 for left, right in zip(rates, theirs) if left != right) + abs(len(rates) - len(theirs))
    return differing


# ------------------------------------------------------------------------------------------------ report


def jobs_in_acecode() -> int:
    return ACECODE_QUESTIONS * ACECODE_PROGRAMS_PER_QUESTION


def figures(name: str, summary: PassRateSummary, cores: int, other: float, mismatches: int | None) -> dict:
    jobs = jobs_in_acecode()
    per_core = summary.programs_per_second / cores
    tests_per_core = summary.tests_per_second / cores
    return {
        "runner": name,
        "questions": summary.scored,
        "programs": summary.programs,
        "programs_run": summary.jobs_run,
        "tests_run": summary.tests_run,
        "seconds": round(summary.seconds, 3),
        "programs_per_second": round(summary.programs_per_second, 2),
        "tests_per_second": round(summary.tests_per_second, 2),
        "programs_per_second_per_core": round(per_core, 2),
        "statuses": dict(summary.statuses),
        "other_cores": round(other, 2),
        "mismatches": mismatches,
        "acecode_core_hours": round(jobs / per_core / 3600, 2) if per_core > 0 else None,
        "acecode_core_hours_by_tests": round(jobs * ACECODE_TESTS_PER_QUESTION / tests_per_core / 3600, 2)
        if tests_per_core > 0 else None,
    }  # fmt: skip


def print_report(results: list[dict], cores: int, tests_per_program: float, cluster_seconds: float) -> None:
    headers = ("runner", "questions", "programs run", "tests run", "wall s", "programs/s", "tests/s",
               "programs/s/core", "other cores", "mismatches")  # fmt: skip
    lines = [
        [item["runner"], item["questions"], item["programs_run"], item["tests_run"], f"{item['seconds']:.1f}",
         rate(item["programs_per_second"]), rate(item["tests_per_second"]), rate(item["programs_per_second_per_core"]),
         f"{item['other_cores']:.2f}", "-" if item["mismatches"] is None else item["mismatches"]]
        for item in results
    ]  # fmt: skip
    print(format_table(headers, lines))
    single, sharded = results
    print(
        f"\n  ray / single: {ratio(sharded['programs_per_second'], single['programs_per_second'])} programs/s "
        f"(the Ray figure includes starting its actors' engines; starting the local cluster took "
        f"{cluster_seconds:.1f} s more and is not counted)"
    )
    for item in results:
        ordered = sorted(item["statuses"].items(), key=lambda pair: -pair[1])
        statuses = ", ".join(f"{key} {value}" for key, value in ordered)
        print(f"  statuses ({item['runner']}): {statuses}")
    jobs = jobs_in_acecode()
    print(
        f"\n  AceCode-87K: {ACECODE_QUESTIONS:,} questions x {ACECODE_PROGRAMS_PER_QUESTION} programs = {jobs:,} "
        f"jobs, assuming ~{ACECODE_TESTS_PER_QUESTION} tests per question (this run: {tests_per_program:.1f} tests "
        "per program run)"
    )
    extrapolation_headers = (
        "runner", "core-hours (by programs/s)", "core-hours (by tests/s)", f"hours on {cores} cores"
    )  # fmt: skip
    extrapolation = [[item["runner"], f"{item['acecode_core_hours']:.1f}", f"{item['acecode_core_hours_by_tests']:.1f}",
              f"{item['acecode_core_hours'] / cores:.1f}"] for item in results]  # fmt: skip
    print(format_table(extrapolation_headers, extrapolation))


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=1000, help="questions to score (default 1,000)")
    parser.add_argument("--programs", type=int, default=16, help="programs per question (default 16)")
    parser.add_argument("--tests", type=int, default=16, help="at most this many tests per question (default 16)")
    parser.add_argument("--workers", type=int, default=2, help="cores for each runner (default 2)")
    parser.add_argument("--actors", type=int, default=2, help="Ray actors sharing those cores (default 2)")
    add_option(parser, "--test-cpu-seconds", old=("--test-seconds",), type=float, default=1.0,
               help="CPU seconds per test (default 1.0)")  # fmt: skip
    parser.add_argument(
        "--keep-loops",
        action="store_true",
        help="keep mutants that loop (by default they are screened out and replaced)",
    )
    parser.add_argument(
        "--time-limits",
        action="store_true",
        help="the fixed limit against calibrated ones on one engine, instead of single against Ray",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    if arguments.time_limits:
        limits = Limits(
            test_cpu_seconds=arguments.test_cpu_seconds, program_cpu_seconds=max(2.0, arguments.test_cpu_seconds)
        )
        workload = build_questions(arguments.questions, arguments.programs, arguments.tests, arguments.workers,
                                   limits, arguments.keep_loops)  # fmt: skip
        print(f"{len(workload.rows):,} questions x {arguments.programs} programs from MBPP+ (loops "
              f"{'kept' if arguments.keep_loops else 'screened out'}); {arguments.workers} workers; fixed limit "
              f"{arguments.test_cpu_seconds} CPU s per test\n", flush=True)  # fmt: skip
        run_time_limits(workload.rows, arguments.workers, limits, arguments.json)
        return 0
    if arguments.actors > arguments.workers:
        print("error: --actors must not exceed --workers (each actor needs a core)", file=sys.stderr)
        return 2
    try:
        import ray  # noqa: F401
    except ImportError:
        print("error: this benchmark needs Ray: pip install 'acecoder[ray]'", file=sys.stderr)
        return 2
    limits = Limits(
        test_cpu_seconds=arguments.test_cpu_seconds, program_cpu_seconds=max(2.0, arguments.test_cpu_seconds)
    )
    print(f"building {arguments.questions:,} questions x {arguments.programs} programs from MBPP+ ...", flush=True)
    started = time.perf_counter()
    workload = build_questions(
        arguments.questions, arguments.programs, arguments.tests, arguments.workers, limits, arguments.keep_loops
    )
    rows = workload.rows
    test_counts = [len(row["test_cases"]) for row in rows]
    print(
        f"  built in {time.perf_counter() - started:.1f} s; tests per question: mean "
        f"{sum(test_counts) / len(test_counts):.1f}, min {min(test_counts)}, max {max(test_counts)}",
        flush=True,
    )
    if workload.screened:
        print(
            f"  loop screen: {workload.looping} of {workload.screened} mutants timed out on some test and were "
            "replaced (--keep-loops keeps them)",
            flush=True,
        )
    print(
        f"  {platform.python_version()}, {os.cpu_count()} CPUs, {arguments.workers} cores per runner; ray "
        f"{__import__('ray').__version__}; per-test limit {arguments.test_cpu_seconds} CPU s\n",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench-passrate-") as directory:
        single_output, ray_output = Path(directory) / "single.jsonl", Path(directory) / "ray.jsonl"
        print(f"score_rows: one engine, {arguments.workers} workers ...", flush=True)
        single, single_other = run_single(rows, arguments.workers, limits, single_output)
        workers_per_actor = max(1, arguments.workers // arguments.actors)
        print(f"score_rows_with_ray: {arguments.actors} actors x {workers_per_actor} workers ...\n", flush=True)
        sharded, cluster_seconds, ray_other = run_ray(rows, arguments.workers, arguments.actors, limits, ray_output)
        mismatches = count_mismatches(pass_rates(single_output), pass_rates(ray_output))
    results = [
        figures(f"single engine ({arguments.workers} workers)", single, arguments.workers, single_other, None),
        figures(
            f"ray ({arguments.actors} actors x {workers_per_actor})", sharded, arguments.workers, ray_other, mismatches
        ),
    ]
    print_report(results, arguments.workers, single.tests_run / max(1, single.jobs_run), cluster_seconds)
    loop_share = workload.looping / workload.screened if workload.screened else 0.0
    loop_core_hours = jobs_in_acecode() * loop_share * ACECODE_TESTS_PER_QUESTION * arguments.test_cpu_seconds / 3600
    if workload.screened:
        print(
            f"\n  loops: {loop_share:.2%} of this simulation's mutants time out; at that share, with every test of "
            f"such a program looping ({arguments.test_cpu_seconds} CPU s each, an upper bound), AceCode-87K would add "
            f"up to {loop_core_hours:,.1f} core-hours to the figures above"
        )
    if arguments.json is not None:
        arguments.json.parent.mkdir(parents=True, exist_ok=True)
        document = {"questions": arguments.questions, "programs_per_question": arguments.programs,
                    "tests_per_question_mean": sum(test_counts) / len(test_counts), "cores": arguments.workers,
                    "actors": arguments.actors, "test_seconds": arguments.test_cpu_seconds,
                    "ray_cluster_start_seconds": round(cluster_seconds, 2), "results": results,
                    "loop_screen": {"screened": workload.screened, "looping": workload.looping,
                                    "acecode_loop_core_hours_upper_bound": round(loop_core_hours, 1)},
                    "ray_over_single": sharded.programs_per_second / single.programs_per_second
                    if single.programs_per_second else None}  # fmt: skip
        arguments.json.write_text(json.dumps(document, indent=2) + "\n")
        print(f"\nwrote {arguments.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
