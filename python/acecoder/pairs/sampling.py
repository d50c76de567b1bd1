"""Sampling N programs per question with a policy model (AceCoder step two; 16 samples at temperature 0.7).

Each question is one request for ``n`` completions (backends that cannot return several per request are topped up
by the backend itself), with AceCoder's prompt: the question plus its first test. Completions are stored as AceCode
``inferences`` (``model_name``, ``completion_id``, ``completion``), replacing any the row had. Rows go to the
output as their completions arrive (a journal), so an interrupted run resumes; a question whose request failed
after its retries is not written and is retried by the next run.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from acecoder.data.acecode import output_format
from acecoder.data.journal import finish_output, output_journal
from acecoder.pairs.prompts import policy_prompt
from acecoder.synth.backends.base import Backend, ChatRequest, Generation, Sampling


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


def sample_rows(
    rows: Sequence[dict],
    backend: Backend,
    output: str | Path,
    sampling: Sampling,
    batch_size: int = 64,
    progress: Callable[[str, int, int], None] | None = None,
) -> SampleSummary:
    """Writes each row with ``sampling.n`` inferences to ``output`` (``.jsonl`` or ``.parquet``)."""
    output_format(output)
    journal = output_journal(output)
    done = journal.load()
    summary = SampleSummary(questions=len(rows))
    pending = [row for row in rows if str(row["id"]) not in done]
    summary.resumed = len(rows) - len(pending)
    finished = summary.resumed
    for start in range(0, len(pending), batch_size):
        batch = pending[start : start + batch_size]
        written: list[dict] = []

        def arrived(index: int, generation: Generation) -> None:
            nonlocal finished
            finished += 1
            if progress is not None:
                progress("sample", finished, len(rows))

        generations = backend.generate([sampling_request(row, sampling) for row in batch], on_result=arrived)
        for row, generation in zip(batch, generations):
            if not generation.ok:
                summary.failures["generation_error"] += 1
                continue
            inferences = [
                {"model_name": backend.model, "completion_id": number, "completion": text}
                for number, text in enumerate(generation.texts)
            ]
            written.append({**row, "inferences": inferences})
            summary.completions += len(inferences)
        journal.append(written, sync=True)
        summary.sampled += len(written)
    finish_output(output, journal, [str(row["id"]) for row in rows])
    return summary
