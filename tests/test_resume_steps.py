"""The resume helper (``acecoder.data.resume``) on its own, and the three long steps that use it killed for real.

Each step test runs the CLI verb in a subprocess on a small real input, SIGKILLs it once some rows are journaled
(polling the journal file), reruns it, and checks that the final output equals an uninterrupted run's, that no row
appears twice, and that the rerun reported the rows it resumed. ``sample`` and ``synth`` talk to a real local HTTP
chat server (``chat_server.py``) that answers slowly enough for the kill to land mid-run; ``passrate`` runs
programs that sleep a little. Nothing about the journal is mocked.
"""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from acecoder.data.journal import RowJournal, journal_path, output_journal
from acecoder.data.resume import ResumableOutput
from chat_server import ChatServer, Reply, last_user_message

# --- the helper ------------------------------------------------------------------------------------------------


def journal_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_pending_rows_and_resumed_count(tmp_path):
    output = tmp_path / "out.jsonl"
    RowJournal(output).append([{"id": "c", "value": 3}, {"id": "a", "value": 1}])
    resume = ResumableOutput.of_rows(output, [{"id": "a"}, {"id": "b"}, {"id": "c"}, {"id": "d"}])
    assert resume.journal.path == output  # a JSON-lines output is its own journal
    assert resume.resumed == 2
    assert resume.pending == [1, 3]
    assert resume.done == {0: {"id": "a", "value": 1}, 2: {"id": "c", "value": 3}}


def test_repeated_ids_each_keep_their_own_row(tmp_path):
    output = tmp_path / "out.jsonl"
    rows = [{"id": "a"}, {"id": "a"}, {"id": "b"}]
    RowJournal(output).append([{"id": "a", "value": "first"}])
    resume = ResumableOutput.of_rows(output, rows)
    assert (resume.resumed, resume.pending) == (1, [1, 2])
    appender = resume.appender(len(resume.pending))
    assert appender.finish(1, {"id": "b", "value": "third"}) == 0  # waits for the second "a"
    assert appender.finish(0, {"id": "a", "value": "second"}) == 2
    assert [row["value"] for row in resume.completed()] == ["first", "second", "third"]
    assert resume.finish() == 3
    again = ResumableOutput.of_rows(output, rows)
    assert (again.resumed, again.pending) == (3, [])


def test_a_torn_last_line_is_cut_and_redone(tmp_path):
    output = tmp_path / "out.jsonl"
    whole = b'{"id": "a", "value": 1}\n'
    output.write_bytes(whole + b'{"id": "b", "val')  # killed in the middle of writing "b"
    resume = ResumableOutput.of_rows(output, [{"id": "a"}, {"id": "b"}])
    assert (resume.resumed, resume.pending) == (1, [1])
    assert output.read_bytes() == whole  # the torn line is gone before anything is appended
    resume.appender(1).finish(0, {"id": "b", "value": 2})
    assert journal_lines(output) == [{"id": "a", "value": 1}, {"id": "b", "value": 2}]


def test_rows_of_another_input_are_ignored(tmp_path):
    output = tmp_path / "out.jsonl"
    journal = output_journal(output, separate=True)
    assert journal.path == journal_path(output) == tmp_path / "out.jsonl.journal.jsonl"
    journal.append([{"id": "stranger", "value": 0}, {"id": "b", "value": 2}])
    resume = ResumableOutput(output, ["a", "b"], journal)
    assert (resume.resumed, resume.pending) == (1, [0])
    resume.appender(1).finish(0, {"id": "a", "value": 1})
    assert resume.finish() == 2
    assert journal_lines(output) == [{"id": "a", "value": 1}, {"id": "b", "value": 2}]  # input order, no stranger


def test_rows_written_under_other_settings_are_refused(tmp_path):
    output = tmp_path / "out.parquet"
    journal = output_journal(output, key="seed_id")
    assert journal.path == journal_path(output)  # a Parquet output is written from a journal beside it
    journal.append([{"seed_id": "a", "fingerprint": "old"}, {"seed_id": "b", "fingerprint": "new"}])
    resume = ResumableOutput(output, ["a", "b"], journal, accept=lambda record: record["fingerprint"] == "new")
    assert (resume.resumed, resume.pending) == (1, [0])
    journal.append([{"seed_id": "a", "fingerprint": "new"}])
    assert [record["seed_id"] for record in resume.completed()] == ["a", "b"]


def test_an_unknown_output_format_is_refused_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="choose an output ending in"):
        ResumableOutput.of_rows(tmp_path / "out.csv", [{"id": "a"}])
    assert not list(tmp_path.iterdir())


# --- the three steps, killed ------------------------------------------------------------------------------------


def line_count(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def acecoder(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "acecoder", *arguments]


def finished(command: list[str]) -> str:
    """Runs ``command`` to the end and returns its standard output."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def killed_midway(command: list[str], journal: Path, at_least: int) -> int:
    """Starts ``command``, SIGKILLs it once ``journal`` holds ``at_least`` lines, and returns how many whole lines
    the journal kept."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while line_count(journal) < at_least and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    _, error = process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL, f"finished before the kill: {error}"
    return line_count(journal)


def no_repeats(values: list) -> bool:
    return len(values) == len(set(values))


PASSRATE_ROWS = [
    {
        "id": f"p{number}",
        "question": f"Write g{number}().",
        "test_cases": [f"assert g{number}() == {number}"],
        # Each program sleeps, so with one worker the rows finish one by one over a few seconds.
        "inferences": [
            {"model_name": "m", "completion_id": 0,
             "completion": f"import time\ndef g{number}():\n    time.sleep(0.1)\n    return {number}\n"},
            {"model_name": "m", "completion_id": 1, "completion": f"def g{number}():\n    return -1\n"},
        ],
    }
    for number in range(8)
]  # fmt: skip


@pytest.mark.timeout(120)
def test_passrate_resumes_after_a_kill(tmp_path):
    source = tmp_path / "sampled.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in PASSRATE_ROWS), encoding="utf-8")

    def command(output: Path) -> list[str]:
        return acecoder("passrate", "--input", str(source), "--output", str(output), "--workers", "1", "--quiet")

    reference = tmp_path / "reference.jsonl"
    finished(command(reference))
    output = tmp_path / "killed.jsonl"
    kept = killed_midway(command(output), output, at_least=2)
    assert 2 <= kept < len(PASSRATE_ROWS)
    report = finished(command(output))
    assert f"resumed {kept}," in report
    assert output.read_bytes() == reference.read_bytes()
    ids = [row["id"] for row in journal_lines(output)]
    assert ids == [row["id"] for row in PASSRATE_ROWS] and no_repeats(ids)
    assert [inference["pass_rate"] for inference in journal_lines(output)[0]["inferences"]] == [1.0, 0.0]


needs_openai = pytest.mark.skipif(importlib.util.find_spec("openai") is None, reason="needs the openai extra")
QUESTIONS = [
    {"id": f"q{number}", "question": f"Write h{number}(x).", "test_cases": [f"assert h{number}(1) == {number}"]}
    for number in range(8)
]


def sample_reply(delay: float):
    def respond(body: dict) -> Reply:
        prompt = last_user_message(body)
        for number in range(len(QUESTIONS)):
            if f"Write h{number}(x)." in prompt:
                texts = [f"```python\ndef h{number}(x):\n    return {number} + {sample}\n```" for sample in range(2)]
                return Reply(texts=texts, delay=delay)
        return Reply(status=404, error="unknown prompt")

    return respond


@needs_openai
@pytest.mark.timeout(120)
def test_sample_resumes_after_a_kill(tmp_path):
    source = tmp_path / "questions.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in QUESTIONS), encoding="utf-8")

    def command(output: Path, server: ChatServer) -> list[str]:
        return acecoder("sample", "--input", str(source), "--output", str(output), "--backend", "openai",
                        "--model", "policy", "--base-url", server.base_url, "--n", "2", "--concurrency", "2",
                        "--no-cache", "--quiet")  # fmt: skip

    reference = tmp_path / "reference.jsonl"
    with ChatServer(sample_reply(0.0)) as server:
        finished(command(reference, server))
    output = tmp_path / "killed.jsonl"
    with ChatServer(sample_reply(0.3)) as server:  # two answers every 0.3 s: the kill lands mid-run
        kept = killed_midway(command(output, server), output, at_least=2)
    assert 2 <= kept < len(QUESTIONS)
    with ChatServer(sample_reply(0.0)) as server:
        report = finished(command(output, server))
        assert len(server.requests) == len(QUESTIONS) - kept  # the kept questions are not asked again
    assert f"resumed {kept}," in report
    assert output.read_bytes() == reference.read_bytes()
    ids = [row["id"] for row in journal_lines(output)]
    assert ids == [row["id"] for row in QUESTIONS] and no_repeats(ids)


# ``synth`` journals a batch of 64 seeds at a time (the CLI keeps SynthConfig's batch size), so the run has one
# more seed batch than that: the first is answered at once, the second slowly, and the kill lands between.
SYNTH_BATCH = 64
SEED_COUNT = SYNTH_BATCH + 4


def synth_reply(slow_from: int, delay: float):
    """A rewrite of seed ``number`` asks for ``k{number}``; its oracle gets the question and answers correctly."""

    def respond(body: dict) -> Reply:
        prompt = last_user_message(body)
        for number in range(SEED_COUNT):
            wait = delay if number >= slow_from else 0.0
            if f"def k{number}_seed(" in prompt:
                tests = [f"assert k{number}({value}) == {value + number}" for value in range(6)]
                question = f"Write k{number}(n) returning n plus {number}."
                return Reply(texts=["```json\n" + json.dumps({"question": question, "tests": tests}) + "\n```"],
                             delay=wait)  # fmt: skip
            if f"Write k{number}(n) " in prompt:
                return Reply(texts=[f"```python\ndef k{number}(n):\n    return n + {number}\n```"], delay=wait)
        return Reply(status=404, error="unknown prompt")

    return respond


@needs_openai
@pytest.mark.timeout(180)
def test_synth_resumes_after_a_kill(tmp_path):
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("".join(json.dumps({"id": f"seed-{number}", "program": f"def k{number}_seed(n):\n    return n + "
                                         f"{number}\n", "instruction": f"Add {number}."}) + "\n"
                             for number in range(SEED_COUNT)), encoding="utf-8")  # fmt: skip

    def command(output: Path, server: ChatServer) -> list[str]:
        return acecoder("synth", "--seeds", str(seeds), "--output", str(output), "--backend", "openai", "--model",
                        "writer", "--base-url", server.base_url, "--workers", "2", "--no-cache", "--quiet")  # fmt: skip

    reference = tmp_path / "reference.jsonl"
    with ChatServer(synth_reply(SEED_COUNT, 0.0)) as server:
        finished(command(reference, server))
    output = tmp_path / "killed.jsonl"
    with ChatServer(synth_reply(SYNTH_BATCH, 30.0)) as server:
        kept = killed_midway(command(output, server), journal_path(output), at_least=SYNTH_BATCH)
    assert kept == SYNTH_BATCH and not output.exists()  # the output is written only when a run ends
    with ChatServer(synth_reply(SEED_COUNT, 0.0)) as server:
        report = finished(command(output, server))
        assert len(server.requests) == 2 * (SEED_COUNT - SYNTH_BATCH)  # a rewrite and an oracle call per seed left
    assert any(line.split()[-1] == str(SYNTH_BATCH) for line in report.splitlines() if "resumed" in line), report
    assert output.read_bytes() == reference.read_bytes()
    ids = [row["id"] for row in journal_lines(output)]
    assert ids == [f"seed-{number}" for number in range(SEED_COUNT)] and no_repeats(ids)
    journaled = [record["seed_id"] for record in journal_lines(journal_path(output))]
    assert sorted(journaled) == sorted(ids) and no_repeats(journaled)
