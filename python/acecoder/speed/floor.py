"""The bare floor: the least work that can run (program, asserts) jobs in parallel from warm Python processes.

An engine that forks per job from warm workers cannot beat "fork a warm interpreter, exec the code, send back one
number" by much, so this is what acecoder's per-job overhead is measured against. The floor does exactly that and
nothing else: W warm worker processes (``python -I -S``, the same preloaded modules as acecoder's workers, then
``gc.freeze()``, so both are equally warm), each forking one child per job that runs the program and its tests in
one namespace and writes its pass count to a pipe. There is no isolation at all: no rlimits, no seccomp, no
scratch directory, no output capture, no verdict integrity. Only two things are kept because the results would
otherwise be wrong, not because they isolate anything: a per-test CPU-time limit (so an infinite loop ends, as
it does under acecoder) and the child's stdout pointed at /dev/null (so a program's prints cannot corrupt the
worker's reply).

The caller drives the workers from W Python threads, one per worker, pulling jobs from a shared queue; the
threads spend their time blocked in pipe reads, with the GIL released.
"""

from __future__ import annotations

import json
import os
import queue
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from acecoder.exec import DEFAULT_PRELOAD, usable_cpus

_HEADER = struct.Struct("<I")

# Runs in each floor worker (`python -I -S -c`). argv[1] is JSON: {"preload": [...], "program_seconds": float}.
# Jobs arrive on fd 0 as length-prefixed JSON {"program", "tests", "seconds"}; each answer is one 4-byte count.
_WORKER_SOURCE = r"""
import gc, json, os, signal, struct, sys

HEADER = struct.Struct("<I")
NO_RESULT = 0xFFFFFFFF
config = json.loads(sys.argv[1])
for name in config["preload"]:
    try:
        __import__(name)
    except BaseException:
        pass


class Timeout(BaseException):
    pass


def on_cpu_limit(signum, frame):
    raise Timeout()


def read_exact(count):
    data = b""
    while len(data) < count:
        chunk = os.read(0, count - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def run_limited(code, namespace, seconds):
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        exec(code, namespace)
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)


def child(job, write_end, devnull):
    os.dup2(devnull, 1)
    signal.signal(signal.SIGPROF, on_cpu_limit)
    namespace = {"__name__": "__floor__"}
    passed = 0
    try:
        run_limited(job["program"], namespace, config["program_seconds"])
        tests = job["tests"]
    except BaseException:
        tests = []
    for test in tests:
        try:
            run_limited(test, namespace, job["seconds"])
            passed += 1
        except BaseException:
            pass
    os.write(write_end, HEADER.pack(passed))
    os._exit(0)


def main():
    devnull = os.open(os.devnull, os.O_WRONLY)
    gc.collect()
    gc.freeze()
    os.write(1, b"R")
    while True:
        header = read_exact(4)
        if header is None:
            return
        job = json.loads(read_exact(HEADER.unpack(header)[0]))
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            child(job, write_end, devnull)
        os.close(write_end)
        answer = b""
        while True:
            chunk = os.read(read_end, 4)
            if not chunk:
                break
            answer += chunk
        os.close(read_end)
        os.waitpid(pid, 0)
        os.write(1, answer if len(answer) == 4 else HEADER.pack(NO_RESULT))


main()
"""
_NO_RESULT = 0xFFFFFFFF


class FloorWorkerError(RuntimeError):
    """A floor worker failed to start or died; the floor has no recovery (it is a measuring stick, not an engine)."""


@dataclass
class FloorResult:
    """Per-job pass counts (``-1`` where the child died before reporting) and per-job latency in seconds."""

    passed: list[int]
    latencies: list[float]


def _read_exact(fd: int, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = os.read(fd, count - len(data))
        if not chunk:
            raise FloorWorkerError("a floor worker closed its pipe")
        data += chunk
    return data


class BareFloor:
    """W warm, unisolated, fork-per-job Python workers. Use as a context manager, or call ``close()``.

    Args:
        workers: number of worker processes; ``None`` means one per usable CPU.
        test_seconds: CPU-time limit of each test (acecoder's ``Limits.test_cpu_seconds``).
        program_seconds: CPU-time limit of each program's top level (``Limits.program_cpu_seconds``).
        preload: modules every worker imports before forking jobs (acecoder's default list).
    """

    def __init__(
        self,
        workers: int | None = None,
        *,
        test_seconds: float = 4.0,
        program_seconds: float = 10.0,
        preload: Sequence[str] = DEFAULT_PRELOAD,
    ) -> None:
        if workers is None:
            workers = usable_cpus()
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ValueError(f"workers must be a positive int or None, got {workers!r}")
        self.workers = workers
        self.test_seconds = float(test_seconds)
        config = json.dumps({"preload": list(preload), "program_seconds": float(program_seconds)})
        self._processes: list[subprocess.Popen] = []
        try:
            for _ in range(workers):
                process = subprocess.Popen(
                    [sys.executable, "-I", "-S", "-c", _WORKER_SOURCE, config],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                )
                self._processes.append(process)
            for process in self._processes:
                if os.read(process.stdout.fileno(), 1) != b"R":  # type: ignore[union-attr]
                    raise FloorWorkerError("a floor worker did not start")
        except BaseException:
            self.close()
            raise

    def run(self, programs: Sequence[str], tests: Sequence[Sequence[str]]) -> FloorResult:
        """Runs every job; pass counts and latencies in input order."""
        if len(programs) != len(tests):
            raise ValueError(f"got {len(programs)} programs but {len(tests)} test lists")
        if not self._processes:
            raise FloorWorkerError("the floor is closed")
        count = len(programs)
        passed = [0] * count
        latencies = [0.0] * count
        pending: queue.SimpleQueue[int] = queue.SimpleQueue()
        for index in range(count):
            pending.put(index)
        failures: list[BaseException] = []

        def drive(process: subprocess.Popen) -> None:
            job_fd = process.stdin.fileno()  # type: ignore[union-attr]
            answer_fd = process.stdout.fileno()  # type: ignore[union-attr]
            try:
                while True:
                    try:
                        index = pending.get_nowait()
                    except queue.Empty:
                        return
                    started = time.perf_counter()
                    payload = json.dumps(
                        {"program": programs[index], "tests": list(tests[index]), "seconds": self.test_seconds}
                    ).encode("utf-8", "replace")
                    os.write(job_fd, _HEADER.pack(len(payload)) + payload)
                    (value,) = _HEADER.unpack(_read_exact(answer_fd, _HEADER.size))
                    latencies[index] = time.perf_counter() - started
                    passed[index] = -1 if value == _NO_RESULT else value
            except BaseException as error:  # noqa: BLE001 - re-raised in the calling thread
                failures.append(error)

        threads = [threading.Thread(target=drive, args=(process,), daemon=True) for process in self._processes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            raise failures[0]
        return FloorResult(passed, latencies)

    def close(self) -> None:
        """Stops every worker. Idempotent."""
        processes, self._processes = self._processes, []
        for process in processes:
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()
        for process in processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> BareFloor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
