"""Rule rewards for RL on code (AceCoder step five): run each completion's program against its question's tests.

The functions follow TRL's reward-function contract, so ``GRPOTrainer(reward_funcs=[test_pass_reward])`` works as
is: they take ``prompts`` and ``completions`` (plain strings, or conversational message lists whose last message is
the answer) plus every extra dataset column as a keyword list (``test_cases`` among them), and return one float per
completion, or ``None`` for a row without tests (TRL then ignores that reward). ``log_metric``, which TRL passes,
receives the pass-rate statistics and the count of sandbox errors.

Programs run in the shared long-lived engine of ``acecoder.exec.run_batch``: zygote workers started once, next to
the trainer, which is itself never forked. Two modes: ``binary`` (1 only if every test passes: the paper's rule)
and ``pass_rate`` (the released script's default). Code extraction is the pass-rate step's (``acecoder.extract``).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence

from acecoder.exec import ExecResult, Limits, Status, run_batch, shared_engine
from acecoder.extract import extract_code

MODES = ("binary", "pass_rate")

# The dataset's test_cases column as TRL passes it: one list of asserts (or None) per completion.
TestColumn = Sequence[Sequence[str] | None] | None


def completion_text(completion: object) -> str:
    """The answer of one completion: the string itself, or the last message's content of a message list."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content") or "")
    raise TypeError(f"a completion is a string or a list of messages, got {type(completion).__name__}")


def _jobs(completions: Sequence[object], test_cases: TestColumn) -> tuple[list[int], list[str], list[list[str]]]:
    if test_cases is None:
        raise ValueError("test_pass_reward needs a 'test_cases' column in the dataset (a list of asserts per row)")
    if len(test_cases) != len(completions):
        raise ValueError(f"{len(completions)} completions but {len(test_cases)} test_cases")
    indices, programs, tests = [], [], []
    for index, (completion, cases) in enumerate(zip(completions, test_cases)):
        if isinstance(cases, str):
            raise TypeError(f"test_cases of row {index} is a string; it must be a list of assert statements")
        if cases:  # a row without tests gets None
            indices.append(index)
            programs.append(extract_code(completion_text(completion)))
            tests.append(list(cases))
    return indices, programs, tests


def _rewards(
    count: int, indices: list[int], results: list[ExecResult], mode: str, log_metric: object
) -> list[float | None]:
    rewards: list[float | None] = [None] * count
    for index, result in zip(indices, results):
        if result.status == Status.SANDBOX_ERROR:
            rewards[index] = None  # an infrastructure failure says nothing about the program
        elif mode == "binary":
            rewards[index] = 1.0 if result.total and result.passed == result.total else 0.0
        else:
            rewards[index] = result.passed / result.total if result.total else 0.0
    if callable(log_metric) and results:
        rates = [result.pass_rate for result in results]
        log_metric("acecoder/pass_rate_mean", statistics.fmean(rates))
        log_metric("acecoder/all_pass_fraction", sum(1 for rate in rates if rate == 1.0) / len(rates))
        errors = sum(1 for result in results if result.status == Status.SANDBOX_ERROR)
        log_metric("acecoder/sandbox_errors", float(errors))
    return rewards


def make_test_pass_reward(mode: str = "binary", limits: Limits | None = None, workers: int | None = None) -> Callable:
    """A TRL reward function (sync) in ``mode``, running in the shared engine for ``limits``/``workers``."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")

    def reward(
        prompts: Sequence[object], completions: Sequence[object], test_cases: TestColumn = None, **kwargs: object
    ) -> list[float | None]:
        indices, programs, tests = _jobs(completions, test_cases)
        results = run_batch(programs, tests, limits=limits, workers=workers) if programs else []
        return _rewards(len(completions), indices, results, mode, kwargs.get("log_metric"))

    reward.__name__ = f"test_pass_{mode}"
    return reward


def make_async_test_pass_reward(
    mode: str = "binary", limits: Limits | None = None, workers: int | None = None
) -> Callable:
    """The same as an ``async`` function (TRL runs async reward functions concurrently with each other)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")

    async def reward(
        prompts: Sequence[object], completions: Sequence[object], test_cases: TestColumn = None, **kwargs: object
    ) -> list[float | None]:
        indices, programs, tests = _jobs(completions, test_cases)
        results = await shared_engine(limits=limits, workers=workers).run_async(programs, tests) if programs else []
        return _rewards(len(completions), indices, results, mode, kwargs.get("log_metric"))

    reward.__name__ = f"test_pass_{mode}_async"
    return reward


test_pass_reward = make_test_pass_reward("binary")
test_pass_reward.__doc__ = "AceCoder's rule reward: 1.0 if every test of the row passes, else 0.0 (None: no tests)."
test_pass_reward_async = make_async_test_pass_reward("binary")
