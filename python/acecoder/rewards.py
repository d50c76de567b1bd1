"""Rule rewards for RL on code (AceCoder step five): run each completion's program against its question's tests.

The functions follow TRL's reward-function contract, so ``GRPOTrainer(reward_funcs=[test_pass_reward])`` works as
is: they take ``prompts`` and ``completions`` (plain strings, or conversational message lists whose last message is
the answer) plus every extra dataset column as a keyword list (``test_cases`` among them), and return one float per
completion, or ``None`` for a row without tests (TRL then ignores that reward). ``log_metric``, which TRL passes,
receives the pass-rate statistics, the count of sandbox errors and the count of completions with no code
(``acecoder/no_code``: prose only, or nothing but test code; they score 0.0 without a run), so that no zero is
silent in the trainer's logs.

Programs run in the shared long-lived engine of ``acecoder.exec.run_batch``: zygote workers started once, next to
the trainer, which is itself never forked. Two modes: ``binary`` (1 only if every test passes: the paper's rule)
and ``pass_rate`` (the released script's default). Code extraction is the pass-rate step's (``acecoder.extract``).

What a reward waits for is its slowest program, so the rule rewards spend no test that cannot change a reward: in
``binary`` mode a program stops at its first test that does not pass (``fail_fast``; one looping sample costs one
limit, not one per test), and each row's tests run under the row's calibrated limit where the dataset has a
``test_cpu_seconds`` column (``acecoder.time_limits``; TRL passes it like ``test_cases``), the engine's default
otherwise. ``pass_rate`` mode runs every test. Because binary mode does not run the tests after a failure, it logs
no ``acecoder/pass_rate_mean`` (it would count those tests as failed); both modes log ``acecoder/timeouts``.

``make_rm_reward`` scores completions with a reward model trained by ``acecoder train-rm``, formatted exactly as its
pairs were (the policy prompt, then the extracted program as a code block). Weighting the two: TRL sums
``reward_weights[i] * reward_i`` per completion and then normalises within each group of samples of a prompt, so
only the relative spread matters. The rule reward moves by 1 between a failing and a passing program; an RM score is
a logit whose spread within a group is often several units, so give the RM a weight small enough (0.1 to 0.5, or
``squash=True`` for σ(score) in (0, 1)) that passing the tests still decides the ranking, e.g.
``GRPOConfig(reward_weights=[1.0, 0.2])`` with ``reward_funcs=[test_pass_reward, make_rm_reward(path)]``, which is
what ``acecoder train-rl --rm_model PATH --rm_weight 0.2`` sets up.
"""

from __future__ import annotations

import math
import statistics
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acecoder.exec import ExecResult, IOTest, Limits, Status, Test, run_batch, shared_engine
from acecoder.extract import extract_code
from acecoder.prompts import response_text
from acecoder.time_limits import LIMIT_COLUMN, stored_limit

MODES = ("binary", "pass_rate")

# The dataset's test_cases column as TRL passes it: one list of asserts (or None) per completion.
TestColumn = Sequence[Sequence[str] | None] | None
# The dataset's calibrated limits (``acecoder.time_limits``), likewise: one number (or None) per completion.
LimitColumn = Sequence[float | None] | None


def completion_text(completion: object) -> str:
    """The answer of one completion: the string itself, or the last message's content of a message list."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content") or "")
    raise TypeError(f"a completion is a string or a list of messages, got {type(completion).__name__}")


@dataclass
class Jobs:
    """The programs to run, and where each reward goes: ``indices[i]`` is the completion of ``programs[i]``;
    ``no_code`` holds the completions (with tests) whose extracted program is empty; a completion in neither list
    had no tests."""

    indices: list[int] = field(default_factory=list)
    programs: list[str] = field(default_factory=list)
    tests: list[list[Test]] = field(default_factory=list)
    no_code: list[int] = field(default_factory=list)
    limits: list[float | None] = field(default_factory=list)  # each job's per-test CPU limit (None: the engine's)


def plan_jobs(responses: Sequence[str], tests: Sequence[Sequence[Test] | None], limits: LimitColumn = None) -> Jobs:
    """The engine jobs for ``responses`` (the policy's answers as text) and their tests, one list (or None) each:
    the program is extracted from each response that has tests (``acecoder.extract``; with its top-level prints and
    ``__main__`` block kept when the tests are stdin/stdout cases); an empty one is ``no_code``. ``limits``, when
    given, holds each response's calibrated per-test limit (a ``ValueError`` names a malformed one).
    Every rule reward (TRL's here, verl's and OpenRLHF's in ``acecoder.integrations``) plans its jobs this way."""
    if limits is not None and len(limits) != len(responses):
        raise ValueError(f"{len(responses)} responses but {len(limits)} {LIMIT_COLUMN}")
    jobs = Jobs()
    for index, (response, cases) in enumerate(zip(responses, tests, strict=True)):
        if not cases:  # a row without tests: the caller decides what it is worth
            continue
        # A stdin/stdout program's top-level prints are its answer, not the model's own checks.
        stdio = any(isinstance(case, IOTest) for case in cases)
        program = extract_code(response, strip_tests=not stdio)
        if not program.strip():
            jobs.no_code.append(index)
            continue
        jobs.indices.append(index)
        jobs.programs.append(program)
        jobs.tests.append(list(cases))
        jobs.limits.append(None if limits is None else stored_limit(limits[index], f"{LIMIT_COLUMN} of row {index}"))
    return jobs


def _jobs(completions: Sequence[object], test_cases: TestColumn, limits: LimitColumn) -> Jobs:
    if test_cases is None:
        raise ValueError("test_pass_reward needs a 'test_cases' column in the dataset (a list of asserts per row)")
    if len(test_cases) != len(completions):
        raise ValueError(f"{len(completions)} completions but {len(test_cases)} test_cases")
    for index, cases in enumerate(test_cases):
        if isinstance(cases, str):
            raise TypeError(f"test_cases of row {index} is a string; it must be a list of assert statements")
    texts = [completion_text(completion) if cases else "" for completion, cases in zip(completions, test_cases)]
    return plan_jobs(texts, test_cases, limits)


def rule_reward(result: ExecResult, mode: str) -> float:
    """The rule reward of one finished job: ``binary`` 1.0 only if it has tests and passed them all, ``pass_rate``
    passed over all tests (0.0 without tests). What a sandbox error is worth is the caller's choice: TRL takes
    ``None`` (no information), an HTTP client needs a number."""
    if mode == "binary":
        return 1.0 if result.total and result.passed == result.total else 0.0
    return result.pass_rate


def _rewards(count: int, jobs: Jobs, results: list[ExecResult], mode: str, log_metric: object) -> list[float | None]:
    rewards: list[float | None] = [None] * count
    for index, result in zip(jobs.indices, results):
        if result.status == Status.SANDBOX_ERROR:
            rewards[index] = None  # an infrastructure failure says nothing about the program
        else:
            rewards[index] = rule_reward(result, mode)
    for index in jobs.no_code:
        rewards[index] = 0.0  # the completion's fault: no program to run
    if callable(log_metric) and (results or jobs.no_code):
        # Completions without code are scored rows that passed nothing.
        rates = [result.pass_rate for result in results] + [0.0] * len(jobs.no_code)
        if mode == "pass_rate":  # binary mode skips the tests after a failure (see the module doc)
            log_metric("acecoder/pass_rate_mean", statistics.fmean(rates))
        log_metric("acecoder/all_pass_fraction", sum(1 for rate in rates if rate == 1.0) / len(rates))
        errors = sum(1 for result in results if result.status == Status.SANDBOX_ERROR)
        log_metric("acecoder/sandbox_errors", float(errors))
        log_metric("acecoder/no_code", float(len(jobs.no_code)))
        log_metric("acecoder/timeouts", float(sum(1 for result in results if timed_out(result))))
    return rewards


def timed_out(result: ExecResult) -> bool:
    """Whether any test of the job (or the program itself) ran out of time."""
    return result.status is Status.TIMEOUT or any(test.status is Status.TIMEOUT for test in result.tests)


def run_rule_jobs(jobs: Jobs, mode: str, limits: Limits | None = None, workers: int | None = None) -> list[ExecResult]:
    """``jobs`` through the shared engine as ``mode`` needs them: a binary reward stops each program at its first
    test that does not pass (the rest cannot change it), a pass rate runs every test."""
    if not jobs.programs:
        return []
    return run_batch(jobs.programs, jobs.tests, fail_fast=mode == "binary", test_cpu_seconds=jobs.limits,
                     limits=limits, workers=workers)  # fmt: skip


def make_test_pass_reward(mode: str = "binary", limits: Limits | None = None, workers: int | None = None) -> Callable:
    """A TRL reward function (sync) in ``mode``, running in the shared engine for ``limits``/``workers``."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")

    def reward(
        prompts: Sequence[object],
        completions: Sequence[object],
        test_cases: TestColumn = None,
        test_cpu_seconds: LimitColumn = None,
        **kwargs: object,
    ) -> list[float | None]:
        jobs = _jobs(completions, test_cases, test_cpu_seconds)
        results = run_rule_jobs(jobs, mode, limits, workers)
        return _rewards(len(completions), jobs, results, mode, kwargs.get("log_metric"))

    reward.__name__ = f"test_pass_{mode}"
    return reward


def make_async_test_pass_reward(
    mode: str = "binary", limits: Limits | None = None, workers: int | None = None
) -> Callable:
    """The same as an ``async`` function (TRL runs async reward functions concurrently with each other)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")

    async def reward(
        prompts: Sequence[object],
        completions: Sequence[object],
        test_cases: TestColumn = None,
        test_cpu_seconds: LimitColumn = None,
        **kwargs: object,
    ) -> list[float | None]:
        jobs = _jobs(completions, test_cases, test_cpu_seconds)
        engine = shared_engine(limits=limits, workers=workers)
        results = (
            await engine.run_async(jobs.programs, jobs.tests, fail_fast=mode == "binary", test_cpu_seconds=jobs.limits)
            if jobs.programs
            else []
        )
        return _rewards(len(completions), jobs, results, mode, kwargs.get("log_metric"))

    reward.__name__ = f"test_pass_{mode}_async"
    return reward


test_pass_reward = make_test_pass_reward("binary")
test_pass_reward.__doc__ = "AceCoder's rule reward: 1.0 if every test of the row passes, else 0.0 (None: no tests)."
test_pass_reward_async = make_async_test_pass_reward("binary")


def _prompt_text(prompt: object) -> str:
    """The text a reward model's pairs used as prompt: the string itself, or the last user message's content."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, Sequence):
        for message in reversed(prompt):
            if isinstance(message, dict) and message.get("role") == "user":
                return str(message.get("content") or "")
    raise TypeError(f"a prompt is a string or a list of messages, got {type(prompt).__name__}")


def make_rm_reward(
    model_path: str | Path,
    *,
    device: str | None = None,
    batch_size: int = 8,
    max_length: int = 2048,
    squash: bool = False,
    conversational: bool = False,
) -> Callable:
    """A TRL reward function scoring each completion with the reward model at ``model_path``.

    The model loads on the first call (so building the function is cheap and ``import acecoder.rewards`` stays light).
    Each completion becomes what the model was trained on: its extracted program as a Python code block, after the
    prompt. ``conversational=False`` (pairs from ``acecoder pairs``, whose prompts are text) scores a chat prompt by
    its last user message; ``True`` keeps message lists as they are. ``squash`` maps scores to σ(score) in (0, 1).
    """
    if batch_size < 1 or max_length < 1:
        raise ValueError(f"batch_size and max_length must be positive, got {batch_size} and {max_length}")
    lock = threading.Lock()
    scorers: list[Any] = []

    def scorer() -> Any:
        with lock:
            if not scorers:
                from acecoder.models.scoring import RewardScorer

                scorers.append(RewardScorer(model_path, device=device, batch_size=batch_size, max_length=max_length))
        return scorers[0]

    def reward(prompts: Sequence[object], completions: Sequence[object], **kwargs: object) -> list[float | None]:
        if len(prompts) != len(completions):
            raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
        programs = [extract_code(completion_text(completion)) for completion in completions]
        responses = [response_text(program) for program in programs]
        inputs = [prompt if conversational and not isinstance(prompt, str) else _prompt_text(prompt)
                  for prompt in prompts]  # fmt: skip
        scores = scorer().score(inputs, responses)
        if squash:
            scores = [1.0 / (1.0 + math.exp(-score)) for score in scores]
        log_metric = kwargs.get("log_metric")
        if callable(log_metric) and scores:
            log_metric("acecoder/rm_score_mean", statistics.fmean(scores))
            # The model still scores them (an empty code block), but the count says why such scores are low.
            log_metric("acecoder/rm_no_code", float(sum(1 for program in programs if not program.strip())))
        return list(scores)

    reward.__name__ = "rm_reward"
    return reward
