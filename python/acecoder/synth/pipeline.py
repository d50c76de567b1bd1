"""The synthesis pipeline: seeds → (question, ~20 tests) → oracle-filtered tests → AceCode rows.

Resumable by design. Every seed that reaches a verdict (kept, or dropped for a reason of its own: an unparsable
reply, too few surviving tests) is appended to a journal next to the output (``OUTPUT.journal.jsonl``) and
flushed to disk batch by batch; a rerun of the same command skips those seeds, and the model calls of seeds that
were in flight come from the response cache. Transient failures (a request that failed after its retries, a
sandbox failure, a reply that was cut short, junk or over the size cap) are not journaled, so the next run retries
them; the summary counts each by its cause (``failed generations: bad_reply: truncated JSON``). The output file is
rewritten from the journal at the end of every run, in seed order, so it never holds a duplicate row. A journal
record carries a fingerprint of the settings that shape the result (models, prompts' parameters, thresholds): a
rerun with other settings recomputes rather than mixing results. The journal is matched to seeds by position as
well as id (``acecoder.data.resume``, shared with sampling and pass rates), so seeds that repeat an id each keep a
verdict of their own.

Each kept question also carries its calibrated time limit (``test_cpu_seconds``, ``acecoder.time_limits``): the
oracle's solution, which passes every kept test by construction, runs on them a few more times and the limit is
evalplus's rule on its slowest test, so every later step that runs the question's tests spends on a looping program
what the question's work needs rather than the engine's fixed default. Only the limit is stored, not the measured
times behind it (``acecoder calibrate`` keeps those): at the floor, where quick questions sit, it is the same in
every run, so a resumed run still writes the file an uninterrupted one does.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from acecoder.data.acecode import output_format
from acecoder.data.journal import output_journal
from acecoder.data.resume import ResumableOutput
from acecoder.data.seeds import Seed
from acecoder.exec import Engine
from acecoder.generation.base import (
    Backend,
    ChatRequest,
    Generation,
    Sampling,
    generate_with_progress,
    oversized_reply,
)
from acecoder.synth.oracle import judge_tests, oracle_request
from acecoder.synth.parsing import ParsedReply, parse_reply, parse_test_lines
from acecoder.synth.prompts import (
    TESTS_BY_LINE_START,
    entry_function,
    lines_messages,
    question_messages,
    rewrite_messages,
    seed_question,
)  # fmt: skip
from acecoder.time_limits import LIMIT_COLUMN, calibrate

FORMATS = ("json", "lines")
ORACLES = ("model", "seed")
# Causes of a dropped question, in the order a question meets them.
DROP_CAUSES = ("no_json", "no_question", "no_function", "no_tests", "oracle_no_code", "too_few_tests")
# Causes that are not the question's fault: not journaled, retried on the next run.
TRANSIENT_CAUSES = ("generation_error", "oracle_generation_error", "sandbox_error")


@dataclass(frozen=True)
class SynthConfig:
    """AceCoder's defaults: about 20 tests asked for, temperature 0.7, 2 tests shown to a greedy oracle, at least
    5 tests left."""

    num_tests: int = 20
    min_tests: int = 5
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 2048
    oracle_max_tokens: int = 2048
    shown_tests: int = 2
    batch_size: int = 64
    seed: int | None = None
    # "json": AceCoder's rewrite (a question and ~20 tests as JSON). "lines": for small models, which cannot write
    # JSON: the question is the seed's task with its function's signature, and ``samples`` replies each continue
    # a code block begun as ``assert name(``, a test per line.
    format: str = "json"
    samples: int = 8
    # "model": the oracle model's greedy solution judges the tests (AceCoder). "seed": the seed's own program does
    # (for seeds whose code is a trusted reference, such as MBPP's, and models too small to write an oracle).
    oracle: str = "model"

    def __post_init__(self) -> None:
        if self.num_tests < 1 or self.min_tests < 1:
            raise ValueError("num_tests and min_tests must be at least 1")
        if self.batch_size < 1 or self.samples < 1:
            raise ValueError("batch_size and samples must be at least 1")
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        if self.oracle not in ORACLES:
            raise ValueError(f"oracle must be one of {', '.join(ORACLES)}, got {self.oracle!r}")


# Counters of one run, the same shape as the other steps' summaries, deliberately (see pairs/passrate.py).
@dataclass
class Summary:
    questions_in: int = 0
    questions_out: int = 0
    tests_generated: int = 0
    tests_parsed: int = 0
    tests_kept: int = 0
    parse_repairs: int = 0
    resumed: int = 0
    failures: collections.Counter = field(default_factory=collections.Counter)
    dropped_tests: collections.Counter = field(default_factory=collections.Counter)
    # Why generations failed (``bad_reply: truncated JSON``, ``timeout after 7 attempts``...): the detail behind
    # the generation_error and oracle_generation_error counts.
    failed_generations: collections.Counter = field(default_factory=collections.Counter)

    def table(self) -> str:
        lines = [
            ("questions in", self.questions_in),
            ("questions out", self.questions_out),
            ("tests generated", self.tests_generated),
            ("tests after parsing", self.tests_parsed),
            ("tests kept (after the oracle)", self.tests_kept),
            ("replies repaired", self.parse_repairs),
            ("seeds resumed from the journal", self.resumed),
        ]
        lines += [(f"tests dropped: {reason}", count) for reason, count in sorted(self.dropped_tests.items())]
        lines += [(f"questions dropped: {cause}", count) for cause, count in sorted(self.failures.items())]
        lines += [(f"failed generations: {cause}", count) for cause, count in sorted(self.failed_generations.items())]
        width = max(len(name) for name, _ in lines)
        return "\n".join(f"{name:<{width}}  {count:>8,}" for name, count in lines)


def generation_failure(error: str) -> str:
    """The countable part of a generation's error: the kind and, for a bad reply, what was wrong with it, without
    the server's own words (``"http 500 after 7 attempts: overloaded"`` → ``"http 500 after 7 attempts"``)."""
    head, _, detail = error.partition(": ")
    return f"{head}: {detail.partition(': ')[0]}" if head == "bad_reply" and detail else head


def fingerprint(config: SynthConfig, model: str, oracle_model: str) -> str:
    settings = dataclasses.asdict(config) | {"model": model, "oracle_model": oracle_model}
    settings.pop("batch_size")  # how work is grouped does not change results
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def rewrite_request(seed: Seed, config: SynthConfig) -> ChatRequest | None:
    """The request that asks for a seed's question and tests (None in the line format for a seed without a
    function to test)."""
    if config.format == "lines":
        function = entry_function(seed.program)
        if function is None:
            return None
        sampling = Sampling(
            n=config.samples, temperature=config.temperature, top_p=config.top_p, max_tokens=config.max_tokens,
            seed=config.seed,
        )  # fmt: skip
        return ChatRequest(lines_messages(seed.program, seed.instruction, function.name), sampling)
    sampling = Sampling(
        n=1, temperature=config.temperature, top_p=config.top_p, max_tokens=config.max_tokens, seed=config.seed
    )
    return ChatRequest(rewrite_messages(seed.program, seed.instruction, config.num_tests), sampling)


def parse_generation(seed: Seed, texts: Sequence[str], config: SynthConfig) -> ParsedReply:
    """A reply read in the config's format."""
    if config.format == "lines":
        function = entry_function(seed.program)
        assert function is not None  # seeds without one got no request
        question = seed_question(seed.instruction, function)
        return parse_test_lines(texts, TESTS_BY_LINE_START.format(name=function.name), function.name, question)
    return parse_reply(texts[0])


ProgressCallback = Callable[[str, int, int], None]


class Synthesizer:
    """Runs the pipeline over seeds with a question model, an oracle model (may be the same backend) and an
    engine, writing AceCode rows to ``output``."""

    def __init__(
        self,
        backend: Backend,
        engine: Engine,
        output: str | Path,
        config: SynthConfig | None = None,
        oracle_backend: Backend | None = None,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.backend = backend
        self.oracle_backend = oracle_backend or backend
        self.engine = engine
        self.output = Path(output)
        output_format(self.output)  # fail now, not after the generations, on an unknown format
        self.config = config or SynthConfig()
        self.progress = progress or (lambda stage, done, total: None)
        self.fingerprint = fingerprint(self.config, self.backend.model, self.oracle_backend.model)
        # The journal holds verdict records, not output rows, so it lives beside the output in every format.
        self.journal = output_journal(self.output, key="seed_id", separate=True)
        self._failed_generations: collections.Counter = collections.Counter()

    def run(self, seeds: Sequence[Seed]) -> Summary:
        self.output.parent.mkdir(parents=True, exist_ok=True)
        # Verdicts journaled under other settings are ignored: they are recomputed, not mixed in.
        resume = ResumableOutput(
            self.output, [str(seed.id) for seed in seeds], self.journal,
            accept=lambda record: record.get("fingerprint") == self.fingerprint,
        )  # fmt: skip
        summary = Summary(questions_in=len(seeds), resumed=resume.resumed)
        self._failed_generations = summary.failed_generations
        pending = [seeds[position] for position in resume.pending]
        # Progress counts generated sequences, reported by the backends as they finish, so a long batch moves the
        # display: a seed's rewrite (``samples`` sequences in the line format) and its oracle reply (none with the
        # seed as oracle, none for a seed dropped at parsing: the expected count shrinks as that turns out).
        rewrite_sequences, oracle_sequences = self._sequences_per_seed()
        self._sequences_done = 0
        self._sequences_expected = (rewrite_sequences + oracle_sequences) * len(pending)
        for start in range(0, len(pending), self.config.batch_size):
            batch = pending[start : start + self.config.batch_size]
            records, transient = self._run_batch(batch)
            self.journal.append(records, sync=True)
            summary.failures.update(transient)
        rows = []
        for record in resume.completed():
            summary.tests_generated += record["tests_generated"]
            summary.tests_parsed += record["tests_parsed"]
            summary.parse_repairs += int(record["repaired"])
            summary.dropped_tests.update(record.get("dropped_tests", {}))
            if record["row"] is not None:
                rows.append(record["row"])
                summary.tests_kept += record["tests_kept"]
            else:
                summary.failures[record["cause"]] += 1
        summary.questions_out = len(rows)
        resume.finish(rows)
        return summary

    def _usable(self, generation: Generation, summary_key: str, transient: collections.Counter) -> bool:
        """Whether a generation has texts to parse; if not, its failure is counted (transient: retried next run).
        Completions over the size cap are refused here too, whichever backend or cache they came from."""
        error = generation.error
        if error is None:
            error = oversized_reply(generation.texts) if generation.texts else "no texts"
        if error is None:
            return True
        transient[summary_key] += 1
        self._failed_generations[generation_failure(error)] += 1
        return False

    def _run_batch(self, seeds: Sequence[Seed]) -> tuple[list[dict], collections.Counter]:
        transient: collections.Counter = collections.Counter()
        records: list[dict] = []
        requests: dict[int, ChatRequest] = {}
        for index, seed in enumerate(seeds):
            request = rewrite_request(seed, self.config)
            if request is None:
                records.append(self._record(seed, ParsedReply(), cause="no_function"))
            else:
                requests[index] = request
        asked = list(requests)
        rewrite_sequences, oracle_sequences = self._sequences_per_seed()
        replies = generate_with_progress(
            self.backend, [requests[index] for index in asked], on_sequences=self._finished
        )
        parsed: list[tuple[Seed, ParsedReply]] = []
        for index, generation in zip(asked, replies):
            seed = seeds[index]
            if not self._usable(generation, "generation_error", transient):
                continue
            reply = parse_generation(seed, generation.texts, self.config)
            if reply.ok:
                parsed.append((seed, reply))
            else:
                records.append(self._record(seed, reply, cause=reply.error))
        unasked, unparsed = len(seeds) - len(asked), len(seeds) - len(parsed)
        self._sequences_expected -= rewrite_sequences * unasked + oracle_sequences * unparsed
        self._finished()
        if self.config.oracle == "seed":  # no oracle calls: the seed's program judges
            if not parsed:
                return records, transient
            verdicts = judge_tests(
                self.engine, [seed.program for seed, _ in parsed], [reply.tests for _, reply in parsed]
            )
            return self._verdicts([(item, None) for item in parsed], verdicts, records, transient)
        if not parsed:
            return records, transient
        oracle_requests = [
            oracle_request(reply.question or "", reply.tests, self.config.oracle_max_tokens, self.config.shown_tests)
            for _, reply in parsed
        ]
        oracle_replies = generate_with_progress(self.oracle_backend, oracle_requests, on_sequences=self._finished)
        answered = [
            (item, generation) for item, generation in zip(parsed, oracle_replies)
            if self._usable(generation, "oracle_generation_error", transient)
        ]  # fmt: skip
        verdicts = judge_tests(
            self.engine,
            [generation.texts[0] for _, generation in answered],
            [reply.tests for (_, reply), _ in answered],
        )
        return self._verdicts(answered, verdicts, records, transient)

    def _verdicts(self, answered, verdicts, records: list[dict], transient: collections.Counter):
        """Journal records from the oracle's verdicts on each question's tests; kept questions calibrated."""
        kept: list[tuple[dict, str]] = []  # (kept row, the oracle's solution)
        for ((seed, reply), _), verdict in zip(answered, verdicts):
            if verdict.infrastructure_failure:
                transient["sandbox_error"] += 1
            elif not verdict.solution.strip():
                records.append(self._record(seed, reply, cause="oracle_no_code"))
            elif len(verdict.kept) < self.config.min_tests:
                records.append(self._record(seed, reply, cause="too_few_tests", kept=verdict.kept))
            else:
                records.append(self._record(seed, reply, cause=None, kept=verdict.kept, solution=verdict.solution))
                kept.append((records[-1]["row"], verdict.solution))
        if kept:
            calibrations = calibrate([solution for _, solution in kept], [row["test_cases"] for row, _ in kept],
                                     engine=self.engine)  # fmt: skip
            for (row, _), calibration in zip(kept, calibrations):
                row[LIMIT_COLUMN] = calibration.limit
        return records, +transient

    def _sequences_per_seed(self) -> tuple[int, int]:
        """How many sequences a seed's rewrite and its oracle call generate."""
        rewrite = self.config.samples if self.config.format == "lines" else 1
        return rewrite, 0 if self.config.oracle == "seed" else 1

    def _finished(self, sequences: int = 0) -> None:
        """Advances the progress display by finished sequences (redraws it with a new total when given none)."""
        self._sequences_done += sequences
        self.progress("generation", self._sequences_done, self._sequences_expected)

    def _record(
        self, seed: Seed, reply: ParsedReply, cause: str | None, kept: Sequence[str] = (), solution: str | None = None
    ) -> dict:
        row: dict | None = None
        if cause is None:
            row = {
                "id": seed.id,
                "source": seed.source,
                "question": reply.question,
                "test_cases": list(kept),
                "context_messages": question_messages(reply.question or ""),
                "provenance": {
                    "seed_id": seed.id,
                    "model": self.backend.model,
                    "oracle_model": "seed program" if self.config.oracle == "seed" else self.oracle_backend.model,
                    "tests_generated": reply.candidates,
                    "tests_parsed": len(reply.tests),
                    "tests_kept": len(kept),
                    "repaired": reply.repaired,
                    # The program that passed every kept test: the reference `acecoder audit` mutates.
                    "oracle_solution": solution,
                },
            }
        return {
            "seed_id": seed.id,
            "fingerprint": self.fingerprint,
            "cause": cause,
            "tests_generated": reply.candidates,
            "tests_parsed": len(reply.tests),
            "tests_kept": len(kept),
            "repaired": reply.repaired,
            "dropped_tests": dict(reply.dropped),
            "row": row,
        }
