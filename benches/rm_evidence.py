"""The reward-model evidence of the README ("Reward model on this CPU"): pairs from SmolLM2-135M's own samples on
MBPP train tasks, reward models trained on them, best-of-8 on MBPP+ against the sample average and a random pick.

Every step is an ``acecoder`` command, and each is resumable (a rerun of this script skips what is on disk):

1. Questions: MBPP train tasks 601-974 less the 108 that MBPP+ also holds (``disjoint_from_mbpp_plus``), each with
   its MBPP reference solution kept aside for the ``with-reference`` pairs.
2. ``acecoder sample`` (``--n`` programs per question) and ``acecoder passrate`` on the policy's programs; the
   references are scored as a candidate of their own in a second pass-rate file.
3. ``acecoder pairs`` once per pair set (``PAIR_SETS``): AceCoder's rule (chosen >= 0.8, margin >= 0.4, rejected
   > 0); the same with rejected programs that pass nothing allowed; and the latter plus the MBPP reference solution
   as one more chosen candidate.
4. ``acecoder train-rm`` for each run (``RUNS``: a pair set, a learning rate, plain or chat prompts).
5. MBPP+ candidates: ``acecoder sample`` on the first ``--tasks`` MBPP+ prompts (as ``bon`` poses them), ``--n``
   samples and the greedy answer, then ``acecoder bon`` with each reward model on the same candidates.
6. ``summary.json`` and a Markdown table: pairs, held-out pairwise accuracy, best-of-N rows, RM minus random.

The policy is any generation backend: ``--backend transformers --model smollm2`` works with nothing else, slowly
(about 50 tokens/s on 2 cores); the README's figures came from a llama.cpp server on the same GGUF file
(``llama-server -m SmolLM2-135M-Instruct.Q4_1.gguf -c 16384 -np 16 -t 2 --jinja``, about 125 tokens/s in 16
streams; it runs a request's ``n`` samples in parallel slots):

    python benches/rm_evidence.py --output-dir rm-evidence --backend openai --base-url http://127.0.0.1:8081/v1
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acecoder.data.acecode import read_acecode, write_rows
from acecoder.data.benchmarks import load_mbpp, read_jsonl
from acecoder.data.seeds import mbpp_train_questions
from acecoder.eval.best_of_n import benchmark_rows, paired_bootstrap
from acecoder.eval.evalplus import get_benchmark
from acecoder.prompts import response_text

REFERENCE_MODEL = "mbpp-reference"


@dataclass(frozen=True)
class PairSet:
    name: str
    rates: str  # "policy" (the policy's programs) or "with-reference" (plus the MBPP reference solution)
    pair_flags: tuple[str, ...]
    conversational: bool = False


@dataclass(frozen=True)
class Run:
    name: str
    pair_set: str
    learning_rate: float
    epochs: float = 2.0


CAPPED_WITH_REFERENCE = ("--rejected-inclusive", "--max-pairs-per-question", "2")
PAIR_SETS = {
    "acecoder-rule": PairSet("acecoder-rule", "policy", ()),
    "any-rejected": PairSet("any-rejected", "policy", ("--rejected-inclusive",)),
    "any-rejected-chat": PairSet("any-rejected-chat", "policy", ("--rejected-inclusive",), True),
    # At most 2 pairs per question (256 from 128 questions): what 2 CPU cores train in minutes, not hours.
    "with-reference": PairSet("with-reference", "with-reference", CAPPED_WITH_REFERENCE),
    "with-reference-all": PairSet("with-reference-all", "with-reference", ("--rejected-inclusive",)),
    "with-reference-chat": PairSet("with-reference-chat", "with-reference", CAPPED_WITH_REFERENCE, True),
}

RUNS = {
    # Learning rate 0: the score head as initialised, what an RM that learned nothing selects (a fixed, arbitrary
    # preference, not a random pick).
    "untrained": Run("untrained", "acecoder-rule", 0.0, epochs=1.0),
    "acecoder-rule": Run("acecoder-rule", "acecoder-rule", 2e-5),
    "any-rejected": Run("any-rejected", "any-rejected", 2e-5),
    "any-rejected-lr5e-5": Run("any-rejected-lr5e-5", "any-rejected", 5e-5),
    "any-rejected-chat": Run("any-rejected-chat", "any-rejected-chat", 2e-5),
    "with-reference": Run("with-reference", "with-reference", 2e-5, epochs=1.0),
    "with-reference-all": Run("with-reference-all", "with-reference-all", 2e-5, epochs=1.0),
    "with-reference-lr5e-6": Run("with-reference-lr5e-6", "with-reference", 5e-6, epochs=1.0),
    "with-reference-chat": Run("with-reference-chat", "with-reference-chat", 2e-5, epochs=1.0),
}
DEFAULT_RUNS = ["acecoder-rule", "any-rejected", "with-reference"]


def acecoder(*arguments: str) -> None:
    """Runs one acecoder command in a child process; its failure ends the script with the command's status."""
    command = [sys.executable, "-m", "acecoder", *arguments]
    print("$ acecoder " + " ".join(arguments), flush=True)
    finished = subprocess.run(command, check=False)
    if finished.returncode != 0:
        raise SystemExit(f"acecoder {arguments[0]} failed with status {finished.returncode}")


def backend_flags(arguments: argparse.Namespace) -> list[str]:
    flags = ["--backend", arguments.backend, "--model", arguments.model, "--max-tokens", str(arguments.max_tokens)]
    if arguments.base_url:
        flags += [
            "--base-url",
            arguments.base_url,
            "--concurrency",
            str(arguments.concurrency),
            "--request-timeout",
            "900",
        ]
    return flags


def write_questions(directory: Path, count: int | None) -> tuple[Path, Path]:
    """The first ``count`` training questions, and the same with the MBPP reference solution as their one inference."""
    questions = mbpp_train_questions(disjoint_from_mbpp_plus=True)[:count]
    reference = {f"mbpp/{task['task_id']}": task["code"] for task in load_mbpp("train")}
    questions_path, references_path = directory / "train_questions.jsonl", directory / "train_references.jsonl"
    write_rows(questions, questions_path)
    if not references_path.exists() or count_lines(references_path) != len(questions):
        inference = {"model_name": REFERENCE_MODEL, "completion_id": 0}
        rows = [{**row, "inferences": [{**inference, "completion": response_text(reference[row["id"]])}]}
                for row in questions]  # fmt: skip
        write_rows(rows, references_path)
    return questions_path, references_path


def merge_references(policy_rates: Path, reference_rates: Path, output: Path) -> None:
    """The policy's scored programs with the question's scored reference solution appended as one more candidate."""
    references = {str(row["id"]): row["inferences"] for row in read_acecode(reference_rates)}
    rows = []
    for row in read_acecode(policy_rates):
        extra = [{**inference, "completion_id": len(row["inferences"])}
                 for inference in references.get(str(row["id"]), [])]  # fmt: skip
        rows.append({**row, "inferences": [*row["inferences"], *extra]})
    write_rows(rows, output)


def count_lines(path: Path) -> int:
    with open(path, encoding="utf-8") as handle:
        return sum(1 for line in handle if line.strip())


def policy_statistics(rates: Path) -> dict[str, float]:
    rows = read_acecode(rates)
    programs = [inference["pass_rate"] for row in rows for inference in row["inferences"]]
    return {
        "questions": len(rows),
        "programs": len(programs),
        "mean_pass_rate": sum(programs) / len(programs),
        "programs_passing_all": sum(rate == 1.0 for rate in programs),
        "programs_passing_none": sum(rate == 0.0 for rate in programs),
        "questions_with_an_all_pass_program": sum(
            any(inference["pass_rate"] == 1.0 for inference in row["inferences"]) for row in rows
        ),
    }


def parses(program: str) -> bool:
    try:
        ast.parse(program)
    except (SyntaxError, ValueError):
        return False
    return bool(program.strip())


def correlation(xs: list[float], ys: list[float]) -> float | None:
    """Pearson's correlation, or None when either side is constant."""
    if len(xs) < 2:
        return None
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    covariance = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys))
    spread = math.sqrt(sum((x - mean_x) ** 2 for x in xs) * sum((y - mean_y) ** 2 for y in ys))
    return covariance / spread if spread else None


def ranking_diagnostics(candidates_file: Path) -> dict[str, Any]:
    """How the RM ranks the MBPP+ candidates, beyond its top pick: within-problem AUC (a correct candidate scored
    above a wrong one of the same problem, averaged over problems that have both), how its scores follow program
    length and parseability, how often its pick parses against a random pick, and two selectors that know only
    syntax, to tell a reward model from a parse check: a random pick among the candidates that parse (all of them
    when none does), with the RM's gain over it and a 95% bootstrap interval, and the shortest one that parses."""
    problems: dict[str, list[dict]] = {}
    for record in read_jsonl(candidates_file):
        problems.setdefault(record["problem_id"], []).append(record)
    for record in (record for records in problems.values() for record in records):
        record["parses"] = parses(record["program"])
    areas, picked_parses, random_parses = [], [], []
    random_parsing, shortest_parsing, over_random_parsing = [], [], []
    for records in problems.values():
        right = [record["score"] for record in records if record["correct"]]
        wrong = [record["score"] for record in records if not record["correct"]]
        if right and wrong:
            wins = sum((r > w) + 0.5 * (r == w) for r in right for w in wrong)
            areas.append(wins / (len(right) * len(wrong)))
        best = max(records, key=lambda record: record["score"])
        picked_parses.append(best["parses"])
        random_parses.append(statistics.fmean(record["parses"] for record in records))
        parsing = [record for record in records if record["parses"]] or records
        random_parsing.append(statistics.fmean(float(record["correct"]) for record in parsing))
        shortest_parsing.append(float(min(parsing, key=lambda record: len(record["program"]))["correct"]))
        over_random_parsing.append(float(best["correct"]) - random_parsing[-1])
    low, high = paired_bootstrap(over_random_parsing)
    every = [record for records in problems.values() for record in records]
    scores = [record["score"] for record in every]
    return {
        "problems_with_right_and_wrong": len(areas),
        "within_problem_auc": statistics.fmean(areas) if areas else None,
        "score_length_correlation": correlation(scores, [float(len(record["program"])) for record in every]),
        "score_parses_correlation": correlation(scores, [float(record["parses"]) for record in every]),
        "rm_pick_parses": statistics.fmean(picked_parses),
        "random_pick_parses": statistics.fmean(random_parses),
        "random_parsing_selected": statistics.fmean(random_parsing),
        "shortest_parsing_selected": statistics.fmean(shortest_parsing),
        "rm_minus_random_parsing": {"difference": statistics.fmean(over_random_parsing), "low": low, "high": high},
    }


def number(value: float | None, scale: float = 1.0, digits: int = 1) -> str:
    return "-" if value is None else f"{value * scale:.{digits}f}"


def markdown_table(summary: dict) -> str:
    """One line per run: its data, held-out accuracy, best-of-N at the largest N, and the ranking diagnostics."""
    lines = ["| run | train / held-out pairs | held-out accuracy | average | oracle | RM-selected "
             "| RM − random (95%) | random parsing | RM − random parsing (95%) | shortest parsing "
             "| within-problem AUC | score~length r | RM pick parses (random) |",
             "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]  # fmt: skip
    for name, run in summary["runs"].items():
        last, gain, ranking = run["best_of_n"][-1], run["rm_minus_random"], run["ranking"]
        over_parsing = ranking["rm_minus_random_parsing"]
        lines.append(
            f"| {name} | {run['train_pairs']} / {run['held_out_pairs']} | {number(run['held_out_accuracy'], 100)}% "
            f"| {number(last['average'], 100)} | {number(last['oracle'], 100)} | {number(last['rm_selected'], 100)} "
            f"| {number(gain['difference'], 100)} ({number(gain['low'], 100)} to {number(gain['high'], 100)}) "
            f"| {number(ranking['random_parsing_selected'], 100)} | {number(over_parsing['difference'], 100)} "
            f"({number(over_parsing['low'], 100)} to {number(over_parsing['high'], 100)}) "
            f"| {number(ranking['shortest_parsing_selected'], 100)} "
            f"| {number(ranking['within_problem_auc'], 1, 2)} | {number(ranking['score_length_correlation'], 1, 2)} "
            f"| {number(ranking['rm_pick_parses'], 100, 0)}% ({number(ranking['random_pick_parses'], 100, 0)}%) |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=Path("rm-evidence"))
    parser.add_argument("--backend", default="transformers")
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--base-url", default=None)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=2,
        help="requests in flight; a llama.cpp server with 16 slots runs 2 requests of 8 samples "
        "at once, and requests queued behind them only wait",
    )
    parser.add_argument("--n", type=int, default=8, help="programs per question, train and MBPP+ alike")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument(
        "--train-questions",
        type=int,
        default=None,
        help="the first N of the 266 MBPP train tasks outside MBPP+ (default: all)",
    )
    parser.add_argument("--tasks", type=int, default=100, help="the first N MBPP+ tasks for best-of-N")
    parser.add_argument("--runs", nargs="+", default=DEFAULT_RUNS, choices=list(RUNS))
    parser.add_argument("--max-length", type=int, default=384, help="reward-model tokens per prompt + response")
    parser.add_argument(
        "--bf16", action="store_true", help="bf16 autocast in training (on CPUs with AMX or AVX-512 BF16)"
    )
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    directory = arguments.output_dir
    directory.mkdir(parents=True, exist_ok=True)
    sampling = ["--n", str(arguments.n), "--temperature", str(arguments.temperature), "--seed", str(arguments.seed)]

    questions, references = write_questions(directory, arguments.train_questions)
    samples, rates = directory / "train_samples.jsonl", directory / "train_rates.jsonl"
    acecoder("sample", "--input", str(questions), "--output", str(samples), *backend_flags(arguments), *sampling)
    acecoder("passrate", "--input", str(samples), "--output", str(rates), "--quiet")
    reference_rates = directory / "train_reference_rates.jsonl"
    acecoder("passrate", "--input", str(references), "--output", str(reference_rates), "--quiet")
    with_reference = directory / "train_rates_with_reference.jsonl"
    merge_references(rates, reference_rates, with_reference)
    rate_files = {"policy": rates, "with-reference": with_reference}

    mbpp_plus = get_benchmark("mbpp+")
    tasks = mbpp_plus.load()
    evaluation_rows = directory / "mbpp_plus_questions.jsonl"
    write_rows(benchmark_rows(mbpp_plus, tasks, list(tasks)[: arguments.tasks]), evaluation_rows)
    candidates, greedy = directory / "mbpp_plus_samples.jsonl", directory / "mbpp_plus_greedy.jsonl"
    acecoder("sample", "--input", str(evaluation_rows), "--output", str(candidates), *backend_flags(arguments),
             *sampling)  # fmt: skip
    acecoder("sample", "--input", str(evaluation_rows), "--output", str(greedy), *backend_flags(arguments),
             "--n", "1", "--temperature", "0")  # fmt: skip

    summary: dict = {"settings": {key: str(value) for key, value in vars(arguments).items()},
                     "policy_on_train_questions": policy_statistics(rates), "pair_sets": {}, "runs": {}}  # fmt: skip
    for name in sorted({RUNS[run].pair_set for run in arguments.runs}):
        pair_set = PAIR_SETS[name]
        pairs = directory / f"pairs_{name}.jsonl"
        flags = [*pair_set.pair_flags, *(["--conversational"] if pair_set.conversational else [])]
        acecoder("pairs", "--input", str(rate_files[pair_set.rates]), "--output", str(pairs), *flags)
        written = read_jsonl(pairs)
        summary["pair_sets"][name] = {"pairs": len(written), "questions": len({row["id"] for row in written})}
    for name in arguments.runs:
        run = RUNS[name]
        pair_set = PAIR_SETS[run.pair_set]
        model, bon = directory / f"rm_{name}", directory / f"bon_{name}"
        if not (model / "metrics.json").exists():
            acecoder("train-rm", "--input", str(directory / f"pairs_{run.pair_set}.jsonl"), "--model", arguments.model,
                     "--output-dir", str(model), "--global_batch_size", "16", "--per_device_train_batch_size", "8",
                     "--num_train_epochs", str(run.epochs), "--learning_rate", str(run.learning_rate),
                     "--max_length", str(arguments.max_length), "--eval_fraction", "0.15",
                     "--seed", str(arguments.seed),
                     *(["--bf16", "true"] if arguments.bf16 else []))  # fmt: skip
        if not (bon / "bon_table.json").exists():
            acecoder("bon", "--rm", str(model), "--benchmark", "mbpp+", "--candidates", str(candidates),
                     "--greedy-candidates", str(greedy), "--limit", str(arguments.tasks), "--output-dir", str(bon),
                     "--max-length", str(arguments.max_length), "--seed", str(arguments.seed), "--quiet",
                     *(["--conversational"] if pair_set.conversational else []))  # fmt: skip
        metrics = json.loads((model / "metrics.json").read_text(encoding="utf-8"))
        table = json.loads((bon / "bon_table.json").read_text(encoding="utf-8"))
        summary["runs"][name] = {"run": vars(run), "held_out_accuracy": metrics["held_out_accuracy"],
                                 "held_out_pairs": metrics["counts"]["held_out_pairs"],
                                 "train_pairs": metrics["counts"]["train_pairs"],
                                 "best_of_n": table["rows"], "rm_minus_random": table["rm_minus_random"],
                                 "ranking": ranking_diagnostics(bon / "candidates.jsonl")}  # fmt: skip
    (directory / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({key: summary[key] for key in ("policy_on_train_questions", "pair_sets")}, indent=2))
    print(markdown_table(summary))


if __name__ == "__main__":
    main()
