"""Serve test-based rewards over HTTP, for trainers that score rollouts in another process: OpenRLHF's
``--remote_rm_url`` (``POST /get_reward``) and verl or any client that brings its own tests (``POST /run_batch``).

One long-lived sandboxed engine serves every request; a bounded number of requests is admitted at once and the rest
are turned away with 503 and ``Retry-After``, so a trainer that floods the server learns to back off instead of
piling up work nobody waits for. A request is admitted only with its whole body in hand (``--read-seconds`` to send
it), admitted requests share the engine eight jobs at a time, and a response over ``--max-response-bytes`` is
listed in ``too_large`` and never run: one client's bad request costs the others little (``acecoder.serve.server``).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from acecoder.cli.config_flags import port_number, positive_float, positive_int
from acecoder.cli.vocabulary import add_option, keyword_default
from acecoder.exec import Limits

HELP = "an HTTP reward server for OpenRLHF (--remote_rm_url) and verl, backed by the sandboxed engine"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from acecoder.serve.scoring import DEFAULT_MAX_RESPONSE_BYTES
    from acecoder.serve.server import DEFAULT_MAX_BODY_BYTES, DEFAULT_READ_SECONDS, RewardServer

    add_option(parser, "--input", old=("--dataset",), type=Path, required=True,
               help="rows with question and test_cases (optional id)")  # fmt: skip
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=port_number, default=5000, help="port to listen on; 0 picks a free one")
    parser.add_argument(
        "--mode",
        choices=("binary", "pass_rate"),
        default="binary",
        help="binary: 1.0 only when every test passes (AceCoder's); pass_rate: passed / total",
    )
    parser.add_argument(
        "--workers", type=positive_int, default=None, help="engine workers (default: one per usable CPU)"
    )
    parser.add_argument(
        "--max-pending",
        type=positive_int,
        default=keyword_default(RewardServer, "max_pending"),
        help="requests admitted at once, running or waiting; more get 503",
    )
    parser.add_argument("--max-body-bytes", type=positive_int, default=DEFAULT_MAX_BODY_BYTES,
                        help="largest request body accepted; a larger one gets 413")  # fmt: skip
    parser.add_argument(
        "--max-response-bytes",
        type=positive_int,
        default=DEFAULT_MAX_RESPONSE_BYTES,
        help="largest response (or prompt, or /run_batch program with its tests) scored; larger ones score 0.0 and "
        "are listed in too_large",
    )
    parser.add_argument(
        "--max-buffered-bytes",
        type=positive_int,
        default=None,
        help="request bodies held in memory at once; one that would pass it gets 503 (default: 4 x --max-body-bytes)",
    )
    parser.add_argument(
        "--read-seconds",
        type=positive_float,
        default=DEFAULT_READ_SECONDS,
        help="seconds a client has to send a request's body once its headers are in; slower ones are dropped",
    )
    add_option(parser, "--test-cpu-seconds", old=("--timeout",), type=positive_float,
               default=Limits().test_cpu_seconds, help="CPU seconds one test may use")  # fmt: skip
    parser.add_argument("--verbose", action="store_true", help="log every request on stderr")


def run(arguments: argparse.Namespace) -> int:
    from acecoder.serve.questions import load_questions
    from acecoder.serve.server import RewardServer

    try:
        rows = load_questions(arguments.input)
        limits = Limits(test_cpu_seconds=arguments.test_cpu_seconds)
        server = RewardServer(
            rows,
            host=arguments.host,
            port=arguments.port,
            mode=arguments.mode,
            workers=arguments.workers,
            limits=limits,
            max_pending=arguments.max_pending,
            max_body_bytes=arguments.max_body_bytes,
            max_response_bytes=arguments.max_response_bytes,
            max_buffered_bytes=arguments.max_buffered_bytes,
            read_seconds=arguments.read_seconds,
            verbose=arguments.verbose,
        )
    except (OSError, ValueError, TypeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    stop = threading.Event()
    # Both signals end the wait below; the server then closes in the main thread, so the engine's workers are
    # stopped and reaped before the process exits.
    previous = {number: signal.signal(number, lambda *_: stop.set()) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        with server:
            server.start()
            calibrated = sum(1 for question in server.index.questions if question.test_cpu_seconds is not None)
            print(f"serving on {server.url} ({len(server.index)} questions, {calibrated} with a calibrated time "
                  "limit)", flush=True)  # fmt: skip
            while not stop.wait(0.5):
                pass
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    print("stopped", file=sys.stderr)
    return 0
