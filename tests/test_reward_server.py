"""The reward server over real HTTP on 127.0.0.1: question lookup (id, exact, policy prompt, chat template,
unmatched), OpenRLHF's /get_reward contract (one float per query, in order, special tokens kept as its decoder
keeps them, responses without code counted), /run_batch, /health, clear JSON errors, bounded admission (503 +
Retry-After, then recovery), many clients on one engine, a clean close, and the CLI verb started in a subprocess and
stopped with SIGINT."""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from acecoder.exec import ExecResult, Limits, Status
from acecoder.prompts import policy_prompt
from acecoder.serve.questions import Question, QuestionIndex, load_questions, normalise, questions_from_rows
from acecoder.serve.scoring import score_queries
from acecoder.serve.server import RewardServer
from conftest import FAST_LIMITS, REPOSITORY, process_alive

ADD_TESTS = ["assert add(1, 2) == 3", "assert add(2, 2) == 4", "assert add(0, 5) == 5", "assert add(-1, 1) == 0"]
ROWS = [
    {"id": "add", "question": "Write a function add(a, b) that returns the sum of a and b.", "test_cases": ADD_TESTS},
    {"id": 7, "question": "Write a function square(x) returning x squared.", "tests": ["assert square(3) == 9"]},
    {"id": "empty", "question": "Write a function nothing() that does nothing useful.", "test_cases": []},
]
RIGHT = "Sure, here is my solution.\n```python\ndef add(a, b):\n    return a + b\n```\nIt adds."
HALF = "```python\ndef add(a, b):\n    return a + b if a < 1 else 0\n```"  # passes add(0, 5) and add(-1, 1)
WRONG = "```python\ndef add(a, b):\n    return a - b\n```"
SQUARE = "```python\ndef square(x):\n    return x * x\n```"
ADD_PROMPT = policy_prompt(ROWS[0]["question"], ADD_TESTS)


def chat(prompt: str) -> str:
    return f"<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n{prompt}<|im_end|>\n" + (
        "<|im_start|>assistant\n"
    )


def request(
    server: RewardServer, method: str, path: str, body: object = None, raw: bytes | None = None
) -> tuple[int, dict[str, str], dict]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        connection.request(method, path, body=data, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        payload = response.read()
        return response.status, {name.lower(): value for name, value in response.getheaders()}, json.loads(payload)
    finally:
        connection.close()


def rewards_for(server: RewardServer, queries: list[str], prompts: list[str], **extra: object) -> dict:
    status, _, reply = request(server, "POST", "/get_reward", {"query": queries, "prompts": prompts, **extra})
    assert status == 200, reply
    assert len(reply["rewards"]) == len(queries)
    return reply


@pytest.fixture(scope="module")
def binary_server():
    with RewardServer(ROWS, port=0, workers=2, limits=FAST_LIMITS, max_pending=32) as server:
        yield server.start()


@pytest.fixture(scope="module")
def rate_server():
    with RewardServer(ROWS, port=0, mode="pass_rate", workers=2, limits=FAST_LIMITS, max_body_bytes=4096) as server:
        yield server.start()


# ------------------------------------------------------------------------------------------ question index


def test_normalise_folds_unicode_case_and_whitespace():
    assert normalise("  Ｗrite\t a\n\n FUNCTION  ") == "write a function"


def test_index_finds_exact_policy_prompt_and_chat_wrapped_questions():
    index = QuestionIndex(questions_from_rows(ROWS))
    add = index.questions[0]
    assert index.find("  WRITE a function add(a, b)\n that returns the sum of a and b. ") is add
    assert index.find(ADD_PROMPT) is add
    assert index.find(chat(ADD_PROMPT)) is add  # substring fallback
    assert index.find(chat(ADD_PROMPT)) is add  # again, from the cache
    assert index.find("Write a function subtract(a, b).") is None
    assert index.find(chat("Write a function subtract(a, b).")) is None


def test_exact_and_policy_prompt_forms_need_no_scan(monkeypatch):
    index = QuestionIndex(questions_from_rows(ROWS))
    monkeypatch.setattr(index, "_longest_inside", lambda text: pytest.fail(f"scanned for {text!r}"))
    assert index.find(ROWS[1]["question"].upper()) is index.questions[1]
    assert index.find(policy_prompt(ROWS[1]["question"], ROWS[1]["tests"])) is index.questions[1]
    assert index.find(policy_prompt(ROWS[2]["question"], [])) is index.questions[2]


def test_fallback_answers_are_cached_within_a_bound():
    index = QuestionIndex(questions_from_rows(ROWS), cache_size=2)
    scans: list[str] = []
    original = index._longest_inside
    index._longest_inside = lambda text: scans.append(text) or original(text)  # type: ignore[method-assign]
    assert index.find(chat(ADD_PROMPT)) is index.questions[0]
    assert index.find(chat(ADD_PROMPT)) is index.questions[0]
    assert len(scans) == 1
    for number in range(5):
        assert index.find(f"unknown {number}") is None
    assert len(index._cache) == 2
    index.find(chat(ADD_PROMPT))
    assert len(scans) == 7  # evicted, so scanned again


def test_the_longest_question_inside_the_prompt_wins():
    short = Question("Write a function add.", ["assert add(1, 1) == 2"])
    long = Question("Write a function add. It must also accept floats.", ["assert add(0.5, 0.5) == 1.0"])
    index = QuestionIndex([short, long])
    assert index.find(chat("write a function add. it must also   accept floats.")) is long
    assert index.find(chat("Write a function add. Thanks.")) is short


def test_rows_sharing_a_question_are_told_apart_by_their_policy_prompts():
    first = Question("Write a function to sort a list of elements.", ["assert comb_sort([2, 1]) == [1, 2]"])
    second = Question("Write a function to sort a list of elements.", ["assert pancake_sort([2, 1]) == [1, 2]"])
    index = QuestionIndex([first, second])
    assert index.duplicates == 1
    for question in (first, second):
        assert index.find(policy_prompt(question.question, question.tests)) is question
        assert index.find(chat(policy_prompt(question.question, question.tests))) is question
    assert index.find(first.question) is first
    assert index.find(chat(first.question)) is first


def test_label_naming_an_id_wins_and_unknown_labels_fall_through():
    index = QuestionIndex(questions_from_rows(ROWS))
    assert index.find(ADD_PROMPT, label="7") is index.questions[1]
    assert index.find(ADD_PROMPT, label=7) is index.questions[1]  # ids compare as strings
    assert index.find(ADD_PROMPT, label="no such id") is index.questions[0]
    assert index.find("unrelated text", label=None) is None


def test_rows_may_say_tests_and_test_cases_wins_over_it(tmp_path: Path):
    both = {"question": "q", "test_cases": ["assert True"], "tests": ["assert False"]}
    assert questions_from_rows([both])[0].tests == ["assert True"]
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps({"question": row["question"], "tests": ["assert 1"]}) for row in ROWS))
    questions = load_questions(path)
    assert [question.tests for question in questions] == [["assert 1"]] * 3
    assert questions[0].id is None


def test_malformed_rows_are_named():
    with pytest.raises(ValueError, match="row 2 has no question"):
        questions_from_rows([ROWS[0], {"test_cases": []}])
    with pytest.raises(ValueError, match="row 1: test_cases must be a list of strings"):
        questions_from_rows([{"question": "q", "test_cases": "assert 1"}])


def test_sandbox_errors_score_zero_and_are_counted():
    class SandboxFailing:
        def run(self, programs, tests, fail_fast=False, test_cpu_seconds=None):
            return [ExecResult(Status.SANDBOX_ERROR, 0, len(each), []) for each in tests]

    index = QuestionIndex(questions_from_rows(ROWS))
    reply = score_queries(
        {"query": [ADD_PROMPT + RIGHT], "prompts": [ADD_PROMPT]}, index, SandboxFailing(), "pass_rate"
    )
    assert reply.rewards == [0.0]
    assert reply.sandbox_errors == [0]


# ------------------------------------------------------------------------------------------ /get_reward


def test_binary_rewards_keep_order_and_report_unmatched_and_untested(binary_server):
    square_prompt = chat(policy_prompt(ROWS[1]["question"], ROWS[1]["tests"]))
    other = chat("Write a function subtract(a, b).")
    empty = policy_prompt(ROWS[2]["question"], [])
    prompts = [ADD_PROMPT, chat(ADD_PROMPT), other, ADD_PROMPT, square_prompt, empty, ADD_PROMPT]
    responses = [RIGHT, WRONG, RIGHT, HALF, SQUARE, RIGHT, "no code at all"]
    reply = rewards_for(binary_server, [prompt + text for prompt, text in zip(prompts, responses)], prompts)
    assert reply["rewards"] == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    assert reply["unmatched"] == [2]
    assert reply["no_tests"] == [5]
    assert reply["no_code"] == [6]
    assert reply["sandbox_errors"] == []


def test_pass_rate_mode_gives_partial_credit(rate_server):
    prompts = [ADD_PROMPT] * 3
    reply = rewards_for(rate_server, [ADD_PROMPT + text for text in (HALF, RIGHT, WRONG)], prompts)
    assert reply["rewards"] == [0.5, 1.0, 0.0]


def test_labels_and_queries_without_prompts(binary_server):
    # A label naming a row's id decides the question even when the prompt names another.
    reply = rewards_for(binary_server, [ADD_PROMPT + SQUARE], [ADD_PROMPT], labels=["7"])
    assert reply["rewards"] == [1.0]
    # Without prompts, the whole query is looked up and scored (older OpenRLHF sends only "query").
    status, _, reply = request(binary_server, "POST", "/get_reward", {"query": [chat(ADD_PROMPT) + RIGHT]})
    assert status == 200 and reply["rewards"] == [1.0]


def test_a_query_that_does_not_start_with_its_prompt_is_scored_whole(binary_server):
    reply = rewards_for(binary_server, ["<bos>" + ADD_PROMPT + RIGHT], [ADD_PROMPT])
    assert reply["rewards"] == [1.0]
    reply = rewards_for(binary_server, ["Earlier text. " + ADD_PROMPT + RIGHT], [ADD_PROMPT])
    assert reply["rewards"] == [1.0]


# ------------------------------------------------------------------------------------------ OpenRLHF, tokens kept

# Chat templates as OpenRLHF's prompts carry them (after apply_chat_template), with each tokenizer's end-of-turn
# and padding tokens: (prompt for a question, end of turn, padding).
TEMPLATES = {
    "ChatML (Qwen)": (lambda q: chat(q), "<|im_end|>", "<|endoftext|>"),
    "ChatML (SmolLM2)": (
        lambda q: f"<|im_start|>user\n{q}<|im_end|>\n<|im_start|>assistant\n",
        "<|im_end|>",
        "<|im_end|>",
    ),
    "Llama 3": (
        lambda q: (
            f"<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n{q}<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n"
        ),
        "<|eot_id|>",
        "<|finetune_right_pad_id|>",
    ),
    "Llama 2": (lambda q: f"<s>[INST] {q.strip()} [/INST]", "</s>", "</s>"),
    "DeepSeek-Coder": (
        lambda q: f"<｜begin▁of▁sentence｜>### Instruction:\n{q}\n### Response:\n",
        "<|EOT|>",
        "<｜end▁of▁sentence｜>",
    ),
    "GPT-2": (lambda q: q, "<|endoftext|>", "<|endoftext|>"),
}
SQUARE_PROMPT = policy_prompt(ROWS[1]["question"], ROWS[1]["tests"])


def openrlhf_batch() -> tuple[dict, list[float], list[int]]:
    """One rollout batch as OpenRLHF sends it: ``batch_decode(sequences, skip_special_tokens=False)`` of
    left-padded prompts, responses ending in the end-of-turn token glued to the fence (or after a newline), and
    right padding up to the longest; with the prompts and labels. Returns (body, expected rewards, no-code
    indices)."""
    queries, prompts, labels, expected, no_code = [], [], [], [], []
    for number, (template, end, pad) in enumerate(TEMPLATES.values()):
        cases = [
            (ADD_PROMPT, RIGHT.split("\nIt adds.")[0] + end, 1.0),
            (SQUARE_PROMPT, SQUARE + "\n" + end + end, 1.0),
            (ADD_PROMPT, "```python\ndef add(a, b):\n    return a + b\n```" + end, 1.0),
            (ADD_PROMPT, "I am not able to help with that." + end, 0.0),
            (ADD_PROMPT, WRONG + end, 0.0),
        ]
        for position, (question, response, reward) in enumerate(cases):
            prompt = template(question)
            if "I am not able" in response:
                no_code.append(len(queries))
            queries.append(pad * (position % 3) + prompt + response + pad * (7 - position))
            prompts.append(prompt)
            labels.append("7" if question == SQUARE_PROMPT and number % 2 else "")
            expected.append(reward)
    return {"query": queries, "prompts": prompts, "labels": labels}, expected, no_code


def test_openrlhf_batches_with_special_tokens_kept_score_correct_programs_one(binary_server):
    body, expected, no_code = openrlhf_batch()
    status, _, reply = request(binary_server, "POST", "/get_reward", body)
    assert status == 200, reply
    assert reply["rewards"] == expected
    assert reply["no_code"] == no_code
    assert reply["unmatched"] == reply["no_tests"] == reply["sandbox_errors"] == []
    # Older OpenRLHF sends the queries alone: each whole query is looked up and scored.
    status, _, reply = request(binary_server, "POST", "/get_reward", {"query": body["query"]})
    assert status == 200 and reply["rewards"] == expected and reply["no_code"] == no_code


def test_health_counts_responses_without_code():
    with RewardServer(ROWS, port=0, workers=1, limits=FAST_LIMITS) as server:
        server.start()
        rewards_for(server, [ADD_PROMPT + "No idea, sorry.<|im_end|>", ADD_PROMPT + RIGHT], [ADD_PROMPT] * 2)
        _, _, health = request(server, "GET", "/health")
    assert (health["no_code"], health["responses"]) == (1, 2)


# ------------------------------------------------------------------------------------------ /run_batch, /health


def test_run_batch_returns_each_tests_status(binary_server):
    body = {"programs": ["x = 1", "x = 1"], "tests": [["assert x == 1", "assert x == 2", "assert y"]] * 2}
    status, _, reply = request(binary_server, "POST", "/run_batch", {**body, "fail_fast": False})
    assert status == 200
    first = reply["results"][0]
    assert [test["status"] for test in first["tests"]] == ["passed", "failed", "error"]
    assert (first["passed"], first["total"], first["status"]) == (1, 3, "failed")
    status, _, reply = request(binary_server, "POST", "/run_batch", {**body, "fail_fast": True})
    assert [test["status"] for test in reply["results"][1]["tests"]] == ["passed", "failed", "not_run"]


def test_health_counts_what_was_served():
    with RewardServer(ROWS, port=0, workers=1, limits=FAST_LIMITS, max_pending=5) as server:
        server.start()
        rewards_for(server, [ADD_PROMPT + RIGHT, "x", "y"], [ADD_PROMPT, "x", "y"])
        request(server, "POST", "/get_reward", {"query": "not a list"})
        status, _, health = request(server, "GET", "/health")
    assert status == 200
    assert health["status"] == "ok"
    assert (health["questions"], health["pending"], health["max_pending"]) == (3, 0, 5)
    assert (health["served"], health["rejected"], health["unmatched"], health["errors"]) == (1, 0, 2, 1)


# ------------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/get_reward", b"{not json", "not valid JSON"),
        ("/get_reward", b"[1, 2]", "must be a JSON object, got list"),
        ("/get_reward", b'{"prompts": []}', "missing field 'query'"),
        ("/get_reward", b'{"query": ["a", 3], "prompts": ["a", "b"]}', "query[1] must be a string, got int"),
        ("/get_reward", b'{"query": ["a", "b"], "prompts": ["a"]}', "prompts has 1 items but query has 2"),
        ("/get_reward", b'{"query": ["a"], "labels": "a"}', "labels must be a list or null"),
        ("/get_reward", b'{"query": ["a"], "labels": [1, 2]}', "labels has 2 items but query has 1"),
        ("/run_batch", b'{"programs": ["x = 1"], "tests": [["assert x", 5]]}', "tests[0][1] must be a string"),
        ("/run_batch", b'{"programs": ["x = 1"], "tests": []}', "tests has 0 items but programs has 1"),
        ("/run_batch", b'{"programs": ["x"], "tests": [[]], "fail_fast": "yes"}', "fail_fast must be true or false"),
    ],
)
def test_malformed_requests_get_400_naming_the_field(binary_server, path, body, message):
    status, headers, reply = request(binary_server, "POST", path, raw=body)
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert message in reply["error"]


def test_oversize_bodies_unknown_paths_and_wrong_methods(rate_server):
    status, _, reply = request(rate_server, "POST", "/get_reward", {"query": ["x" * 5000], "prompts": ["x"]})
    assert status == 413 and "over the limit of 4096" in reply["error"]
    status, _, reply = request(rate_server, "POST", "/reward", {"query": []})
    assert status == 404 and "/get_reward" in reply["error"]
    status, headers, reply = request(rate_server, "GET", "/get_reward")
    assert status == 405 and headers["allow"] == "POST"
    status, headers, reply = request(rate_server, "POST", "/health", {})
    assert status == 405 and headers["allow"] == "GET"
    status, _, reply = request(rate_server, "DELETE", "/run_batch")
    assert status == 405


def test_a_server_bug_answers_500_in_json(capsys):
    with RewardServer(ROWS, port=0, workers=1, limits=FAST_LIMITS) as server:
        server.start()

        def broken_find(prompt: str, label: object = None) -> None:
            raise RuntimeError("lookup exploded")

        server.index.find = broken_find  # type: ignore[method-assign]
        status, _, reply = request(server, "POST", "/get_reward", {"query": ["q"], "prompts": ["q"]})
        assert status == 500
        assert reply["error"] == "internal error: RuntimeError: lookup exploded"
        assert request(server, "GET", "/health")[2]["errors"] == 1
    assert "lookup exploded" in capsys.readouterr().err  # the traceback, for whoever runs the server


def test_keep_alive_survives_errors(binary_server):
    connection = http.client.HTTPConnection("127.0.0.1", binary_server.port, timeout=60)
    try:
        sockets = []
        for path, body in [("/nowhere", b'{"a": 1}'), ("/get_reward", b"{bad"), ("/health", None)] * 2:
            connection.request("GET" if body is None else "POST", path, body=body)
            response = connection.getresponse()
            assert response.getheader("Content-Length") is not None
            json.loads(response.read())
            sockets.append(connection.sock)
        assert all(sock is sockets[0] and sock is not None for sock in sockets)
    finally:
        connection.close()


# ------------------------------------------------------------------------------------------ load


def test_overload_gets_503_with_retry_after_then_recovers():
    slow = "```python\nimport time\ndef add(a, b):\n    time.sleep(1.5)\n    return a + b\n```"
    limits = Limits(test_cpu_seconds=2.0, wall_multiplier=3.0, wall_slack_seconds=5.0)
    with RewardServer(ROWS, port=0, workers=1, limits=limits, max_pending=1) as server:
        server.start()
        replies: list[dict] = []
        slow_client = threading.Thread(
            target=lambda: replies.append(rewards_for(server, [ADD_PROMPT + slow], [ADD_PROMPT]))
        )
        slow_client.start()
        deadline = time.monotonic() + 10
        while server.admission.pending == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        status, headers, reply = request(server, "POST", "/get_reward", {"query": [ADD_PROMPT + RIGHT]})
        assert status == 503
        assert headers["retry-after"] == "1"
        assert reply["error"] == "overloaded: 1 requests pending (max_pending=1)"
        assert request(server, "GET", "/health")[2]["pending"] == 1  # /health is never turned away
        slow_client.join()
        assert replies[0]["rewards"] == [1.0]
        assert rewards_for(server, [ADD_PROMPT + RIGHT], [ADD_PROMPT])["rewards"] == [1.0]
        assert request(server, "GET", "/health")[2]["rejected"] == 1


def test_concurrent_clients_share_one_engine(binary_server):
    cases = [(RIGHT, 1.0), (WRONG, 0.0), (HALF, 0.0)]
    failures: list[str] = []

    def client(number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", binary_server.port, timeout=60)
        try:
            for round_number in range(4):
                chosen = [cases[(number + round_number + offset) % 3] for offset in range(8)]
                body = {"query": [ADD_PROMPT + text for text, _ in chosen], "prompts": [ADD_PROMPT] * 8}
                connection.request("POST", "/get_reward", body=json.dumps(body))
                got = json.loads(connection.getresponse().read())["rewards"]
                if got != [reward for _, reward in chosen]:
                    failures.append(f"client {number} round {round_number}: {got}")
        except Exception as error:  # noqa: BLE001 (reported below, with the client's number)
            failures.append(f"client {number}: {error!r}")
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_close_stops_the_engine_workers_and_the_listener():
    server = RewardServer(ROWS, port=0, workers=2, limits=FAST_LIMITS).start()
    pids = server.engine.worker_pids()
    idle = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    idle.request("GET", "/health")
    idle.getresponse().read()  # a keep-alive connection left open must not hold up close()
    started = time.monotonic()
    server.close()
    idle.close()
    assert time.monotonic() - started < 30  # not the 300 s an idle connection may otherwise live
    assert server.engine.closed
    assert not any(process_alive(pid) for pid in pids)
    with pytest.raises(ConnectionRefusedError):
        request(server, "GET", "/health")


# ------------------------------------------------------------------------------------------ CLI


def test_cli_serves_until_sigint(tmp_path: Path):
    dataset = tmp_path / "questions.jsonl"
    dataset.write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    script = (
        "import argparse, sys\n"
        "from acecoder.cli import serve_reward\n"
        "parser = argparse.ArgumentParser()\n"
        "serve_reward.add_arguments(parser)\n"
        "sys.exit(serve_reward.run(parser.parse_args(sys.argv[1:])))\n"
    )
    command = [sys.executable, "-c", script, "--input", str(dataset), "--port", "0", "--workers", "1"]
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY / "python")}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("serving on http://127.0.0.1:"), line
        assert line.endswith("(3 questions, 0 with a calibrated time limit)\n"), line
        port = int(line.split(":")[2].split(" ")[0])
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        body = json.dumps({"query": [ADD_PROMPT + RIGHT, ADD_PROMPT + WRONG], "prompts": [ADD_PROMPT] * 2})
        connection.request("POST", "/get_reward", body=body)
        assert json.loads(connection.getresponse().read())["rewards"] == [1.0, 0.0]
        connection.close()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_cli_reports_a_missing_dataset(tmp_path: Path, capsys):
    from acecoder.cli import serve_reward

    parser = argparse.ArgumentParser()
    serve_reward.add_arguments(parser)
    assert serve_reward.run(parser.parse_args(["--input", str(tmp_path / "none.jsonl")])) == 2
    assert "no such file" in capsys.readouterr().err
