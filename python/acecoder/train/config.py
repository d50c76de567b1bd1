"""Settings of reward-model training: TRL's ``RewardConfig`` with AceCoder's defaults and the fields it lacks.

Subclassing TRL's config (rather than wrapping it) means every ``TrainingArguments`` option still works, from YAML
or as a flag, and the object goes to ``trl.RewardTrainer`` unchanged. The defaults are AceCoder's reward-model
recipe (DESIGN.md, "AceCoder's numbers to reproduce"): Bradley–Terry loss, one epoch, learning rate 1e-5 with a
cosine schedule and 10% warmup, a global batch of 128 pairs, sequences up to 2048 tokens. The global batch is the
fixed quantity; gradient accumulation is derived from it, so the recipe holds on one CPU or eight GPUs alike. A
``gradient_accumulation_steps`` given alone is honoured instead (the global batch then follows from it); given with
a ``global_batch_size`` it disagrees with, it is an error: a setting is never overridden without a word.

YAML and flags go through one parser (transformers' ``HfArgumentParser``): the YAML's values become the parser's
defaults and flags override them. ``save_config`` writes every setting as the run resolved it (defaults, YAML,
flags and the machine's choices such as CPU or bf16), so the file records what actually ran and ``--config`` with
it runs the same again; settings derived from others are listed as comments, since giving them as well would make
the file disagree with itself on another number of devices.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from transformers import HfArgumentParser
from transformers.trainer_utils import SaveStrategy, SchedulerType
from trl import RewardConfig

# Secret: never written by save_config.
_SECRET = frozenset({"hub_token"})
DEFAULT_GLOBAL_BATCH_SIZE = 128

# Help of the settings both training configs have (RLConfig imports these), written once so the two cannot drift.
MODEL_HELP = ("Model to start from: a hub id or directory, a .gguf file, or 'smollm2' (the packaged "
              "SmolLM2-135M-Instruct GGUF).")  # fmt: skip
RESUME_HELP = "Resume from the last complete checkpoint in output_dir when there is one."
LEARNING_RATE_HELP = "Peak learning rate of AdamW."
GRADIENT_CHECKPOINTING_HELP = "Recompute activations in the backward pass (default: on with CUDA)."


def save_strategy_help(choices: str) -> str:
    """The ``save_strategy`` help, with the strategies a config's trainer supports."""
    return f"Checkpoints during training: {choices}; with checkpoints a rerun resumes from the last complete one."


# The same shape as RLConfig's first fields, deliberately: each names its own input and help (one field each).
@dataclass(kw_only=True)
class RewardModelConfig(RewardConfig):
    """``trl.RewardConfig`` plus the model, the pairs file, the held-out split, LoRA and margin options."""

    model_name_or_path: str = field(metadata={"help": MODEL_HELP})
    pairs: str = field(
        metadata={
            "help": "Preference pairs from `acecoder pairs`: JSONL, Parquet or a saved dataset with prompt, "
            "chosen and rejected (strings or message lists), optionally id, margin and pass rates."
        }  # fmt: skip
    )
    eval_fraction: float = field(
        default=0.05,
        metadata={"help": "Fraction of questions (pair `id`) held out for evaluation; no question is in both splits."},
    )
    global_batch_size: int | None = field(
        default=None,
        metadata={
            "help": f"Pairs per optimizer step over all devices (default {DEFAULT_GLOBAL_BATCH_SIZE}); "
            "gradient_accumulation_steps is derived from it as ceil(global / (per-device batch × world "
            "size))."
        },  # fmt: skip
    )
    gradient_accumulation_steps: int | None = field(  # type: ignore[assignment]
        default=None,
        metadata={
            "help": "Forward passes per optimizer step (default: derived from global_batch_size). Given alone "
            "it is honoured and the global batch follows from it; with a global_batch_size they must "
            "agree."
        },  # fmt: skip
    )
    resume: bool = field(default=True, metadata={"help": RESUME_HELP})
    use_lora: bool = field(default=False, metadata={"help": "Train LoRA adapters (merged into the saved model)."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling numerator (scale = alpha / r)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA inputs."})
    use_margin: bool = field(
        default=False,
        metadata={
            "help": "Bradley–Terry with a margin: loss -log σ(r_c − r_r − m), m from a `margin` column or else "
            "chosen_pass_rate − rejected_pass_rate. AceCoder trains without one."
        },  # fmt: skip
    )

    # TRL and transformers fields whose defaults are AceCoder's here.
    learning_rate: float = field(default=1e-5, metadata={"help": LEARNING_RATE_HELP})
    logging_steps: float = field(
        default=0.01,
        metadata={
            "help": "Log the loss every N optimizer steps, or every fraction N (< 1) of the run: the default "
            "logs every step of a run under 100 steps and about 100 points of a longer one."
        },  # fmt: skip
    )
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
        default="no", metadata={"help": save_strategy_help("'no', 'steps', 'epoch' or 'best'")}
    )
    # None until __post_init__ decides from the machine, hence the wider type than TrainingArguments declares.
    bf16: bool | None = field(  # type: ignore[assignment]
        default=None, metadata={"help": "bf16 mixed precision (default: on with CUDA, off on the CPU)."}
    )
    gradient_checkpointing: bool | None = field(  # type: ignore[assignment]
        default=None, metadata={"help": GRADIENT_CHECKPOINTING_HELP}
    )

    def __post_init__(self) -> None:
        if not isinstance(self.model_name_or_path, str) or not self.model_name_or_path.strip():
            raise ValueError("model_name_or_path must name a model")
        if not isinstance(self.pairs, str) or not self.pairs.strip():
            raise ValueError("pairs must name a pairs file")
        if not 0.0 <= self.eval_fraction < 1.0:
            raise ValueError(f"eval_fraction must be in [0, 1), got {self.eval_fraction}")
        for name in ("global_batch_size", "gradient_accumulation_steps", "per_device_train_batch_size", "lora_r",
                     "lora_alpha"):  # fmt: skip
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ValueError(f"lora_dropout must be in [0, 1), got {self.lora_dropout}")
        apply_machine_defaults(self)
        resolve_accumulation(self)
        super().__post_init__()

    # Settings save_config lists as comments: they follow from others when the file is loaded.
    derived_settings: ClassVar[frozenset[str]] = frozenset({"gradient_accumulation_steps"})

    @property
    def effective_batch_size(self) -> int:
        """Pairs per optimizer step as configured: at least ``global_batch_size`` (more when it does not divide)."""
        return self.per_device_train_batch_size * self._accumulation * max(1, self.world_size)

    @property
    def _accumulation(self) -> int:
        return self.gradient_accumulation_steps or 1  # never None once __post_init__ ran

    def describe_batch(self) -> str:
        """``"128 pairs per step (4 per device × 32 accumulation steps × 1 device)"``: what a step holds and why."""
        return (f"{self.effective_batch_size} pairs per step ({self.per_device_train_batch_size} per device × "
                f"{_count(self._accumulation, 'accumulation step')} × "
                f"{_count(max(1, self.world_size), 'device')})")  # fmt: skip


def resolve_accumulation(config: RewardModelConfig) -> None:
    """Settles ``global_batch_size`` and ``gradient_accumulation_steps`` from whichever was given (the global
    batch, default 128, when neither was). WORLD_SIZE is what torchrun and accelerate launch set; the trainer's own
    world size needs the distributed state that ``TrainingArguments.__post_init__`` creates, after which
    accumulation is already fixed."""
    world_size = max(1, int(os.environ.get("WORLD_SIZE", "1")))
    per_pass = config.per_device_train_batch_size * world_size
    accumulation = config.gradient_accumulation_steps
    if accumulation is None:
        config.global_batch_size = config.global_batch_size or DEFAULT_GLOBAL_BATCH_SIZE
        config.gradient_accumulation_steps = math.ceil(config.global_batch_size / per_pass)
    elif config.global_batch_size is None:
        config.global_batch_size = accumulation * per_pass
    elif math.ceil(config.global_batch_size / per_pass) != accumulation:
        raise ValueError(
            f"global_batch_size {config.global_batch_size} and gradient_accumulation_steps {accumulation} disagree: "
            f"{config.per_device_train_batch_size} pairs per device × {_count(world_size, 'device')} × "
            f"{_count(accumulation, 'accumulation step')} is {accumulation * per_pass} pairs per step, and "
            f"{config.global_batch_size} pairs per step need {math.ceil(config.global_batch_size / per_pass)} "
            "accumulation steps; give only one of the two"
        )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


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


def config_parser(
    config_class: type = RewardModelConfig, prog: str = "acecoder train-rm", formatter_class: type | None = None
) -> HfArgumentParser:
    """The parser of ``config_class`` flags (``--learning_rate 2e-5`` or ``--learning-rate 2e-5``); ``formatter_class``
    formats its help (default: transformers', which appends every default, even to help that states it)."""
    extra = {} if formatter_class is None else {"formatter_class": formatter_class}
    return _ConfigParser(config_class, prog=prog, **extra)  # type: ignore[arg-type]


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
    """Every setting of ``config`` as plain YAML-ready values, the config class's own settings first; derived
    settings (the class's ``derived_settings``) and secrets left out."""
    left_out = _SECRET | getattr(config, "derived_settings", frozenset())
    own = list(vars(type(config)).get("__annotations__", {}))
    names = [item.name for item in dataclasses.fields(config) if item.init and item.name not in left_out]
    ordered = [name for name in own if name in names] + [name for name in names if name not in own]
    return {name: _plain(getattr(config, name)) for name in ordered}


def save_config(config: Any, path: str | Path) -> Path:
    """Write every setting of ``config`` as resolved, as YAML that ``load_config`` reads back to an equal config
    (derived settings follow as comments); returns the path."""
    import yaml  # type: ignore[import-untyped]

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (
        "# Every setting of this run as it resolved them (defaults, --config YAML, flags, this machine's choices).\n"
        "# Rerun it with --config this file; use_cpu, bf16 and gradient_checkpointing were decided for this machine.\n"
    )
    derived = sorted(getattr(config, "derived_settings", frozenset()))
    footer = ""
    if derived:
        values = yaml.safe_dump({name: _plain(getattr(config, name)) for name in derived}, sort_keys=False)
        footer = "# Derived from the settings above when this file is loaded:\n" + "".join(
            f"#   {line}\n" for line in values.splitlines()
        )
    body = yaml.safe_dump(config_values(config), sort_keys=False, allow_unicode=True)
    path.write_text(header + body + footer, encoding="utf-8")
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
