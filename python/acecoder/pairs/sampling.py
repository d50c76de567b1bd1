"""Sampling N programs per question with a policy model (AceCoder step two; 16 samples at temperature 0.7).

Each question is one request for ``n`` completions (backends that cannot return several per request are topped up
by the backend itself), with AceCoder's prompt: the question plus its first test. Completions are stored as AceCode
``inferences`` (``model_name``, ``completion_id``, ``completion``), replacing any the row had.

Each question goes to the output (a journal) as soon as its completions and those of the questions before it have
arrived, so Ctrl-C or a kill loses at most the batch in flight, and a rerun skips the questions written and asks
only for the rest; the output keeps the input's order, so the resumed file equals an uninterrupted run's. Batches
are cut at fixed positions of the input, not of what is left, so a resumed run puts the same questions together
(a local backend seeds each batch). A question whose request failed after its retries is not written and is
retried by the next run.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from acecoder.data.journal import OrderedAppender
from acecoder.data.resume import ResumableOutput
from acecoder.generation.base import Backend, ChatRequest, Generation, Sampling, generate_with_progress
from acecoder.prompts import policy_prompt


# Counters of one run, the same shape as the other steps' summaries, deliberately (see pairs/passrate.py).
@dataclass
class SampleSummary:
    questions: int = 0
    sampled: int = 0
    resumed: int = 0
    completions: int = 0
    failures: collections.Counter = field(default_factory=collections.Counter)


def sampling_request(row: dict, sampling: Sampling) -> ChatRequest:
    prompt = policy_prompt(row["question"], row.get("test_cases") or [])
    return ChatRequest(({"role": "user", "content": prompt},), sampling)


def _batch_writer(
    batch: Sequence[dict], appender: OrderedAppender, model: str, summary: SampleSummary
) -> Callable[[int, Generation], None]:
    """The ``on_result`` callback of one batch: each generation becomes its row's inferences (or a failure), written
    once, in input order, however often the backend reports it."""
    arrived_already: set[int] = set()

    def arrived(index: int, generation: Generation) -> None:
        if index in arrived_already:
            return
        arrived_already.add(index)
        row = None
        if generation.ok:
            inferences = [
                {"model_name": model, "completion_id": number, "completion": text}
                for number, text in enumerate(generation.texts)
            ]
            row = {**batch[index], "inferences": inferences}
            summary.completions += len(inferences)
        else:
            summary.failures["generation_error"] += 1
        summary.sampled += appender.finish(index, row)

    return arrived


def sample_rows(
    rows: Sequence[dict],
    backend: Backend,
    output: str | Path,
    sampling: Sampling,
    batch_size: int = 64,
    progress: Callable[[str, int, int], None] | None = None,
) -> SampleSummary:
    """Writes each row with ``sampling.n`` inferences to ``output`` (``.jsonl`` or ``.parquet``). ``progress``
    counts sequences (``sampling.n`` a row, a resumed row's included) as the backend finishes them."""
    resume = ResumableOutput.of_rows(output, rows)  # by position: a repeated id is sampled once per row
    summary = SampleSummary(questions=len(rows), resumed=resume.resumed)
    sequences_done, sequences_total = summary.resumed * sampling.n, len(rows) * sampling.n

    def sequences_finished(count: int) -> None:
        nonlocal sequences_done
        sequences_done += count
        if progress is not None:
            progress("sample", sequences_done, sequences_total)

    for start in range(0, len(rows), batch_size):
        end = min(start + batch_size, len(rows))
        batch = [rows[position] for position in range(start, end) if position not in resume.done]
        if not batch:
            continue
        arrived = _batch_writer(batch, resume.appender(len(batch)), backend.model, summary)
        requests = [sampling_request(row, sampling) for row in batch]
        counting = None if progress is None else sequences_finished
        generations = generate_with_progress(backend, requests, on_result=arrived, on_sequences=counting)
        for index, generation in enumerate(generations):  # a backend that did not report every result as it came
            arrived(index, generation)
    resume.finish()
    return summary
