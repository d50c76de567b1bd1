"""Failures a user must see: bad numeric flags end in argparse errors, steps whose input lacks what they need name
the step that comes first, empty results exit non-zero without claiming a file, and an unreachable generation
server is named."""

from __future__ import annotations

import argparse
import json
import logging
import socket

import pytest
from acecoder.cli import VERBS, build_parser, main


def exit_code(arguments: list[str]) -> int | str | None:
    """``main``'s exit status, whether it returns it or argparse raises it."""
    try:
        return main(arguments)
    except SystemExit as exit_:
        return exit_.code


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_numeric_flag_is_checked_while_parsing():
    unchecked = {
        (verb, action.option_strings[-1])
        for verb, parser in subparsers().items()
        for action in parser._actions
        if action.type in (int, float)
    }
    assert not unchecked, sorted(unchecked)
    assert set(VERBS) == set(subparsers())


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["passrate", "--input", "x", "--output", "y.jsonl", "--workers", "-1"],
            "--workers: must be at least 1, got -1",
        ),
        (
            ["passrate", "--input", "x", "--output", "y.jsonl", "--test-cpu-seconds", "-1"],
            "--test-cpu-seconds: must be greater than 0, got -1",
        ),
        (["passrate", "--input", "x", "--output", "y.jsonl", "--test-cpu-seconds", "nan"], "must be a finite number"),
        (
            ["passrate", "--input", "x", "--output", "y.jsonl", "--test-seconds", "-1"],  # an old spelling: checked too
            "--test-seconds: must be greater than 0, got -1",
        ),
        (["evaluate", "--benchmark", "mbpp", "--input", "s", "--workers", "0"], "--workers: must be at least 1"),
        (["evaluate", "--benchmark", "mbpp", "--input", "s", "--test-cpu-seconds", "0"], "must be greater than 0"),
        (["pairs", "--input", "x", "--output", "y.jsonl", "--chosen-min", "1.5"], "--chosen-min: must be at most 1"),
        (["pairs", "--input", "x", "--output", "y.jsonl", "--max-pairs-per-question", "0"], "must be at least 1"),
        (["bench", "--jobs", "many"], "--jobs: expected an integer, got 'many'"),
        (["serve-reward", "--input", "d", "--port", "70000"], "--port: must be at most 65535"),
        (["serve-reward", "--input", "d", "--test-cpu-seconds", "-2"], "--test-cpu-seconds: must be greater than 0"),
        (["serve-reward", "--input", "d", "--max-response-bytes", "0"], "--max-response-bytes: must be at least 1"),
        (["serve-reward", "--input", "d", "--read-seconds", "0"], "--read-seconds: must be greater than 0"),
        (["synth", "--output", "o.jsonl", "--backend", "openai", "--model", "m", "--workers", "-1"], "--workers"),
        (["synth", "--output", "o.jsonl", "--backend", "openai", "--model", "m", "--seed", "-5"], "must be at least 0"),
        (["bon", "--rm", "r", "--benchmark", "mbpp", "--top-p", "0"], "--top-p: must be greater than 0"),
        (["bon", "--rm", "r", "--benchmark", "mbpp", "--temperature", "-0.5"], "--temperature: must be at least 0"),
    ],
)
def test_a_bad_number_is_an_argparse_error(arguments, message, capsys):
    assert exit_code(arguments) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def sampled(question_id, completions, rates=None):
    inferences = [{"completion_id": number, "completion": text} for number, text in enumerate(completions)]
    if rates is not None:
        for inference, rate in zip(inferences, rates):
            inference.update(program=inference["completion"], pass_rate=rate)
    return {"id": question_id, "question": "Write f.", "test_cases": ["assert f(1) == 2"], "inferences": inferences}


def test_passrate_on_an_empty_input_writes_nothing_and_says_so(tmp_path, capsys):
    output = tmp_path / "rates.jsonl"
    assert main(["passrate", "--input", str(write_jsonl(tmp_path / "empty.jsonl", [])), "--output", str(output)]) == 1
    printed = capsys.readouterr()
    assert "holds no rows" in printed.err and "wrote" not in printed.out and not output.exists()


def test_passrate_on_questions_without_samples_names_the_sample_step(tmp_path, capsys):
    questions = write_jsonl(tmp_path / "questions.jsonl", [{"id": "q", "question": "Write f.", "test_cases": []}])
    assert main(["passrate", "--input", str(questions), "--output", str(tmp_path / "rates.jsonl")]) == 2
    assert "run `acecoder sample" in capsys.readouterr().err


@pytest.mark.parametrize("verb", ["pairs", "hard-subset"])
def test_unscored_samples_name_the_passrate_step(verb, tmp_path, capsys):
    samples = write_jsonl(tmp_path / "samples.jsonl", [sampled("a", ["x = 1", "x = 2"]), sampled("b", ["y = 1"])])
    output = tmp_path / "out.jsonl"
    assert main([verb, "--input", str(samples), "--output", str(output)]) == 1
    printed = capsys.readouterr()
    assert "run `acecoder passrate --input" in printed.err and "wrote" not in printed.out and not output.exists()


def test_no_pairs_says_why_and_writes_nothing(tmp_path, capsys):
    rates = write_jsonl(tmp_path / "rates.jsonl", [sampled("a", ["x = 1", "x = 2"], [0.0, 0.0]),
                                                   sampled("b", ["y = 1"], [1.0])])  # fmt: skip
    output = tmp_path / "pairs.jsonl"
    assert main(["pairs", "--input", str(rates), "--output", str(output)]) == 1
    printed = capsys.readouterr()
    assert "0 pairs from 0 of 2 questions" in printed.out and not output.exists()
    assert (
        "of 2 scored questions, 1 with a program passing ≥ 0.8, 1 with every program failing every test" in printed.err
    )


def test_partly_scored_input_is_a_warning(tmp_path, capsys):
    rates = write_jsonl(tmp_path / "rates.jsonl", [sampled("a", ["x = 1", "x = 2"], [1.0, 0.5]),
                                                   sampled("b", ["y = 1"])])  # fmt: skip
    output = tmp_path / "pairs.jsonl"
    assert main(["pairs", "--input", str(rates), "--output", str(output)]) == 0
    printed = capsys.readouterr()
    assert "1 of 2 questions" in printed.err and "no scored program" in printed.err
    assert f"wrote {output}" in printed.out and output.exists()


def test_hard_subset_left_empty_by_drop_flat_is_an_error(tmp_path, capsys):
    rates = write_jsonl(tmp_path / "rates.jsonl", [sampled("a", ["x = 1", "x = 2"], [0.0, 0.0]),
                                                   sampled("b", ["y = 1"], [1.0])])  # fmt: skip
    output = tmp_path / "hard.jsonl"
    assert main(["hard-subset", "--input", str(rates), "--output", str(output), "--drop-flat"]) == 1
    assert "--drop-flat left none" in capsys.readouterr().err and not output.exists()
    assert main(["hard-subset", "--input", str(rates), "--output", str(output)]) == 0


def test_demo_engine_only_writes_into_the_output_directory(tmp_path, capsys):
    jobs = write_jsonl(
        tmp_path / "jobs.jsonl", [{"program": "def f(x):\n    return x + 1\n", "tests": ["assert f(1) == 2"]}]
    )
    directory = tmp_path / "demo"
    assert main(["demo", "--engine-only", "--input", str(jobs), "--output-dir", str(directory), "--workers", "1"]) == 0
    [result] = [json.loads(line) for line in (directory / "engine_results.jsonl").read_text().splitlines()]
    assert result["status"] == "passed"
    assert str(directory / "engine_results.jsonl") in capsys.readouterr().out


# An unreachable generation server


def test_a_refused_connection_is_named_at_once(caplog):
    pytest.importorskip("openai")
    from acecoder.generation.base import ChatRequest
    from acecoder.generation.openai_backend import OpenAIBackend

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    request = ChatRequest(({"role": "user", "content": "hello"},))
    with caplog.at_level(logging.WARNING, logger="acecoder.generation.openai_backend"):
        with OpenAIBackend("m", base_url=url, max_retries=2, backoff_base=0.01) as backend:
            [first, second] = backend.generate([request, request])
    assert (
        first.error == second.error == f"connection error after 3 attempts: connection refused by {url} "
        "(is the server running, and on that port?)"
    )
    warnings = [record.getMessage() for record in caplog.records]
    # Named on the first failure, then once more when the requests give up: not once per request and attempt.
    assert warnings == [
        f"openai backend: connection error: connection refused by {url} (is the server running, and "
        "on that port?); retrying up to 2 times with backoff",
        f"openai backend: request failed: {first.error}",
    ]


@pytest.mark.parametrize(
    ("cause", "retryable", "text"),
    [
        (
            socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
            False,
            "DNS lookup failed for no-such-host.invalid (Name or service not known)",
        ),
        (
            socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"),
            True,
            "DNS lookup failed for no-such-host.invalid (Temporary failure in name resolution)",
        ),
        (TimeoutError("timed out"), True, "connecting to http://no-such-host.invalid/v1 timed out"),
        (ConnectionResetError(104, "reset"), True, "connection reset by http://no-such-host.invalid/v1"),
    ],
)
def test_connection_failures_are_named_from_the_exception_chain(cause, retryable, text):
    pytest.importorskip("openai")
    from acecoder.generation.openai_backend import _connection_failure

    error = RuntimeError("Connection error.")  # the SDK's wrapper, around the transport's, around the OS error
    transport = OSError("All connection attempts failed")
    transport.__cause__ = cause
    error.__cause__ = transport
    assert _connection_failure(error, "http://no-such-host.invalid/v1") == (retryable, text)


def test_version_names_the_package_and_the_engine(capsys):
    from acecoder import __version__

    assert exit_code(["--version"]) == 0
    assert capsys.readouterr().out.strip().startswith(f"acecoder {__version__} (engine ")
