"""Offline generation with vLLM on a GPU machine (``vllm.LLM``), imported only when this backend is chosen."""

from __future__ import annotations

from collections.abc import Sequence

from acecoder.generation.base import ChatRequest, Generation, ResultCallback, group_by_sampling


class VLLMBackend:
    """One ``vllm.LLM`` in this process; requests with the same sampling parameters go to ``LLM.chat`` together
    (vLLM batches and schedules them itself)."""

    def __init__(self, model: str, **engine_options: object) -> None:
        try:
            import vllm  # type: ignore[import-not-found]
        except ImportError as error:
            raise ImportError("the vllm backend needs vLLM on a GPU machine: pip install 'acecoder[vllm]'") from error
        self._vllm = vllm
        self.model = model
        self.llm = vllm.LLM(model=model, **engine_options)

    def generate(self, requests: Sequence[ChatRequest], on_result: ResultCallback | None = None) -> list[Generation]:
        results: list[Generation] = [Generation(error="not generated") for _ in requests]
        for sampling, indices in group_by_sampling(requests).items():
            parameters = self._vllm.SamplingParams(
                n=sampling.n,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                max_tokens=sampling.max_tokens,
                seed=sampling.seed,
            )
            # A conversation that ends with an assistant message is continued from it (the reply's start given).
            for continued in (False, True):
                chosen = [
                    index for index in indices if (requests[index].messages[-1]["role"] == "assistant") is continued
                ]
                if not chosen:
                    continue
                conversations = [list(requests[index].messages) for index in chosen]
                outputs = self.llm.chat(
                    conversations, parameters, use_tqdm=False, add_generation_prompt=not continued,
                    continue_final_message=continued,
                )  # fmt: skip
                self._collect(chosen, outputs, results, on_result)
        return results

    @staticmethod
    def _collect(indices, outputs, results, on_result) -> None:
        for index, output in zip(indices, outputs):
            results[index] = Generation(texts=[completion.text for completion in output.outputs])
            if on_result is not None:
                on_result(index, results[index])

    def close(self) -> None:
        self.llm = None
