"""What the reward server computes, apart from HTTP: request bodies checked field by field, then rewards.

Kept apart from the server so that the rules (which text is the response, which rows count as unmatched or as
holding no code, what a sandbox failure is worth) read in one place and can be called without a socket. Every check
names the field and the index at fault, because the client is usually a trainer's log line away from a person.

Text over ``max_response_bytes`` (UTF-8) is never looked up, extracted or run: a response of 20 MB of code once took
54 s and 7.7 GB of memory on its way through code extraction and the engine, while a trainer's honest responses are
a few KB. It scores 0.0 and is listed in ``too_large``. Below the limit, extraction still parses the code, at
about 400 bytes of syntax tree and 2 to 6 us of held GIL per byte (measured on ``_z = 1`` lines: 93 MB and 1.6 s
for 256 KiB), so responses over ``LARGE_RESPONSE_BYTES`` are extracted one at a time, server-wide: however many
requests send them at once, their parses hold one tree in memory, and requests of small responses never wait for
that lock.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from acecoder.exec import ExecResult, Status, Test
from acecoder.extract import extract_code
from acecoder.rewards import MODES, rule_reward
from acecoder.serve.questions import Question, QuestionIndex
from acecoder.special_tokens import strip_markers_at_start

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "MODES",
    "RequestError",
    "RewardReply",
    "Runner",
    "over_limit",
    "response_of",
    "reward_of",
    "run_jobs",
    "score_queries",
]

DEFAULT_MAX_RESPONSE_BYTES = 256 << 10
# Responses longer than this (in characters) are extracted under ``_LARGE_EXTRACTION`` (see the module doc); a
# trainer's responses are far shorter, so it only ever serialises unusual ones.
LARGE_RESPONSE_BYTES = 16 << 10
_LARGE_EXTRACTION = threading.Lock()


class Runner(Protocol):
    """What scoring needs of an engine: ``Engine`` itself, or the server's fair share of one."""

    def run(
        self,
        programs: Sequence[str],
        tests: Sequence[Sequence[Test]],
        *,
        fail_fast: bool = False,
        test_cpu_seconds: Sequence[float | None] | None = None,
    ) -> list[ExecResult]: ...


class RequestError(ValueError):
    """A request body the server cannot use; the message is sent back with HTTP 400."""


def _strings(body: dict, name: str) -> list[str]:
    value = body.get(name)
    if value is None:
        raise RequestError(f"missing field {name!r} (a list of strings)")
    if not isinstance(value, list):
        raise RequestError(f"{name} must be a list of strings, got {type(value).__name__}")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise RequestError(f"{name}[{index}] must be a string, got {type(item).__name__}")
    return value


def over_limit(text: str, limit: int) -> bool:
    """Whether ``text`` takes more than ``limit`` bytes in UTF-8 (encoded only when its length leaves a doubt)."""
    if len(text) > limit:
        return True
    return len(text) * 4 > limit and len(text.encode("utf-8", "surrogatepass")) > limit


def _same_length(name: str, values: Sequence[object] | None, reference: str, expected: int) -> None:
    if values is not None and len(values) != expected:
        raise RequestError(f"{name} has {len(values)} items but {reference} has {expected}; they must match")


@dataclass
class RewardReply:
    """One float per query, in order, and the indices of the queries whose 0.0 needs a reason: the question was
    not found (``unmatched``) or has no tests (``no_tests``), the response holds no code (``no_code``: prose only,
    or nothing but test code), the sandbox failed (``sandbox_errors``), or the response or its prompt is over the
    size limit (``too_large``: checked first, so such a query is in no other list)."""

    rewards: list[float]
    unmatched: list[int] = field(default_factory=list)
    no_tests: list[int] = field(default_factory=list)
    no_code: list[int] = field(default_factory=list)
    sandbox_errors: list[int] = field(default_factory=list)
    too_large: list[int] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "rewards": self.rewards,
            "unmatched": self.unmatched,
            "no_tests": self.no_tests,
            "no_code": self.no_code,
            "sandbox_errors": self.sandbox_errors,
            "too_large": self.too_large,
        }


def response_of(query: str, prompt: str | None) -> str:
    """The policy's part of ``query``: what follows ``prompt`` when the query starts with it, else all of it.

    OpenRLHF decodes the left-padded batch with special tokens kept, so a query may start with padding and a BOS
    token the prompt string lacks (or the other way round): those are set aside on both sides before comparing."""
    if not prompt:
        return query
    if query.startswith(prompt):
        return query[len(prompt) :]
    bare_query, bare_prompt = strip_markers_at_start(query), strip_markers_at_start(prompt)
    if bare_prompt and bare_query.startswith(bare_prompt):
        return bare_query[len(bare_prompt) :]
    return query


def reward_of(result: ExecResult, mode: str) -> float:
    """``acecoder.rewards.rule_reward``, with 0.0 for a sandbox error: OpenRLHF needs a number for every query (the
    reply lists such queries in ``sandbox_errors``)."""
    return 0.0 if result.status is Status.SANDBOX_ERROR else rule_reward(result, mode)


def score_queries(
    body: object,
    index: QuestionIndex,
    engine: Runner,
    mode: str,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> RewardReply:
    """OpenRLHF's remote reward protocol: ``{"query": [...], "prompts": [...], "labels": [...]}`` → rewards.

    ``prompts`` may be left out (older OpenRLHF sends only ``query``): each whole query is then looked up and
    scored. ``labels``, when given, may name a row's ``id``. ``EngineError`` propagates (HTTP 500).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if not isinstance(body, dict):
        raise RequestError(f"the body must be a JSON object, got {type(body).__name__}")
    queries = _strings(body, "query")
    prompts = None if body.get("prompts") is None else _strings(body, "prompts")
    _same_length("prompts", prompts, "query", len(queries))
    labels = body.get("labels")
    if labels is not None and not isinstance(labels, list):
        raise RequestError(f"labels must be a list or null, got {type(labels).__name__}")
    _same_length("labels", labels, "query", len(queries))

    reply = RewardReply([0.0] * len(queries))
    found: dict[tuple[str, str], Question | None] = {}  # a GRPO group repeats one prompt: look it up once
    jobs: list[int] = []
    programs: list[str] = []
    tests: list[list[str]] = []
    limits: list[float | None] = []  # each question's calibrated per-test limit (None: the engine's)
    for position, query in enumerate(queries):
        prompt = prompts[position] if prompts is not None else query
        response = response_of(query, prompts[position] if prompts is not None else None)
        if over_limit(response, max_response_bytes) or over_limit(prompt, max_response_bytes):
            reply.too_large.append(position)  # 0.0, and neither looked up nor extracted nor run
            continue
        label = labels[position] if labels is not None else None
        key = (prompt, label if isinstance(label, str) else repr(label))
        if key not in found:
            found[key] = index.find(prompt, label)
        question = found[key]
        if question is None:
            reply.unmatched.append(position)
        elif not question.tests:
            reply.no_tests.append(position)
        else:
            if len(response) > LARGE_RESPONSE_BYTES:
                with _LARGE_EXTRACTION:
                    program = extract_code(response)
            else:
                program = extract_code(response)
            if not program.strip():
                reply.no_code.append(position)  # 0.0, and nothing to run
                continue
            jobs.append(position)
            programs.append(program)
            tests.append(question.tests)
            limits.append(question.test_cpu_seconds)
    # A binary reward is decided by the first failing test: stop there, the verdict is the same.
    results = engine.run(programs, tests, fail_fast=mode == "binary", test_cpu_seconds=limits) if jobs else []
    for position, result in zip(jobs, results):
        if result.status is Status.SANDBOX_ERROR:
            reply.sandbox_errors.append(position)
        reply.rewards[position] = reward_of(result, mode)
    return reply


def run_jobs(body: object, engine: Runner, max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES) -> dict:
    """``{"programs": [...], "tests": [[...], ...], "fail_fast": bool}`` → ``{"results": [...], "too_large": [...]}``,
    one ``ExecResult.to_dict()`` per job; a job whose program and tests together are over ``max_response_bytes`` is
    not run: its result has status ``"too_large"`` and its index is listed in ``too_large``."""
    if not isinstance(body, dict):
        raise RequestError(f"the body must be a JSON object, got {type(body).__name__}")
    programs = _strings(body, "programs")
    tests = body.get("tests")
    if not isinstance(tests, list):
        raise RequestError("tests must be a list with one list of test strings per program")
    _same_length("tests", tests, "programs", len(programs))
    for position, program_tests in enumerate(tests):
        if not isinstance(program_tests, list):
            raise RequestError(f"tests[{position}] must be a list of strings, got {type(program_tests).__name__}")
        for number, test in enumerate(program_tests):
            if not isinstance(test, str):
                raise RequestError(f"tests[{position}][{number}] must be a string, got {type(test).__name__}")
    fail_fast = body.get("fail_fast", False)
    if not isinstance(fail_fast, bool):
        raise RequestError(f"fail_fast must be true or false, got {type(fail_fast).__name__}")
    too_large = [
        position
        for position, (program, program_tests) in enumerate(zip(programs, tests))
        if over_limit(program, max_response_bytes) or over_limit(program + "".join(program_tests), max_response_bytes)
    ]
    skipped = set(too_large)
    chosen = [position for position in range(len(programs)) if position not in skipped]
    ran = engine.run([programs[p] for p in chosen], [tests[p] for p in chosen], fail_fast=fail_fast) if chosen else []
    results: list[dict] = [{}] * len(programs)
    for position, result in zip(chosen, ran):
        results[position] = result.to_dict()
    for position in too_large:
        results[position] = {"status": "too_large", "passed": 0, "total": len(tests[position]), "tests": []}
    return {"results": results, "too_large": too_large}
