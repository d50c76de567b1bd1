"""How the demo's questions were chosen (``acecoder.cli.demo.DEMO_TASKS``): where SmolLM2-135M's programs differ.

AceCoder's pair rule needs, for one question, a program passing at least 80% of the tests and another passing some
but at least 40 points fewer. MBPP train tasks carry 3 tests each, so a pair is a program passing all 3 against
one passing exactly 1. On most MBPP train tasks the packaged SmolLM2-135M-Instruct passes nothing (90.8% of its
programs; README, "Reward model on this CPU"), so the first ten tasks give no pair at all. This script samples
``--n`` programs for each of the ``--questions`` MBPP train tasks with the shortest reference solutions (short
tasks are the ones a 135M model sometimes solves), outside MBPP+ (MBPP+ draws 108 of its tasks from MBPP's train
split; pairs from those would leak into the evaluation), with the demo's sampling settings, scores them, and ranks
the questions by the pairs expected from ``--demo-n`` samples: ``demo_n² × P(pass all) × P(pass one of three)``.

    python benches/select_demo_questions.py --output-dir demo-selection --questions 64

Resumable (the sample journal and the response cache); prints one line per question and the ranked list.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from acecoder.data.acecode import read_acecode
from acecoder.data.benchmarks import load_mbpp
from acecoder.data.seeds import mbpp_train_questions
from acecoder.exec import Engine
from acecoder.generation import ResponseCache, Sampling, make_backend
from acecoder.pairs.passrate import score_rows
from acecoder.pairs.rules import PairRule
from acecoder.pairs.sampling import sample_rows


def expected_pairs(rates: list[float], samples: int, rule: PairRule | None = None) -> float:
    """Pairs expected from ``samples`` programs drawn like these: ordered (chosen, rejected) draws the rule accepts."""
    rule = rule or PairRule()
    total = len(rates)
    accepted = sum(1 for chosen in rates for rejected in rates if rule.accepts(chosen, rejected)) if total else 0
    return samples * (samples - 1) * accepted / (total * total) if total else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", type=Path, default=Path("demo-selection"))
    parser.add_argument("--questions", type=int, default=64, help="MBPP train tasks, shortest reference first")
    parser.add_argument("--n", type=int, default=8, help="programs sampled per question here")
    parser.add_argument("--demo-n", type=int, default=16, help="programs per question in the demo")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--temperature", type=float, default=0.7)
    arguments = parser.parse_args()

    directory = arguments.output_dir
    directory.mkdir(parents=True, exist_ok=True)
    reference = {f"mbpp/{task['task_id']}": task["code"] for task in load_mbpp("train")}
    rows = mbpp_train_questions(disjoint_from_mbpp_plus=True)
    rows = sorted(rows, key=lambda row: (len(reference[row["id"]]), row["id"]))[: arguments.questions]
    started = time.perf_counter()
    backend = make_backend("transformers", "smollm2", batch_size=16, cache=ResponseCache(directory / "cache.sqlite"))
    sampling = Sampling(n=arguments.n, temperature=arguments.temperature, max_tokens=arguments.max_tokens, seed=0)
    try:
        sample_rows(rows, backend, directory / "samples.jsonl", sampling,
                    progress=lambda step, done, total: print(f"{step} {done}/{total}", flush=True))  # fmt: skip
    finally:
        backend.close()
    print(f"sampled in {time.perf_counter() - started:.0f} s")
    with Engine() as engine:
        score_rows(read_acecode(directory / "samples.jsonl"), engine, directory / "passrates.jsonl")
    ranked = []
    for row in read_acecode(directory / "passrates.jsonl"):
        rates = [float(inference.get("pass_rate") or 0.0) for inference in row["inferences"]]
        ranked.append((expected_pairs(rates, arguments.demo_n), row["id"], sorted(rates)))
    ranked.sort(key=lambda item: (-item[0], item[1]))
    for expected, task, rates in ranked:
        print(
            f"{task:10} expected pairs at n={arguments.demo_n}: {expected:5.1f}   rates {[round(r, 2) for r in rates]}"
        )
    chosen = [task for expected, task, _ in ranked if expected > 0]
    (directory / "ranked.json").write_text(json.dumps([{"id": task, "expected_pairs": expected, "rates": rates}
                                                       for expected, task, rates in ranked], indent=1))  # fmt: skip
    print("questions with a pair expected:", json.dumps(chosen))


if __name__ == "__main__":
    main()
