"""The data pipeline through its commands: ``sample`` (against a real local HTTP chat server) → ``passrate`` →
``pairs`` → ``hard-subset`` → ``report``, with resume of ``sample`` after a failed request, and the ``demo``
command end to end with the packaged SmolLM2 (slow)."""

from __future__ import annotations

import importlib.util
import json

import pytest

pytest.importorskip("openai")

from acecoder.cli import main  # noqa: E402
from acecoder.cli.demo import DEMO_TASKS, demo_questions  # noqa: E402
from acecoder.data.acecode import read_acecode, write_rows  # noqa: E402
from chat_server import ChatServer, Reply, last_user_message  # noqa: E402

QUESTIONS = [
    {
        "id": "double",
        "source": "unit",
        "question": "Write double(x).",
        "test_cases": [f"assert double({v}) == {2 * v}" for v in range(5)],
    },
    {
        "id": "negate",
        "source": "unit",
        "question": "Write negate(x).",
        "test_cases": [f"assert negate({v}) == {-v}" for v in range(1, 6)],
    },
]
# Per question, the n=4 completions; double's pass rates are 1.0, 0.4, 0.2 and 1.0 (another text of the first).
COMPLETIONS = {
    "double(x)": [
        "```python\ndef double(x):\n    return 2 * x\n```",
        "```python\ndef double(x):\n    return x * x\n```",  # passes double(0) and double(2): 0.4
        "def double(x):\n    return x\n",  # passes double(0): 0.2
        "Here:\n```python\ndef double(x):\n    return x + x\n```",
    ],
    "negate(x)": ["def negate(x):\n    return x\n"] * 4,  # 0.0 everywhere: no pair
}


def respond(body: dict) -> Reply:
    prompt = last_user_message(body)
    for key, texts in COMPLETIONS.items():
        if key in prompt:
            return Reply(texts=texts[: int(body.get("n") or 1)])
    return Reply(status=404, error="unknown prompt")


def test_sample_passrate_pairs_hard_subset_report(tmp_path, capsys):
    questions, samples, rates = tmp_path / "questions.jsonl", tmp_path / "samples.jsonl", tmp_path / "rates.jsonl"
    write_rows(QUESTIONS, questions)
    with ChatServer(respond) as server:
        code = main(
            [
                "sample",
                "--input",
                str(questions),
                "--output",
                str(samples),
                "--backend",
                "openai",
                "--model",
                "policy",
                "--base-url",
                server.base_url,
                "--n",
                "4",
                "--cache",
                str(tmp_path / "cache.sqlite"),
                "--quiet",
            ]
        )
        prompts = sorted(last_user_message(body) for body in server.requests)
    assert code == 0
    # AceCoder's prompt: the question and its first test.
    assert prompts[0] == "Write double(x).\n\nYour code should pass this test:\nassert double(0) == 0\n"
    sampled = read_acecode(samples)
    assert [len(row["inferences"]) for row in sampled] == [4, 4]
    assert sampled[0]["inferences"][1] == {
        "model_name": "policy",
        "completion_id": 1,
        "completion": COMPLETIONS["double(x)"][1],
    }

    assert main(["passrate", "--input", str(samples), "--output", str(rates), "--workers", "2", "--quiet"]) == 0
    scored = {row["id"]: row for row in read_acecode(rates)}
    assert [item["pass_rate"] for item in scored["double"]["inferences"]] == [1.0, 0.4, 0.2, 1.0]

    pairs_path = tmp_path / "pairs.jsonl"
    assert main(["pairs", "--input", str(rates), "--output", str(pairs_path)]) == 0
    pairs = [json.loads(line) for line in pairs_path.read_text().splitlines()]
    # chosen 1.0 (programs 0 and 3 differ in text) × rejected 0.4 and 0.2; negate has no pair.
    assert {(pair["chosen_completion_id"], pair["rejected_completion_id"]) for pair in pairs} == {
        (0, 1),
        (0, 2),
        (3, 1),
        (3, 2),
    }
    assert all(pair["id"] == "double" and pair["chosen"].startswith("```python\n") for pair in pairs)
    assert pairs[0]["prompt"].startswith("Write double(x).")
    conversational = tmp_path / "pairs-chat.jsonl"
    assert main(["pairs", "--input", str(rates), "--output", str(conversational), "--conversational"]) == 0
    first = json.loads(conversational.read_text().splitlines()[0])
    assert first["prompt"][0]["role"] == "user" and first["chosen"][0]["role"] == "assistant"

    hard = tmp_path / "hard.jsonl"
    assert main(["hard-subset", "--input", str(rates), "--output", str(hard)]) == 0
    capsys.readouterr()
    assert (
        main(["report", "--input", str(rates), "--pairs", str(pairs_path), "--output-dir", str(tmp_path / "plots")])
        == 0
    )
    report = capsys.readouterr().out
    assert "questions" in report
    if importlib.util.find_spec("matplotlib"):
        assert (tmp_path / "plots" / "pass_rate_histogram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sample_resumes_after_a_failed_request(tmp_path):
    questions, samples = tmp_path / "questions.parquet", tmp_path / "samples.parquet"
    pytest.importorskip("datasets")
    write_rows(QUESTIONS, questions)

    def arguments_for(server: ChatServer) -> list[str]:
        return [
            *("sample", "--input", str(questions), "--output", str(samples), "--backend", "openai"),
            *("--model", "policy", "--base-url", server.base_url, "--n", "2", "--quiet"),
            *("--cache", str(tmp_path / "cache.sqlite")),
        ]

    def negate_fails(body: dict) -> Reply:
        return Reply(status=400, error="bad request") if "negate" in last_user_message(body) else respond(body)

    with ChatServer(negate_fails) as server:
        assert main(arguments_for(server)) == 1  # one question failed: reported, not written
    assert [row["id"] for row in read_acecode(samples)] == ["double"]
    with ChatServer(respond) as server:
        assert main(arguments_for(server)) == 0
        assert len(server.requests) == 1  # only the failed question was asked again
    assert [row["id"] for row in read_acecode(samples)] == ["double", "negate"]


@pytest.mark.slow
@pytest.mark.timeout(900)  # generation-bound: slow on a busy machine
def test_demo_runs_the_pipeline_with_smollm2(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ACECODER_CACHE_DIR", str(tmp_path / "cache"))
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("transformers") is None:
        pytest.skip("needs the synth extra")
    from acecoder.models.names import packaged_model_file

    try:
        packaged_model_file("smollm2")
    except FileNotFoundError as error:
        pytest.skip(str(error))
    directory = tmp_path / "demo"
    arguments = [
        "demo",
        "--output-dir",
        str(directory),
        "--limit",
        "2",
        "--n",
        "3",
        "--max-tokens",
        "64",
        "--workers",
        "2",
    ]
    code = main(arguments)
    captured = capsys.readouterr()
    assert [row["id"] for row in read_acecode(directory / "samples.jsonl")] == list(DEMO_TASKS[:2])
    rows = read_acecode(directory / "passrates.jsonl")
    assert sorted(row["id"] for row in rows) == sorted(DEMO_TASKS[:2])  # in the order scoring finished
    assert all(
        len(row["inferences"]) == 3 and all(item["pass_rate"] is not None for item in row["inferences"]) for row in rows
    )
    for name in ("samples.jsonl", "pairs.jsonl", "hard_subset.jsonl"):
        assert (directory / name).exists() and str(directory / name) in captured.out
    pairs = read_acecode(directory / "pairs.jsonl")
    if pairs:  # 3 samples of 64 tokens may or may not make a pair; either way the outcome is said
        assert code == 0 and "Next:" in captured.out and "train-rm --input" in captured.out
    else:
        assert code == 1 and "the demo made no preference pair" in captured.err
    assert main(arguments) == code  # a second run resumes every step from its files


def test_demo_questions_put_the_chosen_tasks_first():
    assert DEMO_TASKS, "the demo needs its chosen questions"
    everything = demo_questions(10_000)
    ids = [row["id"] for row in everything]
    assert ids[: len(DEMO_TASKS)] == list(DEMO_TASKS)
    assert len(ids) == len(set(ids)) == 374  # MBPP train tasks 601-974, each once
    assert [row["id"] for row in demo_questions(2)] == list(DEMO_TASKS[:2])
    assert all(row["test_cases"] for row in everything)
