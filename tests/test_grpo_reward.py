"""One real TRL GRPO step on a tiny locally-built policy with the engine's rule reward: the reward function gets
the dataset's ``test_cases`` column, returns one value per completion, and the trainer logs it. Skipped cleanly
without the ``train`` extra."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
trl = pytest.importorskip("trl")
datasets = pytest.importorskip("datasets")

from acecoder.exec import shutdown_shared_engines  # noqa: E402
from acecoder.models.loading import build_tiny_model  # noqa: E402
from acecoder.rewards import make_test_pass_reward  # noqa: E402

TESTS = ["assert add(1, 2) == 3", "assert add(2, 2) == 4"]


def test_one_grpo_step_with_the_engine_reward(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    policy = build_tiny_model(tmp_path / "policy")
    calls: list[tuple[int, list]] = []
    rule = make_test_pass_reward("pass_rate")

    def reward(prompts, completions, test_cases=None, **kwargs):
        rewards = rule(prompts, completions, test_cases=test_cases, **kwargs)
        calls.append((len(completions), rewards))
        return rewards

    dataset = datasets.Dataset.from_list(
        [{"prompt": f"Write add(a, b) #{number}.", "test_cases": TESTS} for number in range(4)]
    )
    config = trl.GRPOConfig(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=12,
        max_steps=1,
        learning_rate=5e-7,
        beta=0.01,
        use_cpu=True,
        bf16=False,
        report_to="none",
        logging_steps=1,
        save_strategy="no",
        seed=0,
    )
    trainer = trl.GRPOTrainer(model=str(policy), reward_funcs=[reward], args=config, train_dataset=dataset)
    try:
        trainer.train()
    finally:
        shutdown_shared_engines()
    assert calls and all(count == len(rewards) for count, rewards in calls)
    assert all(value is not None and 0.0 <= value <= 1.0 for _, rewards in calls for value in rewards)
    logged = [
        entry
        for entry in trainer.state.log_history
        if any(key.startswith("rewards/") or key == "reward" for key in entry)
    ]
    assert logged, trainer.state.log_history
    assert any("acecoder/pass_rate_mean" in key for entry in trainer.state.log_history for key in entry)
