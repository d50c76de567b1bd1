"""GRPO on code questions with the engine's rule reward (AceCoder step five), on top of TRL's ``GRPOTrainer``.

Nothing here re-implements the trainer: ``train_rl`` loads the questions and the policy, builds the reward functions
of ``acecoder.rewards`` (each wrapped to time its calls, since reward time per step is what an RL run pays for the
sandbox), hands everything to TRL, and writes what a person wants afterwards: the model, ``metrics.json`` with the
reward of every step, ``reward_curve.png`` and every setting as resolved (``config.yaml``). A run with checkpoints
(``save_strategy``) resumes from the last complete one in ``output_dir``: one a kill left half-written is skipped
with a warning (``acecoder.train.checkpoints``).
"""

from __future__ import annotations

import copy
import json
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from acecoder.data.acecode import read_acecode
from acecoder.exec import Limits
from acecoder.files import share_saved_weights
from acecoder.prompts import policy_prompt
from acecoder.rewards import make_rm_reward, make_test_pass_reward
from acecoder.time_limits import LIMIT_COLUMN, row_limit
from acecoder.train.checkpoints import resume_checkpoint
from acecoder.train.config import save_config
from acecoder.train.rl_config import RLConfig

# What the reward curve keeps of each logged step (TRL 1.16's names), besides every ``rewards/*`` and
# ``acecoder/*`` key.
_STEP_KEYS = ("reward", "reward_std", "frac_reward_zero_std", "kl", "loss", "completions/mean_length",
              "completions/clipped_ratio", "learning_rate")  # fmt: skip


def load_questions(path: str | Path, conversational: bool = True, limit: int | None = None) -> list[dict[str, Any]]:
    """Training examples ``{"id", "prompt", "test_cases"}`` from AceCode rows. The prompt is AceCoder's policy
    prompt (question + first test), as a user message when ``conversational``. Rows without a question or without a
    list of test strings are an error naming them: silently training on fewer questions would hide a broken file.
    When any row carries a calibrated limit (``acecoder.time_limits``), every example gets ``test_cpu_seconds``
    (None where its row has none), which TRL hands the rule reward like ``test_cases``."""
    rows = read_acecode(path)
    examples: list[dict[str, Any]] = []
    bad: list[int] = []
    for number, row in enumerate(rows, start=1):
        question, tests = row["question"], row["test_cases"]
        if not isinstance(question, str) or not question.strip() or not _is_test_list(tests):
            bad.append(number)
            continue
        text = policy_prompt(question, tests)
        prompt: object = [{"role": "user", "content": text}] if conversational else text
        examples.append({"id": str(row["id"]), "prompt": prompt, "test_cases": [str(test) for test in tests],
                         LIMIT_COLUMN: row_limit(row)})  # fmt: skip
    if bad:
        shown = ", ".join(str(number) for number in bad[:10]) + (" ..." if len(bad) > 10 else "")
        raise ValueError(f"{path}: rows {shown} lack a question or a non-empty list of test strings")
    if not examples:
        raise ValueError(f"{path}: no questions")
    if all(example[LIMIT_COLUMN] is None for example in examples):
        for example in examples:
            del example[LIMIT_COLUMN]
    return examples[:limit] if limit else examples


def _is_test_list(tests: object) -> bool:
    return isinstance(tests, (list, tuple)) and bool(tests) and all(isinstance(test, str) for test in tests)


class TimedReward:
    """A reward function that records the wall time of each call (logged as ``acecoder/<name>_seconds``) and the
    rewards it returned, so that two rewards computed on the same completions can be compared afterwards."""

    def __init__(self, function: Callable, name: str | None = None) -> None:
        self.function = function
        self.__name__ = name or function.__name__
        self.seconds: list[float] = []
        self.outputs: list[list[float | None]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> list[float | None]:
        started = time.perf_counter()
        try:
            rewards = self.function(*args, **kwargs)
            self.outputs.append(list(rewards))
            return rewards
        finally:
            elapsed = time.perf_counter() - started
            self.seconds.append(elapsed)
            log_metric = kwargs.get("log_metric")
            if callable(log_metric):
                log_metric(f"acecoder/{self.__name__}_seconds", elapsed)


def build_rewards(config: RLConfig) -> list[TimedReward]:
    """The config's reward functions in ``reward_weights`` order: the rule reward, then the reward model if any."""
    limits = Limits(test_cpu_seconds=config.test_cpu_seconds)
    rewards = [TimedReward(make_test_pass_reward(config.reward_mode, limits=limits, workers=config.engine_workers))]
    if config.rm_model:
        rewards.append(TimedReward(make_rm_reward(config.rm_model, squash=config.rm_squash)))
    return rewards


def train_rl(
    config: RLConfig, extra_rewards: Sequence[tuple[Callable, float]] = (), rewards_out: list | None = None
) -> dict[str, Any]:
    """Train with GRPO and save model, tokenizer, metrics, reward curve and config to ``config.output_dir``; returns
    the metrics (also in ``metrics.json``). ``extra_rewards`` adds ``(function, weight)`` pairs after the config's
    own rewards; a weight of 0 computes and logs a reward without training on it (e.g. to time another harness).
    ``rewards_out``, when given, receives the ``TimedReward`` objects (their timings and outputs)."""
    import datasets
    from trl import GRPOTrainer

    from acecoder.models.loading import load_policy_model

    started = time.perf_counter()
    questions = load_questions(config.dataset, config.conversational, config.max_questions)
    model, tokenizer = load_policy_model(config.model_name_or_path)
    rewards = build_rewards(config)
    weights = list(config.reward_weights or [1.0] * len(rewards))
    for function, weight in extra_rewards:
        rewards.append(TimedReward(function))
        weights.append(float(weight))
    if rewards_out is not None:
        rewards_out.extend(rewards)
    # A shallow copy: the caller's config keeps its own weights, and TRL must not load the model a second time.
    trainer_arguments = copy.copy(config)
    trainer_arguments.reward_weights = weights
    trainer_arguments.model_init_kwargs = None
    trainer: Any = GRPOTrainer(
        model=model,
        processing_class=tokenizer,
        reward_funcs=list[Any](rewards),
        args=trainer_arguments,
        train_dataset=datasets.Dataset.from_list(questions),
    )
    output = Path(str(config.output_dir))
    checkpoint = resume_checkpoint(output, config.resume, config.resume_from_checkpoint)
    train_output = trainer.train(resume_from_checkpoint=checkpoint)
    if not trainer.is_world_process_zero():
        return {}
    output.mkdir(parents=True, exist_ok=True)
    trainer.model.save_pretrained(output)
    tokenizer.save_pretrained(output)
    share_saved_weights(output)  # checkpoints included: safetensors writes 0600
    save_config(config, output / "config.yaml")
    history = reward_history(trainer.state.log_history)
    metrics: dict[str, Any] = {
        "history": history,
        "reward_names": [reward.__name__ for reward in rewards],
        "reward_weights": weights,
        "reward_seconds": {reward.__name__: _summary(reward.seconds) for reward in rewards},
        "counts": {
            "questions": len(questions),
            "optimizer_steps": trainer.state.global_step,
            "completions_per_step": config.per_device_train_batch_size * config.gradient_accumulation_steps,
            "samples_per_prompt": config.num_generations,
        },
        "resumed_from": checkpoint,
        "seconds": {
            "train": float(train_output.metrics.get("train_runtime", 0.0)),
            "total": time.perf_counter() - started,
        },
        "model_dir": str(output),
    }
    metrics["reward_curve"] = str(plot_reward_curve(history, output / "reward_curve.png"))
    metrics["metrics_file"] = str(output / "metrics.json")
    (output / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return metrics


def reward_history(log_history: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per logged training step with the reward statistics TRL and the reward functions logged."""
    rows = []
    for entry in log_history:
        if "reward" not in entry or "step" not in entry:
            continue
        row = {"step": entry["step"]}
        for key, value in entry.items():
            if key in _STEP_KEYS or key.startswith(("rewards/", "acecoder/")):
                row[key] = value
        rows.append(row)
    return rows


def _summary(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"calls": 0, "total": 0.0, "mean": 0.0}
    return {"calls": len(values), "total": sum(values), "mean": statistics.fmean(values)}


def plot_reward_curve(history: Sequence[dict[str, Any]], path: Path) -> Path:
    """Mean reward per step (± the mean within-group spread) and its running mean; below, the fraction of groups
    whose samples all got the same reward, which give GRPO no signal at all."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 5.2))
    FigureCanvasAgg(figure)
    reward_axes, flat_axes = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    steps = [row["step"] for row in history]
    means = [row["reward"] for row in history]
    spreads = [row.get("reward_std", 0.0) for row in history]
    reward_axes.plot(steps, means, marker="o" if len(steps) <= 40 else None, label="mean reward")
    reward_axes.fill_between(steps, [m - s for m, s in zip(means, spreads)], [m + s for m, s in zip(means, spreads)],
                             alpha=0.2, label="± within-group std")  # fmt: skip
    window = 5
    running = [statistics.fmean(means[max(0, index - window + 1) : index + 1]) for index in range(len(means))]
    reward_axes.plot(steps, running, color="black", linewidth=1, label=f"running mean ({window} steps)")
    reward_axes.set_ylabel("reward")
    reward_axes.set_title("GRPO reward per step")
    reward_axes.legend(fontsize="small")
    flat_axes.plot(steps, [row.get("frac_reward_zero_std", float("nan")) for row in history], color="tab:red")
    flat_axes.set_ylim(-0.05, 1.05)
    flat_axes.set_ylabel("flat groups")
    flat_axes.set_xlabel("optimizer step")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return path
