"""The judge zygote: one warm worker of the execution engine, and the only process that decides verdicts.

Started by the Rust host as ``python -s -S -m acecoder.harness.judge CONFIG_JSON``; reads (plan, job) frame pairs
on fd 0 and writes one result frame per job on fd 1. It never runs program code: it starts a runner zygote in its
own sandbox (``supply``), takes one pre-forked runner per program run, and judges what comes back:

- stdin/stdout tests: the runner runs the program as ``__main__`` on each input; the judge compares stdout.
- call tests (HumanEval+/MBPP+): the judge calls the function in the runner and compares (``calls``).
- assert tests: a judge child forked per job runs the tests' statements against proxies (``asserts``).

A runner that dies, hangs or misbehaves costs the current test: its death decides that test's verdict, and a
fresh runner re-runs the program for the tests after it. Limits arrive as numbers planned by the host
(``Limits::plan`` in ``rust/src/limits.rs``); nothing here re-derives them.
"""

from __future__ import annotations

import fcntl
import json
import mmap
import os
import random
import resource
import select
import signal
import struct
import sys
import time

from acecoder.harness import paths, wire
from acecoder.harness import runner as protocol
from acecoder.harness.asserts import DESCRIBE, CompiledTests, describe, judge_child, raise_timeout, run_test
from acecoder.harness.calls import CallJudge, ExpectedValues
from acecoder.harness.channel import Runner, RunnerLost
from acecoder.harness.native import Native
from acecoder.harness.proxies import InvalidAnswer, TestNamespace, TestTimeout
from acecoder.harness.session import Session, call_request
from acecoder.harness.supply import RunnerSupply, SandboxFailure
from acecoder.harness.verdicts import (
    TIMER_GRANULARITY,
    death,
    from_exception,
    job_status,
    not_run,
    timeout,
    verdict,
)  # fmt: skip

FRAME = struct.Struct("<I")
HOST_INPUT, HOST_OUTPUT = 0, 1  # the host's pipes, moved to high descriptors by main()
JUDGE_SLACK_SECONDS = 2.0
MAX_CALLS_AHEAD = 64  # tests whose calls are made ahead in one batch
JUDGE_MEMORY_FACTOR = 2  # the judge's address space: its own footprint plus this many times a job's memory limit
# RLIMIT_NPROC of a runner child (counted per uid, and each worker's runners have a uid of their own when the
# engine runs as root): threads stay usable, a thread bomb stops here.
MAX_THREADS = 256  # beyond a test's wall backstop before the zygote kills a judge child itself
RUNNER_ENVIRONMENT = {
    "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0", "PYTHONSAFEPATH": "1",
    "PYTHONDONTWRITEBYTECODE": "1", "PYTHONIOENCODING": "utf-8", "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1", "VECLIB_MAXIMUM_THREADS": "1",
}  # fmt: skip


def read_exact(fd: int, count: int) -> bytes | None:
    chunks = []
    while count:
        chunk = os.read(fd, min(count, 1 << 24))
        if not chunk:
            return None
        chunks.append(chunk)
        count -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int) -> bytes | None:
    header = read_exact(fd, FRAME.size)
    if header is None:
        return None
    return read_exact(fd, FRAME.unpack(header)[0])


def write_frame(fd: int, payload: bytes) -> None:
    view = memoryview(FRAME.pack(len(payload)) + payload)
    while view:
        view = view[os.write(fd, view) :]


class Progress:
    """Where the judge is, in memory the Rust host reads (fd 3, shared): a test's code runs in the judge itself
    when it can change nothing that outlives the job, and if such a test never returns (C code looping on the
    program's answer), the host kills the worker at ``deadline`` and runs the job again without that test.

    Layout: u32 sequence (odd while being written), u32 phase (0 idle, 1 a test runs), u32 test index, 4 bytes of
    padding, f64 deadline on the monotonic clock. ``rust/src/worker.rs`` reads it."""

    LAYOUT = struct.Struct("<III4xd")
    DESCRIPTOR = 3

    def __init__(self):
        try:
            self.memory = mmap.mmap(self.DESCRIPTOR, self.LAYOUT.size)
        except (OSError, ValueError):
            self.memory = None  # started by hand, without the host: nobody watches
        self.sequence = 0

    def _write(self, phase: int, index: int, deadline: float) -> None:
        if self.memory is None:
            return
        self.sequence += 1
        struct.pack_into("<I", self.memory, 0, self.sequence)
        self.LAYOUT.pack_into(self.memory, 0, self.sequence, phase, index, deadline)
        self.sequence += 1
        struct.pack_into("<I", self.memory, 0, self.sequence)

    def begin_test(self, index: int, wall_seconds: float) -> None:
        self._write(1, index, time.monotonic() + wall_seconds + JUDGE_SLACK_SECONDS)

    def idle(self) -> None:
        self._write(0, 0, 0.0)


class Outcome:
    """What one program run produced: the program's own verdict (None when it ran to its end), the tests'
    verdicts by index, the test (if any) during which the runner was lost, and the runner's accounts."""

    def __init__(self):
        self.program: dict | None = None
        self.tests: dict[int, dict] = {}
        self.lost_at: int | None = None
        self.lost_reason: str | None = None


class Judge:
    def __init__(self, config: dict):
        self.config = config
        self.native = Native(config["sandbox_library"])
        self.limits = config["limits"]
        self.scratch = config["scratch"]
        self.runner_scratch = os.path.join(self.scratch, "runner")
        self.judge_scratch = os.path.join(self.scratch, "judge")
        for directory in (self.runner_scratch, self.judge_scratch):
            os.makedirs(directory, exist_ok=True)
        self.compiled = CompiledTests()
        self.expected_values = ExpectedValues()
        self.importable = list(config.get("importable", []))
        self.max_frame = int(self.limits.get("value_bytes", 16 << 20)) + 4096
        self.supply = RunnerSupply(self.native, config, self.max_frame)
        self.statm = os.open("/proc/self/statm", os.O_RDONLY)
        self.usage = {"runner_cpu": 0.0, "judge_cpu": 0.0, "peak": 0}
        self.progress = Progress()

    # --- start-up ---

    def start(self) -> None:
        config = self.config
        if config.get("cpu") is not None:
            # The judge and its runners share one CPU: a test's calls are round trips between them, and on a busy
            # machine a wakeup that must cross CPUs waits for a time slice (3x fewer jobs per second, measured).
            try:
                os.sched_setaffinity(0, {int(config["cpu"])})
            except OSError:
                pass
        files = config.get("runner_files") or paths.runner_files(self.importable, config.get("extra_read_paths", []))
        plan = paths.runner_plan(files, self.runner_scratch)
        privilege = config.get("runner_privilege")
        if privilege:
            os.chown(self.runner_scratch, privilege["uid"], privilege["gid"])
            readable = all(
                paths.traversable(path) for path, kind in plan["rules"] if kind != "write" and os.path.exists(path)
            )
            privilege = dict(privilege, keep_read_search=not readable)
        child = {"rlimits": {
            "memory_bytes": self.limits["memory_bytes"], "file_size_bytes": self.limits["output_bytes"],
            "open_files": self.limits["open_files"], "threads": MAX_THREADS if privilege else 0,
        }}  # fmt: skip
        if config.get("seccomp", True) or config.get("landlock", True):
            child_plan = self.native.runner_child_plan()
            if config.get("seccomp", True):
                child["seccomp"] = child_plan["seccomp"]
                child["seccomp_placeholders"] = child_plan["seccomp_placeholders"]
            masks = child_plan.get("landlock")
            if config.get("landlock", True) and masks:
                rules = [
                    [root, masks["read"] if os.path.isdir(root) else masks["read_file"]] for root in plan["coarse_read"]
                ]
                rules.append(["/dev/null", masks["write_file"]])
                child["landlock"] = {**masks, "rules": rules}
        runner_config = {
            "sys_path": plan["sys_path"], "preload": config.get("preload", []), "importable": self.importable,
            "scratch": self.runner_scratch, "child": child,
        }  # fmt: skip
        sandbox = {
            "privilege": privilege,
            "filesystem": {"rules": plan["rules"]} if config.get("landlock", True) else None,
            "seccomp": bool(config.get("seccomp", True)),
        }
        environment = {**RUNNER_ENVIRONMENT, "HOME": self.runner_scratch, "TMPDIR": self.runner_scratch}
        self.supply.start(sandbox, runner_config, environment)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        self.self_check()
        # The judge decodes answers and runs side-effect-free tests itself: an answer (or a test) too big for memory
        # must be a MemoryError here, that test's verdict, not the kernel ending the worker.
        ceiling = self._footprint() + JUDGE_MEMORY_FACTOR * self.limits["memory_bytes"]
        try:
            resource.setrlimit(resource.RLIMIT_AS, (ceiling, ceiling))
        except (OSError, ValueError):
            pass
        if config.get("landlock", True) or config.get("seccomp", True):
            judge_plan = paths.judge_plan(config.get("extra_read_paths", []), self.judge_scratch)
            self.native.enter_judge({
                "filesystem": judge_plan if config.get("landlock", True) else None,
                "seccomp": bool(config.get("seccomp", True)),
            })  # fmt: skip
        os.chdir(self.judge_scratch)

    def self_check(self) -> None:
        """One real job through every path before the worker reports ready: a sandbox that cannot work fails the
        engine's start-up, not thousands of jobs later. It also warms up the judge's code."""
        plan = {
            "program_cpu": 5.0, "program_wall": 20.0, "test_cpu": [5.0, 5.0], "test_wall": [20.0, 20.0],
            "job_wall": 60.0, "runner_cpu_budget": 30,
        }  # fmt: skip
        job = {
            "program": "def double(x):\n    return [x * 2, {'n': x}]\n",
            "tests": [
                {"kind": "assert", "code": "assert double(2) == [4, {'n': 2}]"},
                {"kind": "assert", "code": "assert double(3)[0] == 6"},
            ],
            "seed": 0,
        }
        result = self.run_job(job, plan)
        if result["status"] != "passed":
            raise SandboxFailure("the worker's self-check failed: %s" % json.dumps(result)[:2000])

    # --- one job ---

    def run_job(self, job: dict, plan: dict) -> dict:
        started = time.monotonic()
        self.usage = {"runner_cpu": 0.0, "judge_cpu": 0.0, "peak": 0}
        self.last_runner: Runner | None = None
        tests = job["tests"]
        kinds = {test["kind"] for test in tests}
        if kinds == {"io"}:
            program, verdicts = None, self.run_io_job(job, plan)
        elif "io" in kinds:
            raise ValueError("a job mixes io tests with other tests")
        else:
            program, verdicts = self.run_program_job(job, plan)
        result = {
            "tests": verdicts,
            "total": len(tests),
            "passed": sum(1 for test in verdicts if test["status"] == "passed"),
            "status": job_status(program, verdicts),
            "exception_type": program["exception_type"] if program else None,
            "message": program["message"] if program else None,
            "wall_time": time.monotonic() - started,
            "cpu_time": self.usage["runner_cpu"] + self.usage["judge_cpu"],
            "runner_cpu_time": self.usage["runner_cpu"],
            "judge_cpu_time": self.usage["judge_cpu"],
            "peak_memory": self.usage["peak"],
            "stdout": "",
            "stderr": "",
        }
        runner = self.last_runner
        if runner is not None:
            keep = self.limits["capture_bytes"]
            result["stdout"] = runner.tail(runner.stdout, keep)
            result["stderr"] = runner.tail(runner.stderr, keep)
            runner.close_output()
        return result

    def _take(self, plan: dict, cpu_seconds: float) -> Runner:
        if self.last_runner is not None:
            self.last_runner.close_output()
        runner = self.supply.take()
        self.last_runner = runner
        runner.cpu_budget = int(cpu_seconds) + 1  # the run's RLIMIT_CPU, sent with the program
        return runner

    def _release(self, runner: Runner, cpu_limit: float, reason: str | None = None) -> dict:
        """Reaps the runner; returns the verdict its death would give a step (for a lost runner)."""
        output = runner.output_exceeded(self.limits["output_bytes"])
        status, cpu_used, peak = self.supply.release(runner)
        self.usage["runner_cpu"] += cpu_used
        self.usage["peak"] = max(self.usage["peak"], peak)
        return death(status, cpu_used, reason or runner.lost, cpu_limit, output)

    def run_program(self, runner: Runner, job: dict, plan: dict, as_main: bool, stdin: bytes, session: Session):
        """Runs the program in the runner: its names table (or None for __main__ runs), or raises."""
        session.begin_step(plan["program_cpu"], plan["program_wall"])
        header = struct.pack("<BQI", protocol.AS_MAIN if as_main else 0, job.get("seed", 0), runner.cpu_budget)
        slots = wire.encode_slot(job["program"]) + wire.encode_slot(stdin)
        frame = session.request(protocol.REQUEST_PROGRAM, header, slots)
        kind = frame[:1]
        if kind == protocol.REPLY_ERROR:
            session.answer(frame)  # raises the program's exception
        if kind == protocol.REPLY_NAMES and not as_main:
            (table,), _ = session.values(frame, 1 + protocol.CPU.size, 1)
            return _names(table)
        if kind == protocol.REPLY_DONE and as_main:
            return None
        runner.kill("protocol")
        raise RunnerLost("protocol")

    def _program_verdict(self, error: BaseException, cpu_limit: float, cpu_used: float) -> dict:
        if isinstance(error, TestTimeout) or cpu_used >= cpu_limit - TIMER_GRANULARITY:
            return timeout(cpu_limit, cpu_used)
        outcome = from_exception(error, cpu_used)
        if outcome["status"] == "failed":  # an AssertionError at the program's top level is the program's error
            outcome["status"] = "error"
        return outcome

    def run_program_job(self, job: dict, plan: dict):
        tests = job["tests"]
        count = len(tests)
        verdicts: list[dict | None] = [None] * count
        for index in plan.get("skip", ()):
            # A test during which a previous attempt's judge hung: the host replaced the worker and ran the job again.
            verdicts[index] = verdict("timeout", "Timeout", "the test's own code ran past its wall-clock limit")
        fail_fast = job.get("fail_fast", False)
        first = 0
        program = None
        while True:
            budget = plan["program_cpu"] + sum(plan["test_cpu"][first:])
            runner = self._take(plan, budget)
            session = Session(runner, self.native)
            try:
                names = self.run_program(runner, job, plan, False, b"", session)
            except RunnerLost:
                program = self._release(runner, plan["program_cpu"])
                break
            except BaseException as error:  # noqa: BLE001 - the program raised (or answered garbage) at its top level
                judge_cpu, runner_cpu = session.step_cpu()
                program = self._program_verdict(error, plan["program_cpu"], runner_cpu)
                self._release(runner, plan["program_cpu"])
                break
            if count == first:
                self._release(runner, plan["program_cpu"])
                break
            if all(test["kind"] == "call" for test in tests):
                outcome = self.run_calls(session, job, plan, first, verdicts)
            else:
                outcome = self.run_asserts(session, job, plan, first, names)
            for index, test_verdict in outcome.tests.items():
                verdicts[index] = test_verdict
            if outcome.lost_at is None:
                self._release(runner, 0.0)
                break
            lost = outcome.lost_at
            death_verdict = self._release(runner, plan["test_cpu"][lost], outcome.lost_reason)
            if verdicts[lost] is None:
                verdicts[lost] = death_verdict
            first = lost + 1
            if first >= count or (fail_fast and death_verdict["status"] != "passed"):
                break
        if program is not None:
            return program, [not_run() if item is None else item for item in verdicts]
        return None, [not_run() if item is None else item for item in verdicts]

    def run_calls(self, session: Session, job: dict, plan: dict, first: int, verdicts: list) -> Outcome:
        outcome = Outcome()
        judge = CallJudge(session, job["tests"], plan, self.expected_values)
        found: list = [None] * len(job["tests"])
        lost = judge.run(first, job.get("fail_fast", False), found)
        for index in range(first, len(found)):
            if found[index] is not None:
                outcome.tests[index] = found[index]
        if lost is not None:
            outcome.lost_at = lost
        return outcome

    def run_asserts(self, session: Session, job: dict, plan: dict, first: int, names: list) -> Outcome:
        steps = [self.compiled.get(test["code"]) for test in job["tests"]]
        if all(step[0] == "error" or step[3] for step in steps):
            return self.run_pure_asserts(session, job, plan, first, names, steps)
        return self.run_test_child(session, job, plan, first, names, steps)

    def run_pure_asserts(self, session: Session, job: dict, plan: dict, first: int, names: list, steps) -> Outcome:
        """Tests that can change nothing outside the job run here, in the judge: no process per job. A test whose
        one call into the program has literal arguments gets that call made ahead, pipelined with its neighbours'
        (one round trip for a run of such tests instead of one per test); the test then runs as written and its
        call is answered from what came back."""
        outcome = Outcome()
        started = time.process_time()
        random.seed(job.get("seed", 0))
        numpy = sys.modules.get("numpy")
        if numpy is not None:
            numpy.random.seed(job.get("seed", 0) % (2**32))
        namespace = TestNamespace(session, names, self.importable, session.program_module)
        namespace[DESCRIBE] = describe
        skip = set(plan.get("skip", ()))
        order = [index for index in range(first, len(steps)) if index not in skip]
        ahead = {index: self._call_ahead(steps[index], namespace, plan["test_cpu"][index]) for index in order}
        previous = signal.signal(signal.SIGPROF, raise_timeout)
        try:
            position = 0
            while position < len(order):
                run = [order[position]] if ahead[order[position]] is None else []
                while not run and position + len(run) < len(order):
                    index = order[position + len(run)]
                    if ahead[index] is None:
                        break
                    run.append(index)
                    if len(run) >= MAX_CALLS_AHEAD:
                        break
                if ahead[run[0]] is None:
                    stop = self._run_one(steps, run[0], namespace, session, plan, job, outcome, None)
                else:
                    stop = self._run_ahead(steps, run, ahead, namespace, session, plan, job, outcome)
                if stop:
                    break
                position += len(run) if ahead[run[0]] is not None else 1
        finally:
            self.progress.idle()
            signal.signal(signal.SIGPROF, previous)
        self.usage["judge_cpu"] += time.process_time() - started
        return outcome

    def _call_ahead(self, step: tuple, namespace: TestNamespace, budget: float):
        """(reference, arguments, keywords, request) of the one call a test makes into the program, when it can be
        made ahead: literal arguments, always run, and no other name of the program in the test. Else None."""
        if step[0] != "code":
            return None
        _, _, names, _, (literal, other) = step
        shadowing = not (names & namespace.ordinary)
        program = namespace.program

        def bound(name: str) -> bool:
            entry = program.get(name)
            if entry is None or (name in namespace.protected and not shadowing):
                return False
            return True

        calls = [call for call in literal if bound(call[0])]
        if len(calls) != 1 or not calls[0][3] or any(bound(name) for name in other):
            return None
        name, arguments, keywords, _ = calls[0]
        if program[name][0] != "callable" or any(bound(other_name) for other_name in names if other_name != name):
            return None
        try:
            request = call_request(name, arguments, keywords, budget)
        except (wire.Unencodable, RecursionError):
            return None
        return (namespace.session.global_reference(name), arguments, keywords, request)

    def _run_one(self, steps, index, namespace, session, plan, job, outcome, prefetched) -> bool:
        """Runs test ``index`` (with its call's answer already in hand, if ``prefetched``); True to stop."""
        self.progress.begin_test(index, plan["test_wall"][index])
        session.prefetched = prefetched
        try:
            result = run_test(steps[index], namespace, session, plan["test_cpu"][index], plan["test_wall"][index])
        except RunnerLost as lost:
            outcome.lost_at, outcome.lost_reason = index, lost.reason
            return True
        finally:
            session.prefetched = None
        outcome.tests[index] = result
        if session.outstanding:  # the test ended inside a call: the runner's state is unknown
            session.runner.kill("aborted")
            session.outstanding = 0
            outcome.lost_at, outcome.lost_reason = index, "aborted"
            return True
        return bool(job.get("fail_fast") and result["status"] != "passed")

    def _run_ahead(self, steps, run, ahead, namespace, session, plan, job, outcome) -> bool:
        requests = [(ahead[index][3], plan["test_cpu"][index], plan["test_wall"][index]) for index in run]
        window = 1 if job.get("fail_fast") else len(requests)
        replies = session.pipeline(requests, window)
        try:
            for position, frame in replies:
                reference, arguments, keywords, _ = ahead[run[position]]
                if self._run_one(
                    steps,
                    run[position],
                    namespace,
                    session,
                    plan,
                    job,
                    outcome,
                    (reference, arguments, keywords, frame),
                ):
                    if position + 1 < len(run):
                        session.runner.kill("done")  # calls made ahead for tests that will not run
                    return True
        except RunnerLost as lost:
            index = run[getattr(lost, "position", 0)]
            outcome.lost_at, outcome.lost_reason = index, lost.reason
            return True
        return False

    def run_test_child(self, session: Session, job: dict, plan: dict, first: int, names: list, steps) -> Outcome:
        """Forks a test child for tests ``first..`` and watches it; its records become the outcome."""
        outcome = Outcome()
        read_end, write_end = os.pipe2(os.O_CLOEXEC)
        plan = dict(plan)
        plan["judge_memory_bytes"] = self._footprint() + self.limits["memory_bytes"]
        keep = (session.runner.channel.fileno(), session.runner.pidfd, write_end)
        pid = os.fork()
        if pid == 0:
            judge_child(job, plan, steps, first, session, names, self.importable, write_end, keep)
        os.close(write_end)
        os.set_blocking(read_end, False)
        pidfd = os.pidfd_open(pid)
        records: list[dict] = []
        buffer = b""
        current = first
        deadline = time.monotonic() + plan["test_wall"][current] + JUDGE_SLACK_SECONDS
        poller = select.poll()
        poller.register(read_end, select.POLLIN)
        poller.register(pidfd, select.POLLIN)
        killed = False
        exited = False
        while not exited:
            now = time.monotonic()
            if now >= deadline:
                killed = True
                for target in (-pid, pid):
                    try:
                        os.kill(target, signal.SIGKILL)
                    except OSError:
                        pass
                session.runner.kill("wall")
                break
            for fd, _ in poller.poll((deadline - now) * 1000):
                if fd == pidfd:
                    exited = True
                else:
                    try:
                        buffer += os.read(read_end, 1 << 16)
                    except BlockingIOError:
                        pass
            lines = buffer.split(b"\n")
            buffer = lines.pop()
            for line in lines:
                record = json.loads(line)
                records.append(record)
                current = record["index"] + 1
                if current < len(job["tests"]):
                    deadline = time.monotonic() + plan["test_wall"][current] + JUDGE_SLACK_SECONDS
        _, status, usage = os.wait4(pid, 0)
        try:
            os.killpg(pid, signal.SIGKILL)  # whatever a buggy test started
        except OSError:
            pass
        os.close(pidfd)
        self.usage["judge_cpu"] += usage.ru_utime + usage.ru_stime
        records += [json.loads(line) for line in (buffer + _drain(read_end)).split(b"\n") if line]
        os.close(read_end)
        _clean(self.judge_scratch)
        for record in records:
            if "judge_error" in record:
                sys.stderr.write("acecoder judge: a test child failed: %s\n" % record["judge_error"])
                continue
            index = record["index"]
            if "verdict" in record and record["verdict"] is not None:
                outcome.tests[index] = record["verdict"]
            if "lost" in record:
                outcome.lost_at = index
                outcome.lost_reason = record["lost"]
        skip = set(plan.get("skip", ()))
        done = set(outcome.tests) | skip
        pending = [index for index in range(first, len(job["tests"])) if index not in done]
        stopped = job.get("fail_fast") and any(item["status"] != "passed" for item in outcome.tests.values())
        if outcome.lost_at is None and pending and not stopped:
            # The test child itself died or was killed during its next test (a test looping in C, or crashing).
            index = pending[0]
            outcome.lost_at = index
            if killed:
                outcome.tests[index] = verdict("timeout", "Timeout", "wall-clock limit exceeded (killed from outside)")
            else:
                outcome.tests[index] = verdict("error", "JudgeError", "the test ended its process (status %d)" % status)
        return outcome

    def _footprint(self) -> int:
        pages = int(os.pread(self.statm, 64, 0).split()[0])
        return pages * os.sysconf("SC_PAGE_SIZE")

    def run_io_job(self, job: dict, plan: dict) -> list[dict]:
        verdicts: list[dict] = []
        fail_fast = job.get("fail_fast", False)
        for index, test in enumerate(job["tests"]):
            if verdicts and fail_fast and verdicts[-1]["status"] != "passed":
                verdicts.append(not_run())
                continue
            verdicts.append(self.run_io_case(job, plan, index, test))
        return verdicts

    def run_io_case(self, job: dict, plan: dict, index: int, test: dict) -> dict:
        limit = plan["test_cpu"][index]
        io_plan = dict(plan, program_cpu=limit, program_wall=plan["test_wall"][index])
        runner = self._take(plan, limit)
        session = Session(runner, self.native, "__main__")
        stdin = test["stdin"].encode("utf-8", "replace")
        try:
            self.run_program(runner, job, io_plan, True, stdin, session)
        except RunnerLost:
            return self._release(runner, limit)
        except BaseException as error:  # noqa: BLE001 - the program raised
            _, runner_cpu = session.step_cpu()
            self._release(runner, limit)
            return self._program_verdict(error, limit, runner_cpu)
        _, cpu_used = session.step_cpu()
        if runner.output_exceeded(self.limits["output_bytes"]):
            self._release(runner, limit)
            return verdict("output_exceeded", None, "output limit exceeded", cpu_used)
        actual = os.pread(runner.stdout, self.limits["output_bytes"] + 1, 0).decode("utf-8", "replace")
        self._release(runner, limit)
        if cpu_used >= limit - TIMER_GRANULARITY:
            return timeout(limit, cpu_used)
        if outputs_match(actual, test["stdout"], test.get("float_tolerance")):
            return verdict("passed", cpu_time=cpu_used)
        return verdict("failed", "WrongAnswer", "stdout differs from the expected output", cpu_used)


def _names(table) -> list:
    """The runner's names table, kept only where well formed: (name, kind, detail) with the expected shapes."""
    names = []
    if type(table) is not list:
        raise InvalidAnswer("the program's names are not a list")
    for entry in table:
        if type(entry) is not tuple or len(entry) != 3 or type(entry[0]) is not str:
            continue
        name, kind, detail = entry
        if kind == "class":
            if (
                type(detail) is not tuple
                or len(detail) != 3
                or not all(type(part) in (str, type(None)) for part in detail[:2])
            ):
                continue
            bases = detail[2]
            if bases is not None and not (type(bases) is tuple and all(type(base) is str for base in bases)):
                continue
        elif kind == "module":
            if type(detail) not in (str, type(None)):
                continue
        elif kind not in ("value", "callable", "object"):
            continue
        names.append((name, kind, detail))
    return names


def _drain(fd: int) -> bytes:
    data = b""
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except (BlockingIOError, OSError):
            return data
        if not chunk:
            return data
        data += chunk


def _clean(directory: str) -> None:
    for name in os.listdir(directory):
        protocol.clean_directory(os.path.join(directory, name)) if os.path.isdir(
            os.path.join(directory, name)
        ) else _unlink(os.path.join(directory, name))


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def normalise_lines(text: str) -> list[list[str]]:
    return [line.split() for line in (line.rstrip() for line in text.strip().splitlines())]


def _number(token: str) -> float | None:
    try:
        value = float(token)
    except ValueError:
        return None
    return value


def outputs_match(actual: str, expected: str, tolerance: float | None) -> bool:
    """Whitespace-normalised comparison; numeric tokens within ``tolerance`` (absolute, or relative to the expected
    value) when given. NaN matches no number: ``abs(nan - x) > tol`` is False, so only a test that holds (``<=``)
    accepts a token."""
    actual_lines = normalise_lines(actual)
    expected_lines = normalise_lines(expected)
    if actual_lines == expected_lines:
        return True
    if tolerance is None or len(actual_lines) != len(expected_lines):
        return False
    for actual_tokens, expected_tokens in zip(actual_lines, expected_lines):
        if len(actual_tokens) != len(expected_tokens):
            return False
        for got, want in zip(actual_tokens, expected_tokens):
            if got == want:
                continue
            got_number, want_number = _number(got), _number(want)
            if got_number is None or want_number is None:
                return False
            if not abs(got_number - want_number) <= tolerance * max(1.0, abs(want_number)):
                return False
    return True


# ---------------------------------------------------------------------------------------------------------- serving


def main() -> None:
    config = json.loads(sys.argv[1])
    protocol.name_process(b"acecoder-judge")
    # The host's pipes move off stdin and stdout: a test that reads or prints (in the judge) must never touch them.
    global HOST_INPUT, HOST_OUTPUT
    HOST_INPUT = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 10)
    HOST_OUTPUT = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 10)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    judge = Judge(config)
    try:
        judge.start()
    except BaseException as error:  # noqa: BLE001 - the host reads the log and reports the worker as not ready
        import traceback

        sys.stderr.write("".join(traceback.format_exception(error)[-6:]))
        sys.stderr.write("acecoder worker: cannot start: %s\n" % (error,))
        sys.stderr.flush()
        judge.supply.close()
        os._exit(1)
    write_frame(HOST_OUTPUT, json.dumps({"pid": os.getpid(), "python": sys.version.split()[0]}).encode())
    while True:
        plan_frame = read_frame(HOST_INPUT)
        if plan_frame is None:
            break
        job_frame = read_frame(HOST_INPUT)
        if job_frame is None:
            break
        try:
            result = judge.run_job(json.loads(job_frame), json.loads(plan_frame))
        except SandboxFailure as error:
            sys.stderr.write("acecoder worker: %s\n" % error)
            sys.stderr.flush()
            break
        write_frame(HOST_OUTPUT, json.dumps(result).encode())
    judge.supply.close()


if __name__ == "__main__":
    main()
