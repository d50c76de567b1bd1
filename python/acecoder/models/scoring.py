"""Scoring (prompt, response) pairs with a trained reward model, token for token as the trainer saw them.

A reward model only means something on inputs formatted the way it was trained, so this mirrors TRL's
``RewardTrainer`` preprocessing exactly (trl 1.16, ``RewardTrainer._prepare_dataset``):

- standard text: the response gets the end-of-sequence token appended unless it already ends with it, is
  concatenated to the prompt with nothing in between, and the whole is tokenized with the tokenizer's own special
  tokens (a BOS where the tokenizer adds one);
- conversational (message lists): the chat template over the prompt messages followed by the response as an
  assistant message, with no generation prompt.

Sequences are right-padded, like TRL's collator, because the classification head reads the last non-padding token
and position ids count from the left. A sequence longer than ``max_length`` keeps its last ``max_length`` tokens:
the trainer skipped such pairs rather than truncating them, and the end of the response is what the head reads.

Best-of-N reranking and RL rewards import ``RewardScorer``; its constructor and ``score`` signature are stable.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

Message = dict[str, str]


class RewardScorer:
    """One scalar reward per (prompt, response), batched, without gradients."""

    def __init__(
        self, model_path: str | Path, device: str | None = None, batch_size: int = 8, max_length: int = 2048
    ) -> None:
        import torch

        from acecoder.models.loading import load_reward_model

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        model, tokenizer = load_reward_model(str(model_path), dtype=dtype)
        self._setup(model.to(device), tokenizer, batch_size, max_length)

    @classmethod
    def from_model(cls, model: Any, tokenizer: Any, batch_size: int = 8, max_length: int = 2048) -> RewardScorer:
        """A scorer over a model already in memory (e.g. right after training), on the model's device."""
        scorer = cls.__new__(cls)
        scorer._setup(model, tokenizer, batch_size, max_length)
        return scorer

    def _setup(self, model: Any, tokenizer: Any, batch_size: int, max_length: int) -> None:
        if batch_size < 1 or max_length < 1:
            raise ValueError(f"batch_size and max_length must be positive, got {batch_size} and {max_length}")
        if tokenizer.pad_token_id is None:
            raise ValueError("the reward model's tokenizer has no padding token")
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = int(batch_size)
        self.max_length = int(max_length)

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    def encode(self, prompt: str | Sequence[Message], response: str | Sequence[Message]) -> list[int]:
        """Token ids of one (prompt, response) pair as the trainer built them (see the module docstring)."""
        if isinstance(prompt, str) and isinstance(response, str):
            eos = self.tokenizer.eos_token
            text = prompt + response if not eos or response.endswith(eos) else prompt + response + eos
            ids = list(self.tokenizer(text=text)["input_ids"])
        else:
            ids = list(self.tokenizer.apply_chat_template(_conversation(prompt, response), tokenize=True,
                                                          return_dict=True)["input_ids"])  # fmt: skip
        return ids[-self.max_length :]

    def score(self, prompts: Sequence[str | list[Message]], responses: Sequence[str | list[Message]]) -> list[float]:
        """Rewards of ``(prompts[i], responses[i])`` in input order. Prompts are strings or message lists;
        responses are strings (an assistant message when the prompt is a conversation) or message lists."""
        import torch

        if len(prompts) != len(responses):
            raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
        encoded = [self.encode(prompt, response) for prompt, response in zip(prompts, responses)]
        # Similar lengths share a batch so little compute goes to padding; scores return in input order.
        order = sorted(range(len(encoded)), key=lambda index: len(encoded[index]))
        scores = [0.0] * len(encoded)
        pad_id = self.tokenizer.pad_token_id
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                for start in range(0, len(order), self.batch_size):
                    batch = order[start : start + self.batch_size]
                    width = max(len(encoded[index]) for index in batch)
                    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
                    attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
                    for row, index in enumerate(batch):
                        length = len(encoded[index])
                        input_ids[row, :length] = torch.tensor(encoded[index], dtype=torch.long)
                        attention_mask[row, :length] = 1
                    device = self.device
                    logits = self.model(
                        input_ids=input_ids.to(device), attention_mask=attention_mask.to(device), use_cache=False
                    ).logits
                    for row, index in enumerate(batch):
                        scores[index] = float(logits[row, 0].float())
        finally:
            self.model.train(was_training)
        return scores


def _conversation(prompt: str | Sequence[Message], response: str | Sequence[Message]) -> list[Message]:
    if isinstance(prompt, str):
        prompt_messages = [{"role": "user", "content": prompt}] if prompt else []
    else:
        prompt_messages = list(prompt)
    if isinstance(response, str):
        response_messages = [{"role": "assistant", "content": response}]
    else:
        response_messages = list(response)
    return prompt_messages + response_messages
