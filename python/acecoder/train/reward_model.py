"""Training a Bradley–Terry reward model on AceCoder preference pairs with TRL's ``RewardTrainer``.

The loss is TRL's: ``-log σ(r_chosen − r_rejected)`` (minus an optional margin), which is AceCoder's objective, so
nothing here reimplements training. What this module adds is what a run needs around the trainer:

- pairs are checked before any model loads, naming the malformed rows (a typo in a 300K-pair file should cost
  seconds, not a model load);
- the held-out split is by question (pair ``id``): pairs of one question share a prompt and often a program, so a
  split by pair would leak questions into evaluation and flatter the accuracy;
- held-out pairwise accuracy is computed with ``RewardScorer`` on the final (merged) model, the same code that
  best-of-N reranking uses, besides TRL's own evaluation;
- LoRA adapters are merged before saving, so the output directory loads with plain
  ``AutoModelForSequenceClassification.from_pretrained``;
- ``metrics.json``, ``loss_curve.png`` and ``config.yaml`` (every setting as resolved: it reruns the run) land
  beside the model;
- a run with checkpoints (``save_strategy``) resumes from the last complete one in ``output_dir``, skipping with a
  warning one that a kill left half-written (``acecoder.train.checkpoints``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from acecoder.data.seeds import read_rows
from acecoder.files import share_saved_weights
from acecoder.train.checkpoints import resume_checkpoint
from acecoder.train.config import RewardModelConfig, save_config

MAX_PROBLEMS_SHOWN = 5


def load_pairs(path: str | Path, use_margin: bool = False) -> list[dict[str, Any]]:
    """Validated pairs from a JSONL, Parquet or saved-dataset file: ``{"id", "chosen", "rejected"}`` plus ``prompt``
    when the file has one and ``margin`` when ``use_margin``. Raises ``ValueError`` naming malformed rows: not an
    object, a missing or empty ``chosen``/``rejected``, strings mixed with message lists, a prompt in some rows only,
    or (with ``use_margin``) neither a numeric ``margin`` nor both pass rates."""
    rows = read_rows(path)
    if not rows:
        raise ValueError(f"{path}: no pairs")
    pairs: list[dict[str, Any]] = []
    problems: list[str] = []
    formats: dict[tuple[bool, bool], int] = {}  # (conversational, has prompt) -> first row number
    for number, row in enumerate(rows, start=1):
        try:
            pair = _checked_pair(row, number, use_margin)
        except ValueError as error:
            problems.append(f"row {number}: {error}")
            continue
        formats.setdefault((isinstance(pair["chosen"], list), "prompt" in pair), number)
        pairs.append(pair)
    if len(formats) > 1:
        described = [
            f"row {number}: {'messages' if conversational else 'text'}, {'with' if has_prompt else 'without'} a prompt"
            for (conversational, has_prompt), number in sorted(formats.items(), key=lambda item: item[1])
        ]
        problems.append("rows differ in format (" + "; ".join(described) + ")")
    if problems:
        shown = "; ".join(problems[:MAX_PROBLEMS_SHOWN])
        more = f" (and {len(problems) - MAX_PROBLEMS_SHOWN} more)" if len(problems) > MAX_PROBLEMS_SHOWN else ""
        raise ValueError(f"{path}: malformed pairs: {shown}{more}")
    return pairs


def _checked_pair(row: object, number: int, use_margin: bool) -> dict[str, Any]:
    if not isinstance(row, Mapping):
        raise ValueError("not an object")
    chosen, rejected = _response(row, "chosen"), _response(row, "rejected")
    if isinstance(chosen, list) != isinstance(rejected, list):
        raise ValueError("'chosen' and 'rejected' must both be strings or both message lists")
    pair: dict[str, Any] = {"chosen": chosen, "rejected": rejected}
    prompt = row.get("prompt")
    if prompt is not None:
        if isinstance(chosen, list):
            pair["prompt"] = _messages(prompt, "prompt")
        elif isinstance(prompt, str):
            pair["prompt"] = prompt
        else:
            raise ValueError("'prompt' must be a string like 'chosen'")
    identifier = row.get("id")
    if identifier is not None and str(identifier).strip():
        pair["id"] = str(identifier)
    elif prompt is not None:  # pairs of one question share its prompt
        pair["id"] = "prompt:" + hashlib.sha256(json.dumps(prompt, sort_keys=True).encode()).hexdigest()
    else:
        pair["id"] = f"row:{number}"
    if use_margin:
        pair["margin"] = _margin(row)
    return pair


def _response(row: Mapping, key: str) -> str | list[dict[str, str]]:
    value = row.get(key)
    if isinstance(value, str):
        if not value.strip():
            raise ValueError(f"{key!r} is empty")
        return value
    if isinstance(value, list):
        return _messages(value, key)
    raise ValueError(f"{key!r} must be a non-empty string or a message list" if value is not None else f"no {key!r}")


def _messages(value: object, key: str) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"{key!r} must be a non-empty message list")
    messages = []
    for message in value:
        if not (isinstance(message, Mapping) and isinstance(message.get("role"), str)
                and isinstance(message.get("content"), str)):  # fmt: skip
            raise ValueError(f"{key!r} has a message without string 'role' and 'content'")
        messages.append({"role": message["role"], "content": message["content"]})  # extra keys would vary the schema
    return messages


def _margin(row: Mapping) -> float:
    value = row.get("margin")
    if value is None:
        chosen, rejected = row.get("chosen_pass_rate"), row.get("rejected_pass_rate")
        if not (_is_number(chosen) and _is_number(rejected)):
            raise ValueError("use_margin needs a numeric 'margin' or both 'chosen_pass_rate' and 'rejected_pass_rate'")
        value = float(chosen) - float(rejected)  # type: ignore[arg-type]
    if not _is_number(value):
        raise ValueError(f"'margin' must be a finite number, got {value!r}")
    return float(value)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def split_pairs(
    pairs: Sequence[dict[str, Any]], eval_fraction: float, seed: int = 42
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(train, held_out)``: about ``eval_fraction`` of the questions (``id``), at least one when the fraction is
    positive and there are two or more, never all. Which questions are held out depends only on their ids and the
    seed (a hash ranks them), not on the file's order."""
    questions = list(dict.fromkeys(pair["id"] for pair in pairs))
    if eval_fraction <= 0 or len(questions) < 2:
        return list(pairs), []
    count = min(len(questions) - 1, max(1, round(eval_fraction * len(questions))))
    ranked = sorted(questions, key=lambda question: hashlib.sha256(f"{seed}\0{question}".encode()).hexdigest())
    held_out = set(ranked[:count])
    return [pair for pair in pairs if pair["id"] not in held_out], [pair for pair in pairs if pair["id"] in held_out]


def pairwise_accuracy(scorer: Any, pairs: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """Fraction of ``pairs`` whose chosen response scores strictly above the rejected one, and the mean score gap."""
    if not pairs:
        return {"accuracy": None, "mean_margin": None}
    empty_prompt: str | list = [] if isinstance(pairs[0]["chosen"], list) else ""
    prompts = [pair.get("prompt", empty_prompt) for pair in pairs]
    scores = scorer.score(prompts + prompts, [pair["chosen"] for pair in pairs] + [pair["rejected"] for pair in pairs])
    chosen, rejected = scores[: len(pairs)], scores[len(pairs) :]
    gaps = [good - bad for good, bad in zip(chosen, rejected)]
    return {"accuracy": sum(gap > 0 for gap in gaps) / len(gaps), "mean_margin": sum(gaps) / len(gaps)}


def _dataset(pairs: Sequence[dict[str, Any]]) -> Any:
    import datasets

    columns = [column for column in ("prompt", "chosen", "rejected", "margin") if column in pairs[0]]
    return datasets.Dataset.from_list([{column: pair[column] for column in columns} for pair in pairs])


def train_reward_model(config: RewardModelConfig) -> dict[str, Any]:
    """Train, evaluate on held-out questions, and save model, tokenizer, metrics, loss curve and config to
    ``config.output_dir``; returns the metrics (also in ``metrics.json``)."""
    from peft import LoraConfig, TaskType
    from trl import RewardTrainer

    from acecoder.models.loading import load_reward_model
    from acecoder.models.scoring import RewardScorer

    started = time.perf_counter()
    pairs = load_pairs(config.pairs, use_margin=config.use_margin)
    train_pairs, held_out_pairs = split_pairs(pairs, config.eval_fraction, config.seed)
    model_options = config.model_init_kwargs or {}
    if not isinstance(model_options, dict):
        raise ValueError(f"model_init_kwargs must be a mapping, got {model_options!r}")
    model, tokenizer = load_reward_model(config.model_name_or_path, **model_options)
    # The model is loaded here (GGUF, packaged names, pad token), so TRL must not see model_init_kwargs: it would
    # warn that they are ignored. A shallow copy leaves the caller's config as it was.
    trainer_arguments = copy.copy(config)
    trainer_arguments.model_init_kwargs = None
    peft_config = None
    if config.use_lora:
        peft_config = LoraConfig(task_type=TaskType.SEQ_CLS, r=config.lora_r, lora_alpha=config.lora_alpha,
                                 lora_dropout=config.lora_dropout, target_modules="all-linear")  # fmt: skip
    trainer: Any = RewardTrainer(
        model=model,
        args=trainer_arguments,
        train_dataset=_dataset(train_pairs),
        eval_dataset=_dataset(held_out_pairs) if held_out_pairs else None,
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    if len(trainer.train_dataset) == 0:
        raise ValueError(f"no training pair fits in max_length={config.max_length} tokens")
    checkpoint = resume_checkpoint(Path(str(config.output_dir)), config.resume, config.resume_from_checkpoint)
    train_output = trainer.train(resume_from_checkpoint=checkpoint)
    trl_evaluation: dict[str, float] = {}
    if trainer.eval_dataset is not None and len(trainer.eval_dataset) > 0:
        trl_evaluation = {key: float(value) for key, value in trainer.evaluate().items()}

    model = trainer.model
    if config.use_lora:
        model = model.merge_and_unload()
    tokenizer = trainer.processing_class
    if not trainer.is_world_process_zero():
        return {}
    output = Path(str(config.output_dir))
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output)
    tokenizer.save_pretrained(output)
    share_saved_weights(output)  # checkpoints included: safetensors writes 0600
    save_config(config, output / "config.yaml")
    scorer = RewardScorer.from_model(model, tokenizer, batch_size=config.per_device_eval_batch_size,
                                     max_length=config.max_length or tokenizer.model_max_length)  # fmt: skip
    held_out = pairwise_accuracy(scorer, held_out_pairs)
    history = [
        {"step": entry["step"], "loss": entry["loss"], "learning_rate": entry.get("learning_rate")}
        for entry in trainer.state.log_history
        if "loss" in entry and "step" in entry
    ]
    metrics: dict[str, Any] = {
        "held_out_accuracy": held_out["accuracy"],
        "held_out_mean_margin": held_out["mean_margin"],
        "trl_evaluation": trl_evaluation,
        "train_loss": float(train_output.training_loss),
        "loss_history": history,
        "resumed_from": checkpoint,
        "counts": {
            "pairs": len(pairs),
            "questions": len({pair["id"] for pair in pairs}),
            "train_pairs": len(train_pairs),
            "train_pairs_within_max_length": len(trainer.train_dataset),
            "train_questions": len({pair["id"] for pair in train_pairs}),
            "held_out_pairs": len(held_out_pairs),
            "held_out_questions": len({pair["id"] for pair in held_out_pairs}),
            "optimizer_steps": trainer.state.global_step,
            "pairs_per_step": config.effective_batch_size,
        },
        "seconds": {
            "train": float(train_output.metrics.get("train_runtime", 0.0)),
            "total": time.perf_counter() - started,
        },
        "model_dir": str(output),
    }
    metrics["loss_curve"] = str(plot_loss_curve(history, output / "loss_curve.png", held_out["accuracy"]))
    metrics["metrics_file"] = str(output / "metrics.json")
    (output / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return metrics


def plot_loss_curve(history: Sequence[dict[str, Any]], path: Path, held_out_accuracy: float | None = None) -> Path:
    """Training loss against optimizer step, with the loss of a reward model that cannot tell pairs apart (ln 2)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.0))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    steps = [entry["step"] for entry in history]
    losses = [entry["loss"] for entry in history]
    axes.plot(steps, losses, marker="o" if len(steps) <= 30 else None, label="train loss")
    axes.axhline(math.log(2), linestyle="--", color="grey", label="chance (ln 2)")
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("Bradley–Terry loss")
    title = "reward model training"
    if held_out_accuracy is not None:
        title += f" — held-out accuracy {held_out_accuracy:.1%}"
    axes.set_title(title)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return path
