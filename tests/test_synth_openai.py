"""OpenAIBackend against a real local HTTP server: choices, ordering under concurrency, which failures are retried and
how long backoff waits, timeouts, servers that ignore ``n``, and how the API key travels."""

from __future__ import annotations

import asyncio
import random
import socket
import subprocess
import sys
import threading

import pytest
from acecoder.generation.base import ChatRequest, Generation, Sampling

pytest.importorskip("openai")

from acecoder.generation.openai_backend import OpenAIBackend  # noqa: E402
from chat_server import ChatServer, Reply, Responder, last_user_message, recorded  # noqa: E402

MODEL = "test-model"


def chat(prompt: str, n: int = 1, seed: int | None = None) -> ChatRequest:
    return ChatRequest(messages=({"role": "user", "content": prompt},), sampling=Sampling(n=n, seed=seed))


def scripted(*replies: Reply) -> Responder:
    """Answers with ``replies`` in turn, then keeps repeating the last one."""
    lock = threading.Lock()
    remaining = list(replies)

    def respond(body: dict) -> Reply:
        with lock:
            return remaining.pop(0) if len(remaining) > 1 else remaining[0]

    return respond


def record_sleeps(backend: OpenAIBackend) -> list[float]:
    """Makes backoff instant and returns the list of waits it would have made."""
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    backend._sleep = sleep
    return sleeps


def test_success_returns_n_choices_and_sends_the_sampling() -> None:
    with ChatServer(lambda body: Reply(texts=[f"answer {index}" for index in range(body["n"])])) as server:
        with OpenAIBackend(MODEL, base_url=server.base_url) as backend:
            [generation] = backend.generate([chat("hello", n=3)])
    assert generation == Generation(texts=["answer 0", "answer 1", "answer 2"])
    [body] = server.requests
    assert body["model"] == MODEL
    assert body["messages"] == [{"role": "user", "content": "hello"}]
    assert (body["n"], body["temperature"], body["top_p"], body["max_tokens"]) == (3, 0.7, 1.0, 2048)
    assert "seed" not in body


def test_results_follow_request_order_under_bounded_concurrency() -> None:
    delays = random.Random(0)
    lock = threading.Lock()

    def respond(body: dict) -> Reply:
        with lock:
            delay = delays.uniform(0.0, 0.1)
        return Reply(texts=[last_user_message(body).upper()], delay=delay)

    prompts = [f"prompt {index}" for index in range(16)]
    with ChatServer(respond) as server:
        with OpenAIBackend(MODEL, base_url=server.base_url, concurrency=4) as backend:
            generations = backend.generate([chat(prompt) for prompt in prompts])
    assert [generation.texts for generation in generations] == [[prompt.upper()] for prompt in prompts]
    assert 2 <= server.max_in_flight <= 4


def test_on_result_is_called_once_per_request_with_its_result() -> None:
    calls: list[tuple[int, Generation]] = []
    with ChatServer(recorded({"good": ["fine"]})) as server:
        with OpenAIBackend(MODEL, base_url=server.base_url, concurrency=2) as backend:
            generations = backend.generate(
                [chat("good one"), chat("unknown"), chat("good two")], on_result=lambda *call: calls.append(call)
            )
    assert sorted(index for index, _ in calls) == [0, 1, 2]
    assert all(generation is generations[index] for index, generation in calls)
    # One failing request does not sink the batch.
    assert [generation.texts for generation in generations] == [["fine"], [], ["fine"]]
    assert generations[1].error is not None and generations[1].error.startswith("http 404: no recorded reply")


def test_rate_limit_is_retried_after_the_servers_retry_after() -> None:
    responder = scripted(Reply(status=429, error="slow down", headers={"Retry-After": "0.2"}), Reply(texts=["done"]))
    with ChatServer(responder) as server:
        with OpenAIBackend(MODEL, base_url=server.base_url, backoff_base=5.0) as backend:
            sleeps = record_sleeps(backend)
            [generation] = backend.generate([chat("hello")])
    assert generation == Generation(texts=["done"])
    assert len(server.requests) == 2
    assert sleeps == [0.2]


def test_retry_after_is_capped_at_backoff_max() -> None:
    responder = scripted(Reply(status=429, headers={"Retry-After": "30"}), Reply(texts=["done"]))
    with ChatServer(responder) as server:
        with OpenAIBackend(MODEL, base_url=server.base_url, backoff_max=0.05) as backend:
            sleeps = record_sleeps(backend)
            [generation] = backend.generate([chat("hello")])
    assert generation.ok
    assert sleeps == [0.05]


def test_server_errors_are_retried_with_growing_jittered_backoff() -> None:
    responder = scripted(Reply(status=500), Reply(status=503), Reply(texts=["done"]))
    with ChatServer(responder) as server:
        with OpenAIBackend(MODEL, base_url=server.base_url, backoff_base=0.01) as backend:
            sleeps = record_sleeps(backend)
            [generation] = backend.generate([chat("hello")])
    assert generation == Generation(texts=["done"])
    assert len(server.requests) == 3
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 0.01 and 0 <= sleeps[1] <= 0.02


def test_persistent_server_error_becomes_a_generation_error() -> None:
    with ChatServer(lambda body: Reply(status=500, error="overloaded")) as server:
        with OpenAIBackend(MODEL, base_url=server.base_url, max_retries=3, backoff_base=0.01) as backend:
            [generation] = backend.generate([chat("hello", n=2)])
    assert generation.texts == []
    assert generation.error == "http 500 after 4 attempts: overloaded"
    assert len(server.requests) == 4


@pytest.mark.parametrize("status", [400, 401])
def test_client_errors_are_not_retried(status: int) -> None:
    with ChatServer(lambda body: Reply(status=status, error="no such thing")) as server:
        with OpenAIBackend(MODEL, base_url=server.base_url, backoff_base=0.01) as backend:
            [generation] = backend.generate([chat("hello")])
    assert generation == Generation(error=f"http {status}: no such thing")
    assert len(server.requests) == 1


def test_slow_answer_times_out_and_is_retried() -> None:
    with ChatServer(scripted(Reply(texts=["late"], delay=2.0), Reply(texts=["quick"]))) as server:
        with OpenAIBackend(MODEL, base_url=server.base_url, timeout=0.5, backoff_base=0.01) as backend:
            [generation] = backend.generate([chat("hello")])
    assert generation == Generation(texts=["quick"])
    assert len(server.requests) == 2


def test_persistently_slow_answer_becomes_a_timeout_error() -> None:
    with ChatServer(lambda body: Reply(texts=["late"], delay=2.0)) as server:
        with OpenAIBackend(MODEL, base_url=server.base_url, timeout=0.5, max_retries=1, backoff_base=0.01) as backend:
            [generation] = backend.generate([chat("hello")])
    assert generation == Generation(error="timeout after 2 attempts: no complete reply within 0.5 s")
    assert len(server.requests) == 2


CUT_JSON = b'{"choices": [ {"message": '


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (CUT_JSON, "bad_reply: truncated JSON"),
        (b"", "bad_reply: empty body"),
        (b"<html>502 Bad Gateway</html>", "bad_reply: not JSON"),
        (b"\xff\xfe{", "bad_reply: not UTF-8"),
        (b"[1, 2]", "bad_reply: not a JSON object"),
        (b'{"id": "x"}', "bad_reply: no choices list"),
        (b'{"choices": null}', "bad_reply: no choices list"),
        (b'{"choices": [1]}', "bad_reply: malformed choice"),
        (b'{"choices": [{"message": "hi"}]}', "bad_reply: malformed choice"),
        (b'{"choices": [{"message": {"content": 5}}]}', "bad_reply: malformed choice"),
        (b'{"error": {"message": "model  overloaded"}}', "bad_reply: error object: model overloaded"),
        (b"[" * 100_000, "bad_reply: JSON nested too deeply"),
    ],
)
def test_a_200_with_a_bad_body_is_a_failed_generation_and_the_batch_goes_on(body: bytes, error: str) -> None:
    def respond(request: dict) -> Reply:
        if last_user_message(request) == "bad":
            return Reply(body=body)
        return Reply(texts=["fine"])

    with ChatServer(respond) as server:
        with OpenAIBackend(MODEL, base_url=server.base_url, backoff_base=0.01) as backend:
            generations = backend.generate([chat("good"), chat("bad"), chat("good")])
    assert [generation.texts for generation in generations] == [["fine"], [], ["fine"]]
    assert generations[1].error == error
    assert sum(last_user_message(request) == "bad" for request in server.requests) == 1  # not retried


def test_an_oversized_reply_is_refused_while_it_arrives() -> None:
    braces = "{" * 20_000_000
    with ChatServer(lambda body: Reply(texts=[braces])) as server:
        with OpenAIBackend(MODEL, base_url=server.base_url, max_retries=0) as backend:
            [generation] = backend.generate([chat("hello")])
    assert generation == Generation(error=f"bad_reply: over {1_000_000 + 65_536:,} bytes")


def test_a_completion_over_the_cap_is_refused_in_a_body_under_it() -> None:
    with ChatServer(lambda body: Reply(texts=["ok", "x" * 1500])) as server:
        with OpenAIBackend(MODEL, base_url=server.base_url, max_reply_bytes=1000) as backend:
            [generation] = backend.generate([chat("hello", n=2)])
    assert generation == Generation(error="bad_reply: over 1,000 bytes")


def test_a_dripped_reply_fails_at_the_deadline_of_the_whole_request() -> None:
    # Each byte arrives well within the timeout, so only a deadline on the whole request can end it.
    with ChatServer(lambda body: Reply(texts=["a reply that takes a minute to arrive"], drip=0.5)) as server:
        with OpenAIBackend(MODEL, base_url=server.base_url, timeout=2.0, max_retries=0) as backend:
            [generation] = backend.generate([chat("hello")])
    assert generation == Generation(error="timeout after 1 attempt: no complete reply within 2 s")


def test_a_connection_closed_mid_body_is_retried() -> None:
    responder = scripted(Reply(texts=["cut"], declared_length=10_000), Reply(texts=["whole"]))
    with ChatServer(responder) as server:
        with OpenAIBackend(MODEL, base_url=server.base_url, backoff_base=0.01) as backend:
            [generation] = backend.generate([chat("hello")])
    assert generation == Generation(texts=["whole"])
    assert len(server.requests) == 2


def test_connection_refused_is_retried_then_reported() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with OpenAIBackend(MODEL, base_url=f"http://127.0.0.1:{port}/v1", max_retries=2, backoff_base=0.01) as backend:
        [generation] = backend.generate([chat("hello")])
    assert generation.texts == []
    assert generation.error is not None and generation.error.startswith("connection error after 3 attempts")


def test_server_that_ignores_n_gets_follow_up_requests() -> None:
    with ChatServer(lambda body: Reply(texts=[f"seed {body.get('seed')}"])) as server:
        with OpenAIBackend(MODEL, base_url=server.base_url) as backend:
            [seeded, unseeded] = backend.generate([chat("a", n=3, seed=7), chat("b", n=2)])
    # Follow-ups shift the seed, or they would repeat the completion already received.
    assert seeded.texts == ["seed 7", "seed 8", "seed 9"]
    assert unseeded.texts == ["seed None", "seed None"]
    counts = sorted((last_user_message(body), body["n"]) for body in server.requests)
    assert counts == [("a", 1), ("a", 2), ("a", 3), ("b", 1), ("b", 2)]


def test_extra_choices_are_cut_and_null_content_is_empty() -> None:
    with ChatServer(lambda body: Reply(texts=[None, "two", "three"])) as server:
        with OpenAIBackend(MODEL, base_url=server.base_url) as backend:
            [generation] = backend.generate([chat("hello", n=2)])
    assert generation == Generation(texts=["", "two"])


def test_api_key_is_sent_as_bearer_and_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    secret = "sk-test-0123456789"
    with ChatServer(lambda body: Reply(texts=["ok"])) as server:
        with OpenAIBackend(MODEL, base_url=server.base_url, api_key=secret) as backend:
            assert secret not in repr(backend) and secret not in str(backend)
            backend.generate([chat("hello")])
        monkeypatch.setenv("OPENAI_API_KEY", "sk-from-environment")
        with OpenAIBackend(MODEL, base_url=server.base_url) as backend:
            assert "sk-from-environment" not in repr(backend)
            backend.generate([chat("hello")])
        monkeypatch.delenv("OPENAI_API_KEY")
        with OpenAIBackend(MODEL, base_url=server.base_url) as backend:
            backend.generate([chat("hello")])
    authorizations = [headers["authorization"] for headers in server.headers]
    assert authorizations == [f"Bearer {secret}", "Bearer sk-from-environment", "Bearer EMPTY"]


def test_the_openai_api_without_a_key_is_refused_early(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        OpenAIBackend(MODEL)


def test_generate_works_inside_a_running_event_loop() -> None:
    with ChatServer(lambda body: Reply(texts=[last_user_message(body)])) as server:
        with OpenAIBackend(MODEL, base_url=server.base_url) as backend:

            async def both() -> tuple[list[Generation], list[Generation]]:
                # A caller with its own loop (a notebook) may still use the synchronous API.
                return backend.generate([chat("sync")]), await backend.generate_async([chat("async")])

            from_thread, awaited = asyncio.run(both())
    assert from_thread == [Generation(texts=["sync"])]
    assert awaited == [Generation(texts=["async"])]


def test_closed_backend_refuses_and_close_is_idempotent() -> None:
    backend = OpenAIBackend(MODEL, base_url="http://127.0.0.1:9/v1")
    backend.close()
    backend.close()
    with pytest.raises(RuntimeError, match="closed"):
        backend.generate([chat("hello")])


def test_empty_batch_sends_nothing() -> None:
    with ChatServer(lambda body: Reply(texts=["ok"])) as server:
        with OpenAIBackend(MODEL, base_url=server.base_url) as backend:
            assert backend.generate([]) == []
    assert server.requests == []


def test_importing_acecoder_does_not_import_openai() -> None:
    code = (
        "import sys, acecoder, acecoder.generation.base, acecoder.generation.openai_backend; "
        "assert 'openai' not in sys.modules, 'openai imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_openai_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openai", None)
    with pytest.raises(ImportError, match=r"pip install 'acecoder\[synth\]'"):
        OpenAIBackend(MODEL, base_url="http://127.0.0.1:9/v1")
