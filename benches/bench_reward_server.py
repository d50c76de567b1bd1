"""Reward-server benchmark: what HTTP, JSON, question lookup and code extraction cost on top of the engine.

The workload is what a GRPO trainer sends: each request is one MBPP+ question with 8 responses (a group), each
response a program in a ```python fence after some chatter, half of them (at random) the canonical solution and
half a broken copy whose function returns a wrong value; prompts are ``policy_prompt(question, tests)``.

The server runs as ``acecoder serve-reward`` in a subprocess (a trainer is another process, so the server's GIL is
its own), with 2 engine workers. Clients are threads in this process, each with one keep-alive connection,
at 1, 8 and 64 at once. Side by side, on an engine with the same workers, the same jobs (programs already
extracted) run in-process through ``Engine.run``, one call per request from as many threads: the server's
throughput over that is the price of serving. A last level sends 64 clients to a server with a small
``--max-pending`` to show admission control at work: rejected requests (503) are counted and retried after 0.1 s.

With ``--adversary`` it measures instead what one hostile client costs the honest ones (issue 19): 8 honest
clients alone, then the same 8 beside an adversary that keeps 64 connections stalled inside their bodies (headers
and one byte of a 1,000-byte body, reopened when the server drops them) and sends, again and again, a request of
10,000 responses (the canonical solution of one task), hanging up after ``--adversary-patience`` seconds and sending
it again. The ratio of the honest p99 latency beside the adversary to the p99 alone is the figure (target: 2x).

    .venv/bin/python benches/bench_reward_server.py            # ~3 minutes on 2 cores
    .venv/bin/python benches/bench_reward_server.py --quick    # ~1 minute, noisier
    .venv/bin/python benches/bench_reward_server.py --adversary [--quick]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from acecoder.data.benchmarks import load_mbpp_plus
from acecoder.data.tests import split_test_script
from acecoder.exec import Engine
from acecoder.extract import extract_code
from acecoder.prompts import policy_prompt
from acecoder.speed.table import format_table, percentile, rate, ratio, timed_batch

GROUP = 8
FULL_REQUESTS = {1: 100, 8: 300, 64: 600}
QUICK_REQUESTS = {1: 25, 8: 80, 64: 160}
SHARED_MBPP_PLUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "MbppPlus.jsonl.gz"
RESULTS = Path(__file__).resolve().parent / "results" / "bench_reward_server.json"
REJECTED_BACKOFF_SECONDS = 0.1
ADVERSARY_RESPONSES = 10_000
STALLED_CONNECTIONS = 64


@dataclass
class Request:
    body: bytes
    programs: list[str]
    tests: list[str]


@dataclass
class Level:
    """What one concurrency level measured: completed requests, latencies, rejections and the rewards."""

    runner: str
    clients: int
    requests: int
    seconds: float
    latencies: list[float]
    rejected: int = 0
    errors: int = 0
    other_cores: float = 0.0
    rewards: dict[int, list[float]] = field(default_factory=dict)

    def summary(self) -> dict:
        return {
            "runner": self.runner,
            "clients": self.clients,
            "requests": self.requests,
            "responses": self.requests * GROUP,
            "seconds": round(self.seconds, 3),
            "requests_per_second": round(self.requests / self.seconds, 2),
            "responses_per_second": round(self.requests * GROUP / self.seconds, 1),
            "p50_ms": round(percentile(self.latencies, 0.5) * 1000, 1),
            "p99_ms": round(percentile(self.latencies, 0.99) * 1000, 1),
            "rejected_503": self.rejected,
            "errors": self.errors,
            "other_cores": round(self.other_cores, 2),
        }


# ------------------------------------------------------------------------------------------------ workload


def question_text(prompt: str) -> str:
    """An MBPP+ prompt without its docstring quotes and example assert (policy_prompt adds the first test)."""
    lines = [line for line in prompt.strip().strip('"').strip().splitlines() if not line.startswith("assert")]
    return "\n".join(lines).strip()


def broken(program: str, entry_point: str) -> str:
    """The canonical solution with its function's return value replaced by a wrong one."""
    return (
        f"{program.rstrip()}\n\n\n_reference_{entry_point} = {entry_point}\n\n\n"
        f"def {entry_point}(*arguments, **keywords):\n"
        f"    result = _reference_{entry_point}(*arguments, **keywords)\n"
        "    return None if result is not None else 0\n"
    )


def response(program: str, rng: random.Random) -> str:
    opening = rng.choice(["Let me think about this step by step.", "Here is a solution.", "Sure!"])
    return f"{opening}\n\n```python\n{program.strip()}\n```\n\nThis handles the edge cases as well."


def build(mbpp_path: Path, count: int, seed: int) -> tuple[list[dict], list[Request]]:
    """Dataset rows (one per MBPP+ task) and ``count`` requests cycling through the tasks."""
    tasks = list(load_mbpp_plus(mbpp_path).values())
    rows = []
    for task in tasks:
        rows.append({"id": task["task_id"], "question": question_text(task["prompt"]),
                     "test_cases": split_test_script(task["assertion"])})  # fmt: skip
    rng = random.Random(seed)
    requests = []
    for number in range(count):
        task, row = tasks[number % len(tasks)], rows[number % len(rows)]
        prompt = policy_prompt(row["question"], row["test_cases"])
        programs = [
            task["canonical_solution"]
            if rng.random() < 0.5
            else broken(task["canonical_solution"], task["entry_point"])
            for _ in range(GROUP)
        ]
        queries = [prompt + response(program, rng) for program in programs]
        body = json.dumps({"query": queries, "prompts": [prompt] * GROUP}).encode()
        extracted = [extract_code(query[len(prompt) :]) for query in queries]
        requests.append(Request(body, extracted, row["test_cases"]))
    return rows, requests


# ------------------------------------------------------------------------------------------------ runners


@contextmanager
def served(dataset: Path, workers: int, max_pending: int, *extra: str) -> Iterator[int]:
    """``acecoder serve-reward`` in a subprocess; yields its port and stops it with SIGINT."""
    command = [sys.executable, "-m", "acecoder", "serve-reward", "--input", str(dataset), "--port", "0",
               "--workers", str(workers), "--max-pending", str(max_pending), *extra]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("serving on http://"):
            raise RuntimeError(f"the server did not start: {line!r}")
        yield int(line.split(":")[2].split(" ")[0])
    finally:
        process.send_signal(2)
        process.wait(timeout=60)
        if process.stdout is not None:
            process.stdout.close()


def run_clients(clients: int, count: int, one: Callable[[int, object], tuple[bool, object]], setup: Callable) -> dict:
    """``clients`` threads take request numbers until ``count`` are done; ``one`` answers (done?, value)."""
    next_number = iter(range(count))
    lock = threading.Lock()
    outcome: dict = {"latencies": [], "rejected": 0, "errors": 0, "values": {}, "error_samples": []}

    def client() -> None:
        state = setup()
        try:
            while True:
                with lock:
                    number = next(next_number, None)
                if number is None:
                    return
                started = time.perf_counter()  # a rejected request's wait counts in its latency
                while True:
                    done, value = one(number, state)
                    if done:
                        break
                    with lock:
                        outcome["rejected" if value == 503 else "errors"] += 1
                        if value != 503 and len(outcome["error_samples"]) < 5:
                            outcome["error_samples"].append(repr(value))
                    time.sleep(REJECTED_BACKOFF_SECONDS)
                with lock:
                    outcome["latencies"].append(time.perf_counter() - started)
                    outcome["values"][number] = value
        finally:
            close = getattr(state, "close", None)
            if close is not None:
                close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcome


def measure_server(port: int, requests: list[Request], clients: int, count: int, runner: str) -> Level:
    def one(number: int, connection: object) -> tuple[bool, object]:
        assert isinstance(connection, http.client.HTTPConnection)
        try:
            connection.request("POST", "/get_reward", body=requests[number].body)
            reply = connection.getresponse()
            payload = reply.read()
        except (OSError, http.client.HTTPException) as error:
            connection.close()  # the next attempt reconnects
            return False, error
        if reply.status != 200:
            return False, reply.status
        return True, json.loads(payload)["rewards"]

    def setup() -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", port, timeout=300)

    outcome, seconds, other = timed_batch(lambda: run_clients(clients, count, one, setup))
    for sample in outcome["error_samples"]:
        print(f"    error: {sample}", flush=True)
    return Level(runner, clients, count, seconds, outcome["latencies"], outcome["rejected"], outcome["errors"],
                 other, outcome["values"])  # fmt: skip


def measure_engine(engine: Engine, requests: list[Request], clients: int, count: int) -> Level:
    def one(number: int, _: object) -> tuple[bool, object]:
        request = requests[number]
        results = engine.run(request.programs, [request.tests] * GROUP, fail_fast=True)
        return True, [1.0 if result.total and result.passed == result.total else 0.0 for result in results]

    outcome, seconds, other = timed_batch(lambda: run_clients(clients, count, one, lambda: None))
    return Level("in-process Engine.run", clients, count, seconds, outcome["latencies"], other_cores=other,
                 rewards=outcome["values"])  # fmt: skip


# ------------------------------------------------------------------------------------------------ adversary


@dataclass
class Adversary:
    """A client that stalls connections and sends huge requests until ``stop`` is set; counts what it did."""

    port: int
    body: bytes
    patience: float
    stop: threading.Event = field(default_factory=threading.Event)
    big_requests: int = 0
    big_answered: int = 0
    stalled_opened: int = 0

    def stall(self) -> None:
        head = b"POST /get_reward HTTP/1.1\r\nHost: bench\r\nContent-Length: 1000\r\n\r\n{"
        connections: list[socket.socket] = []
        try:
            while not self.stop.is_set():
                # The server drops a stalled body after --read-seconds: open a new one in its place.
                for connection in [each for each in connections if select.select([each], [], [], 0)[0]]:
                    connections.remove(connection)
                    connection.close()
                while len(connections) < STALLED_CONNECTIONS:
                    connection = socket.create_connection(("127.0.0.1", self.port), timeout=60)
                    connection.sendall(head)
                    connections.append(connection)
                    self.stalled_opened += 1
                self.stop.wait(0.5)
        finally:
            for connection in connections:
                connection.close()

    def flood(self) -> None:
        head = (f"POST /get_reward HTTP/1.1\r\nHost: bench\r\nContent-Length: {len(self.body)}\r\n\r\n").encode()
        while not self.stop.is_set():
            with socket.create_connection(("127.0.0.1", self.port), timeout=600) as connection:
                connection.sendall(head + self.body)
                self.big_requests += 1
                deadline = time.monotonic() + self.patience
                while not self.stop.is_set() and time.monotonic() < deadline:
                    if select.select([connection], [], [], 0.1)[0]:
                        self.big_answered += 1  # answered within patience (not expected on 2 workers)
                        break

    @contextmanager
    def running(self) -> Iterator[Adversary]:
        threads = [threading.Thread(target=self.stall), threading.Thread(target=self.flood)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(1.0)  # let the first big request reach the engine
            yield self
        finally:
            self.stop.set()
            for thread in threads:
                thread.join()


def adversary_body(mbpp_path: Path, rows: list[dict]) -> bytes:
    task = next(iter(load_mbpp_plus(mbpp_path).values()))
    prompt = policy_prompt(rows[0]["question"], rows[0]["test_cases"])
    text = prompt + response(task["canonical_solution"], random.Random(1))
    return json.dumps({"query": [text] * ADVERSARY_RESPONSES, "prompts": [prompt] * ADVERSARY_RESPONSES}).encode()


def measure_adversary(arguments: argparse.Namespace, rows: list[dict], requests: list[Request], count: int) -> int:
    clients = 8
    with tempfile.TemporaryDirectory(prefix="bench-reward-server-") as directory:
        dataset = Path(directory) / "mbpp_plus.jsonl"
        dataset.write_text("".join(json.dumps(row) + "\n" for row in rows))
        extra = ("--read-seconds", str(arguments.read_seconds))
        with served(dataset, arguments.workers, arguments.max_pending, *extra) as port:
            measure_server(port, requests, 2, 8, "server")  # warm
            print(f"  {clients} honest clients alone, {count} requests ...", flush=True)
            alone = measure_server(port, requests, clients, count, "honest alone")
            adversary = Adversary(port, adversary_body(arguments.mbpp, rows), arguments.adversary_patience)
            print(f"  {clients} honest clients beside the adversary, {count} requests ...", flush=True)
            with adversary.running():
                beside = measure_server(port, requests, clients, count, "honest beside the adversary")
            health = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            health.request("GET", "/health")
            figures = json.loads(health.getresponse().read())
            health.close()
    rows_out = []
    for level in (alone, beside):
        summary = level.summary()
        rows_out.append([level.runner, level.clients, level.requests, rate(summary["requests_per_second"]),
                         f"{summary['p50_ms']:.0f}", f"{summary['p99_ms']:.0f}", level.rejected, level.errors,
                         mismatches(alone, level), f"{level.other_cores:.2f}"])  # fmt: skip
    print()
    print(format_table(["runner", "clients", "requests", "req/s", "p50 ms", "p99 ms", "503s", "errors", "mismatches",
                        "other cores"], rows_out, left=1))  # fmt: skip
    p99 = [percentile(level.latencies, 0.99) for level in (alone, beside)]
    p50 = [percentile(level.latencies, 0.5) for level in (alone, beside)]
    print(f"\nhonest p99 beside the adversary / alone: {ratio(p99[1], p99[0])}; p50: {ratio(p50[1], p50[0])}; "
          f"throughput: {ratio(alone.seconds, beside.seconds)}")  # fmt: skip
    print(f"adversary: {adversary.big_requests} requests of {ADVERSARY_RESPONSES} responses "
          f"({adversary.big_answered} answered), {adversary.stalled_opened} stalled connections opened; server: "
          f"{figures['jobs_run']} jobs run, {figures['jobs_cancelled']} cancelled, {figures['disconnected']} "
          f"clients gone, {figures['timed_out']} bodies timed out")  # fmt: skip
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    document = {"python": platform.python_version(), "cpus": os.cpu_count(), "workers": arguments.workers,
                "mode": "adversary", "quick": arguments.quick, "levels": [alone.summary(), beside.summary()],
                "p99_ratio": round(p99[1] / p99[0], 3), "p50_ratio": round(p50[1] / p50[0], 3),
                "adversary": {"big_requests": adversary.big_requests, "stalled_opened": adversary.stalled_opened},
                "server": figures}  # fmt: skip
    output = arguments.output.with_name(arguments.output.stem + "_adversary.json")
    output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {output}")
    return 0


# ------------------------------------------------------------------------------------------------ report


def mismatches(reference: Level, other: Level) -> int:
    return sum(1 for number, rewards in other.rewards.items() if reference.rewards.get(number) != rewards)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests per level")
    parser.add_argument("--workers", type=int, default=2, help="engine workers, server and in-process alike")
    parser.add_argument("--max-pending", type=int, default=256, help="the server's admission bound")
    parser.add_argument("--small-max-pending", type=int, default=8, help="the bound of the overload level")
    parser.add_argument(
        "--mbpp",
        type=Path,
        default=SHARED_MBPP_PLUS if SHARED_MBPP_PLUS.exists() else None,
        help="an MBPP+ release file (default: ../shared/data/MbppPlus.jsonl.gz, else the packaged one)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--adversary", action="store_true", help="honest clients alone, then beside a hostile one")
    parser.add_argument("--adversary-patience", type=float, default=5.0, help="seconds before it hangs up and resends")
    parser.add_argument("--read-seconds", type=float, default=10.0, help="the server's body deadline (adversary mode)")
    arguments = parser.parse_args(argv)
    plan = QUICK_REQUESTS if arguments.quick else FULL_REQUESTS
    rows, requests = build(arguments.mbpp, max(plan.values()), seed=0)
    if arguments.adversary:
        return measure_adversary(arguments, rows, requests, plan[8])
    print(f"{len(rows)} MBPP+ questions; requests of {GROUP} responses; {arguments.workers} engine workers; "
          f"Python {platform.python_version()}, {os.cpu_count()} CPUs", flush=True)  # fmt: skip
    levels: list[Level] = []
    with tempfile.TemporaryDirectory(prefix="bench-reward-server-") as directory:
        dataset = Path(directory) / "mbpp_plus.jsonl"
        dataset.write_text("".join(json.dumps(row) + "\n" for row in rows))
        engine = Engine(workers=arguments.workers)
        with engine, served(dataset, arguments.workers, arguments.max_pending) as port:
            measure_engine(engine, requests, 2, 8)  # warm both
            measure_server(port, requests, 2, 8, "server")
            for clients, count in plan.items():
                print(f"  {clients} client(s), {count} requests ...", flush=True)
                local = measure_engine(engine, requests, clients, count)
                remote = measure_server(port, requests, clients, count, f"server (max_pending={arguments.max_pending})")
                levels += [local, remote]
        with served(dataset, arguments.workers, arguments.small_max_pending) as port:
            count = plan[64]
            print(f"  64 clients, {count} requests, max_pending={arguments.small_max_pending} ...", flush=True)
            measure_server(port, requests, 2, 8, "server")
            levels.append(
                measure_server(port, requests, 64, count, f"server (max_pending={arguments.small_max_pending})")
            )
    reference = {level.clients: level for level in levels if level.runner.startswith("in-process")}
    rows_out, summaries = [], []
    for level in levels:
        summary = level.summary()
        local = reference[level.clients]
        summary["over_in_process"] = None if level is local else round(local.seconds / level.seconds, 3)
        summary["reward_mismatches"] = None if level is local else mismatches(local, level)
        summaries.append(summary)
        rows_out.append([
            level.runner, level.clients, level.requests, rate(summary["requests_per_second"]),
            rate(summary["responses_per_second"]), f"{summary['p50_ms']:.0f}", f"{summary['p99_ms']:.0f}",
            level.rejected, level.errors, "-" if level is local else ratio(local.seconds, level.seconds),
            "-" if level is local else summary["reward_mismatches"], f"{level.other_cores:.2f}",
        ])  # fmt: skip
    headers = ["runner", "clients", "requests", "req/s", "responses/s", "p50 ms", "p99 ms", "503s", "errors",
               "vs in-process", "mismatches", "other cores"]  # fmt: skip
    print()
    print(format_table(headers, rows_out, left=1))
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    document = {"python": platform.python_version(), "cpus": os.cpu_count(), "workers": arguments.workers,
                "group": GROUP, "questions": len(rows), "quick": arguments.quick, "levels": summaries}  # fmt: skip
    arguments.output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwrote {arguments.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
