"""The public API of acecoder.exec: results, statuses, forms of calling, bad arguments, lifecycle."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
import threading
import time

import pytest
from acecoder.exec import (
    CallTest,
    Engine,
    EngineClosedError,
    ExecResult,
    IOTest,
    Limits,
    Status,
    WorkerStartError,
    run_batch,
    shutdown_shared_engines,
    usable_cpus,
)
from conftest import FAST_LIMITS, descendants, process_alive

ADD = "def add(a, b):\n    return a + b\n"


def test_results_in_input_order_with_pass_rates(engine):
    programs = [f"def f():\n    return {value}\n" for value in range(30)]
    tests = [["assert f() == 7", "assert f() >= 0", "assert f() < 100"] for _ in programs]
    results = engine.run(programs, tests)
    assert [result.passed for result in results] == [3 if value == 7 else 2 for value in range(30)]
    assert all(result.total == 3 for result in results)
    assert results[7].status is Status.PASSED and results[7].pass_rate == 1.0
    assert results[8].status is Status.FAILED and results[8].pass_rate == pytest.approx(2 / 3)
    assert results[8].tests[0].exception_type == "AssertionError"


def test_result_fields(engine):
    program = "import sys\nprint('hello')\nprint('warn', file=sys.stderr)\n" + ADD
    (result,) = engine.run([program], [["assert add(1, 2) == 3"]])
    assert isinstance(result, ExecResult)
    assert result.stdout == "hello\n" and result.stderr == "warn\n"
    assert result.wall_time > 0 and result.cpu_time >= 0 and result.peak_memory > 1 << 20
    assert result.tests[0].cpu_time >= 0
    data = result.to_dict()
    assert data["status"] == "passed" and data["tests"][0]["status"] == "passed" and data["pass_rate"] == 1.0


def test_statuses(engine):
    cases = {
        Status.PASSED: (ADD, "assert add(1, 1) == 2"),
        Status.FAILED: (ADD, "assert add(1, 1) == 3"),
        Status.ERROR: (ADD, "assert add(1) == 3"),
        Status.TIMEOUT: ("def spin():\n    while True:\n        pass\n", "assert spin()"),
        Status.MEMORY_EXCEEDED: ("def grab():\n    return bytearray(1 << 40)\n", "assert grab()"),
        Status.OUTPUT_EXCEEDED: ("def flood():\n    while True:\n        print('x' * 65536)\n", "assert flood()"),
        Status.KILLED: ("import os, signal\ndef die():\n    os.kill(os.getpid(), signal.SIGKILL)\n", "assert die()"),
    }
    results = engine.run([program for program, _ in cases.values()], [[test] for _, test in cases.values()])
    for expected, result in zip(cases, results):
        assert result.tests[0].status is expected, (expected, result)
        assert result.status is expected
    assert str(Status.PASSED) == "passed" and Status("not_run") is Status.NOT_RUN


def test_program_that_fails_to_load_runs_no_test(engine):
    results = engine.run(["def broken(:\n", "raise ValueError('at import')\n"], [["assert True"], ["assert True"]])
    assert results[0].status is Status.ERROR and results[0].exception_type == "SyntaxError"
    assert results[1].exception_type == "ValueError" and "at import" in results[1].message
    assert all(test.status is Status.NOT_RUN for result in results for test in result.tests)


def test_a_failing_test_costs_only_itself(engine):
    program = "import os\ndef f(x):\n    if x == 1:\n        while True: pass\n    if x == 2:\n        os._exit(0)\n    if x == 3:\n        raise MemoryError\n    return x\n"
    tests = [f"assert f({value}) == {value}" for value in range(5)]
    (result,) = engine.run([program], [tests])
    assert [test.status for test in result.tests] == [
        Status.PASSED, Status.TIMEOUT, Status.KILLED, Status.MEMORY_EXCEEDED, Status.PASSED,
    ]  # fmt: skip
    assert result.passed == 2


def test_no_cap_on_tests_and_empty_jobs(engine):
    results = engine.run([ADD, ADD, ""], [[f"assert add({n}, 1) == {n + 1}" for n in range(500)], [], []])
    assert results[0].passed == 500
    assert results[1].total == 0 and results[1].pass_rate == 0.0 and results[1].status is Status.PASSED
    assert engine.run([], []) == []


def test_tests_share_the_program_namespace_in_order(engine):
    program = "state = []\n"
    tests = ["state.append(1)", "assert state == [1]", "import math\nassert math.sqrt(4) == 2"]
    (result,) = engine.run([program], [tests])
    assert result.passed == 3


def test_stdin_stdout_tests(engine):
    program = "a, b = map(float, input().split())\nprint(a / b)\n"
    tests = [
        IOTest("1 2\n", "0.5\n"),
        IOTest("1 3\n", "0.3333", float_tolerance=1e-3),
        IOTest("1 3\n", "0.3333"),
        IOTest("1 0\n", "inf"),
    ]
    (result,) = engine.run([program], [tests])
    assert [test.status for test in result.tests] == [Status.PASSED, Status.PASSED, Status.FAILED, Status.ERROR]
    exits = "import sys\nprint(input()[::-1])\nsys.exit(0)\n"
    (result,) = engine.run([exits], [[IOTest("abc", "cba"), IOTest("  xy  \n\n", "yx")]])
    assert result.passed == 2


def test_streaming_and_callback(engine):
    programs = [f"x = {value}" for value in range(12)]
    tests = [["assert x % 2 == 0"] for _ in programs]
    streamed = dict(engine.stream(programs, tests))
    assert sorted(streamed) == list(range(12))
    assert [streamed[index].passed for index in range(12)] == [1 - index % 2 for index in range(12)]
    seen: list[int] = []
    results = engine.run(programs, tests, callback=lambda index, result: seen.append(index))
    assert sorted(seen) == list(range(12)) and [result.passed for result in results] == [1 - i % 2 for i in range(12)]


def test_leaving_a_stream_early_cancels_the_rest():
    # 2 workers, 3 s per job: the 38 jobs left would take ~57 s if they ran, the 2 already running ~3 s. Its own
    # engine: the module's would still be busy with those 2 when the next test starts.
    with Engine(workers=2, limits=FAST_LIMITS) as engine:
        programs = ["import time\ntime.sleep(3)"] * 20
        stream = engine.stream(programs, [["assert True"]] * 20)
        behind = engine.stream(programs, [["assert True"]] * 20)  # queued behind the first, never iterated
        next(stream)
        stream.close()
        behind.close()
        started = time.perf_counter()
        (result,) = engine.run([ADD], [["assert add(2, 2) == 4"]])
        assert result.passed == 1
        assert time.perf_counter() - started < 30  # the cancelled jobs did not run first (generous bound)


def test_cancelling_run_async_cancels_its_queued_jobs():
    """``run_async`` waits in ``collect``, which takes the batch out of its mutex: the cancel must still reach the
    queued jobs. 2 workers, 20 jobs of 3 s: the ~18 left would take ~27 s if they ran; a job submitted after the
    cancel waits only for the 2 already running (~3 s)."""

    async def cancel_then_run(engine: Engine) -> tuple[ExecResult, float]:
        waiting = asyncio.create_task(engine.run_async(["import time\ntime.sleep(3)"] * 20, [["assert True"]] * 20))
        await asyncio.sleep(1.0)  # the first two jobs are running, the rest queued
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        started = time.perf_counter()
        (result,) = await engine.run_async([ADD], [["assert add(2, 2) == 4"]])
        return result, time.perf_counter() - started

    with Engine(workers=2, limits=FAST_LIMITS) as engine:
        result, seconds = asyncio.run(cancel_then_run(engine))
    assert result.passed == 1
    assert seconds < 15  # the cancelled jobs did not run first (generous bound: 27 s if they had)


def test_async_form(engine):
    async def main():
        first, second = await asyncio.gather(
            engine.run_async([ADD], [["assert add(1, 2) == 3"]]),
            engine.run_async([ADD, ADD], [["assert add(1, 2) == 4"], ["assert add(0, 0) == 0"]]),
        )
        return first, second

    first, second = asyncio.run(main())
    assert first[0].passed == 1 and [result.passed for result in second] == [0, 1]


def test_concurrent_callers_share_one_engine(engine):
    outcomes: dict[int, list[int]] = {}

    def call(offset: int) -> None:
        programs = [f"x = {offset + index}" for index in range(10)]
        results = engine.run(programs, [[f"assert x == {offset + index}"] for index in range(10)])
        outcomes[offset] = [result.passed for result in results]

    threads = [threading.Thread(target=call, args=(offset,)) for offset in (0, 100, 200, 300)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == {offset: [1] * 10 for offset in (0, 100, 200, 300)}


def test_the_gil_is_released_while_a_batch_runs(engine):
    ticks = 0
    stop = threading.Event()

    def count() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1

    counter = threading.Thread(target=count)
    counter.start()
    try:
        before = ticks
        engine.run(["import time\ntime.sleep(0.5)"], [["assert True"]])
        during = ticks - before
    finally:
        stop.set()
        counter.join()
    # With the GIL held for the whole batch the counter could only run in the interpreter's switch intervals
    # while Python code runs; with it released, it counts freely for half a second.
    assert during > 100_000


def test_bad_arguments_raise_clear_errors(engine):
    with pytest.raises(TypeError, match="programs must be a sequence"):
        engine.run("print(1)", [[]])
    with pytest.raises(ValueError, match="2 programs but 1 test lists"):
        engine.run([ADD, ADD], [["assert True"]])
    with pytest.raises(TypeError, match=r"tests\[0\] must be a sequence of tests"):
        engine.run([ADD], ["assert add(1, 2) == 3"])
    with pytest.raises(TypeError, match=r"tests\[0\]\[1\] must be a str"):
        engine.run([ADD], [["assert True", 3]])
    with pytest.raises(TypeError, match=r"programs\[1\] must be a str"):
        engine.run([ADD, b"x = 1"], [[], []])
    with pytest.raises(ValueError, match=r"tests\[0\] mixes assert statements and IOTests"):
        engine.run([ADD], [["assert True", IOTest("", "")]])
    with pytest.raises(ValueError, match="test_cpu_seconds"):
        Limits(test_cpu_seconds=0)
    with pytest.raises(ValueError, match="memory_bytes"):
        Limits(memory_bytes=10)
    with pytest.raises(ValueError, match="workers"):
        Engine(workers=0)
    with pytest.raises(TypeError, match="limits"):
        Engine(limits={"test_cpu_seconds": 1})  # type: ignore[arg-type]


def test_default_workers_follow_the_affinity_mask_else_the_cpu_count(monkeypatch):
    import os

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert usable_cpus() == 1
    with Engine(limits=FAST_LIMITS) as narrowed:
        assert len(narrowed.worker_pids()) == 1

    def refused(pid):
        raise OSError("no affinity here")

    monkeypatch.setattr(os, "sched_getaffinity", refused)
    assert usable_cpus() == 3
    monkeypatch.delattr(os, "sched_getaffinity")
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert usable_cpus() == 1


def test_odd_but_valid_inputs_are_results_not_exceptions(engine):
    programs = ["x = '\udcff'\n", "\x00", "def f():\n    return '✓'\n"]
    results = engine.run(programs, [["assert True"], ["assert True"], ["assert f() == '✓'"]])
    assert results[0].status is Status.PASSED
    assert results[1].status is Status.ERROR
    assert results[2].passed == 1


def test_worker_crash_is_recovered(engine):
    pids = engine.worker_pids()
    assert len(pids) == 2
    stream = engine.stream(["import time\ntime.sleep(2)"] * 2, [["assert True"]] * 2)
    time.sleep(0.5)
    for pid in pids:
        subprocess.run(["kill", "-9", str(pid)], check=True)
    results = dict(stream)
    assert {result.status for result in results.values()} == {Status.SANDBOX_ERROR}
    assert all(result.tests[0].status is Status.SANDBOX_ERROR and result.message for result in results.values())
    (after,) = engine.run([ADD], [["assert add(1, 2) == 3"]])
    assert after.status is Status.PASSED
    assert set(engine.worker_pids()).isdisjoint(pids)


def test_close_leaves_no_process_behind():
    import os

    before = descendants(os.getpid())  # other engines of this session (module fixtures)
    engine = Engine(workers=2, limits=FAST_LIMITS)
    stream = engine.stream(["import time\ntime.sleep(30)"] * 4, [["assert True"]] * 4)
    time.sleep(0.5)
    workers = engine.worker_pids()
    running = descendants(os.getpid()) - before
    assert running > set(workers)  # the workers and their job children
    started = time.perf_counter()
    engine.close()
    assert time.perf_counter() - started < 10  # close does not wait for the running 30 s jobs
    assert not any(process_alive(pid) for pid in workers)
    assert descendants(os.getpid()) - before == set()
    with pytest.raises(EngineClosedError):
        dict(stream)
    with pytest.raises(EngineClosedError):
        engine.run([ADD], [[]])
    engine.close()  # idempotent


def test_a_killed_callers_scratch_is_removed_by_the_next_engine(tmp_path):
    # A caller killed with SIGKILL cannot remove its scratch directory; the next process that starts an engine
    # removes the roots whose pool is gone (its lock file is unlocked, or, without one, its process id is free)
    # and leaves the others alone.
    import fcntl
    import os

    environment = dict(os.environ, TMPDIR=str(tmp_path))
    script = (
        "import os, signal\nfrom acecoder.exec import Engine\n"
        "engine = Engine(workers=1)\nprint(engine.run(['x = 1'], [['assert x == 1']])[0].status.value, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    killed = subprocess.run(
        [sys.executable, "-c", script], env=environment, capture_output=True, text=True, timeout=120
    )
    assert killed.returncode == -9 and killed.stdout.strip() == "passed", killed.stderr
    (left,) = [path.name for path in tmp_path.iterdir()]
    assert left.startswith("acecoder-") and left.endswith("-0") and (tmp_path / left / ".owner.lock").is_file()
    dead_pid = int(left.split("-")[1])  # the killed caller's id: free now
    legacy = tmp_path / ("acecoder-%d-5" % dead_pid)  # an older version's root: no lock file
    legacy.mkdir()
    in_use = tmp_path / ("acecoder-%d-6" % dead_pid)  # e.g. a pool in another pid namespace: its lock is held
    in_use.mkdir()
    lock = open(in_use / ".owner.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    alive = tmp_path / ("acecoder-%d-7" % os.getpid())  # no lock file, but its process lives
    alive.mkdir()
    (tmp_path / "acecoder-notes-1").mkdir()  # not a root's name
    try:
        script = "from acecoder.exec import Engine\nwith Engine(workers=1) as engine:\n    pass\n"
        subprocess.run([sys.executable, "-c", script], env=environment, check=True, timeout=120)
    finally:
        lock.close()
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([in_use.name, alive.name, "acecoder-notes-1"])


def test_run_batch_reuses_one_engine_per_configuration():
    try:
        first = run_batch([ADD], [["assert add(1, 2) == 3"]], workers=1)
        from acecoder import exec as exec_module

        engines = list(exec_module._shared_engines.values())
        second = run_batch([ADD], [["assert add(1, 2) == 4"]], workers=1)
        assert list(exec_module._shared_engines.values()) == engines and len(engines) == 1
        assert first[0].passed == 1 and second[0].passed == 0
    finally:
        shutdown_shared_engines()


def test_missing_interpreter_is_an_engine_error():
    with pytest.raises(WorkerStartError):
        Engine(workers=1, python="/nonexistent/python3")


def test_hash_seed_is_fixed_across_engines():
    program = "print(hash('acecoder'), hash(('a', 1)))"
    outputs = []
    for _ in range(2):
        with Engine(workers=1, limits=FAST_LIMITS) as engine:
            (result,) = engine.run([program], [[]])
            outputs.append(result.stdout)
    assert outputs[0] == outputs[1] and outputs[0].strip()


def test_a_programs_own_sigint_fails_it_even_where_the_caller_ignores_sigint():
    """A shell starts background jobs (`trainer &`, nohup) with SIGINT ignored, and Python keeps it ignored; the
    workers inherit that. A program raising SIGINT must fail the same way there as anywhere else, and, as for any
    failed test, the program's next test still runs in its namespace."""
    script = (
        "import signal\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "from acecoder.exec import Engine, Limits\n"
        "program = 'import signal\\ndef f():\\n    signal.raise_signal(signal.SIGINT)\\n    return 1\\n'\n"
        "with Engine(workers=1, limits=Limits(test_cpu_seconds=2.0)) as engine:\n"
        "    (result,) = engine.run([program], [['assert f() == 1', 'assert callable(f)']])\n"
        "print(result.tests[0].status.value, result.tests[0].exception_type, result.tests[1].status.value)\n"
    )
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.split() == ["error", "KeyboardInterrupt", "passed"]


def test_jobs_cannot_import_from_the_callers_directory(tmp_path, monkeypatch):
    (tmp_path / "planted.py").write_text("VALUE = 1\n")
    monkeypatch.chdir(tmp_path)
    with Engine(workers=1, limits=FAST_LIMITS) as engine:
        (result,) = engine.run(
            ["import sys\ndef f():\n    return '' in sys.path or '.' in sys.path\n"],
            [["assert f() is False", "import planted"]],
        )
    assert result.tests[0].status is Status.PASSED
    assert result.tests[1].status is Status.ERROR and result.tests[1].exception_type == "ModuleNotFoundError"


def test_limits_are_plain_dataclasses():
    limits = Limits(test_cpu_seconds=2.5)
    assert dataclasses.asdict(limits)["test_cpu_seconds"] == 2.5
    assert dataclasses.fields(Limits)[0].metadata["help"]


def test_import_stays_light():
    code = (
        "import sys, acecoder, acecoder.exec\n"
        "heavy = {'torch', 'transformers', 'trl', 'vllm', 'openai', 'ray', 'datasets', 'numpy'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


def test_a_list_mixing_asserts_and_call_tests_is_refused_before_anything_runs(engine):
    # The judge runs a list one way; a mixed list once reached it and ended as a worker lost (sandbox_error), which
    # reads as the program's doing. Both orders, and the whole batch is refused: no job of it runs.
    call = CallTest("add", (1, 2), 3)
    for mixed in (["assert add(1, 2) == 3", call], [call, "assert add(1, 2) == 3"]):
        with pytest.raises(ValueError, match=r"tests\[1\] mixes assert statements and CallTests"):
            engine.run([ADD, ADD], [["assert add(1, 2) == 3"], mixed])
    [result] = engine.run([ADD], [[call, CallTest("add", (2, 2), 4)]])
    assert result.status is Status.PASSED and result.passed == 2
