"""verl's custom reward function: test-based rewards for code, from the file verl loads by path.

verl loads ``custom_reward_function.path`` with ``importlib`` under a name of its own and calls the function named
by ``custom_reward_function.name``, with ``custom_reward_function.reward_kwargs`` added as keyword arguments
(``get_custom_reward_fn`` in https://github.com/volcengine/verl/blob/main/verl/trainer/ppo/reward.py). Two reward
managers call it differently, and ``compute_score`` answers both, so one config line serves either:

- ``naive`` (the default), per response: ``compute_score(data_source=, solution_str=, ground_truth=,
  extra_info=)`` → one dict;
- ``batch`` (``reward_model.reward_manager=batch``), per batch: ``compute_score(data_sources=, solution_strs=,
  ground_truths=, extra_infos=)`` → one dict per response, all their programs run in one engine batch (in parallel
  on the engine's workers), which is why the batch manager is the one to use
  (https://github.com/volcengine/verl/blob/main/verl/workers/reward_manager/batch.py).

Both managers take a dict's ``"score"`` as the reward and gather its other keys into ``reward_extra_info``, one
list per key (naive.py and batch.py, same directory), so each dict carries the pass rate, tests passed and total,
and 0/1 flags for the zeros not earned by failing tests: ``no_code``, ``no_tests`` and ``sandbox_error``
(``acecoder.integrations.scoring``). The reward is binary (1.0 only when every test passes: AceCoder's rule);
``compute_score_pass_rate``, or ``reward_kwargs.mode=pass_rate``, gives the pass rate. ``ground_truth`` is read by
``acecoder.integrations.ground_truth``: a list of asserts, its JSON text, or stdin/stdout cases.

Config (the path is this file's, wherever acecoder is installed)::

    custom_reward_function.path=$(python -c 'import acecoder.integrations.verl_reward as m; print(m.__file__)')
    custom_reward_function.name=compute_score
    reward_model.reward_manager=batch
"""

from __future__ import annotations

from collections.abc import Sequence

from acecoder.exec import Limits
from acecoder.integrations.ground_truth import tests_from_ground_truth
from acecoder.integrations.scoring import score_responses

__all__ = ["compute_score", "compute_score_pass_rate"]


def compute_score(
    data_source: object = None,
    solution_str: str | None = None,
    ground_truth: object = None,
    extra_info: object = None,
    *,
    data_sources: Sequence[object] | None = None,
    solution_strs: Sequence[str] | None = None,
    ground_truths: Sequence[object] | None = None,
    extra_infos: Sequence[object] | None = None,
    mode: str = "binary",
    workers: int | None = None,
    test_cpu_seconds: float | None = None,
) -> dict | list[dict]:
    """The reward of one response (``solution_str``: a dict) or of a batch (``solution_strs``: a list of dicts).

    ``mode`` is ``"binary"`` or ``"pass_rate"``; ``workers`` and ``test_cpu_seconds`` configure the shared engine
    (all three can come from verl's ``custom_reward_function.reward_kwargs``). ``data_source`` and ``extra_info``
    are accepted as verl passes them and not used: the tests are all in ``ground_truth``.
    """
    limits = None if test_cpu_seconds is None else Limits(test_cpu_seconds=float(test_cpu_seconds))
    if solution_strs is not None:
        if ground_truths is None or len(ground_truths) != len(solution_strs):
            raise ValueError("the batched form needs one ground truth per solution string")
        tests = [_tests(truth, position) for position, truth in enumerate(ground_truths)]
        return score_responses([str(text) for text in solution_strs], tests, mode, limits=limits, workers=workers)
    if solution_str is None:
        raise TypeError("compute_score needs solution_str (verl's naive manager) or solution_strs (its batch manager)")
    return score_responses([str(solution_str)], [_tests(ground_truth, 0)], mode, limits=limits, workers=workers)[0]


def compute_score_pass_rate(*args: object, **kwargs: object) -> dict | list[dict]:
    """``compute_score`` with the pass rate (tests passed over all tests) as the score."""
    kwargs.setdefault("mode", "pass_rate")
    return compute_score(*args, **kwargs)  # type: ignore[arg-type]


def _tests(ground_truth: object, position: int) -> list:
    try:
        return tests_from_ground_truth(ground_truth)
    except ValueError as error:
        raise ValueError(f"ground truth of response {position}: {error}") from None
