"""Hardening with the packaged SmolLM2-135M on the CPU, and what it does to the precision of the reward.

Questions: the first ``--limit`` MBPP train tasks (601-974) that MBPP+ also holds, so that MBPP+'s tests can judge
the programs independently (``--with-survivors``: the first whose tests leave a mutant alive, where hardening can
change anything). Each question is MBPP's task text with MBPP's own tests (``test_list``, with its setup
code); its reference is MBPP+'s canonical solution.

1. Hardening (``acecoder.synth.harden``, the line format a 135M model can follow): kill rate before and after, tests
   proposed and kept.
2. SmolLM2's own programs for the questions (``--n`` samples each, the policy prompt ``acecoder sample`` uses).
3. Precision of the reward: of the programs that pass a question's tests, the share that fails MBPP+'s tests
   (evalplus verdicts, base and plus inputs), for MBPP's original tests and for the same tests after hardening,
   side by side. Lower is better: each such program would be rewarded as correct.

Every step writes its rows under ``benches/results/harden/`` and resumes from them (model calls are cached in
``benches/results/harden/cache.sqlite``), so a second run only recomputes the figures.

    .venv/bin/python benches/bench_harden.py --limit 20
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from acecoder.audit import AuditQuestion, audit_questions
from acecoder.data.acecode import write_rows
from acecoder.data.benchmarks import MBPP_SPLITS, load_mbpp, load_mbpp_plus
from acecoder.eval.evalplus import Sample, evaluate
from acecoder.exec import Engine, Limits, Status
from acecoder.extract import extract_code
from acecoder.generation import ResponseCache, Sampling, make_backend
from acecoder.pairs.sampling import sample_rows
from acecoder.synth.harden import HardenConfig, Hardener

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "harden"


def questions(limit: int, engine: Engine, with_survivors: bool = False) -> list[dict]:
    """The first ``limit`` questions; with ``with_survivors``, the first ``limit`` whose tests leave a mutant of the
    reference alive (the only ones hardening can change)."""
    plus = load_mbpp_plus()
    rows = []
    for task in load_mbpp("train"):
        task_id = f"Mbpp/{task['task_id']}"
        if task_id not in plus:
            continue
        setup = (task.get("test_setup_code") or "").strip()
        tests = [f"{setup}\n{test}" if setup else test for test in task["test_list"]]
        rows.append({"id": task_id, "source": "mbpp-train", "question": task["text"], "test_cases": tests,
                     "reference": plus[task_id]["canonical_solution"]})  # fmt: skip
    if with_survivors:
        audits = audit_questions([AuditQuestion(row["reference"], row["test_cases"]) for row in rows], engine)
        rows = [rows[position] for position, audit in audits if audit and (audit.get("surviving") or 0) > 0]
    assert all(int(row["id"].split("/")[1]) in MBPP_SPLITS["train"] for row in rows)
    return rows[:limit]


def passes(engine: Engine, programs: list[str], tests: list[list[str]]) -> list[bool]:
    """Whether each program passes every one of its tests (a program without tests passes nothing)."""
    runnable = [index for index, test_list in enumerate(tests) if test_list and programs[index].strip()]
    results = engine.run([programs[index] for index in runnable], [tests[index] for index in runnable], fail_fast=True)
    verdicts = [False] * len(programs)
    for index, result in zip(runnable, results):
        verdicts[index] = result.status == Status.PASSED
    return verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=20, help="questions")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--harden-samples", type=int, default=4, help="replies per question and round")
    parser.add_argument("--n", type=int, default=8, help="SmolLM2 programs per question")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--with-survivors", action="store_true", help="only questions whose tests leave a mutant alive")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the rows, cache and figures go")
    parser.add_argument("--hardened-from", type=Path, nargs="*", default=None, help="no hardening here: the hardened "
                        "rows of earlier runs (their hardened.jsonl), by id; other questions keep MBPP's tests")  # fmt: skip
    arguments = parser.parse_args()
    results = arguments.results
    results.mkdir(parents=True, exist_ok=True)
    backend = make_backend("transformers", "smollm2", cache=ResponseCache(results / "cache.sqlite"))
    figures: dict = {}
    with Engine(workers=arguments.workers, limits=Limits(test_cpu_seconds=1.0)) as engine:
        rows = questions(arguments.limit, engine, arguments.with_survivors)
        figures["questions"] = [row["id"] for row in rows]
        started = time.perf_counter()
        if arguments.hardened_from is not None:
            earlier = {}
            for path in arguments.hardened_from:
                earlier |= {row["id"]: row for row in map(json.loads, path.read_text().splitlines())}
            hardened = [earlier.get(row["id"], row) for row in rows]
            figures["hardened_questions"] = sum(row["id"] in earlier for row in rows)
        else:
            config = HardenConfig(rounds=arguments.rounds, mutants=20, samples=arguments.harden_samples,
                                  max_tokens=arguments.max_tokens, format="lines", seed=0)  # fmt: skip
            hardener = Hardener(backend, engine, config, reference_column="reference")
            hardened, summary = hardener.run(rows, results / "hardened.jsonl")
            write_rows(hardened, results / "hardened.jsonl")
            figures["harden_seconds"] = time.perf_counter() - started
            print(summary.table())
            figures["harden"] = {
                "proposed": summary.proposed, "kept": summary.kept, "kill_rate_before": summary.kill_rates_before,
                "kill_rate_after": summary.kill_rates_after, "model_calls": summary.requests,
            }  # fmt: skip
        started = time.perf_counter()
        sampling = Sampling(n=arguments.n, temperature=0.7, max_tokens=arguments.max_tokens, seed=0)
        sample_rows(rows, backend, results / "samples.jsonl", sampling)
        figures["sample_seconds"] = time.perf_counter() - started
        sampled = [json.loads(line) for line in (results / "samples.jsonl").read_text().splitlines()]
        programs, own_tests, hard_tests, samples = [], [], [], []
        by_id = {row["id"]: row for row in hardened}
        for row in sampled:
            for inference in row["inferences"]:
                program = extract_code(str(inference.get("completion") or ""))
                programs.append(program)
                own_tests.append(row["test_cases"])
                hard_tests.append(by_id[row["id"]]["test_cases"])
                samples.append(Sample(row["id"], program, len(samples) + 1))
        own = passes(engine, programs, own_tests)
        hard = passes(engine, programs, hard_tests)
    backend.close()
    evaluation = evaluate("mbpp+", samples, workers=arguments.workers)
    runs = [run for task_runs in evaluation.results["eval"].values() for run in task_runs]
    plus_by_program: dict[tuple[str, str], bool] = {
        (run["task_id"], run["solution"]): run["base_status"] == run["plus_status"] == "pass" for run in runs
    }
    plus = [plus_by_program[sample.task_id, sample.solution] for sample in samples]

    def precision(accepted: list[bool]) -> dict:
        passing = sum(accepted)
        wrong = sum(1 for ok, right in zip(accepted, plus) if ok and not right)
        return {"pass_tests": passing, "of_which_fail_plus": wrong, "share": wrong / passing if passing else None}

    figures["programs"] = len(programs)
    figures["pass_plus"] = sum(plus)
    figures["original_tests"] = precision(own)
    figures["hardened_tests"] = precision(hard)
    (results / "figures.json").write_text(json.dumps(figures, indent=1) + "\n")
    print(json.dumps({key: value for key, value in figures.items() if key != "harden"}, indent=1))
    print(f"figures: {results / 'figures.json'}")


if __name__ == "__main__":
    main()
