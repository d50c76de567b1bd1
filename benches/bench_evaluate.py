"""Benchmark evaluation against evalplus 0.3.1: the same samples, the same machine, one run.

For HumanEval+ and MBPP+, the samples are every task's canonical solution plus up to ``--mutants`` mechanical
mutants of it (``acecoder.data.mutants``: swapped operators and comparisons, shifted constants), in evalplus's
samples format. Both tools evaluate them end to end from the command line with the same number of workers:
``acecoder evaluate`` and ``evalplus.evaluate`` (installed from the package index into its own virtual
environment, pointed at the same local data files with ``HUMANEVAL_OVERRIDE_PATH``/``MBPP_OVERRIDE_PATH``).
Each tool runs twice: "cold" with an empty cache (both must first compute the expected outputs by running the
canonical solutions) and "warm" (expected outputs cached, the everyday case).

Reported: the verdict agreement per sample (``base_status`` and ``plus_status``), every disagreement with both
verdicts and the failing input, the wall time of each run and the speed ratios. Figures go to stdout and to
``benches/results/bench_evaluate.json``.

Then the compute floor: how much of either tool's time is the samples' own work, which no harness can skip. Every
(sample, split) runs once more through the engine, failing fast as evalplus does, and the CPU time spent inside
the solutions' function calls is summed (the engine stops each test's clock when the function returns, so the
comparison of results is not in it). That sum over the workers is a lower bound on the warm wall time of any
harness that computes evalplus's verdicts (interpreter start, loading the data, the programs' top level and the
comparisons come on top), so ``evalplus warm / floor`` bounds the speed-up any harness could reach on these
samples, and ``floor / acecoder warm`` is the share of acecoder's time spent in the samples' own code.

    .venv/bin/python benches/bench_evaluate.py                 # both benchmarks, 2 mutants per task
    .venv/bin/python benches/bench_evaluate.py --benchmarks humaneval+ --mutants 1
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

from acecoder.data.benchmarks import data_file, file_digest
from acecoder.data.mutants import mutants
from acecoder.eval.evalplus import evaluation_engine, get_benchmark, read_samples, split_tests
from acecoder.exec import Status

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "bench_evaluate.json"
EVALPLUS_VERSION = "0.3.1"


def ensure_evalplus(venv: Path) -> Path:
    """The evalplus command in ``venv``, creating the environment on first use."""
    command = venv / "bin" / "evalplus.evaluate"
    if not command.exists():
        print(f"installing evalplus {EVALPLUS_VERSION} into {venv} (first run only)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", f"evalplus=={EVALPLUS_VERSION}"], check=True)
    return command


def write_samples(benchmark_name: str, mutants_per_task: int, path: Path) -> int:
    """Canonical solution plus mutants for every task, as evalplus samples; returns the number of samples."""
    tasks = get_benchmark(benchmark_name).load()
    count = 0
    with open(path, "w", encoding="utf-8") as handle:
        for task_id, task in tasks.items():
            canonical = task["prompt"] + task["canonical_solution"]
            for solution in [canonical, *mutants(canonical, limit=mutants_per_task)]:
                handle.write(json.dumps({"task_id": task_id, "solution": solution}) + "\n")
                count += 1
    return count


def timed(command: list[str], environment: dict[str, str], log: Path) -> float:
    started = time.perf_counter()
    with open(log, "w", encoding="utf-8") as output:
        completed = subprocess.run(command, env=environment, stdout=output, stderr=subprocess.STDOUT, check=False)
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"{command[0]} failed with exit code {completed.returncode}; see {log}")
    return seconds


def run_evalplus(command: Path, family: str, samples: Path, workers: int, cache: Path, log: Path) -> float:
    environment = dict(os.environ, XDG_CACHE_HOME=str(cache))
    environment["HUMANEVAL_OVERRIDE_PATH"] = str(data_file("humaneval_plus"))
    environment["MBPP_OVERRIDE_PATH"] = str(data_file("mbpp_plus"))
    results = samples.with_name(samples.stem + "_eval_results.json")
    results.unlink(missing_ok=True)  # evalplus would load it instead of evaluating
    arguments = [str(command), "--dataset", family, "--samples", str(samples), "--parallel", str(workers)]
    return timed(arguments, environment, log)


def run_acecoder(benchmark_name: str, samples: Path, workers: int, cache: Path, log: Path) -> float:
    environment = dict(os.environ, ACECODER_CACHE_DIR=str(cache))
    arguments = [sys.executable, "-m", "acecoder", "evaluate", "--benchmark", benchmark_name, "--input",
                 str(samples), "--workers", str(workers), "--quiet"]  # fmt: skip
    return timed(arguments, environment, log)


def compute_floor(benchmark_name: str, samples_path: Path, workers: int, cache: Path) -> dict:
    """CPU seconds the samples' function calls take on the inputs evalplus's verdicts need (every base and plus
    input up to the first that fails), with the tasks that take the most; ``cache`` holds the expected outputs."""
    benchmark = get_benchmark(benchmark_name)
    tasks = benchmark.load()
    samples, _ = read_samples(samples_path, tasks)
    wanted = {sample.task_id: tasks[sample.task_id] for sample in samples}
    with mock.patch.dict(os.environ, {"ACECODER_CACHE_DIR": str(cache)}):  # acecoder's run left its outputs there
        _, tests = split_tests(benchmark, wanted, file_digest(benchmark.data_path()), workers=workers)
    keys = [(sample.task_id, split) for sample in samples for split in benchmark.splits]
    programs = [sample.solution for sample in samples for _ in benchmark.splits]
    with evaluation_engine(workers) as engine:
        results = engine.run(programs, [tests[key] for key in keys], fail_fast=True)
    per_task: dict[str, float] = {}
    for (task_id, _), result in zip(keys, results):
        per_task[task_id] = per_task.get(task_id, 0.0) + sum(test.cpu_time for test in result.tests)
    total = sum(per_task.values())
    heaviest = sorted(per_task.items(), key=lambda item: -item[1])[:5]
    inputs_run = sum(test.status != Status.NOT_RUN for result in results for test in result.tests)
    return {"cpu_seconds": total, "floor_seconds": total / workers, "runs": len(keys), "inputs_run": inputs_run,
            "heaviest_tasks": heaviest}  # fmt: skip


def compare(ours_path: Path, theirs_path: Path) -> dict:
    """Per-sample agreement of base_status and plus_status, with every disagreement listed."""
    ours = json.loads(ours_path.read_text())["eval"]
    theirs = json.loads(theirs_path.read_text())["eval"]
    total = agree_base = agree_plus = agree_both = 0
    disagreements = []
    for task_id, their_runs in theirs.items():
        for index, (mine, their) in enumerate(zip(ours.get(task_id, []), their_runs)):
            total += 1
            base = mine["base_status"] == their["base_status"]
            plus = mine["plus_status"] == their["plus_status"]
            agree_base += base
            agree_plus += plus
            agree_both += base and plus
            if not (base and plus):
                disagreements.append({
                    "task_id": task_id, "sample": index,
                    "acecoder": [mine["base_status"], mine["plus_status"]],
                    "evalplus": [their["base_status"], their["plus_status"]],
                    "acecoder_failing_input": str(mine["base_fail_tests"] or mine["plus_fail_tests"])[:200],
                    "evalplus_failing_input": str(their["base_fail_tests"] or their["plus_fail_tests"])[:200],
                })  # fmt: skip
    canonical_failures = [
        task_id
        for task_id, runs in ours.items()
        if runs and not runs[0]["base_status"] == runs[0]["plus_status"] == "pass"
    ]  # the first sample of every task is its canonical solution
    return {
        "samples": total,
        "canonical_failures": canonical_failures,
        "agreement_base": agree_base / total,
        "agreement_plus": agree_plus / total,
        "agreement_both": agree_both / total,
        "disagreements": disagreements,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmarks", default="humaneval+,mbpp+", help="comma-separated: humaneval+, mbpp+")
    parser.add_argument("--mutants", type=int, default=2, help="mutants per task besides the canonical solution")
    parser.add_argument("--workers", type=int, default=2, help="workers for both tools (default 2)")
    parser.add_argument("--evalplus-venv", type=Path, default=HERE / ".evalplus-venv")
    parser.add_argument("--output", type=Path, default=RESULTS)
    arguments = parser.parse_args()
    evalplus = ensure_evalplus(arguments.evalplus_venv)
    report: dict = {"workers": arguments.workers, "mutants": arguments.mutants, "cpus": os.cpu_count(), "runs": {}}
    work = Path(tempfile.mkdtemp(prefix="acecoder-bench-evaluate-"))
    try:
        for name in arguments.benchmarks.split(","):
            benchmark = get_benchmark(name.strip())
            count = 0
            directories = {tool: work / benchmark.family / tool for tool in ("acecoder", "evalplus")}
            for directory in directories.values():
                directory.mkdir(parents=True)
                count = write_samples(benchmark.name, arguments.mutants, directory / "samples.jsonl")
            print(f"{benchmark.name}: {count} samples ({arguments.mutants} mutants per task + canonical)", flush=True)
            seconds: dict[str, dict[str, float]] = {"acecoder": {}, "evalplus": {}}
            for tool, directory in directories.items():
                cache = directory / "cache"
                for phase in ("cold", "warm"):
                    log = directory / f"{phase}.log"
                    samples = directory / "samples.jsonl"
                    if tool == "evalplus":
                        elapsed = run_evalplus(evalplus, benchmark.family, samples, arguments.workers, cache, log)
                    else:
                        elapsed = run_acecoder(benchmark.name, samples, arguments.workers, cache, log)
                    seconds[tool][phase] = elapsed
                    print(f"  {tool:9s} {phase}: {elapsed:8.2f} s", flush=True)
            agreement = compare(
                directories["acecoder"] / "samples_eval_results.json",
                directories["evalplus"] / "samples_eval_results.json",
            )
            ratios = {phase: seconds["evalplus"][phase] / seconds["acecoder"][phase] for phase in ("cold", "warm")}
            floor = compute_floor(benchmark.name, directories["acecoder"] / "samples.jsonl", arguments.workers,
                                  directories["acecoder"] / "cache")  # fmt: skip
            floor["evalplus_warm_over_floor"] = seconds["evalplus"]["warm"] / floor["floor_seconds"]
            floor["floor_share_of_acecoder_warm"] = floor["floor_seconds"] / seconds["acecoder"]["warm"]
            print(f"  agreement: base {agreement['agreement_base']:.2%}, plus {agreement['agreement_plus']:.2%}, "
                  f"both {agreement['agreement_both']:.2%} of {agreement['samples']} samples")  # fmt: skip
            print(f"  speed: acecoder is {ratios['cold']:.2f}x evalplus cold, {ratios['warm']:.2f}x warm")
            print(f"  compute floor: {floor['runs']} runs, {floor['inputs_run']} inputs up to each run's first "
                  f"failure; the samples' own function calls take {floor['cpu_seconds']:.1f} CPU s, "
                  f"{floor['floor_seconds']:.1f} s over {arguments.workers} workers; no harness can be more than "
                  f"{floor['evalplus_warm_over_floor']:.2f}x evalplus warm on these samples; the floor is "
                  f"{floor['floor_share_of_acecoder_warm']:.0%} of acecoder's warm time")  # fmt: skip
            heaviest = ", ".join(f"{task_id} {cpu:.1f} s" for task_id, cpu in floor["heaviest_tasks"])
            print(f"  heaviest tasks (CPU s in the samples' calls): {heaviest}")
            print(f"  canonical solutions failing under acecoder: {agreement['canonical_failures'] or 'none'}")
            for item in agreement["disagreements"]:
                print(f"    {item['task_id']} #{item['sample']}: acecoder {item['acecoder']} evalplus {item['evalplus']}"
                      f" (evalplus failing input {item['evalplus_failing_input'][:80]})")  # fmt: skip
            report["runs"][benchmark.name] = {"samples": count, "seconds": seconds, "speedup": ratios,
                                              "compute_floor": floor, **agreement}  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps(report, indent=2))
    print(f"figures: {arguments.output}")


if __name__ == "__main__":
    main()
