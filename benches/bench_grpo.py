"""GRPO evidence on this CPU machine: SmolLM2-135M-Instruct trained with ``test_pass_reward`` on easy MBPP train
tasks, and the reward's cost per step next to an evalplus-pattern reward called from the same trainer process.

What it does, in order:

1. The questions: ``--input`` if given (e.g. ``acecoder hard-subset`` output over the policy's own samples, which is
   AceCoder's selection), else the ``--questions`` MBPP train tasks (601-974) with the shortest reference solutions.
2. ``acecoder.train.rl.train_rl`` with AceCoder's settings except where a flag says otherwise (8 samples per prompt,
   KL 0.01, binary rule reward). Besides the engine's reward, a second reward with weight 0 runs the same
   completions through ``baselines.EvalplusPattern`` (evalplus's and AceCoder's released harness: a process pool
   forked from the trainer, one forked process per program), created inside the trainer process after the model is
   loaded, as a reward function written that way would be. It does not train anything; it is timed.
3. With ``--eval-samples N`` (default 16), samples N programs per training question from the policy before and
   after training with the same sampler and seed, and compares their all-pass rates (per-step rewards come from
   a policy that changes every step and from one question at a time, so they are noisy).
4. Writes ``benches/results/bench_grpo.json`` (every step's reward statistics and both rewards' seconds),
   ``benches/results/grpo_reward_curve.png``, and prints a table: mean reward per step, the fraction of groups with
   no reward spread (which give GRPO no signal), and the reward-time ratio evalplus pattern / engine. The two
   rewards' verdicts are compared completion by completion; any disagreement is printed.

    .venv/bin/python benches/bench_grpo.py                        # ~30 min on 2 cores
    .venv/bin/python benches/bench_grpo.py --steps 4 --questions 4  # a quick look
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from acecoder.cli.vocabulary import add_option  # noqa: E402
from acecoder.data.seeds import load_mbpp, mbpp_train_questions  # noqa: E402
from acecoder.extract import extract_code  # noqa: E402
from acecoder.rewards import completion_text  # noqa: E402
from baselines import EvalplusPattern  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def easy_mbpp_questions(count: int) -> list[dict]:
    """The ``count`` MBPP train tasks whose reference solutions are shortest: a plain, reproducible notion of easy."""
    reference = {f"mbpp/{task['task_id']}": task["code"] for task in load_mbpp("train")}
    rows = sorted(mbpp_train_questions(), key=lambda row: (len(reference[row["id"]]), row["id"]))
    return rows[:count]


class EvalplusPatternReward:
    """A TRL reward function over ``EvalplusPattern``: 1.0 if every test passes. Its pool starts at the first call,
    inside the trainer process (forking it, model and all), as a reward function using that harness would."""

    __name__ = "evalplus_pattern_binary"

    def __init__(self, workers: int, test_seconds: float) -> None:
        self.workers = workers
        self.test_seconds = test_seconds
        self.runner: EvalplusPattern | None = None

    def __call__(self, prompts, completions, test_cases=None, **kwargs) -> list[float | None]:
        if self.runner is None:
            self.runner = EvalplusPattern(self.workers, self.test_seconds)
        programs = [extract_code(completion_text(completion)) for completion in completions]
        passed = self.runner.run(programs, [list(tests) for tests in test_cases])
        return [1.0 if count == len(tests) else 0.0 for count, tests in zip(passed, test_cases)]

    def close(self) -> None:
        if self.runner is not None:
            self.runner.close()


def epoch_means(history: list[dict], questions: int, questions_per_step: int) -> list[float]:
    """Mean reward over each pass through the questions: steps draw different questions, whose difficulty differs
    far more than one step of training changes anything, so per-epoch means are what can show learning."""
    steps_per_epoch = max(1, -(-questions // questions_per_step))
    rewards = [row["reward"] for row in history]
    return [statistics.fmean(rewards[start : start + steps_per_epoch])
            for start in range(0, len(rewards), steps_per_epoch)]  # fmt: skip


def policy_pass_rates(model: str, dataset: str, samples: int, temperature: float, tokens: int, work: Path) -> dict:
    """Per question, the fraction of ``samples`` programs sampled from ``model`` that pass every test: the same
    sampler (``acecoder sample``, transformers backend, fixed seed) for the policy before and after training."""
    from acecoder.cli import main as acecoder
    from acecoder.data.acecode import read_acecode

    name = Path(model).name or model
    samples_path, rates_path = work / f"{name}-samples.jsonl", work / f"{name}-passrates.jsonl"
    if acecoder(["sample", "--input", dataset, "--output", str(samples_path), "--backend", "transformers",
                 "--model", model, "--n", str(samples), "--temperature", str(temperature), "--max-tokens", str(tokens),
                 "--batch-size", "16", "--seed", "1", "--no-cache", "--quiet"]) != 0:  # fmt: skip
        raise RuntimeError(f"sampling from {model} failed")
    if acecoder(["passrate", "--input", str(samples_path), "--output", str(rates_path)]) != 0:
        raise RuntimeError(f"scoring the samples of {model} failed")
    return {
        str(row["id"]): statistics.fmean(float(inference["pass_rate"] == 1.0) for inference in row["inferences"])
        for row in read_acecode(rates_path)
    }


def compare_policies(before: dict, after: dict) -> dict:
    """Mean all-pass rate before and after, and a bootstrap interval (over questions) of the difference."""
    import random

    questions = sorted(before)
    differences = [after[question] - before[question] for question in questions]
    generator = random.Random(0)
    resampled = sorted(statistics.fmean(generator.choice(differences) for _ in questions) for _ in range(10_000))
    return {
        "before": statistics.fmean(before.values()),
        "after": statistics.fmean(after.values()),
        "difference": statistics.fmean(differences),
        "difference_95": [resampled[250], resampled[9_749]],
        "per_question": {question: [before[question], after[question]] for question in questions},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2")
    add_option(parser, "--input", old=("--dataset",), default=None,
               help="questions with tests (default: easy MBPP train tasks)")  # fmt: skip
    parser.add_argument("--questions", type=int, default=32, help="easy MBPP train tasks when no --input")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--questions-per-step", type=int, default=1)
    add_option(parser, "--n", old=("--samples",), type=int, default=8, help="samples per prompt (GRPO group size)")
    parser.add_argument("--learning-rate", type=float, default=5e-7)
    parser.add_argument("--reward-mode", default="binary", choices=("binary", "pass_rate"))
    parser.add_argument("--completion-tokens", type=int, default=128)
    parser.add_argument("--temperature", type=float, default=0.7, help="sampling temperature (AceCoder's 0.7)")
    parser.add_argument("--workers", type=int, default=2, help="sandbox workers of both rewards")
    parser.add_argument("--eval-samples", type=int, default=16, help="programs per question sampled from the policy "
                        "before and after training to compare them (0: no comparison)")  # fmt: skip
    parser.add_argument("--evaluate-run", type=Path, default=None, help="only compare this trained policy directory "
                        "with the starting model (adds the comparison to --output)")  # fmt: skip
    parser.add_argument("--output", type=Path, default=RESULTS / "bench_grpo.json")
    parser.add_argument("--plot", type=Path, default=RESULTS / "grpo_reward_curve.png")
    arguments = parser.parse_args()

    from acecoder.data.acecode import write_rows
    from acecoder.models.loading import policy_directory
    from acecoder.train.rl import train_rl
    from acecoder.train.rl_config import RLConfig

    work = Path(tempfile.mkdtemp(prefix="acecoder-bench-grpo-"))
    dataset = arguments.input
    if dataset is None:
        dataset = str(work / "easy_mbpp.jsonl")
        write_rows(easy_mbpp_questions(arguments.questions), Path(dataset))

    def compare(trained: str) -> dict:
        settings = (dataset, arguments.eval_samples, arguments.temperature, arguments.completion_tokens, work)
        comparison = compare_policies(policy_pass_rates(str(policy_directory(arguments.model)), *settings),
                                      policy_pass_rates(trained, *settings))  # fmt: skip
        comparison["samples_per_question"] = arguments.eval_samples
        low, high = comparison["difference_95"]
        print(f"all-pass rate on {Path(dataset).name}, {arguments.eval_samples} samples per question: before "
              f"{comparison['before']:.3f}, after {comparison['after']:.3f}, "
              f"difference {comparison['difference']:+.3f} "
              f"(95% bootstrap over questions {low:+.3f} to {high:+.3f})")  # fmt: skip
        return comparison

    if arguments.evaluate_run is not None:
        summary = json.loads(arguments.output.read_text()) if arguments.output.is_file() else {}
        summary["policy_comparison"] = compare(str(arguments.evaluate_run))
        arguments.output.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        return 0
    config = RLConfig(
        model_name_or_path=arguments.model,
        dataset=dataset,
        output_dir=str(work / "run"),
        reward_mode=arguments.reward_mode,
        max_steps=arguments.steps,
        num_generations=arguments.n,
        per_device_train_batch_size=arguments.n * arguments.questions_per_step,
        learning_rate=arguments.learning_rate,
        max_completion_length=arguments.completion_tokens,
        temperature=arguments.temperature,
        engine_workers=arguments.workers,
        save_strategy="no",
        seed=0,
    )
    evalplus_reward = EvalplusPatternReward(arguments.workers, config.test_cpu_seconds)
    rewards: list = []
    started = time.perf_counter()
    try:
        metrics = train_rl(config, extra_rewards=[(evalplus_reward, 0.0)], rewards_out=rewards)
    finally:
        evalplus_reward.close()
    engine, evalplus = rewards[0], rewards[-1]
    disagreements = [
        (call, index, ours, theirs)
        for call, (our_rewards, their_rewards) in enumerate(zip(engine.outputs, evalplus.outputs))
        for index, (ours, theirs) in enumerate(zip(our_rewards, their_rewards))
        if ours != theirs
    ]
    # The first call of each includes starting its workers; a long run amortises that, so it is reported apart.
    engine_steady, evalplus_steady = engine.seconds[1:] or engine.seconds, evalplus.seconds[1:] or evalplus.seconds
    history = metrics["history"]
    summary = {
        "model": arguments.model,
        "dataset": arguments.input or f"{arguments.questions} easy MBPP train tasks (shortest reference)",
        "settings": {
            "steps": arguments.steps,
            "samples_per_prompt": arguments.n,
            "questions_per_step": arguments.questions_per_step,
            "learning_rate": arguments.learning_rate,
            "beta": config.beta,
            "reward_mode": arguments.reward_mode,
            "completion_tokens": arguments.completion_tokens,
            "temperature": arguments.temperature,
            "workers": arguments.workers,
        },  # fmt: skip
        "history": history,
        "reward_seconds": {
            "engine": {
                "first_call": engine.seconds[0],
                "mean_after_first": statistics.fmean(engine_steady),
                "total": sum(engine.seconds),
            },  # fmt: skip
            "evalplus_pattern": {
                "first_call": evalplus.seconds[0],
                "mean_after_first": statistics.fmean(evalplus_steady),
                "total": sum(evalplus.seconds),
            },  # fmt: skip
            "ratio_evalplus_over_engine": statistics.fmean(evalplus_steady) / statistics.fmean(engine_steady),
        },
        "epoch_means": epoch_means(history, metrics["counts"]["questions"], arguments.questions_per_step),
        "verdicts": {"compared": sum(len(outputs) for outputs in engine.outputs), "disagreements": len(disagreements)},
        "seconds_total": time.perf_counter() - started,
    }
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(metrics["reward_curve"], arguments.plot)

    print(f"{'step':>4}  {'mean reward':>11}  {'reward std':>10}  {'flat groups':>11}  {'engine s':>8}  "
          f"{'evalplus s':>10}")  # fmt: skip
    for row, ours, theirs in zip(history, engine.seconds, evalplus.seconds):
        print(f"{row['step']:>4}  {row['reward']:>11.3f}  {row.get('reward_std', 0.0):>10.3f}  "
              f"{row.get('frac_reward_zero_std', float('nan')):>11.2f}  {ours:>8.3f}  {theirs:>10.3f}")  # fmt: skip
    for epoch, mean in enumerate(summary["epoch_means"], start=1):
        print(f"epoch {epoch} (each question once): mean reward {mean:.3f}")
    seconds = summary["reward_seconds"]
    print(f"reward seconds per step after the first: engine {seconds['engine']['mean_after_first']:.3f}, "
          f"evalplus pattern {seconds['evalplus_pattern']['mean_after_first']:.3f} "
          f"(ratio {seconds['ratio_evalplus_over_engine']:.2f}x)")  # fmt: skip
    print(f"verdicts compared: {summary['verdicts']['compared']}, disagreements: {len(disagreements)}")
    for call, index, ours, theirs in disagreements[:10]:
        print(f"  step call {call}, completion {index}: engine {ours}, evalplus pattern {theirs}")
    if arguments.eval_samples:
        summary["policy_comparison"] = compare(metrics["model_dir"])
    arguments.output.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {arguments.output} and {arguments.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
