"""The small-model synthesis format (``SynthConfig(format="lines", oracle="seed")``): the seed's task as the
question, tests continued line by line from ``assert name(``, judged by the seed's own program; and ``acecoder
synth``'s exit status when nothing is kept. The real model's run is in ``test_synth_local.py`` (slow)."""

from __future__ import annotations

import ast
import json

import pytest
from acecoder.cli import main
from acecoder.data.acecode import read_acecode
from acecoder.data.seeds import Seed
from acecoder.generation.base import ChatRequest, Generation
from acecoder.synth.parsing import parse_test_lines
from acecoder.synth.pipeline import SynthConfig, Synthesizer
from acecoder.synth.prompts import TESTS_BY_LINE_START, entry_function, lines_messages, seed_question

START = TESTS_BY_LINE_START.format(name="square")


def test_entry_function_is_the_last_function_no_other_calls():
    program = "def helper(x):\n    return x\ndef main_one(x):\n    return helper(x) * 2\ndef unused():\n    pass\n"
    assert entry_function(program).name == "unused"
    assert entry_function("def helper(x):\n    return x\ndef solve(x):\n    return helper(x)\n").name == "solve"
    assert entry_function("x = 1\n") is None
    assert entry_function("def broken(:\n") is None


def test_seed_question_states_the_task_and_the_signature():
    function = entry_function("def square(n, power=2):\n    return n ** power\n")
    assert (
        seed_question("Square a number.", function)
        == "Square a number.\n\nWrite the Python function `def square(n, power=2)`."
    )
    assert seed_question(None, function) is None and seed_question("  ", function) is None


def test_the_reply_is_begun_for_the_model():
    messages = lines_messages("def square(n):\n    return n * n\n", "Square a number.", "square")
    assert [message["role"] for message in messages] == ["user", "assistant"]
    assert messages[-1]["content"] == "```python\nassert square("
    assert "square" in messages[0]["content"] and "return n * n" in messages[0]["content"]


def test_lines_are_read_up_to_the_fence_and_a_cut_line_is_dropped():
    texts = [
        "2) == 4\nassert square(3) == 9\n```\nassert square(4) == 16\n",  # after the fence: chatter, not tests
        "5) == 25\nassert square(6) == 3",  # the sample stopped mid-line: that line goes
        "2) == 4\nassert max([1]) == 1\nassert square(7) ==\n",  # a duplicate, a test of nothing, a syntax error
    ]
    reply = parse_test_lines(texts, START, "square", "Square a number.")
    assert reply.ok
    assert reply.tests == ["assert square(2) == 4", "assert square(3) == 9", "assert square(5) == 25"]
    assert reply.candidates == 6
    assert reply.dropped["duplicate"] == 1 and reply.dropped["no_call"] == 1 and reply.dropped["syntax"] == 1


def test_lines_without_a_question_or_a_test_are_errors():
    assert parse_test_lines(["2) == 4\n"], START, "square", None).error == "no_question"
    assert parse_test_lines(["I cannot do that"], START, "square", "Q").error == "no_tests"
    assert parse_test_lines([], START, "square", "Q").error == "no_tests"


class ContinuingBackend:
    """A backend that continues each begun reply with the texts given for its seed's function."""

    model = "continuing"

    def __init__(self, continuations: dict[str, list[str]]) -> None:
        self.continuations = continuations
        self.requests: list[ChatRequest] = []

    def generate(self, requests, on_result=None):
        results = []
        for index, request in enumerate(requests):
            self.requests.append(request)
            start = request.messages[-1]["content"]
            name = start.rsplit("assert ", 1)[1].rstrip("(")
            texts = self.continuations.get(name, ["nothing useful"])[: request.sampling.n]
            results.append(Generation(texts=texts))
            if on_result is not None:
                on_result(index, results[-1])
        return results

    def close(self) -> None:
        pass


def test_pipeline_in_the_line_format_judges_tests_by_the_seed(engine, tmp_path):
    seeds = [
        Seed("square", "def square(n):\n    return n * n\n", "Square a number.", "unit"),
        Seed("no-instruction", "def cube(n):\n    return n ** 3\n", None, "unit"),
        Seed("no-function", "print(1)\n", "Print one.", "unit"),
    ]
    square_texts = ["%d) == %d\nassert square(%d) == %d\n```" % (v, v * v, v + 1, (v + 1) ** 2) for v in range(0, 8, 2)]
    square_texts.append("3) == 10\n```")  # wrong: the seed's program drops it
    backend = ContinuingBackend({"square": square_texts, "cube": ["2) == 8\n```"]})
    output = tmp_path / "questions.jsonl"
    config = SynthConfig(format="lines", oracle="seed", samples=5, max_tokens=64, min_tests=5)
    summary = Synthesizer(backend, engine, output, config).run(seeds)
    assert (summary.questions_in, summary.questions_out) == (3, 1)
    assert dict(summary.failures) == {"no_question": 1, "no_function": 1}
    (row,) = read_acecode(output)
    assert row["question"] == "Square a number.\n\nWrite the Python function `def square(n)`."
    assert row["test_cases"] == [f"assert square({v}) == {v * v}" for v in range(8)]
    assert row["provenance"]["oracle_model"] == "seed program"
    assert row["provenance"]["oracle_solution"] == "def square(n):\n    return n * n\n"  # the seed's program
    assert all(request.sampling.n == 5 and request.sampling.max_tokens == 64 for request in backend.requests)
    assert len(backend.requests) == 2  # one call per seed with a function, none for an oracle


def test_line_format_settings_are_checked():
    with pytest.raises(ValueError, match="format"):
        SynthConfig(format="yaml")
    with pytest.raises(ValueError, match="oracle"):
        SynthConfig(oracle="human")
    with pytest.raises(ValueError, match="samples"):
        SynthConfig(samples=0)


def test_synth_refuses_the_line_format_over_an_openai_server(tmp_path, capsys):
    code = main(["synth", "--output", str(tmp_path / "o.jsonl"), "--backend", "openai", "--model", "m",
                 "--format", "lines", "--base-url", "http://127.0.0.1:9/v1"])  # fmt: skip
    assert code == 2
    assert "--format lines" in capsys.readouterr().err


def test_synth_exits_non_zero_with_the_reasons_when_nothing_is_kept(tmp_path, capsys):
    pytest.importorskip("openai")
    from chat_server import ChatServer, recorded

    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text(json.dumps({"id": "a", "program": "def f(x):\n    return x\n", "instruction": "Identity."}) + "\n")
    output = tmp_path / "out.jsonl"
    with ChatServer(recorded({"def f": ["no JSON here, sorry"]})) as server:
        code = main(["synth", "--input", str(seeds), "--output", str(output), "--backend", "openai", "--model", "m",
                     "--base-url", server.base_url, "--cache", str(tmp_path / "cache.sqlite"), "--workers", "1",
                     "--quiet"])  # fmt: skip
    assert code == 1
    error = capsys.readouterr().err
    assert "no question kept of 1" in error and "no_json 1" in error
    assert not output.exists() or not read_acecode(output)


def test_every_kept_test_is_one_assert():
    reply = parse_test_lines(["1) == 1; import os\n", "2) == 4  # fine\n"], START, "square", "Q")
    assert all(isinstance(ast.parse(test).body[0], ast.Assert) for test in reply.tests)
