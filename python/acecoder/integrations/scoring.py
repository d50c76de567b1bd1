"""One call's responses scored in one engine batch, each with the reasons a trainer should log beside its score.

A reward function called with a batch must not run its programs one by one: the engine's workers run a batch's
jobs in parallel, so every response of the call goes into one ``run_batch``. The rules are the TRL reward's
(``acecoder.rewards``: ``plan_jobs`` extracts each program and finds those with no code, ``rule_reward`` decides
binary or pass rate) and the reward server's (``reward_of``: a sandbox failure is worth 0.0, because these trainers
need a number for every response, and is flagged instead).

Every outcome has the same keys, with numbers only, because verl gathers each key into one column per batch (a key
missing from one row would misalign its column) and averages them per data source in its validation metrics.
"""

from __future__ import annotations

from collections.abc import Sequence

from acecoder.exec import Limits, Status, Test
from acecoder.rewards import MODES, LimitColumn, plan_jobs, run_rule_jobs
from acecoder.serve.scoring import reward_of

__all__ = ["OUTCOME_KEYS", "score_responses"]

# "score" is the reward; the others say what it is made of, and why a 0.0 was not earned by failing tests.
OUTCOME_KEYS = ("score", "pass_rate", "passed", "total", "no_code", "no_tests", "sandbox_error")


def _outcome(score: float = 0.0, pass_rate: float = 0.0, passed: int = 0, total: int = 0, **flags: int) -> dict:
    outcome: dict[str, float | int] = {"score": score, "pass_rate": pass_rate, "passed": passed, "total": total}
    outcome.update({"no_code": 0, "no_tests": 0, "sandbox_error": 0})
    outcome.update(flags)
    return outcome


def score_responses(
    responses: Sequence[str],
    tests: Sequence[Sequence[Test] | None],
    mode: str = "binary",
    *,
    limits: Limits | None = None,
    workers: int | None = None,
    test_cpu_seconds: LimitColumn = None,
) -> list[dict]:
    """One outcome dict (``OUTCOME_KEYS``) per response, in order, from one batch in the shared engine.

    A response whose tests are empty scores 0.0 with ``no_tests``; one with no code, 0.0 with ``no_code`` (never
    run); one the sandbox failed on, 0.0 with ``sandbox_error``. ``test_cpu_seconds`` holds each response's
    calibrated per-test limit (``acecoder.time_limits``), None for the engine's. In binary mode a program stops at
    its first failing test, so its ``pass_rate`` and ``passed`` count only the tests before it.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if len(responses) != len(tests):
        raise ValueError(f"{len(responses)} responses but {len(tests)} test lists; they must match")
    jobs = plan_jobs(responses, tests, test_cpu_seconds)
    results = run_rule_jobs(jobs, mode, limits, workers)
    outcomes = [_outcome(no_tests=1) for _ in responses]
    for index in jobs.no_code:
        outcomes[index] = _outcome(total=len(tests[index] or ()), no_code=1)
    for index, result in zip(jobs.indices, results):
        outcomes[index] = _outcome(
            reward_of(result, mode),
            result.pass_rate,
            result.passed,
            result.total,
            sandbox_error=int(result.status is Status.SANDBOX_ERROR),
        )
    return outcomes
