"""Train a Bradley–Terry reward model on preference pairs (AceCoder step four) with TRL's RewardTrainer.

Settings come from a YAML file (--config), then from flags: --input (the config's `pairs`), --model and
--output-dir, and any setting of the config as `--name value` (e.g. `--learning_rate 2e-5 --use_lora true --max_steps 100`); `--list-settings`
prints them all. The defaults are AceCoder's: one epoch, lr 1e-5 cosine, warmup 0.1, global batch 128, 2048 tokens.
The output directory receives the model (LoRA merged), its tokenizer, metrics.json, loss_curve.png and config.yaml
(every setting as resolved). With checkpoints (`--save_strategy steps`) a rerun resumes from the last complete one.
"""

from __future__ import annotations

import argparse
import sys

from acecoder.cli.config_flags import add_training_arguments, print_table, train_and_report_errors, training_config

HELP = "train a reward model on preference pairs (TRL RewardTrainer, Bradley–Terry)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_training_arguments(
        parser,
        "pairs from `acecoder pairs`: JSONL, Parquet or a saved dataset (default: the config's `pairs`)",
        "where the model, metrics and loss curve go (default: the config's output_dir)",
    )


def run(arguments: argparse.Namespace) -> int:
    try:
        from acecoder.train.config import RewardModelConfig
        from acecoder.train.reward_model import train_reward_model
    except ImportError as error:
        print(f"error: training needs torch, transformers, trl and peft ({error}): pip install 'acecoder[train]'",
              file=sys.stderr)  # fmt: skip
        return 2
    settings = {"input": "pairs", "model": "model_name_or_path", "output_dir": "output_dir"}
    config, status = training_config(arguments, RewardModelConfig, "acecoder train-rm", settings)
    if config is None:
        return status
    print(f"acecoder train-rm: {config.model_name_or_path} on {config.pairs} → {config.output_dir} "
          f"({config.describe_batch()}, lr {config.learning_rate:g}"
          f"{', LoRA r=' + str(config.lora_r) if config.use_lora else ''})", file=sys.stderr)  # fmt: skip
    metrics = train_and_report_errors(train_reward_model, config)
    if isinstance(metrics, int):
        return metrics
    counts = metrics["counts"]
    accuracy = metrics["held_out_accuracy"]
    history = metrics["loss_history"]
    rows = [
        ("pairs (train / held out)", f"{counts['train_pairs']} / {counts['held_out_pairs']}"),
        ("questions (train / held out)", f"{counts['train_questions']} / {counts['held_out_questions']}"),
        ("optimizer steps", str(counts["optimizer_steps"])),
        *([("resumed from", metrics["resumed_from"])] if metrics["resumed_from"] else []),
        ("train loss, last logged step", f"{history[-1]['loss']:.4f} (step {history[-1]['step']})" if history else "-"),
        ("train loss, mean of this run", f"{metrics['train_loss']:.4f}"),
        ("held-out accuracy", f"{accuracy:.1%}" if accuracy is not None else "- (no held-out pairs)"),
        ("seconds", f"{metrics['seconds']['total']:.1f}"),
    ]
    print_table(rows)
    print(f"model: {metrics['model_dir']}\nmetrics: {metrics['metrics_file']}\nloss curve: {metrics['loss_curve']}")
    return 0
