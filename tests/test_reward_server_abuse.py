"""The reward server against a hostile client (issue 19): one bad row, reply or connection never costs the rest.

Each test sends the input that once hurt other clients: connections that stall inside their bodies, a request of
10,000 responses beside a small one, a client that leaves mid-request, ambiguous framing with a second request
hidden in the body, a 20 MB response and an oversized body. Outcomes are asserted as statuses, orders and counts,
never as times."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from acecoder.exec import ExecResult, Status
from acecoder.serve.questions import QuestionIndex, questions_from_rows
from acecoder.serve.scoring import score_queries
from acecoder.serve.server import RewardServer
from conftest import FAST_LIMITS, REPOSITORY
from test_reward_server import ADD_PROMPT, RIGHT, ROWS, WRONG, request, rewards_for

BIG = 10_000


def wait_for(condition, seconds: float = 120.0, what: str = "condition") -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def health(server: RewardServer) -> dict:
    return request(server, "GET", "/health")[2]


def post_head(path: str, length: int | str, extra: str = "") -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Length: {length}\r\n{extra}\r\n".encode()


def responses_until_closed(server: RewardServer, data: bytes) -> list[int]:
    """Sends ``data`` on a fresh connection and reads until the server closes it; the status of every response."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as connection:
        connection.sendall(data)
        received = bytearray()
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                break
            received += chunk
    return [int(line.split()[1]) for line in received.decode("latin-1").split("\r\n") if line.startswith("HTTP/1.")]


def big_body(count: int = BIG) -> bytes:
    return json.dumps({"query": [ADD_PROMPT + RIGHT] * count, "prompts": [ADD_PROMPT] * count}).encode()


@pytest.fixture(scope="module")
def server():
    with RewardServer(ROWS, port=0, workers=1, limits=FAST_LIMITS, read_seconds=60) as running:
        yield running.start()


# ------------------------------------------------------------------------------------------ slow bodies


def test_stalled_bodies_take_no_admission_slot_and_time_out():
    with RewardServer(ROWS, port=0, workers=1, limits=FAST_LIMITS, max_pending=64, read_seconds=3) as server:
        server.start()
        stalled = []
        try:
            for _ in range(64):
                connection = socket.create_connection(("127.0.0.1", server.port), timeout=60)
                connection.sendall(post_head("/get_reward", 1000) + b"{")
                stalled.append(connection)
            # Every one of them is inside its body: none is admitted, so an honest request is.
            reply = rewards_for(server, [ADD_PROMPT + RIGHT], [ADD_PROMPT])
            assert reply["rewards"] == [1.0]
            assert health(server)["rejected"] == 0
            # Past read_seconds each is told so (408) and closed.
            for connection in stalled:
                answer = bytearray()
                while chunk := connection.recv(65536):  # until the server closes it
                    answer += chunk
                assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
            wait_for(lambda: health(server)["timed_out"] == 64, what="64 timeouts counted")
        finally:
            for connection in stalled:
                connection.close()


# ------------------------------------------------------------------------------------------ sharing the engine


def test_a_small_request_finishes_before_a_big_one_beside_it(server):
    big = socket.create_connection(("127.0.0.1", server.port), timeout=60)
    try:
        big.sendall(post_head("/get_reward", len(body := big_body())) + body)
        wait_for(lambda: health(server)["jobs_run"] > 0, what="the big request to start")
        reply = rewards_for(server, [ADD_PROMPT + RIGHT, ADD_PROMPT + WRONG], [ADD_PROMPT] * 2)
        assert reply["rewards"] == [1.0, 0.0]
        big.setblocking(False)
        with pytest.raises(BlockingIOError):
            big.recv(1)  # the big one has not been answered
        assert health(server)["pending"] == 1
    finally:
        big.close()
    wait_for(lambda: health(server)["pending"] == 0, what="the big request to be abandoned")


def test_a_departed_clients_jobs_are_cancelled(server):
    before = health(server)
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as big:
        big.sendall(post_head("/get_reward", len(body := big_body())) + body)
        wait_for(lambda: health(server)["jobs_run"] > before["jobs_run"], what="the big request to start")
        time.sleep(1.0)
    wait_for(lambda: health(server)["pending"] == 0, what="the request to be abandoned")
    after = health(server)
    run = after["jobs_run"] - before["jobs_run"]
    cancelled = after["jobs_cancelled"] - before["jobs_cancelled"]
    assert run + cancelled == BIG
    assert run < BIG // 10, f"{run} of {BIG} jobs ran for a client that had gone"
    assert after["disconnected"] - before["disconnected"] == 1
    # The server is still fine for everyone else.
    assert rewards_for(server, [ADD_PROMPT + RIGHT], [ADD_PROMPT])["rewards"] == [1.0]


# ------------------------------------------------------------------------------------------ framing

SMUGGLED = b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ("Content-Length: 2\r\nTransfer-Encoding: chunked\r\n", 400),
        ("Transfer-Encoding: chunked\r\nContent-Length: 2\r\n", 400),
        ("Content-Length: 0\r\nContent-Length: 0\r\n", 400),
        (f"Content-Length: 2\r\nContent-Length: {len(SMUGGLED)}\r\n", 400),
        ("Content-Length: +2\r\n", 400),
        ("Content-Length: 1_0\r\n", 400),
        ("Content-Length: 2 \r\n", 400),
        ("Content-Length: 0x2\r\n", 400),
        ("Content-Length: -2\r\n", 400),
        ("Content-Length: \uff12\r\n", 400),  # a digit to int(), not to HTTP
        ("Content-Length: 2, 2\r\n", 400),
        ("Transfer-Encoding: chunked\r\n", 411),
        ("", 411),
    ],
)
def test_ambiguous_framing_gets_400_and_no_second_request(server, headers, status):
    head = f"POST /get_reward HTTP/1.1\r\nHost: test\r\n{headers}\r\n".encode()
    served = health(server)["served"]
    assert responses_until_closed(server, head + b"{}" + SMUGGLED) == [status]
    assert health(server)["served"] == served


def test_a_body_on_a_get_is_read_as_a_body(server):
    head = f"GET /health HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: {len(SMUGGLED)}\r\n\r\n"
    assert responses_until_closed(server, head.encode() + SMUGGLED) == [200]


def test_an_oversized_body_is_read_and_answered_413():
    with RewardServer(ROWS, port=0, workers=1, limits=FAST_LIMITS, max_body_bytes=4096) as server:
        server.start()
        # Larger than the kernel's socket buffers: unread, it would leave the client with a broken pipe.
        body = json.dumps({"query": ["x" * (16 << 20)]}).encode()
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        try:
            connection.request("POST", "/get_reward", body=body)
            response = connection.getresponse()
            assert response.status == 413
            assert "over the limit of 4096" in json.loads(response.read())["error"]
            assert response.getheader("Connection") == "close"
        finally:
            connection.close()
        assert rewards_for(server, [ADD_PROMPT + RIGHT], [ADD_PROMPT])["rewards"] == [1.0]


# ------------------------------------------------------------------------------------------ large responses


def test_responses_and_prompts_over_the_limit_are_too_large_and_never_run():
    class Counting:
        def __init__(self) -> None:
            self.programs: list[str] = []

        def run(self, programs, tests, fail_fast=False, test_cpu_seconds=None):
            self.programs += programs
            return [ExecResult(Status.PASSED, len(each), len(each), []) for each in tests]

    index = QuestionIndex(questions_from_rows(ROWS))
    long_code = "```python\n" + "_z = 1\n" * 200 + "```"
    queries = [ADD_PROMPT + RIGHT, ADD_PROMPT + long_code, "é" * 600]  # the last: 1,200 bytes in 600 characters
    runner = Counting()
    reply = score_queries({"query": queries, "prompts": [ADD_PROMPT, ADD_PROMPT, "é" * 600]}, index, runner, "binary",
                          max_response_bytes=1000)  # fmt: skip
    assert reply.rewards == [1.0, 0.0, 0.0]
    assert reply.too_large == [1, 2]
    assert reply.unmatched == reply.no_code == []
    assert len(runner.programs) == 1


def test_run_batch_marks_jobs_over_the_limit(server):
    body = {"programs": ["x = 1", "x = 1\n" * 200_000, "x = 1"], "tests": [["assert x == 1"], [], ["#" * 300_000]]}
    status, _, reply = request(server, "POST", "/run_batch", body)
    assert status == 200
    assert reply["too_large"] == [1, 2]
    assert [result["status"] for result in reply["results"]] == ["passed", "too_large", "too_large"]


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_a_20_mb_response_is_too_large_and_memory_stays_bounded(tmp_path: Path):
    dataset = tmp_path / "questions.jsonl"
    dataset.write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    command = [sys.executable, "-m", "acecoder", "serve-reward", "--input", str(dataset), "--port", "0",
               "--workers", "1", "--max-response-bytes", "262144"]  # fmt: skip
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY / "python")}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=environment)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("serving on http://127.0.0.1:"), line
        port = int(line.split(":")[2].split(" ")[0])
        huge = "```python\n" + "_z = 1\n" * 2_995_931 + "```"
        body = json.dumps({"query": [ADD_PROMPT + huge, ADD_PROMPT + RIGHT], "prompts": [ADD_PROMPT] * 2})
        before = peak_rss_kib(process.pid)
        results: list[object] = []

        def small_client() -> None:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            body = json.dumps({"query": [ADD_PROMPT + RIGHT], "prompts": [ADD_PROMPT]})
            connection.request("POST", "/get_reward", body=body)
            results.append(json.loads(connection.getresponse().read()))
            connection.close()

        beside = threading.Thread(target=small_client)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        connection.request("POST", "/get_reward", body=body)
        beside.start()
        response = connection.getresponse()
        reply = json.loads(response.read())
        connection.close()
        beside.join()
        grown_mib = (peak_rss_kib(process.pid) - before) / 1024
        assert response.status == 200
        assert reply["rewards"] == [0.0, 1.0]
        assert reply["too_large"] == [0]
        assert results == [{"rewards": [1.0], "unmatched": [], "no_tests": [], "no_code": [], "sandbox_errors": [],
                            "too_large": []}]  # fmt: skip
        assert grown_mib < 500, f"the server's peak memory grew by {grown_mib:.0f} MiB"
    finally:
        process.terminate()
        process.wait(timeout=60)
        if process.stdout is not None:
            process.stdout.close()


def test_large_responses_are_extracted_one_at_a_time(monkeypatch):
    from acecoder.serve import scoring

    active, most = [0], [0]
    lock = threading.Lock()

    def slow_extract(text: str) -> str:
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        return "x = 1"

    monkeypatch.setattr(scoring, "extract_code", slow_extract)
    index = QuestionIndex(questions_from_rows(ROWS))
    large = ADD_PROMPT + "#" * (scoring.LARGE_RESPONSE_BYTES + 1)
    body = {"query": [large, large], "prompts": [ADD_PROMPT] * 2}

    class Passing:
        def run(self, programs, tests, fail_fast=False, test_cpu_seconds=None):
            return [ExecResult(Status.PASSED, len(each), len(each), []) for each in tests]

    threads = [threading.Thread(target=score_queries, args=(body, index, Passing(), "binary")) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 1


def test_bodies_in_memory_are_bounded_in_bytes():
    megabyte = 1 << 20
    with RewardServer(ROWS, port=0, workers=1, limits=FAST_LIMITS, max_body_bytes=megabyte,
                      max_buffered_bytes=megabyte + megabyte // 2) as server:  # fmt: skip
        server.start()
        body = json.dumps({"query": ["x" * (megabyte - 100)], "prompts": ["x"]}).encode()
        with socket.create_connection(("127.0.0.1", server.port), timeout=60) as held:
            held.sendall(post_head("/get_reward", len(body)) + body[:-1])  # all but its last byte
            wait_for(lambda: health(server)["buffered_bytes"] == len(body) - 1, what="the held body to arrive")
            status, headers, reply = request(server, "POST", "/get_reward", raw=body)
            assert status == 503 and headers["retry-after"] == "1"
            assert "bodies in memory would pass" in reply["error"]
        wait_for(lambda: health(server)["buffered_bytes"] == 0, what="the held body to be given back")
        status, _, reply = request(server, "POST", "/get_reward", raw=body)
        assert status == 200 and reply["too_large"] == [0]
        assert health(server)["over_budget"] == 1
