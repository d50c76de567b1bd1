"""Hardening tests (acecoder.synth.harden, `acecoder synth --harden`) against a real local HTTP chat server with
recorded replies: the rounds, the keep rule (the reference passes it, it kills a survivor), provenance, and resume
after a failed call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("openai")

from acecoder.cli import main  # noqa: E402
from acecoder.generation.openai_backend import OpenAIBackend  # noqa: E402
from acecoder.synth.harden import HardenConfig, Hardener  # noqa: E402
from chat_server import ChatServer, Reply, last_user_message  # noqa: E402

ADULT = "def is_adult(age):\n    return age >= 18\n"
# Its mutants, in order: `age > 18`, `age <= 18`, `age >= 19`, `age >= 17`. The two tests kill only `<=`.
ROW = {"id": "adult", "question": "Is age an adult age (18 or more)?", "test_cases": ["assert is_adult(30)",
       "assert not is_adult(5)"], "provenance": {"oracle_solution": ADULT}}  # fmt: skip
# Round 1 shows `age > 18`: of the reply, is_adult(18) kills it and `age >= 19` (kept); `== True` on 3 is wrong
# (the reference fails it); is_adult(40) kills nothing; the import is no assert. Round 2 shows `age >= 17`: the
# repeat of is_adult(18) is no new test, `not is_adult(17)` kills it (kept).
REPLIES = {
    "+    return age > 18": "Sure:\n```python\nassert is_adult(18)\nassert is_adult(3) == True\nassert is_adult(40)\n"
    "import os\n```",
    "+    return age >= 17": "```python\nassert is_adult(18)\nassert not is_adult(17)\n```",
}


def respond(body: dict) -> Reply:
    prompt = last_user_message(body)
    for key, text in REPLIES.items():
        if key in prompt:
            return Reply(texts=[text] * int(body.get("n") or 1))
    return Reply(status=404, error="no recorded reply")


def test_rounds_keep_only_tests_the_reference_passes_that_kill_a_survivor(engine, tmp_path: Path) -> None:
    with ChatServer(respond) as server, OpenAIBackend("recorded", base_url=server.base_url) as backend:
        hardener = Hardener(backend, engine, HardenConfig(rounds=3, mutants=20))
        [row], summary = hardener.run([ROW], tmp_path / "out.jsonl")
        prompts = [last_user_message(body) for body in server.requests]
    assert row["test_cases"] == [*ROW["test_cases"], "assert is_adult(18)", "assert not is_adult(17)"]
    assert row["provenance"]["test_rounds"] == [0, 0, 1, 2]
    assert row["provenance"]["hardening"] | {"model": None} == {
        "rounds_run": 2, "proposed": 4, "kept": 2, "reference_fails": 1, "kills_nothing": 1, "mutants": 4,
        "kill_rate_before": 0.25, "kill_rate_after": 1.0, "model": None,
    }  # fmt: skip
    assert row["kill_rate"] == 1.0 and row["provenance"]["oracle_solution"] == ADULT
    assert len(prompts) == 2  # nothing survives after round 2: no third call
    assert "assert is_adult(30)\nassert not is_adult(5)" in prompts[0] and "Is age an adult age" in prompts[0]
    assert "assert is_adult(18)" in prompts[1]  # round 2 shows the tests kept in round 1
    assert (summary.proposed, summary.kept, summary.kill_rates_before, summary.kill_rates_after) == (
        4,
        2,
        [0.25],
        [1.0],
    )


def test_a_failed_call_is_asked_again_by_the_next_run_and_finished_questions_are_resumed(
    engine, tmp_path: Path
) -> None:
    other = {**ROW, "id": "other"}
    output = tmp_path / "out.jsonl"
    config = HardenConfig(rounds=2, mutants=20, batch_size=1)
    first_reply = {"count": 0}

    def failing_after_first(body: dict) -> Reply:  # the first question's first round only, then 404s
        first_reply["count"] += 1
        return respond(body) if first_reply["count"] == 1 else Reply(status=404, error="down")

    with ChatServer(failing_after_first) as server, OpenAIBackend("recorded", base_url=server.base_url) as backend:
        rows, summary = Hardener(backend, engine, config).run([ROW, other], output)
    assert summary.failed_generations == 3  # round 2 of the first, rounds 1 and 2 of the second
    assert rows[1]["test_cases"] == ROW["test_cases"]
    with ChatServer(respond) as server, OpenAIBackend("recorded", base_url=server.base_url) as backend:
        rows, summary = Hardener(backend, engine, config).run([ROW, other], output)
        calls = len(server.requests)
    assert (summary.resumed, summary.failed_generations, calls) == (0, 0, 4)  # neither was journaled
    assert [row["kill_rate"] for row in rows] == [1.0, 1.0]
    with ChatServer(lambda body: Reply(status=404, error="down")) as server:
        with OpenAIBackend("recorded", base_url=server.base_url) as backend:
            again, summary = Hardener(backend, engine, config).run([ROW, other], output)
        assert server.requests == []
    assert (summary.resumed, again) == (2, rows)
    # Other tests for a question (synthesis rerun with other settings) are another question: hardened again.
    changed = {**other, "test_cases": [*other["test_cases"], "assert is_adult(31)"]}
    with ChatServer(respond) as server, OpenAIBackend("recorded", base_url=server.base_url) as backend:
        rows, summary = Hardener(backend, engine, config).run([ROW, changed], output)
    assert summary.resumed == 1 and rows[1]["test_cases"][:3] == changed["test_cases"]
    # Other settings are another result: recomputed, not mixed in.
    with ChatServer(respond) as server, OpenAIBackend("recorded", base_url=server.base_url) as backend:
        _, summary = Hardener(backend, engine, HardenConfig(rounds=1, mutants=20)).run([ROW, other], output)
    assert summary.resumed == 0


def test_rows_without_a_reference_are_left_as_they_are(engine, tmp_path: Path) -> None:
    bare = {"id": "bare", "question": "?", "test_cases": ["assert True"]}
    with ChatServer(respond) as server, OpenAIBackend("recorded", base_url=server.base_url) as backend:
        [row], summary = Hardener(backend, engine).run([bare], tmp_path / "out.jsonl")
        assert server.requests == []
    assert row["test_cases"] == bare["test_cases"] and row["provenance"]["hardening"]["kill_rate_before"] is None
    assert summary.without_reference == 1


def synth_respond(body: dict) -> Reply:
    prompt = last_user_message(body)
    if "Turn a coding task" in prompt:
        question = {"question": "Is age an adult age (18 or more)? Write is_adult(age).",
                    "tests": ["assert is_adult(30)", "assert not is_adult(5)", "assert is_adult(99)"]}  # fmt: skip
        return Reply(texts=[json.dumps(question)])
    if "Your function must pass these tests" in prompt:
        return Reply(texts=[f"```python\n{ADULT}```"])
    return respond(body)


def test_synth_harden_from_the_command_line(tmp_path: Path, capsys) -> None:
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text(json.dumps({"id": "s1", "program": ADULT, "instruction": "Is this an adult age?"}) + "\n")
    output = tmp_path / "questions.jsonl"
    with ChatServer(synth_respond) as server:
        status = main(["synth", "--backend", "openai", "--base-url", server.base_url, "--model", "recorded",
                       "--seeds", str(seeds), "--output", str(output), "--min-tests", "2", "--harden",
                       "--harden-rounds", "2", "--workers", "2", "--quiet", "--no-cache"])  # fmt: skip
    assert status == 0
    [row] = [json.loads(line) for line in output.read_text().splitlines()]
    assert row["test_cases"][3:] == ["assert is_adult(18)", "assert not is_adult(17)"]
    assert row["provenance"]["test_rounds"] == [0, 0, 0, 1, 2] and row["kill_rate"] == 1.0
    assert "tests kept (reference passes, kills a survivor)  2" in capsys.readouterr().out
