"""The rule reward's TRL contract: one value per completion in order, None for rows without tests, plain and
conversational completions, binary and pass-rate modes, the async form, metrics through ``log_metric`` (completions
without code counted, never a silent zero), special tokens kept by the decoder, and the trainer process never forked
(programs run in the shared engine's workers)."""

from __future__ import annotations

import asyncio
import os

import pytest
from acecoder import rewards as reward_functions
from acecoder.rewards import make_async_test_pass_reward, make_test_pass_reward
from conftest import FAST_LIMITS

TESTS = ["assert add(1, 2) == 3", "assert add(2, 2) == 4", "assert add(0, 5) == 5", "assert add(-1, 1) == 0"]
RIGHT = "Here it is:\n```python\ndef add(a, b):\n    return a + b\n```"
HALF = "def add(a, b):\n    return a + b if a < 1 else 0\n"  # passes add(0, 5) and add(-1, 1): 2 of 4
WRONG = "def add(a, b):\n    return a - b\n"  # passes none of the four


@pytest.fixture(scope="module", autouse=True)
def close_shared_engines():
    """The reward functions start shared engines; this module closes them when it is done."""
    yield
    from acecoder.exec import shutdown_shared_engines

    shutdown_shared_engines()


def test_binary_reward_follows_the_contract_and_keeps_order():
    completions = [RIGHT, HALF, WRONG, RIGHT]
    rewards = reward_functions.test_pass_reward(
        prompts=["p"] * 4, completions=completions, test_cases=[TESTS, TESTS, TESTS, []]
    )
    assert rewards == [1.0, 0.0, 0.0, None]


def test_pass_rate_mode_and_conversational_completions():
    reward = make_test_pass_reward("pass_rate", limits=FAST_LIMITS)
    completions = [
        [{"role": "assistant", "content": RIGHT}],
        [{"role": "assistant", "content": HALF}],
        [{"role": "assistant", "content": WRONG}],
    ]
    prompts = [[{"role": "user", "content": "write add"}]] * 3
    assert reward(prompts=prompts, completions=completions, test_cases=[TESTS] * 3) == [1.0, 0.5, 0.0]
    assert reward.__name__ == "test_pass_pass_rate"


def test_log_metric_receives_statistics_and_trainer_keywords_are_accepted():
    logged: dict[str, float] = {}
    rewards = reward_functions.test_pass_reward(
        prompts=["p"] * 2,
        completions=[RIGHT, HALF],
        test_cases=[TESTS, TESTS],
        log_metric=logged.__setitem__,
        log_extra=lambda *_: None,
        trainer_state=None,
        completion_ids=[[1], [2]],
        difficulty=["easy", "hard"],
    )
    assert rewards == [1.0, 0.0]
    # Binary mode stops HALF at its first failing test, so it cannot know (and does not log) the mean pass rate.
    assert "acecoder/pass_rate_mean" not in logged
    assert logged["acecoder/all_pass_fraction"] == 0.5
    assert logged["acecoder/sandbox_errors"] == 0.0
    assert logged["acecoder/no_code"] == 0.0
    assert logged["acecoder/timeouts"] == 0.0
    logged.clear()
    make_test_pass_reward("pass_rate", limits=FAST_LIMITS)(
        prompts=["p"] * 2, completions=[RIGHT, HALF], test_cases=[TESTS, TESTS], log_metric=logged.__setitem__
    )
    assert logged["acecoder/pass_rate_mean"] == pytest.approx(0.75)


def test_completions_without_code_score_zero_and_are_counted():
    logged: dict[str, float] = {}
    completions = [RIGHT, "I cannot solve this, sorry.", "```python\nassert add(1, 2) == 3\n```", ""]
    rewards = make_test_pass_reward("pass_rate", limits=FAST_LIMITS)(
        prompts=["p"] * 4,
        completions=completions,
        test_cases=[TESTS, TESTS, TESTS, None],
        log_metric=logged.__setitem__,
    )
    assert rewards == [1.0, 0.0, 0.0, None]
    assert logged["acecoder/no_code"] == 2.0
    assert logged["acecoder/pass_rate_mean"] == pytest.approx(1 / 3)
    logged.clear()
    async_reward = make_async_test_pass_reward("pass_rate", limits=FAST_LIMITS)
    rewards = asyncio.run(
        async_reward(prompts=["p"], completions=["No code here."], test_cases=[TESTS], log_metric=logged.__setitem__)
    )
    assert rewards == [0.0] and logged["acecoder/no_code"] == 1.0


@pytest.mark.parametrize("end", ["<|im_end|>", "<|eot_id|>", "</s>", "<|endoftext|>", "<|EOT|><｜end▁of▁sentence｜>"])
def test_completions_decoded_with_special_tokens_kept_score_as_without(end):
    completions = [RIGHT + end, RIGHT + end * 3 + "<|endoftext|>" * 20, RIGHT + "\n" + end, end + RIGHT + end]
    conversational = [[{"role": "assistant", "content": text}] for text in completions]
    reward = reward_functions.test_pass_reward
    assert reward(prompts=["p"] * 4, completions=completions, test_cases=[TESTS] * 4) == [1.0] * 4
    assert reward(prompts=["p"] * 4, completions=conversational, test_cases=[TESTS] * 4) == [1.0] * 4


def test_async_reward_matches_the_sync_one():
    async_reward = make_async_test_pass_reward("pass_rate", limits=FAST_LIMITS)
    rewards = asyncio.run(
        async_reward(prompts=["p"] * 3, completions=[RIGHT, HALF, ""], test_cases=[TESTS, TESTS, None])
    )
    assert rewards == [1.0, 0.5, None]
    assert asyncio.run(
        reward_functions.test_pass_reward_async(prompts=["p"], completions=[RIGHT], test_cases=[TESTS])
    ) == [1.0]


def test_bad_calls_are_clear_errors():
    with pytest.raises(ValueError, match="test_cases"):
        reward_functions.test_pass_reward(prompts=["p"], completions=[RIGHT])
    with pytest.raises(ValueError, match="2 completions but 1 test_cases"):
        reward_functions.test_pass_reward(prompts=["p", "p"], completions=[RIGHT, RIGHT], test_cases=[TESTS])
    with pytest.raises(TypeError, match="list of assert statements"):
        reward_functions.test_pass_reward(prompts=["p"], completions=[RIGHT], test_cases=["assert True"])
    with pytest.raises(TypeError, match="a completion is a string"):
        reward_functions.test_pass_reward(prompts=["p"], completions=[42], test_cases=[TESTS])
    with pytest.raises(ValueError, match="mode"):
        make_test_pass_reward("partial")


def test_hostile_completion_costs_only_its_reward_and_the_trainer_is_not_forked():
    reward = make_test_pass_reward("pass_rate", limits=FAST_LIMITS)
    parent = os.getpid()
    hostile = "import os\nos.kill(os.getppid(), 9)\nwhile True:\n    os.fork()\n"
    rewards = reward(prompts=["p"] * 2, completions=[hostile, RIGHT], test_cases=[TESTS, TESTS])
    assert os.getpid() == parent
    assert rewards[1] == 1.0 and rewards[0] in (0.0, None)
