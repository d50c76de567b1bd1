"""Settings of reward-model training: TRL's ``RewardConfig`` with AceCoder's defaults and the fields it lacks.

Subclassing TRL's config (rather than wrapping it) means every ``TrainingArguments`` option still works, from YAML
or as a flag, and the object goes to ``trl.RewardTrainer`` unchanged. The defaults are AceCoder's reward-model
recipe (DESIGN.md, "AceCoder's numbers to reproduce"): Bradley–Terry loss, one epoch, learning rate 1e-5 with a
cosine schedule and 10% warmup, a global batch of 128 pairs, sequences up to 2048 tokens. The global batch is the
fixed quantity; gradient accumulation is derived from it, so the recipe holds on one CPU or eight GPUs alike.

YAML and flags go through one parser (transformers' ``HfArgumentParser``): the YAML's values become the parser's
defaults and flags override them. ``save_config`` writes the settings that differ from the defaults, so the file
reads as a recipe and machine-dependent choices (CPU or CUDA, bf16) are made again where it is loaded.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import HfArgumentParser
from transformers.trainer_utils import SaveStrategy, SchedulerType
from trl import RewardConfig

# Derived in __post_init__ (from the global batch) or secret: never written by save_config.
_NOT_SAVED = frozenset({"gradient_accumulation_steps", "hub_token"})


@dataclass(kw_only=True)
class RewardModelConfig(RewardConfig):
    """``trl.RewardConfig`` plus the model, the pairs file, the held-out split, LoRA and margin options."""

    model_name_or_path: str = field(
        metadata={"help": "Model to start from: a hub id or directory, a .gguf file, or 'smollm2' (the packaged "
                  "SmolLM2-135M-Instruct GGUF)."}  # fmt: skip
    )
    pairs: str = field(
        metadata={"help": "Preference pairs from `acecoder pairs`: JSONL, Parquet or a saved dataset with prompt, "
                  "chosen and rejected (strings or message lists), optionally id, margin and pass rates."}  # fmt: skip
    )
    eval_fraction: float = field(
        default=0.05,
        metadata={"help": "Fraction of questions (pair `id`) held out for evaluation; no question is in both splits."},
    )
    global_batch_size: int = field(
        default=128,
        metadata={"help": "Pairs per optimizer step over all devices; gradient_accumulation_steps is derived from it "
                  "as ceil(global / (per-device batch × world size))."}  # fmt: skip
    )
    use_lora: bool = field(default=False, metadata={"help": "Train LoRA adapters (merged into the saved model)."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling numerator (scale = alpha / r)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA inputs."})
    use_margin: bool = field(
        default=False,
        metadata={"help": "Bradley–Terry with a margin: loss -log σ(r_c − r_r − m), m from a `margin` column or else "
                  "chosen_pass_rate − rejected_pass_rate. AceCoder trains without one."}  # fmt: skip
    )

    # TRL and transformers fields whose defaults are AceCoder's here.
    learning_rate: float = field(default=1e-5, metadata={"help": "Peak learning rate of AdamW."})
    lr_scheduler_type: SchedulerType | str = field(default="cosine", metadata={"help": "Learning-rate schedule."})
    warmup_steps: float = field(
        default=0.1, metadata={"help": "Warmup: a number of steps if ≥ 1, else a fraction of all training steps."}
    )
    num_train_epochs: float = field(default=1.0, metadata={"help": "Passes over the training pairs."})
    per_device_train_batch_size: int = field(default=4, metadata={"help": "Pairs per device per forward pass."})
    max_length: int | None = field(
        default=2048, metadata={"help": "Pairs whose chosen or rejected sequence is longer (in tokens) are skipped."}
    )
    report_to: None | str | list[str] = field(
        default="none", metadata={"help": "Experiment trackers to report to ('none', 'all', 'wandb', ...)."}
    )
    save_strategy: SaveStrategy | str = field(
        default="no", metadata={"help": "Checkpoints during training: 'no', 'steps', 'epoch' or 'best'."}
    )
    # None until __post_init__ decides from the machine, hence the wider type than TrainingArguments declares.
    bf16: bool | None = field(  # type: ignore[assignment]
        default=None, metadata={"help": "bf16 mixed precision (default: on with CUDA, off on the CPU)."}
    )
    gradient_checkpointing: bool | None = field(  # type: ignore[assignment]
        default=None, metadata={"help": "Recompute activations in the backward pass (default: on with CUDA)."}
    )

    def __post_init__(self) -> None:
        if not isinstance(self.model_name_or_path, str) or not self.model_name_or_path.strip():
            raise ValueError("model_name_or_path must name a model")
        if not isinstance(self.pairs, str) or not self.pairs.strip():
            raise ValueError("pairs must name a pairs file")
        if not 0.0 <= self.eval_fraction < 1.0:
            raise ValueError(f"eval_fraction must be in [0, 1), got {self.eval_fraction}")
        for name in ("global_batch_size", "per_device_train_batch_size", "lora_r", "lora_alpha"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ValueError(f"lora_dropout must be in [0, 1), got {self.lora_dropout}")
        apply_machine_defaults(self)
        # WORLD_SIZE is what torchrun and accelerate launch set; the trainer's own world size needs the distributed
        # state that super().__post_init__ creates, after which accumulation is already fixed.
        world_size = max(1, int(os.environ.get("WORLD_SIZE", "1")))
        self.gradient_accumulation_steps = math.ceil(
            self.global_batch_size / (self.per_device_train_batch_size * world_size)
        )
        super().__post_init__()

    @property
    def effective_batch_size(self) -> int:
        """Pairs per optimizer step as configured: at least ``global_batch_size`` (more when it does not divide)."""
        return self.per_device_train_batch_size * self.gradient_accumulation_steps * max(1, self.world_size)


def apply_machine_defaults(config: Any) -> None:
    """Settings that depend on the machine, left ``None`` in the config and decided here: without CUDA the trainer
    runs on the CPU (TRL's bf16 default and device choice both assume a GPU); bf16 and gradient checkpointing are
    on with CUDA only. Shared by every training config."""
    cuda = _cuda_available()
    if not cuda:
        config.use_cpu = True
    if config.bf16 is None:
        config.bf16 = cuda and not config.use_cpu and not config.fp16
    if config.gradient_checkpointing is None:
        config.gradient_checkpointing = cuda and not config.use_cpu


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


class _ConfigParser(HfArgumentParser):
    """argparse exits the process on a bad value or a missing field; a library call should raise instead."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        raise ValueError(message)


def config_parser(config_class: type = RewardModelConfig, prog: str = "acecoder train-rm") -> HfArgumentParser:
    """The parser of ``config_class`` flags (``--learning_rate 2e-5`` or ``--learning-rate 2e-5``)."""
    return _ConfigParser(config_class, prog=prog)  # type: ignore[arg-type]


def load_config(
    yaml_path: str | Path | None,
    overrides: Sequence[str] = (),
    config_class: type = RewardModelConfig,
    prog: str = "acecoder train-rm",
) -> Any:
    """A ``config_class`` from a YAML mapping of field names to values (optional), then ``--key value`` flags over
    it. Raises ``ValueError`` for unknown fields, bad values, or a missing required setting."""
    parser = config_parser(config_class, prog)
    if yaml_path is not None:
        values = _read_yaml(Path(yaml_path))
        destinations = {action.dest for action in parser._actions}
        unknown = sorted(set(values) - destinations)
        if unknown:
            raise ValueError(f"{yaml_path}: unknown settings {unknown}")
        parser.set_defaults(**values)  # also updates the actions, including the --no_* twins of boolean flags
        for action in parser._actions:
            if action.dest in values:
                action.required = False
    (config,) = parser.parse_args_into_dataclasses(args=list(overrides))
    return config


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml  # type: ignore[import-untyped]

    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML ({error})") from None
    if values is None:
        return {}
    if not isinstance(values, dict) or not all(isinstance(key, str) for key in values):
        raise ValueError(f"{path}: expected a mapping of setting names to values")
    return values


def config_values(config: Any) -> dict[str, Any]:
    """The settings of ``config`` that differ from its class's defaults (the required ones and the output directory
    always included), as plain YAML-ready values."""
    required = [
        item.name
        for item in dataclasses.fields(config)
        if item.init and item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING
    ]
    values: dict[str, Any] = {name: getattr(config, name) for name in [*required, "output_dir"]}
    defaults = type(config)(**values)
    for item in dataclasses.fields(config):
        if not item.init or item.name in _NOT_SAVED or item.name in values:
            continue
        value = _plain(getattr(config, item.name))
        if value != _plain(getattr(defaults, item.name)):
            values[item.name] = value
    return values


def save_config(config: Any, path: str | Path) -> Path:
    """Write ``config`` as YAML that ``load_config`` reads back to an equal config; returns the path."""
    import yaml  # type: ignore[import-untyped]

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config_values(config), sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "to_dict"):  # e.g. accelerate's AcceleratorConfig
        return _plain(value.to_dict())
    return str(value)

