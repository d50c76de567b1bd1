"""``acecoder sample`` stopped by Ctrl-C (SIGINT) or killed (SIGKILL) in a subprocess, against a real local HTTP
chat server: the questions already answered are in the output when it stops, the rerun asks only for the rest, and
the final file is byte for byte the one an uninterrupted run writes. No response cache, so only the journal can
have kept the work."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("openai")

from acecoder.cli import main  # noqa: E402
from acecoder.data.journal import OrderedAppender, RowJournal  # noqa: E402
from chat_server import ChatServer, Reply, last_user_message  # noqa: E402

QUESTIONS = [
    {"id": f"q{number}", "question": f"Write f{number}(x).", "test_cases": [f"assert f{number}(1) == {number}"]}
    for number in range(8)
]
# The first question of every pair answers slowest, so with two requests in flight answers arrive out of order.
DELAYS = [0.5, 0.1] * 4


def respond(body: dict) -> Reply:
    prompt = last_user_message(body)
    for number in range(len(QUESTIONS)):
        if f"Write f{number}(x)." in prompt:
            texts = [f"```python\ndef f{number}(x):\n    return {number} + {sample} * 0\n```" for sample in range(2)]
            return Reply(texts=texts, delay=DELAYS[number])
    return Reply(status=404, error="unknown prompt")


def arguments(questions: Path, output: Path, base_url: str) -> list[str]:
    return ["sample", "--input", str(questions), "--output", str(output), "--backend", "openai", "--model", "policy",
            "--base-url", base_url, "--n", "2", "--concurrency", "2", "--no-cache", "--quiet"]  # fmt: skip


def lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


@pytest.fixture
def questions(tmp_path: Path) -> Path:
    path = tmp_path / "questions.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in QUESTIONS), encoding="utf-8")
    return path


@pytest.mark.timeout(120)
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL], ids=["sigint", "sigkill"])
def test_sample_stopped_midway_resumes_to_the_uninterrupted_output(tmp_path, questions, stop):
    reference = tmp_path / "reference.jsonl"
    with ChatServer(respond) as server:
        assert main(arguments(questions, reference, server.base_url)) == 0
    assert [json.loads(line)["id"] for line in reference.read_text().splitlines()] == [row["id"] for row in QUESTIONS]

    output = tmp_path / "stopped.jsonl"
    with ChatServer(respond) as server:
        command = [sys.executable, "-m", "acecoder", *arguments(questions, output, server.base_url)]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while lines(output) < 2 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(stop)
        _, error = process.communicate(timeout=30)
        asked_before = len(server.requests)
    assert process.returncode == (130 if stop == signal.SIGINT else -signal.SIGKILL), error
    kept = lines(output)
    assert 2 <= kept < len(QUESTIONS)  # stopped midway, with the finished questions already written
    if stop == signal.SIGINT:
        assert f"interrupted: {kept} of {len(QUESTIONS)} questions kept" in error and "rerun" in error
    assert asked_before - kept <= 2  # what was lost: the requests in flight (concurrency 2)

    with ChatServer(respond) as server:
        assert main(arguments(questions, output, server.base_url)) == 0
        assert len(server.requests) == len(QUESTIONS) - kept  # only the questions not written are asked again
    assert output.read_bytes() == reference.read_bytes()


def test_ordered_appender_writes_in_batch_order_and_skips_failures(tmp_path):
    journal = RowJournal(tmp_path / "rows.jsonl")
    appender = OrderedAppender(journal, 4)
    assert appender.finish(1, {"id": "b"}) == 0  # waits for position 0
    assert appender.finish(3, {"id": "d"}) == 0
    assert appender.finish(0, {"id": "a"}) == 2  # a, then the waiting b
    assert not appender.complete
    assert appender.finish(2, None) == 1  # a failed row is skipped and lets d through
    assert appender.complete
    assert [json.loads(line)["id"] for line in journal.path.read_text().splitlines()] == ["a", "b", "d"]
