"""Settings of RL training: TRL's ``GRPOConfig`` with AceCoder's defaults and the fields it lacks.

As with the reward-model config, subclassing keeps every ``GRPOConfig`` option (vLLM included) available from YAML
and flags through one parser, and the object goes to ``trl.GRPOTrainer`` unchanged. AceCoder's RL recipe (DESIGN.md,
"AceCoder's numbers to reproduce"): the hard subset of questions, 8 samples per prompt, learning rate 5e-7, a KL
penalty of 0.01 against the starting policy, and the binary rule reward (1 only if every test passes).

``per_device_train_batch_size`` counts completions, as in TRL: the default 8 is one question's group per device
and step. The rule reward runs in the engine next to the trainer; an optional reward model adds a second reward
whose weight ``rm_weight`` is relative to the rule reward's 1 (see ``acecoder.rewards``).
"""

from __future__ import annotations

import dataclasses
import importlib.util
from dataclasses import dataclass, field
from typing import ClassVar

from transformers.trainer_utils import SaveStrategy
from trl import GRPOConfig

from acecoder.exec import Limits
from acecoder.rewards import MODES
from acecoder.train.config import (
    GRADIENT_CHECKPOINTING_HELP,
    LEARNING_RATE_HELP,
    MODEL_HELP,
    RESUME_HELP,
    apply_machine_defaults,
    save_strategy_help,
)

# The per-test limit's default and help are the engine's own (``acecoder.exec.Limits``), not a copy of them.
_TEST_CPU_SECONDS = next(item for item in dataclasses.fields(Limits) if item.name == "test_cpu_seconds")


@dataclass(kw_only=True)
class RLConfig(GRPOConfig):
    """``trl.GRPOConfig`` plus the policy, the questions, the rewards and the engine's limits."""

    model_name_or_path: str = field(metadata={"help": MODEL_HELP})
    dataset: str = field(
        metadata={
            "help": "Questions with tests (id, question, test_cases): the output of `acecoder hard-subset` "
            "(AceCoder's choice) or any AceCode rows, as JSONL, Parquet or a saved dataset."
        }  # fmt: skip
    )
    reward_mode: str = field(
        default="binary",
        metadata={"help": "Rule reward: 'binary' (1 only if every test passes; the paper) or 'pass_rate'."},
    )
    rm_model: str | None = field(
        default=None, metadata={"help": "A reward model from `acecoder train-rm` to add as a second reward."}
    )
    rm_weight: float = field(
        default=0.2, metadata={"help": "Weight of the reward model's score next to the rule reward's 1."}
    )
    rm_squash: bool = field(default=False, metadata={"help": "Use σ(RM score), in (0, 1), instead of the logit."})
    conversational: bool = field(
        default=True,
        metadata={
            "help": "Give the policy its prompt as a user message through its chat template (instruct "
            "models); false gives the plain text."
        },  # fmt: skip
    )
    max_questions: int | None = field(
        default=None, metadata={"help": "Train on the first N questions only (default: all)."}
    )
    engine_workers: int | None = field(
        default=None, metadata={"help": "Sandbox workers of the rule reward (default: one per usable CPU)."}
    )
    test_cpu_seconds: float = field(default=Limits().test_cpu_seconds, metadata=_TEST_CPU_SECONDS.metadata)
    resume: bool = field(default=True, metadata={"help": RESUME_HELP})

    # TRL and transformers fields whose defaults are AceCoder's (or this machine's) here.
    learning_rate: float = field(default=5e-7, metadata={"help": LEARNING_RATE_HELP})
    beta: float = field(default=0.01, metadata={"help": "KL coefficient against the starting policy."})
    num_generations: int | None = field(default=8, metadata={"help": "Samples per prompt (one GRPO group)."})
    logging_steps: float = field(default=1, metadata={"help": "Log every N steps (the reward curve's resolution)."})
    save_strategy: SaveStrategy | str = field(
        default="no", metadata={"help": save_strategy_help("'no', 'steps' or 'epoch'")}
    )
    # None until __post_init__ decides from the machine, hence the wider type than TrainingArguments declares.
    gradient_checkpointing: bool | None = field(  # type: ignore[assignment]
        default=None, metadata={"help": GRADIENT_CHECKPOINTING_HELP}
    )

    # Settings save_config lists as comments: TRL derives generation_batch_size from steps_per_generation and
    # refuses a config that gives both.
    derived_settings: ClassVar[frozenset[str]] = frozenset({"generation_batch_size"})

    def __post_init__(self) -> None:
        if not isinstance(self.model_name_or_path, str) or not self.model_name_or_path.strip():
            raise ValueError("model_name_or_path must name a model")
        if not isinstance(self.dataset, str) or not self.dataset.strip():
            raise ValueError("dataset must name a file of questions with tests")
        if self.reward_mode not in MODES:
            raise ValueError(f"reward_mode must be one of {MODES}, got {self.reward_mode!r}")
        if self.rm_weight < 0:
            raise ValueError(f"rm_weight must be >= 0, got {self.rm_weight}")
        if self.max_questions is not None and self.max_questions < 1:
            raise ValueError(f"max_questions must be at least 1, got {self.max_questions}")
        if self.engine_workers is not None and self.engine_workers < 1:
            raise ValueError(f"engine_workers must be at least 1, got {self.engine_workers}")
        if not self.test_cpu_seconds > 0:
            raise ValueError(f"test_cpu_seconds must be positive, got {self.test_cpu_seconds}")
        if self.use_vllm and importlib.util.find_spec("vllm") is None:
            raise ValueError("use_vllm needs vLLM, which is not installed: pip install 'acecoder[vllm]' (GPU machines)")
        if self.rm_model and self.reward_weights is None:
            self.reward_weights = [1.0, self.rm_weight]
        apply_machine_defaults(self)
        super().__post_init__()

    @property
    def reward_names(self) -> list[str]:
        """The rewards this config trains with, in ``reward_weights`` order."""
        return [f"test_pass_{self.reward_mode}", *(["rm_reward"] if self.rm_model else [])]
