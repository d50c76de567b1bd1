"""Run (program, tests) jobs in sandboxed, parallel workers: the typed face of the Rust engine.

Why this shape: the caller may be a data pipeline running millions of jobs or an RL trainer holding tens of GB of
GPU state, so the engine never forks the caller. It starts small workers once (``Engine``): in each, a judge
process runs the tests and a sandboxed runner process, forked per program run, runs the program; the two talk in
plain values only, so a program can change a verdict only by computing the right answer (``acecoder.harness``,
SECURITY.md). Every blocking call releases the GIL. ``run_batch`` keeps one engine per configuration alive for the
life of the process, which makes it cheap to call thousands of times from a reward function.

A program that fails, hangs, crashes or misbehaves is a *result* (``ExecResult.status``), never an exception;
only bad arguments (``TypeError``/``ValueError``) and failures of the engine itself (``EngineError``) raise.

Example::

    from acecoder.exec import run_batch
    results = run_batch(["def add(a, b):\\n    return a + b\\n"], [["assert add(1, 2) == 3"]])
    results[0].pass_rate  # 1.0
"""

from __future__ import annotations

import asyncio
import atexit
import binascii
import dataclasses
import enum
import hashlib
import json
import math
import os
import pickle
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from acecoder import _engine
from acecoder.harness import paths, wire

__all__ = [
    "CALL_ORACLES",
    "DEFAULT_IMPORTABLE",
    "DEFAULT_PRELOAD",
    "CallTest",
    "Engine",
    "EngineClosedError",
    "EngineError",
    "ExecResult",
    "IOTest",
    "Limits",
    "Status",
    "TestResult",
    "WorkerStartError",
    "run_batch",
    "shared_engine",
    "shutdown_shared_engines",
    "usable_cpus",
]

EngineError = _engine.EngineError
WorkerStartError = _engine.WorkerStartError
EngineClosedError = _engine.EngineClosedError

# Modules a typical HumanEval/MBPP/AceCode solution imports: importing them once in the zygote makes every job's
# `import` free. Only light standard-library modules: every preloaded page makes each per-job fork a little
# dearer (hashlib, decimal and statistics cost more in fork time than most jobs save).
DEFAULT_PRELOAD: tuple[str, ...] = (
    "bisect", "collections", "copy", "functools", "heapq", "itertools", "math", "operator", "random", "re",
    "string", "typing",
)  # fmt: skip
# Third-party packages programs may import by default, where installed: their files join the runner's view.
DEFAULT_IMPORTABLE: tuple[str, ...] = paths.DEFAULT_IMPORTABLE


class Status(str, enum.Enum):
    """Outcome of a test, or of a whole job (the first test that did not pass decides the job's status)."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    TIMEOUT = "timeout"
    MEMORY_EXCEEDED = "memory_exceeded"
    OUTPUT_EXCEEDED = "output_exceeded"
    KILLED = "killed"
    SANDBOX_ERROR = "sandbox_error"
    NOT_RUN = "not_run"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Limits:
    """What one job may use. Times are CPU seconds (the verdict); wall-clock is only a generous backstop.

    Two clocks bound a job: ``test_cpu_seconds`` each test, and ``program_cpu_seconds`` (10 s by default) the
    program's own top level, run before any test (imports, definitions, and whatever else the module runs, such as
    a loop or a call at top level). So ``Limits(test_cpu_seconds=2.0)`` still lets a program that loops at top level
    run for 10 s before it times out: lower ``program_cpu_seconds`` too to bound the whole job.
    """

    test_cpu_seconds: float = field(default=4.0, metadata={"help": "CPU time one test may use."})
    program_cpu_seconds: float = field(default=10.0, metadata={"help": "CPU time for the program's top level."})
    wall_multiplier: float = field(default=3.0, metadata={"help": "Wall backstop = CPU limit x this + slack."})
    wall_slack_seconds: float = field(default=2.0, metadata={"help": "Added to every wall-clock backstop."})
    memory_bytes: int = field(default=2 << 30, metadata={"help": "Address space a job may add to its worker's."})
    output_bytes: int = field(default=8 << 20, metadata={"help": "Cap on stdout and on stderr; also max file size."})
    capture_bytes: int = field(default=4096, metadata={"help": "Tail of stdout/stderr kept in each result."})
    open_files: int = field(default=256, metadata={"help": "Open file descriptors per job."})
    value_bytes: int = field(default=16 << 20, metadata={"help": "Largest encoded answer a program may return."})

    def __post_init__(self) -> None:
        for name in ("test_cpu_seconds", "program_cpu_seconds", "wall_multiplier"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
                raise ValueError(f"Limits.{name} must be a positive number, got {value!r}")
        if self.wall_multiplier < 1:
            raise ValueError("Limits.wall_multiplier must be >= 1 (wall time is never below CPU time)")
        if not isinstance(self.wall_slack_seconds, (int, float)) or self.wall_slack_seconds < 0:
            raise ValueError(f"Limits.wall_slack_seconds must be >= 0, got {self.wall_slack_seconds!r}")
        minimums = {
            "memory_bytes": 16 << 20, "output_bytes": 1024, "capture_bytes": 0, "open_files": 16, "value_bytes": 1024,
        }  # fmt: skip
        for name, minimum in minimums.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise ValueError(f"Limits.{name} must be an integer >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class IOTest:
    """A stdin/stdout test: the program runs as ``__main__`` with ``stdin``; its stdout must equal ``stdout``
    after whitespace normalisation (and, with ``float_tolerance``, numbers may differ by that much, absolute or
    relative to the expected value)."""

    stdin: str
    stdout: str
    float_tolerance: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.stdin, str) or not isinstance(self.stdout, str):
            raise TypeError("IOTest.stdin and IOTest.stdout must be str")
        if self.float_tolerance is not None and not (
            isinstance(self.float_tolerance, (int, float)) and self.float_tolerance >= 0
        ):
            raise ValueError(f"IOTest.float_tolerance must be >= 0 or None, got {self.float_tolerance!r}")


# Comparison rules a CallTest may name instead of equality (evalplus's special oracles; see calls.py).
CALL_ORACLES = (
    "any", "not_none", "set", "or_zero", "surface_area", "digit_distance", "poly_root", "repr_digest", "pickle_digest",
)  # fmt: skip


@dataclass(frozen=True)
class CallTest:
    """A function-call test (the HumanEval+/MBPP+ format): after the program runs, the judge calls
    ``entry_point(*arguments)`` in the program's process and compares the answer with ``expected`` itself (the
    program never sees ``expected``).

    The result must be plain data equal to ``expected``, or, when ``atol`` is not zero, of the same type (and
    length) and within ``atol + 1e-7 * |expected|`` element-wise. ``oracle`` names one of ``CALL_ORACLES`` instead
    (evalplus's special cases: ``"set"`` compares as sets, ``"not_none"`` compares only whether the result is
    None, ...; and, for outputs too large to send, ``"pickle_digest"``: ``expected`` is
    ``acecoder.digest.value_digest`` of the expected value (plain builtin data only), or ``"repr_digest"``: the
    SHA-256 hex digest of its ``repr``). ``cpu_seconds`` overrides the engine's per-test CPU-time limit for this test.
    Arguments (encoded as plain values, ``acecoder.harness.wire``) and the expected value (pickled, for the judge
    only) are encoded once, here, so one CallTest can serve many programs cheaply.
    """

    entry_point: str
    arguments: Sequence[object]
    expected: object
    atol: float = 0.0
    oracle: str | None = None
    cpu_seconds: float | None = None
    wire: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.entry_point, str) or not self.entry_point.isidentifier():
            raise ValueError(f"CallTest.entry_point must be an identifier, got {self.entry_point!r}")
        if type(self.arguments) not in (tuple, list) and (
            isinstance(self.arguments, (str, bytes)) or not isinstance(self.arguments, Sequence)
        ):
            raise TypeError("CallTest.arguments must be a sequence of positional arguments")
        if not isinstance(self.atol, (int, float)) or not self.atol >= 0:
            raise ValueError(f"CallTest.atol must be a number >= 0, got {self.atol!r}")
        if self.oracle is not None and self.oracle not in CALL_ORACLES:
            raise ValueError(f"CallTest.oracle must be None or one of {', '.join(CALL_ORACLES)}, got {self.oracle!r}")
        if self.cpu_seconds is not None and not (isinstance(self.cpu_seconds, (int, float)) and self.cpu_seconds > 0):
            raise ValueError(f"CallTest.cpu_seconds must be > 0 or None, got {self.cpu_seconds!r}")
        try:
            arguments = wire.encode_slot(tuple(self.arguments))
        except (wire.Unencodable, RecursionError) as error:
            raise ValueError(f"CallTest arguments must be plain data: {error}") from error
        try:
            expected = pickle.dumps(self.expected, protocol=4)
        except Exception as error:
            raise ValueError(f"CallTest's expected value must pickle: {error}") from error
        encoded = {
            "kind": "call", "entry_point": self.entry_point,
            "arguments": binascii.b2a_base64(arguments, newline=False).decode(),
            "expected": binascii.b2a_base64(expected, newline=False).decode(),
            "expected_key": hashlib.blake2b(expected, digest_size=16).hexdigest(),
            "atol": float(self.atol), "oracle": self.oracle,
            "cpu_seconds": None if self.cpu_seconds is None else float(self.cpu_seconds),
        }  # fmt: skip
        object.__setattr__(self, "wire", encoded)


@dataclass(frozen=True)
class TestResult:
    """Outcome of one test."""

    __test__ = False  # not a pytest class

    status: Status
    exception_type: str | None = None
    message: str | None = None
    cpu_time: float = 0.0


_STATUS_BY_VALUE = {status.value: status for status in Status}
_NOT_RUN = TestResult(Status.NOT_RUN)


@dataclass(frozen=True)
class ExecResult:
    """Outcome of one (program, tests) job."""

    status: Status
    passed: int
    total: int
    tests: list[TestResult]
    wall_time: float = 0.0
    cpu_time: float = 0.0
    peak_memory: int = 0
    stdout: str = ""
    stderr: str = ""
    exception_type: str | None = None
    message: str | None = None
    runner_cpu_time: float = 0.0  # the part of cpu_time spent running the program
    judge_cpu_time: float = 0.0  # the part spent running its tests

    @property
    def pass_rate(self) -> float:
        """Passed tests over all tests (0.0 for a job without tests)."""
        return self.passed / self.total if self.total else 0.0

    @classmethod
    def from_json(cls, text: str) -> ExecResult:
        raw = json.loads(text)
        # A batch of evalplus jobs returns hundreds of thousands of tests, most of them not run (failing fast):
        # statuses are looked up in a dict (calling the enum is slower), and every test that did not run shares
        # one frozen TestResult.
        status_of = _STATUS_BY_VALUE
        tests = []
        for test in raw["tests"]:
            status = status_of[test["status"]]
            exception_type, message, cpu_time = test.get("exception_type"), test.get("message"), test["cpu_time"]
            if status is Status.NOT_RUN and exception_type is None and message is None and not cpu_time:
                tests.append(_NOT_RUN)
            else:
                tests.append(TestResult(status, exception_type, message, cpu_time))
        return cls(
            status=status_of[raw["status"]],
            passed=raw["passed"],
            total=raw["total"],
            tests=tests,
            wall_time=raw["wall_time"],
            cpu_time=raw["cpu_time"],
            peak_memory=raw["peak_memory"],
            stdout=raw.get("stdout", ""),
            stderr=raw.get("stderr", ""),
            exception_type=raw.get("exception_type"),
            message=raw.get("message"),
            runner_cpu_time=raw.get("runner_cpu_time", 0.0),
            judge_cpu_time=raw.get("judge_cpu_time", 0.0),
        )

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (statuses as strings)."""
        data = dataclasses.asdict(self)
        data["status"] = self.status.value
        data["pass_rate"] = self.pass_rate
        for test in data["tests"]:
            test["status"] = test["status"].value
        return data


Test = str | IOTest | CallTest


def _encode_test(test: object, where: str) -> dict:
    if isinstance(test, str):
        return {"kind": "assert", "code": test}
    if isinstance(test, CallTest):
        return test.wire
    if isinstance(test, IOTest):
        return {"kind": "io", "stdin": test.stdin, "stdout": test.stdout, "float_tolerance": test.float_tolerance}
    raise TypeError(f"{where} must be a str (a Python statement), an IOTest or a CallTest, got {type(test).__name__}")


# A job's per-test CPU limit: one for every job of a call, or one (or None: the engine's) per job.
JobLimits = float | Sequence[float | None] | None


def _checked_seconds(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{where} must be a finite number of seconds > 0 or None, got {value!r}")
    return float(value)


def _job_limits(test_cpu_seconds: JobLimits, count: int) -> list[float | None]:
    """``test_cpu_seconds`` as one checked limit (or None) per job."""
    if test_cpu_seconds is None:
        return [None] * count
    if isinstance(test_cpu_seconds, (int, float)):
        return [_checked_seconds(test_cpu_seconds, "test_cpu_seconds")] * count
    if isinstance(test_cpu_seconds, (str, bytes)) or not isinstance(test_cpu_seconds, Sequence):
        raise TypeError(f"test_cpu_seconds must be a number or a sequence, got {type(test_cpu_seconds).__name__}")
    if len(test_cpu_seconds) != count:
        raise ValueError(f"got {count} programs but {len(test_cpu_seconds)} test_cpu_seconds: one per program")
    return [
        None if value is None else _checked_seconds(value, f"test_cpu_seconds[{index}]")
        for index, value in enumerate(test_cpu_seconds)
    ]


def _encode_jobs(
    programs: Sequence[str],
    tests: Sequence[Sequence[Test]],
    seed: int,
    fail_fast: bool = False,
    test_cpu_seconds: JobLimits = None,
) -> list[bytes]:
    """Validates the arguments and turns them into the engine's JSON job frames."""
    if isinstance(programs, (str, bytes)) or not isinstance(programs, Sequence):
        raise TypeError(f"programs must be a sequence of str, got {type(programs).__name__}")
    if isinstance(tests, (str, bytes)) or not isinstance(tests, Sequence):
        raise TypeError(f"tests must be a sequence of sequences of tests, got {type(tests).__name__}")
    if len(programs) != len(tests):
        raise ValueError(f"got {len(programs)} programs but {len(tests)} test lists: one list per program")
    limits = _job_limits(test_cpu_seconds, len(programs))
    jobs = []
    # Many programs often share one test list (a question's samples): it is encoded once. The list itself is kept
    # with its encoding, so its id cannot be reused by another object during this call.
    encoded_lists: dict[int, tuple[object, str]] = {}
    for index, (program, program_tests) in enumerate(zip(programs, tests)):
        if not isinstance(program, str):
            raise TypeError(f"programs[{index}] must be a str, got {type(program).__name__}")
        if isinstance(program_tests, (str, bytes)) or not isinstance(program_tests, Sequence):
            raise TypeError(
                f"tests[{index}] must be a sequence of tests (e.g. a list of assert strings), "
                f"got {type(program_tests).__name__}"
            )
        known = encoded_lists.get(id(program_tests))
        if known is None:
            encoded = [_encode_test(test, f"tests[{index}][{position}]") for position, test in enumerate(program_tests)]
            kinds = {test["kind"] for test in encoded}
            if len(kinds) > 1:  # the judge runs a list one way: statements, IOTests or CallTests (Job::invalid_reason)
                names = {"assert": "assert statements", "io": "IOTests", "call": "CallTests"}
                raise ValueError(
                    f"tests[{index}] mixes {' and '.join(names[kind] for kind in sorted(kinds))}; "
                    "a program's tests must all be of one kind"
                )
            known = encoded_lists[id(program_tests)] = (program_tests, json.dumps(encoded, ensure_ascii=False))
        payload = '{"program":%s,"tests":%s,"seed":%d,"fail_fast":%s,"test_cpu_seconds":%s}' % (
            json.dumps(program, ensure_ascii=False), known[1], seed, "true" if fail_fast else "false",
            "null" if limits[index] is None else repr(limits[index]),
        )  # fmt: skip
        try:
            jobs.append(payload.encode("utf-8"))
        except UnicodeEncodeError:  # lone surrogates: keep the job, replace what cannot be encoded
            jobs.append(payload.encode("utf-8", "replace"))
    return jobs


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, which a container or `taskset` narrows), else the
    machine's count: the default number of workers, for the engine and for anything measured against it."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _worker_sys_path() -> list[str]:
    """The caller's import path, for the judge (workers run with ``-s -S``); programs get a narrower one."""
    return [os.path.abspath(entry) for entry in sys.path if entry and os.path.isdir(entry)]


class Engine:
    """A pool of sandboxed workers. Use as a context manager, or call ``close()``.

    Args:
        workers: number of workers; ``None`` means one per usable CPU.
        limits: per-job resource limits (``Limits()`` by default).
        preload: modules every runner imports once before it forks programs.
        importable: third-party packages (top-level names) programs may import; ``None`` means those of
            ``DEFAULT_IMPORTABLE`` that are installed. The standard library is always importable; nothing else
            (not acecoder, not the caller's directories) is even readable by programs.
        seccomp: install the seccomp filters (no new processes, no sockets, no SysV IPC...).
        landlock: confine each process's filesystem access.
        drop_privileges: when the engine runs as root, run programs as an unprivileged uid of their worker.
            (The three sandbox switches exist to measure what each layer costs; leave them on.)
        pin_workers: keep each worker (its judge and its runners) on one CPU, spread over the usable CPUs: a
            test's calls are round trips between them, which cost several times more when they cross CPUs on a
            busy machine. Turn off if other work must share the same CPUs unevenly.
        extra_read_paths: further files or trees that programs and tests may read (e.g. data they load).
        python: interpreter for the workers; the caller's own by default.
        seed: seed for ``random`` (and numpy, if loaded) in every program run and every job's tests.
    """

    def __init__(
        self,
        workers: int | None = None,
        limits: Limits | None = None,
        *,
        preload: Sequence[str] = DEFAULT_PRELOAD,
        importable: Sequence[str] | None = None,
        seccomp: bool = True,
        landlock: bool = True,
        drop_privileges: bool = True,
        pin_workers: bool = True,
        extra_read_paths: Sequence[str] = (),
        python: str | None = None,
        seed: int = 0,
    ) -> None:
        if workers is None:
            workers = usable_cpus()
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ValueError(f"workers must be a positive int or None, got {workers!r}")
        if limits is None:
            limits = Limits()
        if not isinstance(limits, Limits):
            raise TypeError(f"limits must be an acecoder.exec.Limits, got {type(limits).__name__}")
        if isinstance(preload, str) or not all(isinstance(name, str) for name in preload):
            raise TypeError("preload must be a sequence of module names")
        if not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        if importable is None:
            importable = paths.installed(DEFAULT_IMPORTABLE)
        if isinstance(importable, str) or not all(isinstance(name, str) for name in importable):
            raise TypeError("importable must be a sequence of top-level package names")
        extra_read = [os.path.abspath(path) for path in extra_read_paths]
        self.workers = workers
        self.limits = limits
        self.seed = seed
        config = {
            "python": python or sys.executable,
            "workers": workers,
            "limits": dataclasses.asdict(limits),
            "sys_path": _worker_sys_path(),
            "preload": list(preload),
            "importable": list(importable),
            "sandbox_library": _engine.__file__,
            "seccomp": bool(seccomp),
            "landlock": bool(landlock),
            "drop_privileges": bool(drop_privileges),
            "pin_workers": bool(pin_workers),
            "extra_read_paths": extra_read,
            "scratch_root": None,
            "runner_files": _runner_files(tuple(importable), tuple(extra_read)),
        }
        if landlock and not _warned_about_landlock and _engine.landlock_abi() == 0:
            _warn_without_landlock()
        self._pool = _engine.NativePool(json.dumps(config))
        self._closed = False

    # --- running ---

    def run(
        self,
        programs: Sequence[str],
        tests: Sequence[Sequence[Test]],
        *,
        callback: Callable[[int, ExecResult], object] | None = None,
        fail_fast: bool = False,
        test_cpu_seconds: JobLimits = None,
    ) -> list[ExecResult]:
        """Runs every program against its tests; results in input order.

        ``callback(index, result)``, if given, is called as each job finishes (in completion order), e.g. to
        advance a progress bar. With ``fail_fast`` a program's tests stop at the first one that does not pass
        (the rest are ``not_run``), as evalplus does. ``test_cpu_seconds`` sets the per-test CPU limit of these
        jobs (one number for all, or one per program, None for the engine's): a question's calibrated limit
        (``acecoder.time_limits``). It can only tighten the engine's ``Limits.test_cpu_seconds``, never exceed it;
        a ``CallTest``'s own ``cpu_seconds`` still wins.
        """
        if callback is None:
            batch = self._submit(programs, tests, fail_fast, test_cpu_seconds)
            return [ExecResult.from_json(text) for text in batch.collect()]
        results: list[ExecResult | None] = [None] * len(programs)
        for index, result in self.stream(programs, tests, fail_fast=fail_fast, test_cpu_seconds=test_cpu_seconds):
            results[index] = result
            callback(index, result)
        return results  # type: ignore[return-value]

    def stream(
        self,
        programs: Sequence[str],
        tests: Sequence[Sequence[Test]],
        *,
        fail_fast: bool = False,
        test_cpu_seconds: JobLimits = None,
    ) -> Iterator[tuple[int, ExecResult]]:
        """Yields ``(index, result)`` as each job finishes. Leaving the loop early cancels the jobs not started.

        The jobs are queued at once (not at the first ``next``), so they run while the caller prepares to iterate.
        """
        return self._results_of(self._submit(programs, tests, fail_fast, test_cpu_seconds))

    @staticmethod
    def _results_of(batch: _engine.NativeBatch) -> Iterator[tuple[int, ExecResult]]:
        try:
            while True:
                item = batch.next()
                if item is None:
                    return
                index, text = item
                yield index, ExecResult.from_json(text)
        finally:
            batch.cancel()

    async def run_async(
        self,
        programs: Sequence[str],
        tests: Sequence[Sequence[Test]],
        *,
        fail_fast: bool = False,
        test_cpu_seconds: JobLimits = None,
    ) -> list[ExecResult]:
        """``run`` for asyncio code (e.g. TRL's async reward functions): the event loop keeps running meanwhile."""
        batch = self._submit(programs, tests, fail_fast, test_cpu_seconds)
        try:
            texts = await asyncio.to_thread(batch.collect)
        except asyncio.CancelledError:
            batch.cancel()
            raise
        return [ExecResult.from_json(text) for text in texts]

    def _submit(
        self,
        programs: Sequence[str],
        tests: Sequence[Sequence[Test]],
        fail_fast: bool = False,
        test_cpu_seconds: JobLimits = None,
    ) -> _engine.NativeBatch:
        jobs = _encode_jobs(programs, tests, self.seed, bool(fail_fast), test_cpu_seconds)
        if self._closed:
            raise EngineClosedError("the engine is closed")
        return self._pool.submit(jobs)

    # --- lifecycle ---

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers."""
        return list(self._pool.worker_pids())

    def close(self) -> None:
        """Stops every worker and removes its scratch space. Idempotent."""
        if not self._closed:
            self._closed = True
            self._pool.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None and not getattr(self, "_closed", True):
            pool.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "running"
        return f"Engine(workers={self.workers}, {state})"


_runner_files_cache: dict[tuple, dict] = {}


def _runner_files(importable: tuple[str, ...], extra_read: tuple[str, ...]) -> dict:
    """The runner's files for these packages (reading every installed package's metadata takes a moment)."""
    key = (importable, extra_read)
    if key not in _runner_files_cache:
        _runner_files_cache[key] = paths.runner_files(importable, extra_read)
    return _runner_files_cache[key]


_warned_about_landlock = False


def _warn_without_landlock() -> None:
    global _warned_about_landlock
    _warned_about_landlock = True
    warnings.warn(
        "this kernel has no Landlock (Linux < 5.13 or disabled): jobs are confined by seccomp, rlimits and the "
        "privilege drop, but not in what files they may read and write. See SECURITY.md.",
        RuntimeWarning,
        stacklevel=3,
    )


_shared_engines: dict[str, Engine] = {}
_shared_lock = threading.Lock()


def run_batch(
    programs: Sequence[str],
    tests: Sequence[Sequence[Test]],
    *,
    fail_fast: bool = False,
    test_cpu_seconds: JobLimits = None,
    **options: object,
) -> list[ExecResult]:
    """Runs jobs through a shared engine, created on first use for these ``options`` and reused afterwards.

    ``options`` are ``Engine``'s keyword arguments (``workers``, ``limits``, ``preload``, ``seccomp``, ``python``,
    ``seed``); ``fail_fast`` and ``test_cpu_seconds`` are ``Engine.run``'s. Shared engines close when the process
    exits (or with ``shutdown_shared_engines()``).
    """
    return shared_engine(**options).run(programs, tests, fail_fast=fail_fast, test_cpu_seconds=test_cpu_seconds)


def shared_engine(**options: object) -> Engine:
    """The shared engine for these ``Engine`` options (those set to None are left out), created on first use:
    ``run_batch`` runs on it, and an async caller can ``await shared_engine(...).run_async(...)``."""
    options = {name: value for name, value in options.items() if value is not None}
    key = repr(sorted(options.items()))
    with _shared_lock:
        engine = _shared_engines.get(key)
        if engine is None or engine.closed:
            engine = Engine(**options)  # type: ignore[arg-type]
            _shared_engines[key] = engine
    return engine


def shutdown_shared_engines() -> None:
    """Closes every engine that ``run_batch`` created."""
    with _shared_lock:
        engines = list(_shared_engines.values())
        _shared_engines.clear()
    for engine in engines:
        engine.close()


atexit.register(shutdown_shared_engines)
