"""`acecoder train-rl` and the reward-model reward: AceCoder's defaults in the config, YAML and flags, questions
loaded as the policy's prompts, real GRPO steps on a tiny locally-built policy with the engine's rule reward (and a
reward model beside it), resuming from a checkpoint. Skipped cleanly without the ``train`` extra."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("datasets")

from acecoder.cli import main  # noqa: E402
from acecoder.exec import shutdown_shared_engines  # noqa: E402
from acecoder.models.loading import build_tiny_model  # noqa: E402
from acecoder.rewards import make_rm_reward  # noqa: E402
from acecoder.train.config import load_config  # noqa: E402
from acecoder.train.rl import load_questions, reward_history  # noqa: E402
from acecoder.train.rl_config import RLConfig  # noqa: E402

ADD_TESTS = ["assert add(1, 2) == 3", "assert add(2, 2) == 4"]


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    yield
    shutdown_shared_engines()


@pytest.fixture(scope="module")
def tiny_policy(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("policy"))


def write_questions(path, count=4):
    rows = [{"id": f"q{number}", "question": f"Write add(a, b) #{number}.", "test_cases": ADD_TESTS}
            for number in range(count)]  # fmt: skip
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_config_has_acecoders_defaults(tmp_path):
    config = RLConfig(model_name_or_path="m", dataset="d.jsonl", output_dir=str(tmp_path))
    assert (config.learning_rate, config.beta, config.num_generations) == (5e-7, 0.01, 8)
    assert config.reward_mode == "binary" and config.reward_weights is None
    assert config.reward_names == ["test_pass_binary"]
    assert config.use_cpu and not config.bf16  # this machine has no GPU
    with_rm = RLConfig(model_name_or_path="m", dataset="d", output_dir=str(tmp_path), rm_model="rm", rm_weight=0.3)
    assert with_rm.reward_weights == [1.0, 0.3] and with_rm.reward_names == ["test_pass_binary", "rm_reward"]
    with pytest.raises(ValueError, match="reward_mode"):
        RLConfig(model_name_or_path="m", dataset="d", output_dir=str(tmp_path), reward_mode="all")
    with pytest.raises(ValueError, match="rm_weight"):
        RLConfig(model_name_or_path="m", dataset="d", output_dir=str(tmp_path), rm_weight=-1.0)


def test_use_vllm_without_vllm_is_a_clear_error(tmp_path, monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec

    def find_spec(name, *rest):
        return None if name == "vllm" else real_find_spec(name, *rest)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(ValueError, match="use_vllm needs vLLM"):
        RLConfig(model_name_or_path="m", dataset="d", output_dir=str(tmp_path), use_vllm=True)


def test_yaml_then_flags(tmp_path):
    recipe = tmp_path / "rl.yaml"
    recipe.write_text("model_name_or_path: m\ndataset: d.jsonl\nbeta: 0.05\nreward_mode: pass_rate\n", encoding="utf-8")
    config = load_config(recipe, ["--beta", "0.02", "--output_dir", str(tmp_path)], RLConfig, "acecoder train-rl")
    assert (config.beta, config.reward_mode, config.learning_rate) == (0.02, "pass_rate", 5e-7)
    recipe.write_text("model_name_or_path: m\ndataset: d\nnot_a_setting: 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not_a_setting"):
        load_config(recipe, [], RLConfig, "acecoder train-rl")


def test_questions_become_policy_prompts(tmp_path):
    path = write_questions(tmp_path / "q.jsonl", count=3)
    examples = load_questions(path)
    assert [example["id"] for example in examples] == ["q0", "q1", "q2"]
    message = examples[0]["prompt"][0]
    assert message["role"] == "user" and "Write add(a, b) #0." in message["content"]
    assert ADD_TESTS[0] in message["content"] and ADD_TESTS[1] not in message["content"]  # the first test only
    assert examples[0]["test_cases"] == ADD_TESTS
    assert isinstance(load_questions(path, conversational=False)[0]["prompt"], str)
    assert len(load_questions(path, limit=2)) == 2
    assert "test_cpu_seconds" not in examples[0]  # no row is calibrated: the examples are as they were
    calibrated = tmp_path / "calibrated.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    calibrated.write_text("".join(json.dumps({**row, "test_cpu_seconds": 0.5 if row["id"] == "q1" else None}) + "\n"
                                  for row in rows))  # fmt: skip
    assert [example["test_cpu_seconds"] for example in load_questions(calibrated)] == [None, 0.5, None]
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"id": "bad", "question": "q", "test_cases": "assert True"}) + "\n")
    with pytest.raises(ValueError, match="rows 4 "):
        load_questions(path)


def test_reward_history_keeps_the_reward_keys():
    log = [{"step": 1, "reward": 0.5, "reward_std": 0.1, "rewards/test_pass_binary/mean": 0.5, "acecoder/x": 1.0,
            "grad_norm": 3.0}, {"step": 1, "train_runtime": 9.0}]  # fmt: skip
    assert reward_history(log) == [
        {"step": 1, "reward": 0.5, "reward_std": 0.1, "rewards/test_pass_binary/mean": 0.5, "acecoder/x": 1.0}
    ]


def test_rm_reward_scores_the_program_as_the_pairs_showed_it(tiny_policy):
    reward = make_rm_reward(tiny_policy)
    program = "def add(a, b):\n    return a + b"
    prompt = "Write add.\n"
    scores = reward(
        prompts=[prompt, prompt, [{"role": "user", "content": prompt}], prompt],
        completions=[f"Sure!\n```python\n{program}\n```\nDone.", f"```python\n{program}\n```",
                     [{"role": "assistant", "content": f"Here:\n```python\n{program}\n```"}],
                     "```python\ndef add(a, b):\n    return a - b\n```"],
    )  # fmt: skip
    assert len(scores) == 4 and all(isinstance(score, float) for score in scores)
    # Chatter around the code and the conversational form change nothing: the model sees the extracted program.
    assert scores[0] == pytest.approx(scores[1], abs=1e-5) == pytest.approx(scores[2], abs=1e-5)
    assert scores[3] != pytest.approx(scores[1], abs=1e-6)
    squashed = make_rm_reward(tiny_policy, squash=True)(prompts=[prompt], completions=[f"```python\n{program}\n```"])
    assert 0.0 < squashed[0] < 1.0
    with pytest.raises(ValueError, match="2 prompts but 1 completions"):
        reward(prompts=[prompt, prompt], completions=["x"])


def run_cli(tiny_policy, dataset, output, *extra):
    return main(["train-rl", "--model", str(tiny_policy), "--input", str(dataset), "--output-dir", str(output),
                 "--per_device_train_batch_size", "4", "--num_generations", "4", "--max_completion_length", "12",
                 "--learning_rate", "1e-4", "--seed", "0", *extra])  # fmt: skip


def test_train_rl_cli_trains_and_reports(tmp_path, tiny_policy, capsys):
    dataset = write_questions(tmp_path / "q.jsonl")
    output = tmp_path / "run"
    rm_flags = ["--rm_model", str(tiny_policy), "--rm_weight", "0.1"]
    code = run_cli(tiny_policy, dataset, output, "--max_steps", "2", *rm_flags)
    assert code == 0, capsys.readouterr().err
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["counts"]["optimizer_steps"] == 2 and metrics["counts"]["questions"] == 4
    assert [row["step"] for row in metrics["history"]] == [1, 2]
    assert metrics["reward_names"] == ["test_pass_binary", "rm_reward"] and metrics["reward_weights"] == [1.0, 0.1]
    assert metrics["reward_seconds"]["test_pass_binary"]["calls"] == 2
    assert all("acecoder/test_pass_binary_seconds" in row for row in metrics["history"])
    assert all(0.0 <= row["rewards/test_pass_binary/mean"] <= 1.0 for row in metrics["history"])
    assert (output / "reward_curve.png").stat().st_size > 0
    assert (output / "model.safetensors").is_file()
    assert "mean reward, last step" in capsys.readouterr().out
    # config.yaml records every setting as resolved, not only the flags given, and reruns the same run.
    import yaml

    text = (output / "config.yaml").read_text()
    recorded = yaml.safe_load(text)
    assert (recorded["rm_weight"], recorded["max_steps"], recorded["beta"]) == (0.1, 2, 0.01)
    assert recorded["logging_steps"] == 1
    assert recorded["reward_weights"] == [1.0, 0.1] and recorded["use_cpu"] is True and "epsilon" in recorded
    assert "#   generation_batch_size: 4" in text  # derived by TRL: a comment, since giving both is refused
    rerun = load_config(output / "config.yaml", [], RLConfig, "acecoder train-rl")
    assert rerun.to_dict() == load_config(None, [
        "--model_name_or_path", str(tiny_policy), "--dataset", str(dataset), "--output_dir", str(output),
        "--per_device_train_batch_size", "4", "--num_generations", "4", "--max_completion_length", "12",
        "--learning_rate", "1e-4", "--seed", "0", "--max_steps", "2", *rm_flags,
    ], RLConfig, "acecoder train-rl").to_dict()  # fmt: skip


def test_train_rl_resumes_from_its_last_checkpoint(tmp_path, tiny_policy):
    dataset = write_questions(tmp_path / "q.jsonl")
    output = tmp_path / "run"
    checkpoints = ["--save_strategy", "steps", "--save_steps", "1"]
    assert run_cli(tiny_policy, dataset, output, "--max_steps", "1", *checkpoints) == 0
    assert (output / "checkpoint-1").is_dir()
    assert run_cli(tiny_policy, dataset, output, "--max_steps", "2", *checkpoints) == 0
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["resumed_from"].endswith("checkpoint-1")
    assert metrics["counts"]["optimizer_steps"] == 2
    assert [row["step"] for row in metrics["history"]] == [1, 2]  # the first step's log came back with the checkpoint


def test_train_rl_rejects_bad_settings_clearly(tmp_path, tiny_policy, capsys):
    dataset = write_questions(tmp_path / "q.jsonl")
    assert run_cli(tiny_policy, dataset, tmp_path / "run", "--reward_mode", "partial") == 2
    assert "reward_mode" in capsys.readouterr().err
    assert run_cli(tiny_policy, tmp_path / "missing.jsonl", tmp_path / "run", "--max_steps", "1") == 2


@pytest.mark.slow
@pytest.mark.timeout(900)  # generation-bound: slow on a busy machine
def test_one_grpo_step_on_the_packaged_smollm2(tmp_path, monkeypatch):
    """The packaged GGUF policy: converted once to a safetensors directory (TRL rebuilds its reference model from
    the policy's name, which for a GGUF load names no loadable model), then one real GRPO step."""
    from acecoder.models.names import packaged_model_file

    try:
        packaged_model_file("smollm2")
    except FileNotFoundError as error:
        pytest.skip(str(error))
    monkeypatch.setenv("ACECODER_CACHE_DIR", str(tmp_path / "cache"))
    dataset = write_questions(tmp_path / "q.jsonl", count=1)
    output = tmp_path / "run"
    code = main(["train-rl", "--model", "smollm2", "--input", str(dataset), "--output-dir", str(output),
                 "--per_device_train_batch_size", "2", "--num_generations", "2", "--max_completion_length", "8",
                 "--max_steps", "1"])  # fmt: skip
    assert code == 0
    (converted,) = (tmp_path / "cache" / "policies").iterdir()
    assert (converted / "config.json").is_file() and (converted / "model.safetensors").is_file()
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["counts"]["optimizer_steps"] == 1 and len(metrics["history"]) == 1


@pytest.mark.parametrize("name", ["train_rl.yaml", "train_rm.yaml"])
def test_the_shipped_recipes_load_and_hold_acecoders_numbers(name):
    from pathlib import Path

    from acecoder.train.config import RewardModelConfig

    recipe = Path(__file__).resolve().parent.parent / "configs" / name
    if name == "train_rl.yaml":
        config = load_config(recipe, [], RLConfig, "acecoder train-rl")
        assert (config.learning_rate, config.beta, config.num_generations) == (5e-7, 0.01, 8)
        assert config.reward_mode == "binary"
        assert config.save_strategy == "steps"
    else:
        config = load_config(recipe, [], RewardModelConfig)
        assert (config.learning_rate, config.global_batch_size, config.max_length) == (1e-5, 128, 2048)
        assert config.lr_scheduler_type == "cosine" and config.num_train_epochs == 1
