"""Verdicts: the judge's words for what happened to a test, and how a job's result frame is assembled.

A verdict is a plain dict (``status``, ``exception_type``, ``message``, ``cpu_time``), the shape of
``protocol::TestResult`` in Rust, so the result frame is written with ``json.dumps`` as it is.
"""

from __future__ import annotations

import os
import signal

TIMER_GRANULARITY = 0.05  # seconds: CPU timers fire on scheduler ticks, up to a few ticks early
EFBIG = 27  # errno of a write past RLIMIT_FSIZE
EXIT_SETUP_FAILED = 71  # a runner child that could not enter its sandbox


def verdict(status: str, exception_type: str | None = None, message: str | None = None, cpu_time: float = 0.0):
    return {"status": status, "exception_type": exception_type, "message": message, "cpu_time": cpu_time}


NOT_RUN = verdict("not_run")


def not_run() -> dict:
    return dict(NOT_RUN)


def truncate(text, limit: int = 1000) -> str:
    text = str(text)
    return text if len(text) <= limit else text[:limit] + "..."


def timeout(limit: float, cpu_time: float = 0.0) -> dict:
    return verdict("timeout", "Timeout", "CPU-time limit of %gs exceeded" % limit, cpu_time)


def from_exception(error: BaseException, cpu_time: float) -> dict:
    """The verdict of a step ended by ``error`` (the program's, rebuilt in the judge, or the test's own)."""
    message = getattr(error, "acecoder_message", None)
    if message is None:
        try:
            message = str(error) or None
        except Exception:  # noqa: BLE001 - a test's own exception with a broken __str__
            message = None
    names = [kind.__name__ for kind in type(error).__mro__]
    if "AssertionError" in names:
        return verdict("failed", "AssertionError", None if message is None else truncate(message), cpu_time)
    if "NotPlainValue" in names or "DigestRefused" in names:  # the runner refuses to digest what is not plain data
        return verdict("failed", "NotPlainValue", None if message is None else truncate(message), cpu_time)
    if "InvalidAnswer" in names:
        return verdict("failed", "InvalidAnswer", None if message is None else truncate(message), cpu_time)
    if "MemoryError" in names:
        return verdict("memory_exceeded", "MemoryError", "memory limit exceeded", cpu_time)
    if isinstance(error, OSError) and error.args and error.args[0] == EFBIG:
        return verdict("output_exceeded", "OSError", "output or file size limit exceeded", cpu_time)
    return verdict("error", truncate(names[0], 200), None if message is None else truncate(message), cpu_time)


def death(status: int, usage_cpu: float, reason: str | None, cpu_limit: float, output_exceeded: bool) -> dict:
    """The verdict of the step during which a runner died: how it died, not what it claimed."""
    if output_exceeded:
        return verdict("output_exceeded", None, "output limit exceeded", usage_cpu)
    if reason == "cpu":
        return timeout(cpu_limit, usage_cpu)
    if reason == "wall":
        return verdict("timeout", "Timeout", "wall-clock limit exceeded (killed from outside)", usage_cpu)
    if reason == "protocol":
        return verdict("error", "ProtocolError", "the program wrote to the judge's channel", usage_cpu)
    if status < 0:
        return verdict("killed", "Killed", "the program's process was lost", usage_cpu)
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        if number == signal.SIGXCPU:
            return timeout(cpu_limit, usage_cpu)
        if number == signal.SIGXFSZ:
            return verdict("output_exceeded", None, "file size limit exceeded", usage_cpu)
        if number == signal.SIGKILL and usage_cpu >= cpu_limit - TIMER_GRANULARITY:
            return timeout(cpu_limit, usage_cpu)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = str(number)
        return verdict("killed", "Killed", "killed by signal %s" % name, usage_cpu)
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    return verdict("killed", "Exit", "process exited with code %d before it answered" % code, usage_cpu)


def job_status(program: dict | None, tests: list[dict]) -> str:
    """The first thing that did not pass decides: the program itself, then the tests in order."""
    if program is not None and program["status"] != "passed":
        return "error" if program["status"] in ("passed", "failed") else program["status"]
    for test in tests:
        if test["status"] != "passed":
            return test["status"]
    return "passed"
