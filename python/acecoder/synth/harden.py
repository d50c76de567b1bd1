"""Hardening a question's tests: show the model a wrong program its tests let through, keep the tests that catch it.

Why: oracle filtering (AceCoder) removes wrong tests, not weak ones; a suite that a wrong program passes rewards
that program (``acecoder.audit`` measures how often). Each round, for every question whose tests leave a mutant of
its reference alive, the model sees the question, the kept tests and one surviving mutant's diff, and is asked
for tests that tell the two apart. A proposed test is kept only when the reference (the oracle solution) passes it
and it kills at least one surviving mutant (any of them, not only the one shown): a test the reference fails would
be wrong, one that kills nothing adds cost and no strength. Up to ``rounds`` rounds, each showing a survivor not
shown before; a question stops early once no mutant survives.

Everything runs in batches: one model call per question per round for a batch of questions, and one engine batch
per round that runs the reference and every survivor against every proposed test. Each kept test's round is
recorded (``provenance.test_rounds``: 0 for the tests from before hardening), with the counts and the kill rate
before and after (``provenance.hardening``, ``kill_rate``). A finished question is appended to a journal beside the
output with a fingerprint of the settings, so a rerun resumes with the questions still to do, and model calls
already answered come from the response cache.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acecoder.audit import AuditQuestion, audit_questions, reference_of
from acecoder.data.journal import RowJournal, row_key
from acecoder.data.mutants import Mutant, mutant_set
from acecoder.data.resume import ResumableOutput
from acecoder.exec import Engine, Status
from acecoder.generation.base import Backend, ChatRequest, Sampling, oversized_reply
from acecoder.synth.parsing import parse_test_lines
from acecoder.synth.prompts import entry_function, harden_messages
from acecoder.time_limits import row_limit

FORMATS = ("chat", "lines")


@dataclass(frozen=True)
class HardenConfig:
    """``rounds`` of asking; ``mutants`` per question (the audit's); ``tests`` asked for per reply; ``samples``
    replies per question and round. ``format``: ``chat`` asks for a code block (any chat model), ``lines`` begins
    the reply as ``assert name(`` for the model to continue (small local models, as synth's line format)."""

    rounds: int = 3
    mutants: int = 20
    tests: int = 5
    samples: int = 1
    temperature: float = 0.7
    max_tokens: int = 512
    seed: int | None = None
    format: str = "chat"
    batch_size: int = 16

    def __post_init__(self) -> None:
        for name in ("rounds", "mutants", "tests", "samples", "max_tokens", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"HardenConfig.{name} must be at least 1")
        if self.format not in FORMATS:
            raise ValueError(f"HardenConfig.format must be one of {', '.join(FORMATS)}, got {self.format!r}")


# Counters of one run, the same shape as the other steps' summaries, deliberately (see pairs/passrate.py).
@dataclass
class HardenSummary:
    questions: int = 0
    resumed: int = 0
    without_reference: int = 0
    with_survivors: int = 0
    requests: int = 0
    failed_generations: int = 0
    proposed: int = 0
    kept: int = 0
    reference_fails: int = 0
    kills_nothing: int = 0
    kill_rates_before: list[float] = field(default_factory=list)
    kill_rates_after: list[float] = field(default_factory=list)

    def add(self, row: dict) -> None:
        record = (row.get("provenance") or {}).get("hardening")
        if not isinstance(record, dict):
            return
        if record.get("kill_rate_before") is None:
            self.without_reference += 1
            return
        self.with_survivors += record["kill_rate_before"] < 1.0
        self.proposed += record["proposed"]
        self.kept += record["kept"]
        self.reference_fails += record.get("reference_fails", 0)
        self.kills_nothing += record.get("kills_nothing", 0)
        self.kill_rates_before.append(record["kill_rate_before"])
        self.kill_rates_after.append(record["kill_rate_after"])

    def table(self) -> str:
        def mean(values: list[float]) -> str:
            return f"{statistics.fmean(values):.3f}" if values else "-"

        lines = [
            ("questions hardened", self.questions),
            ("resumed from the journal", self.resumed),
            ("without a reference or mutant", self.without_reference),
            ("with a surviving mutant before", self.with_survivors),
            ("model calls (this run)", self.requests),
            ("failed generations (this run)", self.failed_generations),
            ("tests proposed", self.proposed),
            ("tests kept (reference passes, kills a survivor)", self.kept),
            ("tests dropped: the reference fails them", self.reference_fails),
            ("tests dropped: they kill no survivor", self.kills_nothing),
            ("kill rate before, mean", mean(self.kill_rates_before)),
            ("kill rate after, mean", mean(self.kill_rates_after)),
        ]
        width = max(len(name) for name, _ in lines)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in lines)


@dataclass
class _Question:
    """One question while it is hardened."""

    row: dict
    reference: str
    name: str
    tests: list[str]
    rounds: list[int]
    mutants: list[Mutant]
    survivors: list[int]
    shown: list[int] = field(default_factory=list)
    proposed: int = 0
    kept: int = 0
    wrong: int = 0  # proposed tests the reference fails
    weak: int = 0  # proposed tests the reference passes that kill no survivor
    rounds_run: int = 0
    kill_rate_before: float = 0.0
    test_cpu_seconds: float | None = None  # its calibrated limit (acecoder.time_limits), None: the engine's
    failed: bool = False  # a model call failed: not journaled, so the next run asks again


def fingerprint(config: HardenConfig, model: str) -> str:
    settings = dataclasses.asdict(config) | {"model": model}
    settings.pop("batch_size")
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def journal_path(output: str | Path) -> Path:
    """Hardening's own journal beside the output (synthesis keeps ``OUTPUT.journal.jsonl``)."""
    output = Path(output)
    return output.with_name(output.name + ".harden.journal.jsonl")


class Hardener:
    """Hardens rows' tests with ``backend`` as the test writer and ``engine`` to judge (see the module doc)."""

    def __init__(
        self,
        backend: Backend,
        engine: Engine,
        config: HardenConfig | None = None,
        reference_column: str | None = None,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> None:
        self.backend = backend
        self.engine = engine
        self.config = config or HardenConfig()
        self.reference_column = reference_column
        self.progress = progress
        self.fingerprint = fingerprint(self.config, backend.model)

    def run(self, rows: Sequence[dict], output: str | Path) -> tuple[list[dict], HardenSummary]:
        """Hardens every row the journal beside ``output`` does not hold yet; returns all rows in input order
        (hardened) and the summary. The caller writes them."""
        keys = [row_key(row, number) for number, row in enumerate(rows, start=1)]
        # A record counts only under the same settings and for the same question: a rerun after synthesis changed
        # a question's tests (other settings there) hardens it again rather than reading back the old result.
        inputs = {self._input_digest(row) for row in rows}

        def accept(record: dict) -> bool:
            return record.get("fingerprint") == self.fingerprint and record.get("input") in inputs

        resume = ResumableOutput(output, keys, RowJournal(journal_path(output)), accept=accept)
        done = {position: record["row"] for position, record in resume.done.items()}
        pending = resume.pending
        summary = HardenSummary(questions=len(rows), resumed=resume.resumed)
        appender = resume.appender(len(pending))
        for start in range(0, len(pending), self.config.batch_size):
            batch = pending[start : start + self.config.batch_size]
            hardened, failed = self._harden(([rows[position] for position in batch]), summary)
            for place, row, retry in zip(range(start, start + len(batch)), hardened, failed):
                done[pending[place]] = row
                record = {"id": row.get("id"), "fingerprint": self.fingerprint, "row": row,
                          "input": self._input_digest(rows[pending[place]])}  # fmt: skip
                appender.finish(place, None if retry else record)
            if self.progress is not None:
                self.progress("hardening", len(done), len(rows))
        hardened = [done[position] for position in range(len(rows))]
        for row in hardened:
            summary.add(row)
        return hardened, summary

    def _input_digest(self, row: dict) -> str:
        """What hardening reads of a row: its id, question, tests and reference."""
        read = [row.get("id"), row.get("question"), row.get("test_cases"), reference_of(row, self.reference_column)]
        return hashlib.sha256(json.dumps(read, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def harden(self, rows: Sequence[dict], summary: HardenSummary | None = None) -> list[dict]:
        """The rows with their tests hardened (no journal)."""
        return self._harden(rows, summary if summary is not None else HardenSummary())[0]

    def _harden(self, rows: Sequence[dict], summary: HardenSummary) -> tuple[list[dict], list[bool]]:
        """The rows hardened, and per row whether a model call of it failed."""
        questions: list[_Question | None] = [self._start(row) for row in rows]
        audits = [
            AuditQuestion(question.reference, question.tests, test_cpu_seconds=question.test_cpu_seconds)
            if question
            else AuditQuestion(None, [])
            for question in questions
        ]  # fmt: skip
        for position, audit in audit_questions(audits, self.engine, self.config.mutants):
            question = questions[position]
            if question is None:
                continue
            if audit is None or audit.get("kill_rate") is None:
                questions[position] = None  # no verdict on its tests: left as it is
                continue
            question.survivors = [survivor["mutant"] for survivor in audit["survivors"]]
            question.kill_rate_before = audit["kill_rate"]
        for round_number in range(1, self.config.rounds + 1):
            active = [question for question in questions if question is not None and question.survivors]
            if not active:
                break
            self._round(active, round_number, summary)
        failed = [question is not None and question.failed for question in questions]
        return [self._finished(row, question) for row, question in zip(rows, questions)], failed

    def _start(self, row: dict) -> _Question | None:
        reference = reference_of(row, self.reference_column)
        tests = row.get("test_cases")
        if reference is None or not isinstance(tests, list) or not all(isinstance(test, str) for test in tests):
            return None
        function = entry_function(reference)
        if function is None:
            return None
        try:
            found = mutant_set(reference, self.config.mutants)
        except (SyntaxError, ValueError):
            return None
        rounds = (row.get("provenance") or {}).get("test_rounds")
        if not isinstance(rounds, list) or len(rounds) != len(tests):
            rounds = [0] * len(tests)
        try:
            limit = row_limit(row)
        except ValueError:
            limit = None  # a malformed limit: the engine's own
        return _Question(row, reference, function.name, list(tests), list(rounds), found, [], test_cpu_seconds=limit)

    def _round(self, active: list[_Question], round_number: int, summary: HardenSummary) -> None:
        requests = []
        for question in active:
            unseen = [number for number in question.survivors if number not in question.shown]
            shown = unseen[0] if unseen else question.survivors[(round_number - 1) % len(question.survivors)]
            question.shown.append(shown)
            question.rounds_run = round_number
            requests.append(self._request(question, question.mutants[shown]))
        summary.requests += len(requests)
        replies = self.backend.generate(requests)
        proposals: list[list[str]] = []
        for question, generation in zip(active, replies):
            error = generation.error or (oversized_reply(generation.texts) if generation.texts else "no texts")
            if error is not None:
                summary.failed_generations += 1
                question.failed = True
                proposals.append([])
                continue
            proposals.append(self._new_tests(question, generation.texts))
        # One engine batch: each question's reference and survivors against its proposed tests, every test judged.
        programs: list[str] = []
        tests: list[list[str]] = []
        owners: list[tuple[int, int]] = []  # job → (question's place in active, -1 reference or mutant number)
        limits: list[float | None] = []
        for place, (question, proposed) in enumerate(zip(active, proposals)):
            question.proposed += len(proposed)
            if not proposed:
                continue
            for number in [-1, *question.survivors]:
                owners.append((place, number))
                programs.append(question.reference if number < 0 else question.mutants[number].source)
                tests.append(proposed)
                limits.append(question.test_cpu_seconds)
        verdicts: dict[tuple[int, int], list[bool]] = {}
        failed: set[int] = set()
        for index, result in self.engine.stream(programs, tests, test_cpu_seconds=limits):
            place, number = owners[index]
            if result.status == Status.SANDBOX_ERROR:
                failed.add(place)
            verdicts[place, number] = [test.status == Status.PASSED for test in result.tests]
        for place, (question, proposed) in enumerate(zip(active, proposals)):
            if not proposed or place in failed:
                continue
            reference_passes = verdicts[place, -1]
            killed: set[int] = set()
            for test_index, test in enumerate(proposed):
                if not reference_passes[test_index]:
                    question.wrong += 1  # a wrong test: the reference fails it
                    continue
                kills = {number for number in question.survivors if not verdicts[place, number][test_index]}
                question.weak += not kills
                if kills:
                    question.tests.append(test)
                    question.rounds.append(round_number)
                    question.kept += 1
                    killed |= kills
            question.survivors = [number for number in question.survivors if number not in killed]

    def _request(self, question: _Question, mutant: Mutant) -> ChatRequest:
        config = self.config
        sampling = Sampling(n=config.samples, temperature=config.temperature, max_tokens=config.max_tokens,
                            seed=config.seed)  # fmt: skip
        messages = harden_messages(
            str(question.row.get("question") or ""), question.tests, mutant.diff, question.name, config.tests,
            begin_reply=config.format == "lines",
        )  # fmt: skip
        return ChatRequest(messages, sampling)

    def _new_tests(self, question: _Question, texts: Sequence[str]) -> list[str]:
        """The proposed tests of a reply: safe asserts that call the function, not already among its tests."""
        if self.config.format == "lines":
            start = f"```python\nassert {question.name}("
            bodies = list(texts)
        else:  # a code block somewhere in a chat reply (or bare asserts)
            start = ""
            bodies = [text[text.index("```") :] if "```" in text else "```python\n" + text for text in texts]
        parsed = parse_test_lines(bodies, start, question.name, question="harden")
        existing = {_key(test) for test in question.tests}
        return [test for test in parsed.tests if _key(test) not in existing]

    def _finished(self, row: dict, question: _Question | None) -> dict:
        provenance = dict(row.get("provenance") or {})
        if question is None:
            provenance["hardening"] = {"kill_rate_before": None, "reason": "no reference, tests or mutant to audit"}
            return {**row, "provenance": provenance}
        mutants = len(question.mutants)
        after = (mutants - len(question.survivors)) / mutants
        provenance["test_rounds"] = question.rounds
        provenance["hardening"] = {
            "rounds_run": question.rounds_run, "proposed": question.proposed, "kept": question.kept,
            "reference_fails": question.wrong, "kills_nothing": question.weak,
            "mutants": mutants, "kill_rate_before": question.kill_rate_before, "kill_rate_after": after,
            "model": self.backend.model,
        }  # fmt: skip
        return {**row, "test_cases": question.tests, "provenance": provenance, "kill_rate": after}


def _key(test: str) -> str:
    try:
        return ast.dump(ast.parse(test))
    except SyntaxError:
        return test


def hardened_summary(rows: Sequence[dict]) -> dict[str, Any]:
    """Kill rates before and after and the tests kept, from hardened rows (for reports and benches)."""
    summary = HardenSummary(questions=len(rows))
    for row in rows:
        summary.add(row)
    return dataclasses.asdict(summary)
