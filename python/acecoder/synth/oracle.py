"""Oracle filtering: a model's greedy solution decides which synthesized tests survive (AceCoder, section 2).

The oracle sees the question and its first two tests, answers with code, and that code is run against every test
through the engine (never in this process). A test the oracle's solution fails is dropped: either the test is
wrong or the question is ambiguous about it. A question left with fewer than ``min_tests`` tests is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from acecoder.exec import Engine, ExecResult, Status
from acecoder.extract import extract_code
from acecoder.generation.base import ChatRequest, Sampling
from acecoder.synth.prompts import oracle_messages


def oracle_request(question: str, tests: Sequence[str], max_tokens: int = 2048, shown: int = 2) -> ChatRequest:
    """Greedy (temperature 0), one sample."""
    return ChatRequest(
        oracle_messages(question, list(tests), shown), Sampling(n=1, temperature=0.0, max_tokens=max_tokens)
    )


@dataclass
class OracleVerdict:
    solution: str
    kept: list[str]
    result: ExecResult | None  # None when there was no code to run

    @property
    def infrastructure_failure(self) -> bool:
        return self.result is not None and self.result.status == Status.SANDBOX_ERROR


def judge_tests(engine: Engine, replies: Sequence[str], tests: Sequence[Sequence[str]]) -> list[OracleVerdict]:
    """For each oracle reply: the code extracted from it and the tests that code passes (in their order)."""
    solutions = [extract_code(reply) for reply in replies]
    runnable = [index for index, solution in enumerate(solutions) if solution.strip()]
    results = engine.run([solutions[index] for index in runnable], [list(tests[index]) for index in runnable])
    by_index = dict(zip(runnable, results))
    verdicts = []
    for index, solution in enumerate(solutions):
        result = by_index.get(index)
        if result is None:
            verdicts.append(OracleVerdict(solution, [], None))
            continue
        kept = [test for test, outcome in zip(tests[index], result.tests) if outcome.status == Status.PASSED]
        verdicts.append(OracleVerdict(solution, kept, result))
    return verdicts
