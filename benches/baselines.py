"""Baselines that acecoder is measured against in ``bench_exec.py``; only for benchmarks, never for real use.

``EvalplusPattern`` re-implements, in our own code, the execution pattern of evalplus and of AceCoder's released
evaluation code, step for step, so that its cost is the pattern's real cost:

- the caller submits one task per program to a ``concurrent.futures.ProcessPoolExecutor`` (AceCoder's
  ``evaluate``), whose workers are started with the platform's default start method (fork on Linux before
  Python 3.14), i.e. they are copies of the caller;
- per program the pool worker allocates shared-memory results (``multiprocessing.Value``/``Array``), starts one
  ``multiprocessing.Process`` (again the default start method: a fork of the pool worker), joins it with a
  timeout of the summed test limits plus slack, and terminates/kills it if it is still alive;
- the child creates and enters a temporary directory, applies the "reliability guard" (RLIMIT_AS, RLIMIT_DATA
  and RLIMIT_STACK set to min(4 GiB, RAM); ``faulthandler`` off; destructive ``os``/``shutil``/``subprocess``
  functions and ``open`` replaced by ``None``), executes the program with stdio swallowed, then each assert
  under a per-test ``signal.setitimer(ITIMER_REAL)`` limit, recording each verdict in the shared array.

Published sources of the pattern (read for the facts above; no code is copied):
  https://github.com/evalplus/evalplus/blob/master/evalplus/eval/__init__.py   (untrusted_check, unsafe_execute)
  https://github.com/evalplus/evalplus/blob/master/evalplus/eval/utils.py      (reliability_guard, time_limit)
  https://github.com/TIGER-AI-Lab/AceCoder/blob/main/src/acecoder/evalplus_eval.py  (assert-test variant)
  https://github.com/TIGER-AI-Lab/AceCoder/blob/main/src/acecoder/eval_test_cases.py (ProcessPoolExecutor driver)

Because the pool workers and every per-program process are forks, their cost grows with the caller's memory:
that is what the benchmark's 4 GB run shows. Note the memory limit is absolute, so a caller that already maps
4 GiB leaves its children no room at all; the benchmark's ballast stays a little under that.

``SubprocessRunner`` is the other common pattern: a fresh ``python -c`` per program, from a pool of threads,
with a generated script that runs each test under its own time limit and prints the pass count.
"""

from __future__ import annotations

import builtins
import concurrent.futures
import contextlib
import faulthandler
import io
import multiprocessing
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from ctypes import c_char

# Verdict codes kept in the shared array, as in the published pattern.
SUCCESS, FAILED, TIMEOUT, UNKNOWN = 0, 1, 2, 3
ERROR_SLOT_BYTES = 256
MAXIMUM_MEMORY_BYTES = 4 * 1024 * 1024 * 1024


# ----------------------------------------------------------------------------------------- the evalplus pattern


class TestTimeout(Exception):
    """Raised by the SIGALRM handler; an ``Exception``, as in the pattern (so ``except Exception`` catches it)."""

    __test__ = False


class _WriteOnlyText(io.StringIO):
    """Swallows output; reading from it fails, as the pattern's redirected stdin does."""

    def read(self, *arguments: object, **options: object) -> str:
        raise OSError("stdin is not readable here")

    def readline(self, *arguments: object, **options: object) -> str:  # type: ignore[override]
        raise OSError("stdin is not readable here")

    def readable(self) -> bool:
        return False


@contextlib.contextmanager
def _swallowed_io():
    sink = _WriteOnlyText()
    saved = sys.stdout, sys.stderr, sys.stdin
    sys.stdout = sys.stderr = sys.stdin = sink
    try:
        yield
    finally:
        sys.stdout, sys.stderr, sys.stdin = saved


@contextlib.contextmanager
def _wall_time_limit(seconds: float):
    def expire(signum: int, frame: object) -> None:
        raise TestTimeout("timed out")

    signal.setitimer(signal.ITIMER_REAL, seconds)
    signal.signal(signal.SIGALRM, expire)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


@contextlib.contextmanager
def _inside_temporary_directory():
    with tempfile.TemporaryDirectory() as directory:
        previous = os.getcwd()
        os.chdir(directory)
        try:
            yield directory
        finally:
            os.chdir(previous)


def _memory_limit() -> int:
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return min(MAXIMUM_MEMORY_BYTES, physical)


def _reliability_guard(maximum_memory_bytes: int) -> None:
    """The pattern's guard: memory rlimits, then destructive functions replaced by ``None`` (not a sandbox)."""
    for limit in (resource.RLIMIT_AS, resource.RLIMIT_DATA, resource.RLIMIT_STACK):
        resource.setrlimit(limit, (maximum_memory_bytes, maximum_memory_bytes))
    faulthandler.disable()
    builtins.exit = None  # type: ignore[assignment]
    builtins.quit = None  # type: ignore[assignment]
    os.environ["OMP_NUM_THREADS"] = "1"
    for name in (
        "kill", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid", "fork", "forkpty",
        "killpg", "rename", "renames", "truncate", "replace", "unlink", "fchmod", "fchown", "chmod", "chown",
        "chroot", "lchflags", "lchmod", "lchown", "getcwd", "chdir",
    ):  # fmt: skip
        setattr(os, name, None)
    builtins.open = None  # type: ignore[assignment]
    shutil.rmtree = shutil.move = shutil.chown = None  # type: ignore[assignment]
    subprocess.Popen = None  # type: ignore[assignment,misc]
    builtins.help = None  # type: ignore[assignment]
    for name in ("ipdb", "joblib", "resource", "psutil", "tkinter"):
        sys.modules[name] = None  # type: ignore[assignment]


def _write_error(array: object, slot: int, text: str) -> None:
    encoded = text.encode("utf-8", "replace")[:ERROR_SLOT_BYTES].ljust(ERROR_SLOT_BYTES, b"\0")
    array[slot * ERROR_SLOT_BYTES : (slot + 1) * ERROR_SLOT_BYTES] = encoded  # type: ignore[index]


def _execute_in_child(program, tests, time_limits, status, details, program_error, test_errors, progress) -> None:
    """Runs in the per-program process: tempdir, guard, program, then each test with its own wall-clock limit."""
    with _inside_temporary_directory():
        # Kept before the guard removes them: the temporary directory's cleanup needs them.
        saved_rmtree, saved_rmdir, saved_chdir = shutil.rmtree, os.rmdir, os.chdir
        _reliability_guard(_memory_limit())
        namespace: dict = {}
        try:
            with _swallowed_io():
                exec(program, namespace)
            for index, test in enumerate(tests):
                with _swallowed_io():
                    try:
                        with _wall_time_limit(time_limits[index]):
                            exec(test, namespace)
                        details[index] = SUCCESS
                    except TestTimeout as error:
                        details[index] = TIMEOUT
                        _write_error(test_errors, index, str(error))
                    except Exception as error:  # noqa: BLE001 - the pattern records any failure as FAILED
                        details[index] = FAILED
                        _write_error(test_errors, index, str(error))
                progress.value += 1
            status.value = SUCCESS
        except BaseException as error:  # noqa: BLE001 - the program itself failed: no test counts
            status.value = FAILED
            _write_error(program_error, 0, str(error))
        shutil.rmtree, os.rmdir, os.chdir = saved_rmtree, saved_rmdir, saved_chdir


def check_program(program: str, tests: list[str], test_seconds: float) -> int:
    """Runs in a pool worker: one fresh ``multiprocessing.Process`` for one program; returns its pass count."""
    time_limits = [test_seconds] * len(tests)
    timeout = sum(time_limits) + 1 + 1  # + data-collection slack, as in the pattern's non-fast-check mode
    progress = multiprocessing.Value("i", 0)
    status = multiprocessing.Value("i", UNKNOWN)
    details = multiprocessing.Array("b", [UNKNOWN] * len(tests))
    test_errors = multiprocessing.Array(c_char, b" " * (len(tests) * ERROR_SLOT_BYTES))
    program_error = multiprocessing.Array(c_char, b" " * ERROR_SLOT_BYTES)
    process = multiprocessing.Process(
        target=_execute_in_child,
        args=(program, tests, time_limits, status, details, program_error, test_errors, progress),
    )
    process.start()
    process.join(timeout=timeout + 1)
    if process.is_alive():
        process.terminate()
        time.sleep(0.1)
    if process.is_alive():
        process.kill()
        time.sleep(0.1)
    finished = details[: progress.value]
    return sum(1 for verdict in finished if verdict == SUCCESS)


def _process_id(_: object) -> int:
    return os.getpid()


class EvalplusPattern:
    """The evalplus/AceCoder harness pattern as a runner: ``run(programs, tests) -> pass counts``."""

    def __init__(self, workers: int, test_seconds: float) -> None:
        self.workers = workers
        self.test_seconds = test_seconds
        self._executor = concurrent.futures.ProcessPoolExecutor(max_workers=workers)
        # Start every worker now (outside the timed batch), as a long evaluation run amortises it.
        list(self._executor.map(_process_id, range(workers * 4)))

    def run(self, programs: Sequence[str], tests: Sequence[Sequence[str]]) -> list[int]:
        futures = {
            self._executor.submit(check_program, program, list(program_tests), self.test_seconds): index
            for index, (program, program_tests) in enumerate(zip(programs, tests))
        }
        passed = [0] * len(programs)
        for future in concurrent.futures.as_completed(futures):
            passed[futures[future]] = future.result()
        return passed

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    def __enter__(self) -> EvalplusPattern:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# ------------------------------------------------------------------------------------------ subprocess per program

_PASS_MARKER = "@@acecoder-bench-passed "

# The script run by `python -c`: the program and its tests arrive as string literals (repr), each test under its
# own wall-clock limit, and the last line of stdout reports the pass count.
_SCRIPT = """\
import signal as _signal

class _TestTimeout(BaseException):
    pass

def _expire(signum, frame):
    raise _TestTimeout()

_signal.signal(_signal.SIGALRM, _expire)
_passed = 0
_namespace = {{"__name__": "__main__"}}
try:
    exec({program!r}, _namespace)
    _tests = {tests!r}
except BaseException:
    _tests = []
for _test in _tests:
    try:
        _signal.setitimer(_signal.ITIMER_REAL, {seconds!r})
        try:
            exec(_test, _namespace)
        finally:
            _signal.setitimer(_signal.ITIMER_REAL, 0)
        _passed += 1
    except BaseException:
        pass
print()
print({marker!r} + str(_passed))
"""


def _subprocess_pass_count(program: str, tests: list[str], test_seconds: float, program_seconds: float) -> int:
    script = _SCRIPT.format(program=program, tests=tests, seconds=test_seconds, marker=_PASS_MARKER)
    timeout = program_seconds + test_seconds * len(tests) + 5
    try:
        completed = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, timeout=timeout, text=True, errors="replace"
        )
    except subprocess.TimeoutExpired:
        return 0
    for line in reversed(completed.stdout.splitlines()):
        if line.startswith(_PASS_MARKER):
            return int(line[len(_PASS_MARKER) :])
    return -1


class SubprocessRunner:
    """A fresh interpreter per program (``subprocess.run([python, "-c", script])``) from W threads."""

    def __init__(self, workers: int, test_seconds: float, program_seconds: float = 10.0) -> None:
        self.workers = workers
        self.test_seconds = test_seconds
        self.program_seconds = program_seconds
        self._threads = concurrent.futures.ThreadPoolExecutor(max_workers=workers)
        self.run(["x = 1\n"] * workers, [["assert x == 1"]] * workers)  # threads started, interpreter cached

    def run(self, programs: Sequence[str], tests: Sequence[Sequence[str]]) -> list[int]:
        return list(
            self._threads.map(
                lambda job: _subprocess_pass_count(job[0], list(job[1]), self.test_seconds, self.program_seconds),
                zip(programs, tests),
            )
        )

    def close(self) -> None:
        self._threads.shutdown(wait=True)

    def __enter__(self) -> SubprocessRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
