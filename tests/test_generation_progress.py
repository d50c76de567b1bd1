"""Generation reports finished sequences while a call runs: the sampling step, synthesis, the cache and the
transformers backend (micro-batches, and sequences that end at their end-of-sequence token inside one)."""

from __future__ import annotations

import importlib.util

import pytest
from acecoder.generation.base import (
    ChatRequest,
    Generation,
    Sampling,
    generate_with_progress,
)
from acecoder.generation.cache import CachedBackend, ResponseCache
from acecoder.pairs.sampling import sample_rows


class ResultAtATimeBackend:
    """Answers one request at a time through ``on_result`` (as the HTTP and vLLM backends do) and logs each step
    to ``events``, so a test sees what was reported before ``generate`` returned; it has no ``on_sequences``."""

    model = "one-at-a-time"

    def __init__(self, events: list) -> None:
        self.events = events

    def generate(self, requests, on_result=None):
        results = []
        for index, request in enumerate(requests):
            results.append(Generation(texts=[f"def f():\n    return {index}\n"] * request.sampling.n))
            if on_result is not None:
                on_result(index, results[-1])
        self.events.append("returned")
        return results

    def close(self) -> None:
        pass


class SilentBackend(ResultAtATimeBackend):
    """Reports nothing while it runs: its sequences are counted when it returns."""

    def generate(self, requests, on_result=None):
        return super().generate(requests)


def requests(count: int, n: int) -> list[ChatRequest]:
    return [ChatRequest(({"role": "user", "content": f"question {index}"},), Sampling(n=n)) for index in range(count)]


def recorder(events: list):
    def progress(stage: str, done: int, total: int) -> None:
        events.append((stage, done, total))

    return progress


def test_sampling_reports_sequences_before_the_generation_call_returns(tmp_path):
    events: list = []
    rows = [{"id": f"q{index}", "question": f"Write f{index}.", "test_cases": ["assert True"]} for index in range(3)]
    sample_rows(rows, ResultAtATimeBackend(events), tmp_path / "out.jsonl", Sampling(n=4), progress=recorder(events))
    assert events == [("sample", 4, 12), ("sample", 8, 12), ("sample", 12, 12), "returned"]


def test_sequences_of_a_backend_that_reports_nothing_are_counted_when_it_returns():
    events: list = []
    generate_with_progress(SilentBackend(events), requests(3, 2), on_sequences=events.append)
    assert events == ["returned", 6]


def test_cache_hits_count_at_once_and_misses_as_they_arrive(tmp_path):
    events: list = []
    backend = CachedBackend(ResultAtATimeBackend(events), ResponseCache(tmp_path / "cache.sqlite"))
    generate_with_progress(backend, requests(2, 3), on_sequences=events.append)
    events.clear()
    generate_with_progress(backend, requests(4, 3), on_sequences=events.append)
    assert events == [3, 3, 3, 3, "returned"]  # two hits, then two misses answered before the backend returned
    backend.close()


def test_synthesis_counts_generated_sequences(engine, tmp_path):
    from acecoder.data.seeds import Seed
    from acecoder.synth.pipeline import SynthConfig, Synthesizer

    events: list = []
    seeds = [Seed(f"s{index}", f"def f{index}(x):\n    return x\n", "Return x.", "unit") for index in range(2)]
    output = tmp_path / "out.jsonl"
    Synthesizer(ResultAtATimeBackend(events), engine, output, SynthConfig(), progress=recorder(events)).run(seeds)
    reports = [event for event in events if event != "returned"]
    assert reports[0] == ("generation", 1, 4)  # a rewrite and an oracle reply a seed, the first before the return
    assert events.index(reports[0]) < events.index("returned")
    assert {stage for stage, _, _ in reports} == {"generation"}
    assert reports[-1][1] == reports[-1][2]  # the total shrinks to what was generated (none parse: no oracle calls)


needs_transformers = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None or importlib.util.find_spec("transformers") is None,
    reason="needs the synth extra (torch, transformers)",
)


@pytest.fixture(scope="module")
def tiny_backend(tmp_path_factory):
    from acecoder.generation.transformers_backend import TransformersBackend
    from acecoder.models.loading import build_tiny_model

    directory = build_tiny_model(tmp_path_factory.mktemp("tiny"), tokenizer="bigcode")
    backend = TransformersBackend(str(directory), device="cpu", batch_size=2, threads=1)
    yield backend
    backend.close()


def watched(backend, monkeypatch) -> list:
    """Events: the sequences reported, and "batch" each time the model's own ``generate`` returns."""
    events: list = []
    original = backend.network.generate

    def generate(*arguments, **options):
        output = original(*arguments, **options)
        events.append("batch")
        return output

    monkeypatch.setattr(backend.network, "generate", generate)
    return events


@needs_transformers
def test_transformers_reports_each_micro_batch_before_the_call_returns(tiny_backend, monkeypatch):
    events = watched(tiny_backend, monkeypatch)
    batch = [ChatRequest(request.messages, Sampling(n=1, max_tokens=3, temperature=0.0)) for request in requests(3, 1)]
    generations = tiny_backend.generate(batch, on_sequences=events.append)
    assert all(generation.ok for generation in generations)
    assert events.count("batch") == 2  # micro-batches of two requests
    second_batch = events.index("batch", events.index("batch") + 1)
    assert sum(event for event in events[:second_batch] if event != "batch") == 2  # the first's, before the second's
    assert sum(event for event in events if event != "batch") == 3


@needs_transformers
def test_transformers_reports_sequences_that_end_inside_a_batch(tiny_backend, monkeypatch):
    events = watched(tiny_backend, monkeypatch)
    # Every token ends a sequence: each ends at its first token, while the model is still generating the batch.
    monkeypatch.setattr(
        tiny_backend.network.generation_config, "eos_token_id", list(range(len(tiny_backend.tokenizer)))
    )
    batch = [ChatRequest(request.messages, Sampling(n=2, max_tokens=5)) for request in requests(1, 2)]
    tiny_backend.generate(batch, on_sequences=events.append)
    assert events == [2, "batch"]
