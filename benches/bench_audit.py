"""How strong are MBPP's and HumanEval's original tests? The mutation audit of public benchmarks, with the evalplus
tests (MBPP+, HumanEval+) as an independent ground truth, and the audit's speed.

Three suites, each audited with ``acecoder.audit`` through one engine:

- ``mbpp``: sanitized MBPP's test split (task ids 11-510) where MBPP+ holds the task. Reference: MBPP+'s canonical
  solution (the one its expected outputs come from); tests: sanitized MBPP's own asserts (with their imports);
  ground truth: MBPP+'s base and plus inputs as evalplus judges them (``acecoder.eval.evalplus.build_tests``).
- ``humaneval``: every HumanEval task. Reference: HumanEval+'s prompt and canonical solution; tests: HumanEval's
  own ``check`` function (one test: it passes or fails as a whole); ground truth: HumanEval+'s base and plus inputs.
- ``mbpp-plus``: all of MBPP+ (378 tasks), its ``assertion`` asserts as the tests, base and plus inputs as the
  ground truth: the speed figure (programs per second, CPU minutes).

Per suite it prints the audit table (kill rate of the original tests and of the ground truth, tasks with a
surviving mutant that the ground truth kills, possibly equivalent survivors) and throughput, writes every task's
audit to ``benches/results/audit/SUITE.jsonl`` and lists flagged tasks (a weak survivor: the original tests pass
a mutant the plus tests fail) with the mutant's diff and the plus test's failure, for the spot check by hand in
benches/README.md.

    .venv/bin/python benches/bench_audit.py                          # all three, 20 mutants per task
    .venv/bin/python benches/bench_audit.py --suites mbpp --limit 50 --mutants 5
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from pathlib import Path

from acecoder.audit import AuditCounters, AuditQuestion, audit_questions, summarize
from acecoder.data.benchmarks import MBPP_SPLITS, file_digest, load_sanitized_mbpp
from acecoder.data.tests import humaneval_check_test, split_test_script
from acecoder.eval.evalplus import evaluation_engine, get_benchmark, split_tests

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "audit"
SUITES = ("mbpp", "humaneval", "mbpp-plus")


def _ground_truth(benchmark_name: str, task_ids: list[str]) -> tuple[dict, dict]:
    """The benchmark's tasks and, per task, its base and plus CallTests with evalplus's limits and oracles."""
    benchmark = get_benchmark(benchmark_name)
    tasks = benchmark.load()
    wanted = {task_id: tasks[task_id] for task_id in task_ids}
    _, tests = split_tests(benchmark, wanted, file_digest(benchmark.data_path()))
    return tasks, {task_id: tests[task_id, "base"] + tests[task_id, "plus"] for task_id in task_ids}


def questions_for(suite: str, limit: int | None) -> tuple[list[str], list[AuditQuestion]]:
    if suite == "humaneval":
        tasks = get_benchmark("humaneval+").load()
        ids = list(tasks)[:limit]
        _, truth = _ground_truth("humaneval+", ids)
        return ids, [
            AuditQuestion(
                tasks[i]["prompt"] + tasks[i]["canonical_solution"], [humaneval_check_test(tasks[i])], truth[i]
            )
            for i in ids
        ]
    plus_tasks = get_benchmark("mbpp+").load()
    if suite == "mbpp":
        sanitized = {
            f"Mbpp/{row['task_id']}": row for row in load_sanitized_mbpp() if row["task_id"] in MBPP_SPLITS["test"]
        }
        ids = [task_id for task_id in sanitized if task_id in plus_tasks][:limit]
        _, truth = _ground_truth("mbpp+", ids)

        def own_tests(row: dict) -> list[str]:
            imports = "\n".join(row.get("test_imports") or [])
            return [f"{imports}\n{test}" if imports else test for test in row["test_list"]]

        return ids, [AuditQuestion(plus_tasks[i]["canonical_solution"], own_tests(sanitized[i]), truth[i]) for i in ids]
    ids = list(plus_tasks)[:limit]
    _, truth = _ground_truth("mbpp+", ids)
    return ids, [
        AuditQuestion(plus_tasks[i]["canonical_solution"], split_test_script(plus_tasks[i]["assertion"]), truth[i])
        for i in ids
    ]


def run_suite(suite: str, mutants: int, workers: int, limit: int | None) -> dict:
    ids, questions = questions_for(suite, limit)
    counters = AuditCounters()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    audits: list[dict] = []
    RESULTS.mkdir(parents=True, exist_ok=True)
    with evaluation_engine(workers) as engine, open(RESULTS / f"{suite}.jsonl", "w", encoding="utf-8") as output:
        for position, audit in audit_questions(questions, engine, mutants, counters=counters):
            record = {"task_id": ids[position], **(audit or {"status": "sandbox_error", "kill_rate": None})}
            audits.append(record)
            output.write(json.dumps(record) + "\n")
            if len(audits) % 25 == 0:
                print(f"  {suite}: {len(audits)}/{len(ids)} tasks, {time.perf_counter() - started:,.0f} s", flush=True)
    seconds = time.perf_counter() - started
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary = summarize([audit for audit in audits if audit["status"] != "sandbox_error"])
    summary.seconds, summary.counters = seconds, counters
    flagged = [audit for audit in audits if audit.get("weak")]
    mutant_counts = [audit["mutants"] for audit in audits if audit.get("kill_rate") is not None]
    figures = {
        "suite": suite, "tasks": len(ids), "mutants_per_task": mutants, "statuses": summary.statuses,
        "audited": len(summary.kill_rates), "mutants": summary.mutants,
        "mutants_per_audited_task_mean": statistics.fmean(mutant_counts) if mutant_counts else None,
        "kill_rate_original_mean": statistics.fmean(summary.kill_rates) if summary.kill_rates else None,
        "kill_rate_ground_truth_mean": (
            statistics.fmean(summary.ground_truth_kill_rates) if summary.ground_truth_kill_rates else None
        ),
        "tasks_with_weak_survivor": summary.with_weak_survivor, "weak_survivors": summary.weak,
        "possibly_equivalent": summary.possibly_equivalent, "tasks_with_survivor": summary.with_survivor,
        "sandbox_errors": counters.sandbox_errors, "programs": counters.jobs, "tests": counters.tests,
        "seconds": seconds, "programs_per_second": counters.jobs / seconds if seconds else 0.0,
        "job_cpu_minutes": counters.cpu_seconds / 60,
        "worker_cpu_minutes": (
            children_after.ru_utime + children_after.ru_stime - children_before.ru_utime - children_before.ru_stime
        ) / 60,
        "flagged": [audit["task_id"] for audit in flagged],
    }  # fmt: skip
    print(f"\n== {suite}: {len(ids)} tasks, up to {mutants} mutants each")
    print(summary.table())
    print(f"wall {seconds:,.1f} s; job CPU {figures['job_cpu_minutes']:.1f} min; worker processes' CPU "
          f"{figures['worker_cpu_minutes']:.1f} min")  # fmt: skip
    return figures


def print_flagged(suite: str, count: int) -> None:
    """The first ``count`` flagged tasks of a suite's results, each with its first weak survivor."""
    shown = 0
    for line in (RESULTS / f"{suite}.jsonl").read_text(encoding="utf-8").splitlines():
        audit = json.loads(line)
        weak = [survivor for survivor in audit.get("survivors", []) if survivor["ground_truth"] == "kills"]
        if not weak or shown >= count:
            continue
        shown += 1
        print(f"\n-- {audit['task_id']} ({audit['weak']} weak of {audit['mutants']} mutants; {weak[0]['operator']})")
        print(weak[0]["diff"].rstrip())
        print(f"   plus test: {weak[0]['ground_truth_failure']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suites", default=",".join(SUITES), help=f"comma-separated, of {', '.join(SUITES)}")
    parser.add_argument("--mutants", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="only the first N tasks of each suite")
    parser.add_argument("--show-flagged", type=int, default=0, help="print N flagged tasks per suite (no audit run "
                        "when given with --no-run)")  # fmt: skip
    parser.add_argument("--no-run", action="store_true", help="only print from the saved results")
    arguments = parser.parse_args()
    suites = [suite.strip() for suite in arguments.suites.split(",") if suite.strip()]
    if not arguments.no_run:
        figures = [run_suite(suite, arguments.mutants, arguments.workers, arguments.limit) for suite in suites]
        (RESULTS / "figures.json").write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
        print(f"\nfigures: {RESULTS / 'figures.json'}")
    for suite in suites:
        if arguments.show_flagged:
            print_flagged(suite, arguments.show_flagged)


if __name__ == "__main__":
    main()
