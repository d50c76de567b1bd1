"""Candidates for the reward-model evidence (README, "Reward model on this CPU"), built from real code.

Why not SmolLM2's own samples: 384 SmolLM2-135M samples on 48 MBPP train questions (128 tokens, temperature 0.7)
had 0 programs passing all tests and 10 passing some, so AceCoder's pair rule gives no pairs at all. The pairs
are therefore built from MBPP train tasks 601-974: each task's reference solution and up to 7 mechanical mutants
(``acecoder.data.mutants``), all printed by ``ast.unparse`` so formatting cannot tell them apart, in a seeded random
order, as AceCode rows with ``inferences`` (run ``acecoder passrate`` and ``acecoder pairs`` on them). Best-of-8:
every MBPP+ task with at least 7 mutants, its canonical solution and 7 mutants in a seeded random order, as an
evalplus samples file for ``acecoder bon --benchmark mbpp+ --candidates``.

    python benches/build_rm_candidates.py --output-dir rm-evidence
"""

from __future__ import annotations

import argparse
import ast
import json
import random
from pathlib import Path

from acecoder.data.benchmarks import load_mbpp, load_mbpp_plus
from acecoder.data.mutants import mutants
from acecoder.data.seeds import mbpp_train_questions

CANDIDATES = 8


def shuffled_candidates(source: str, generator: random.Random, minimum_mutants: int = 1) -> list[str] | None:
    try:
        programs = [ast.unparse(ast.parse(source)), *mutants(source, limit=CANDIDATES - 1)]
    except SyntaxError:
        return None
    if len(programs) - 1 < minimum_mutants:
        return None
    generator.shuffle(programs)
    return programs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=Path("rm-evidence"))
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    arguments.output_dir.mkdir(parents=True, exist_ok=True)
    generator = random.Random(arguments.seed)
    code = {f"mbpp/{task['task_id']}": task["code"] for task in load_mbpp("train")}
    train = []
    for row in mbpp_train_questions():
        programs = shuffled_candidates(code[row["id"]], generator)
        if programs:
            completions = [f"```python\n{program}\n```" for program in programs]
            inferences = [
                {"model_name": "reference+mutants", "completion_id": number, "completion": text}
                for number, text in enumerate(completions)
            ]
            train.append({**row, "inferences": inferences})
    with open(arguments.output_dir / "train_candidates.jsonl", "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in train)
    tasks = load_mbpp_plus()
    samples = []
    for task_id in sorted(tasks, key=lambda name: int(name.split("/")[1])):
        programs = shuffled_candidates(tasks[task_id]["canonical_solution"], generator, minimum_mutants=CANDIDATES - 1)
        if programs:
            samples += [{"task_id": task_id, "solution": program} for program in programs]
    with open(arguments.output_dir / "eval_candidates.jsonl", "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(sample) + "\n" for sample in samples)
    print(
        f"{len(train)} train questions, {len(samples) // CANDIDATES} best-of-{CANDIDATES} tasks in {arguments.output_dir}"
    )


if __name__ == "__main__":
    main()
