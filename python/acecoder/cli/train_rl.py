"""Train a policy with GRPO on questions with tests (AceCoder step five), TRL's GRPOTrainer with the engine's reward.

Settings come from a YAML file (--config), then from flags: --input (the config's `dataset`), --model,
--output-dir, --limit (`max_questions`), --workers (`engine_workers`), and any setting of the config as `--name value` (e.g. `--max_steps 30 --reward_mode pass_rate --rm_model runs/rm --use_vllm true`);
`--list-settings` prints them all. The defaults are AceCoder's: 8 samples per prompt, lr 5e-7, KL 0.01 and the
binary rule reward, on the hard subset from `acecoder hard-subset`. On a machine without CUDA it trains on the CPU.
The output directory receives the policy, its tokenizer, metrics.json (the reward of every step and the time spent
computing rewards), reward_curve.png and config.yaml (every setting as resolved). With checkpoints (`--save_strategy
steps`) a rerun resumes from the last complete one, skipping with a warning one that an interruption left unfinished.
"""

from __future__ import annotations

import argparse
import sys

from acecoder.cli.config_flags import (
    add_training_arguments,
    positive_int,
    print_table,
    train_and_report_errors,
    training_config,
)

HELP = "train a policy with GRPO and the test-pass reward (TRL GRPOTrainer)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_training_arguments(
        parser,
        "questions with tests, e.g. `acecoder hard-subset`'s output (default: the config's `dataset`)",
        "where the policy, metrics and reward curve go (default: the config's output_dir)",
    )
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="train on the first N questions only (default: the config's max_questions: all)")  # fmt: skip
    parser.add_argument("--workers", type=positive_int, default=None,
                        help="sandbox workers of the rule reward (default: the config's engine_workers: one per CPU)")  # fmt: skip


def run(arguments: argparse.Namespace) -> int:
    try:
        from acecoder.train.rl import train_rl
        from acecoder.train.rl_config import RLConfig
    except ImportError as error:
        print(f"error: RL training needs torch, transformers and trl ({error}): pip install 'acecoder[train]'",
              file=sys.stderr)  # fmt: skip
        return 2
    settings = {"input": "dataset", "model": "model_name_or_path", "output_dir": "output_dir", "limit": "max_questions",
                "workers": "engine_workers"}  # fmt: skip
    config, status = training_config(arguments, RLConfig, "acecoder train-rl", settings)
    if config is None:
        return status
    weights = config.reward_weights or [1.0]
    rewards = " + ".join(f"{weight:g}×{name}" for name, weight in zip(config.reward_names, weights))
    print(f"acecoder train-rl: {config.model_name_or_path} on {config.dataset} → {config.output_dir} "
          f"({config.num_generations} samples per prompt, lr {config.learning_rate:g}, KL {config.beta:g}, "
          f"reward {rewards})", file=sys.stderr)  # fmt: skip
    metrics = train_and_report_errors(train_rl, config)
    if isinstance(metrics, int):
        return metrics
    history = metrics["history"]
    rule = metrics["reward_names"][0]
    seconds = metrics["reward_seconds"][rule]
    rows = [
        ("questions", str(metrics["counts"]["questions"])),
        ("optimizer steps", str(metrics["counts"]["optimizer_steps"])),
        *([("resumed from", metrics["resumed_from"])] if metrics["resumed_from"] else []),
        ("mean reward, first step", f"{history[0]['reward']:.3f}" if history else "-"),
        ("mean reward, last step", f"{history[-1]['reward']:.3f}" if history else "-"),
        ("mean reward, all steps", f"{sum(row['reward'] for row in history) / len(history):.3f}" if history else "-"),
        (f"{rule} seconds per call", f"{seconds['mean']:.3f} ({seconds['calls']} calls)"),
        ("seconds", f"{metrics['seconds']['total']:.1f}"),
    ]
    print_table(rows)
    print(f"model: {metrics['model_dir']}\nmetrics: {metrics['metrics_file']}\nreward curve: {metrics['reward_curve']}")
    return 0
