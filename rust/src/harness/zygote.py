"""acecoder zygote harness: one warm worker process of the execution engine.

Started by the engine as ``python -s -S -c HARNESS CONFIG_JSON`` (HARNESS = ``strict.py`` + the package's
``digest.py`` + ``calls.py`` + ``child.py`` + ``planning.py`` + this file, in that order: the builtins snapshot at
the top of ``strict.py`` must come first).
It imports only the standard library (plus the modules named in the config's ``preload``) and the engine's own
shared library through ``ctypes``, whose C entry points enter the sandbox and write the authenticated records.
It serves jobs read from fd 0 and answers on fd 1, one length-prefixed JSON frame each way.

Per job the zygote compiles the tests (cached: the same tests recur across a question's samples), has the sandbox
library draw a fresh record nonce (kept in Rust memory only), and forks a child. The child redirects its stdio,
closes every other descriptor, enters the sandbox (rlimits, Landlock, privilege drop, seccomp), runs the program and
then each test, and appends one nonce-stamped record per step to a memory file. The zygote sleeps on the child's
pidfd with a wall-clock deadline and reads the records when the child is gone: a test that hangs, crashes or kills
its process costs only itself, because the zygote records that test's verdict and forks a fresh child that re-runs
the program and continues after it.

Verdicts: a test is ``passed`` only if the zygote received the harness's own end-of-test record for it, stamped
with the child's nonce; anything else (exit, signal, closed pipe, forged or garbled records) is not a pass. The
harness runs on a private snapshot of the builtins and on function references taken before any job runs, so a
program that patches ``builtins``, ``json``, ``time`` or ``sys.modules`` changes nothing the harness relies on.
"""

import ctypes
import fcntl
import gc
import json
import os
import select
import signal
import struct
import sys
import time

FRAME_HEADER = struct.Struct("<I")
TEST_CACHE_ENTRIES = 256
LARGE_FRAME_BYTES = 1 << 20
JOB_UID_BASE = 1_990_000_000  # far above any account a system creates


# ---------------------------------------------------------------------------------------------------------- framing


def read_exact(fd, count):
    chunks = []
    while count:
        chunk = os.read(fd, count)
        if not chunk:
            return None
        chunks.append(chunk)
        count -= len(chunk)
    return b"".join(chunks)


def read_frame(fd):
    header = read_exact(fd, FRAME_HEADER.size)
    if header is None:
        return None
    (length,) = FRAME_HEADER.unpack(header)
    payload = read_exact(fd, length)
    if payload is None:
        return None
    return payload


def write_frame(fd, payload):
    data = FRAME_HEADER.pack(len(payload)) + payload
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


# ------------------------------------------------------------------------------------------------------ the zygote


class Zygote:
    def __init__(self, config):
        self.config = config
        self.limits = config["limits"]
        self.scratch = config["scratch"]
        self.seccomp = bool(config.get("seccomp", True))
        self.strict = bool(config.get("strict_equality", True))
        library = ctypes.CDLL(config["sandbox_library"])
        self.enter_sandbox = library.acecoder_enter_sandbox
        self.enter_sandbox.argtypes = [ctypes.c_uint64, ctypes.c_char_p, ctypes.c_size_t]
        self.enter_sandbox.restype = ctypes.c_int
        self.record = library.acecoder_record
        self.record.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
        self.record.restype = ctypes.c_int
        self.renew_nonce = library.acecoder_renew_nonce
        self.renew_nonce.restype = ctypes.c_int
        self.verified_records = library.acecoder_verified_records
        self.verified_records.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
        self.verified_records.restype = ctypes.c_ssize_t
        self.record_file = os.memfd_create("acecoder-records", 0)
        self.error_buffer = ctypes.create_string_buffer(1024)
        self.stdout_file = os.memfd_create("acecoder-stdout", 0)
        self.stderr_file = os.memfd_create("acecoder-stderr", 0)
        self.devnull = os.open(os.devnull, os.O_RDONLY)
        os.makedirs(self.scratch, exist_ok=True)
        self.test_cache = {}
        self.channel_used = False
        privilege = None
        self.job_uid = None
        if config.get("drop_privileges", True) and os.geteuid() == 0:
            # One unprivileged uid per worker: jobs of different workers cannot touch each other's processes or
            # files, and RLIMIT_NPROC (counted per uid) caps one job's threads without starving another's.
            self.job_uid = JOB_UID_BASE + int(config.get("worker", 0))
            privilege = {
                "uid": self.job_uid,
                "gid": self.job_uid,
                "keep_read_search": not all(traversable(path) for path in interpreter_paths()),
                "max_threads": int(config.get("max_threads", 256)),
            }
            os.chown(self.scratch, self.job_uid, self.job_uid)
        limits = self.limits
        plan = {
            "channel": {"record_fd": RECORD_FD},
            "rlimits": {
                "memory_bytes": limits["memory_bytes"],
                "file_size_bytes": limits["output_bytes"],
                "open_files": limits["open_files"],
            },
            "filesystem": filesystem_plan(config, self.scratch) if config.get("landlock", True) else None,
            "privilege": privilege,
            "seccomp": self.seccomp,
        }
        payload = json.dumps(plan).encode()
        if library.acecoder_prepare_sandbox(payload, len(payload), self.error_buffer, len(self.error_buffer)) != 0:
            raise RuntimeError("cannot prepare the sandbox: " + self.error_buffer.value.decode("utf-8", "replace"))
        self.inherit_job_state()

    def inherit_job_state(self):
        """Sets, once, everything that every job's child would otherwise set up itself (fork copies it): the
        working directory and HOME/TMPDIR (the scratch directory), the CPU timer's signal handling, and the audit
        hook. The zygote is not affected by any of it: it uses absolute paths, its own timer never runs, and the
        hook refuses nothing it does."""
        os.chdir(self.scratch)
        os.environ["HOME"] = os.environ["TMPDIR"] = self.scratch
        # A C-level handler: it raises KeyboardInterrupt and has no Python globals a program could reach and
        # patch. CPython's C handler also writes the signal's number to the wakeup pipe, which is how the harness
        # learns that the timer fired even when the program swallowed the exception.
        signal.signal(signal.SIGPROF, signal.default_int_handler)
        # A program's own SIGINT raises KeyboardInterrupt, as in a plain interpreter, whatever the caller's
        # disposition: a caller started in the background by a shell (`trainer &`, nohup) ignores SIGINT, Python
        # then leaves it ignored, and the same program would pass there and fail elsewhere. Workers have their own
        # process group, so a terminal's Ctrl-C never reaches them either way.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        global _timer_pipe
        read_end, write_end = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        os.dup2(read_end, TIMER_READ_FD, inheritable=False)
        os.dup2(write_end, TIMER_WRITE_FD, inheritable=False)
        os.close(read_end)
        os.close(write_end)
        os.set_blocking(TIMER_READ_FD, False)
        os.set_blocking(TIMER_WRITE_FD, False)
        _timer_pipe = TIMER_READ_FD
        signal.set_wakeup_fd(TIMER_WRITE_FD, warn_on_full_buffer=False)
        install_audit_hook(self)

    # --- one job ---

    def run_job(self, job):
        started = time.monotonic()
        tests = job["tests"]
        self.usage = {"cpu": 0.0, "peak": 0}
        if tests and all(test["kind"] == "io" for test in tests):
            result = self.run_io_job(job)
        elif any(test["kind"] == "io" for test in tests):
            raise ValueError("a job mixes io and assert tests")
        else:
            result = self.run_assert_job(job)
        result["total"] = len(tests)
        result["passed"] = sum(1 for test in result["tests"] if test["status"] == "passed")
        result["status"] = job_status(result)
        result["wall_time"] = time.monotonic() - started
        result["cpu_time"] = self.usage["cpu"]
        result["peak_memory"] = self.usage["peak"]
        result["stdout"] = self.tail(self.stdout_file)
        result["stderr"] = self.tail(self.stderr_file)
        self.clean_scratch()
        return result

    def compiled(self, source):
        """The compiled form of one test, cached across jobs (tests are data, compiled outside the sandbox)."""
        step = self.test_cache.get(source)
        if step is None:
            try:
                step = compile_test(source, "<test>", self.strict)
            except Exception as error:  # noqa: BLE001 - a test that does not compile is that test's error
                step = ("error", type(error).__name__, truncate(error))
            # Small on purpose: a question's samples arrive together, and every cached object makes each fork
            # copy more page tables (a cache of thousands of code objects doubled the cost of a job).
            if len(self.test_cache) >= TEST_CACHE_ENTRIES:
                del self.test_cache[next(iter(self.test_cache))]
            self.test_cache[source] = step
        return step

    def step(self, test):
        if test["kind"] == "call":
            # Not cached: each job's child must get its own objects (a function may mutate its arguments).
            return compile_call(test)
        return self.compiled(test["code"])

    def run_assert_job(self, job):
        tests = job["tests"]
        count = len(tests)
        default_seconds = self.limits["test_cpu_seconds"]
        job["steps"] = tuple(self.step(test) for test in tests)
        job["test_seconds"] = tuple(test.get("cpu_seconds") or default_seconds for test in tests)
        fail_fast = job.get("fail_fast", False)
        verdicts = [None] * count
        result = {"tests": verdicts, "exception_type": None, "message": None}
        first = 0
        while True:
            outcome = self.run_child(job, first, io_case=None)
            program = outcome["program"]
            if program is None or program["status"] != "passed":
                failure = program or outcome["death"]
                result["exception_type"] = failure.get("exception_type")
                result["message"] = failure.get("message")
                result["program_status"] = failure["status"]
                for index in range(first, count):
                    verdicts[index] = not_run()
                break
            for index, verdict in outcome["tests"].items():
                if index >= first and verdicts[index] is None:
                    verdicts[index] = verdict
            missing = [index for index in range(first, count) if verdicts[index] is None]
            if not missing:
                break
            if fail_fast and any(verdicts[index]["status"] != "passed" for index in range(first, missing[0])):
                for index in missing:  # the child stopped at a failure, as asked
                    verdicts[index] = not_run()
                break
            # The child died (or was killed) during test `missing[0]`: that test gets the death's verdict, and a
            # fresh child continues after it (or, failing fast, nothing more runs).
            verdicts[missing[0]] = outcome["death"]
            first = missing[0] + 1
            if fail_fast:
                for index in range(first, count):
                    verdicts[index] = not_run()
                break
            if first >= count:
                break
        return result

    def run_io_job(self, job):
        verdicts = []
        for test in job["tests"]:
            if verdicts and job.get("fail_fast", False) and verdicts[-1]["status"] != "passed":
                verdicts.append(not_run())
                continue
            outcome = self.run_child(job, 0, io_case=test)
            verdicts.append(outcome["io"] or outcome["death"])
        return {"tests": verdicts, "exception_type": None, "message": None}

    # --- one child ---

    def run_child(self, job, first, io_case):
        """Forks a child for `job` (tests from `first` on, or the single `io_case`), watches it, reaps it."""
        limits = self.limits
        for memfd in (self.stdout_file, self.stderr_file):
            os.ftruncate(memfd, 0)
            os.lseek(memfd, 0, os.SEEK_SET)
        # A fresh record file per child, sealed against shrinking: a program that reopens it through
        # /proc/self/fd cannot truncate away the records of the tests it already ran.
        os.close(self.record_file)
        self.record_file = os.memfd_create("acecoder-records", os.MFD_ALLOW_SEALING)
        fcntl.fcntl(self.record_file, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK)
        stdin_file = None
        if io_case is not None:
            stdin_file = os.memfd_create("acecoder-stdin", 0)
            os.write(stdin_file, io_case["stdin"].encode("utf-8", "replace"))
            os.lseek(stdin_file, 0, os.SEEK_SET)
        if io_case is not None:
            tests_seconds = limits["test_cpu_seconds"]
        else:
            tests_seconds = sum(job["test_seconds"][first:])
        cpu_budget = limits["program_cpu_seconds"] + tests_seconds
        self.cpu_budget = int(cpu_budget) + 1
        if self.renew_nonce() != 0:
            raise RuntimeError("cannot draw a record nonce")
        pid = os.fork()
        if pid == 0:  # the child: never returns
            child_main(self, job, first, io_case, stdin_file, self.cpu_budget)
        if stdin_file is not None:
            os.close(stdin_file)
        try:
            os.setpgid(pid, pid)
        except OSError:
            pass  # the child already did it, or already exited
        return self.watch(pid, io_case, max(job.get("test_seconds", ()), default=0))

    def read_records(self, start=0):
        """The verified records the child appended since byte `start`, and the offset after them."""
        end = os.fstat(self.record_file).st_size
        if end <= start:
            return [], start
        data = os.pread(self.record_file, end - start, start)
        # Keep only complete lines: a record still being written is read on the next call.
        end = start + data.rfind(b"\n") + 1
        data = data[: end - start]
        buffer = ctypes.create_string_buffer(len(data))
        length = self.verified_records(data, len(data), buffer, len(data))
        records = []
        for line in buffer.raw[: max(length, 0)].split(b"\n"):
            if line:
                try:
                    records.append(json.loads(line))
                except ValueError:
                    pass
        return records, end

    def watch(self, pid, io_case, longest_test_seconds):
        """Waits for the child to exit, killing it when a step outlives its wall-clock backstop, then collects
        its records.

        The zygote is not woken per record: it sleeps on the child's pidfd and looks at the record file only
        when a backstop interval passes, to see whether the child made progress. The first step is the program
        (an io test's whole run); progress (a new record) gives the next test a fresh backstop.
        """
        limits = self.limits
        wall = limits["wall_multiplier"]
        slack = limits["wall_slack_seconds"]
        test_wall = max(limits["test_cpu_seconds"], longest_test_seconds) * wall + slack
        program_wall = test_wall if io_case is not None else limits["program_cpu_seconds"] * wall + slack
        pidfd = os.pidfd_open(pid)
        started = time.monotonic()
        deadline = started + program_wall
        seen = 0
        offset = 0
        expired = False
        try:
            while True:
                now = time.monotonic()
                if now >= deadline:
                    progress, offset = self.read_records(offset)
                    if not progress:
                        expired = True
                        break
                    seen += len(progress)
                    deadline = now + test_wall
                    continue
                if select.select([pidfd], [], [], deadline - now)[0]:
                    break
        finally:
            os.close(pidfd)
            if expired:
                for target in (-pid, pid):
                    try:
                        os.kill(target, signal.SIGKILL)
                    except OSError:
                        pass
        _, status, usage = os.wait4(pid, 0)
        self.usage["cpu"] += usage.ru_utime + usage.ru_stime
        self.usage["peak"] = max(self.usage["peak"], usage.ru_maxrss * 1024)
        records, _ = self.read_records(0)
        return self.interpret(records, status, expired, usage, io_case)

    def interpret(self, records, status, expired, usage, io_case):
        program = None
        tests = {}
        ended = set()
        io_verdict = None
        for record in records:
            step = record.get("step")
            if step == "program":
                program = record["verdict"]
            elif step == "end":
                index = record["index"]
                if index in ended:  # a second end for one test: the channel was tampered with
                    tests[index] = verdict("error", "TamperedResult", "more than one result for this test")
                else:
                    tests[index] = record["verdict"]
                    ended.add(index)
            elif step == "io":
                io_verdict = record["verdict"]
        self.channel_used = bool(records)
        death = self.death_verdict(status, expired, usage)
        if death["status"] == "sandbox_error":
            program = death
        if io_case is not None and io_verdict is not None and not expired:
            io_verdict = self.judge_io(io_case, io_verdict, status, usage)
        return {"program": program, "tests": tests, "death": death, "io": io_verdict}

    def death_verdict(self, status, expired, usage):
        limits = self.limits
        if self.output_exceeded():
            return verdict("output_exceeded", None, "output limit of %d bytes exceeded" % limits["output_bytes"])
        if expired:
            return verdict("timeout", "Timeout", "wall-clock limit exceeded (killed from outside)")
        if os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            if number in (signal.SIGXCPU,):
                return verdict("timeout", "Timeout", "CPU-time limit exceeded")
            if number == signal.SIGXFSZ:
                return verdict("output_exceeded", None, "file size limit exceeded")
            try:
                name = signal.Signals(number).name
            except ValueError:
                name = str(number)
            if number == signal.SIGKILL and usage.ru_utime + usage.ru_stime >= self.cpu_budget:
                return verdict("timeout", "Timeout", "CPU-time limit exceeded")
            return verdict("killed", "Killed", "killed by signal %s" % name)
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
        if code in (EXIT_SETUP_FAILED, EXIT_SANDBOX_FAILED) and not self.channel_used:
            reason = os.pread(self.stderr_file, 2000, 0).decode("utf-8", "replace").strip()
            return verdict("sandbox_error", "SandboxError", reason or "the job's sandbox could not be set up")
        return verdict("killed", "Exit", "process exited with code %d before the harness recorded a result" % code)

    def judge_io(self, io_case, reported, status, usage):
        """The zygote itself compares the child's stdout with the expected output: the child cannot forge it."""
        if self.output_exceeded():
            return verdict("output_exceeded", None, "output limit exceeded")
        if reported["status"] != "passed":
            return reported
        if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == EXIT_DONE):
            return self.death_verdict(status, False, usage)
        actual = os.pread(self.stdout_file, self.limits["output_bytes"] + 1, 0).decode("utf-8", "replace")
        if outputs_match(actual, io_case["stdout"], io_case.get("float_tolerance")):
            return verdict("passed", None, None, reported.get("cpu_time", 0.0))
        return verdict("failed", "WrongAnswer", "stdout differs from the expected output", reported.get("cpu_time", 0.0))

    # --- helpers ---

    def output_exceeded(self):
        cap = self.limits["output_bytes"]
        return any(os.fstat(memfd).st_size >= cap for memfd in (self.stdout_file, self.stderr_file))

    def tail(self, memfd):
        size = os.fstat(memfd).st_size
        keep = self.limits["capture_bytes"]
        start = max(0, size - keep)
        return os.pread(memfd, size - start, start).decode("utf-8", "replace")

    def clean_scratch(self):
        """Empties the scratch directory, however deep or wide the tree a job left (no recursion, two open
        descriptors at a time): every subdirectory's entries are moved up to the top level, then it is removed."""
        try:
            top = os.open(self.scratch, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            os.makedirs(self.scratch, exist_ok=True)
            if self.job_uid is not None:
                os.chown(self.scratch, self.job_uid, self.job_uid)
            return
        try:
            moved = 0
            while True:
                entries = os.listdir(top)
                if not entries:
                    return
                for name in entries:
                    try:
                        os.unlink(name, dir_fd=top)
                        continue
                    except IsADirectoryError:
                        pass
                    except OSError:
                        continue
                    try:
                        os.rmdir(name, dir_fd=top)
                        continue
                    except OSError:
                        pass
                    try:
                        inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=top)
                    except OSError:
                        continue
                    try:
                        for child in os.listdir(inner):
                            moved += 1
                            os.rename(child, ".acecoder-%d" % moved, src_dir_fd=inner, dst_dir_fd=top)
                    finally:
                        os.close(inner)
        finally:
            os.close(top)


def job_status(result):
    program_status = result.pop("program_status", None)
    if program_status is not None:
        return "error" if program_status in ("passed", "failed") else program_status
    for test in result["tests"]:
        if test["status"] != "passed":
            return test["status"]
    return "passed"


def normalise_lines(text):
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return [line.split() for line in lines]


def outputs_match(actual, expected, tolerance):
    """Whitespace-normalised comparison; numeric tokens within `tolerance` (absolute or relative) when given."""
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
            try:
                got_number, want_number = float(got), float(want)
            except ValueError:
                return False
            if abs(got_number - want_number) > tolerance * max(1.0, abs(want_number)):
                return False
    return True


# --------------------------------------------------------------------------------------------------------- serving


def warm_up(zygote):
    """Runs the child's code paths a few times in the zygote, so that CPython has already specialised
    ("quickened") their bytecode: otherwise every child would do it again, on copy-on-write pages."""
    namespace = {"__name__": "__warm_up__", "__builtins__": _builtins_module}
    steps = [
        ("exec", _compile("def f(x):\n    return [x, x + 1.0]\n", "<warm-up>", "exec")),
        zygote.compiled("assert f(1) == [1, 2.0]"),
        zygote.compiled("assert abs(f(2)[1] - 3.0) < 1e-9 and len(f(2)) == 2"),
        zygote.compiled("assert not f(1) == [2]"),
    ]
    record = Recorder(lambda data, length: 0)
    for _ in range(12):
        for step in steps:
            record("end", run_step(step, namespace, 1.0), 0)
    _timer_fired()


def release_free_heap():
    """glibc's ``malloc_trim``: returns the free pages of the C heap to the kernel (nothing elsewhere)."""
    if _malloc_trim is not None:
        _malloc_trim(0)


try:
    _malloc_trim = ctypes.CDLL(None).malloc_trim
except (AttributeError, OSError):
    _malloc_trim = None


def _quit(code=None):
    raise SystemExit(code)


def main():
    config = json.loads(sys.argv[1])
    _builtins_module.exit = _builtins_module.quit = _quit  # what `site` would add; -S leaves them out
    sys.path[:0] = [path for path in config.get("sys_path", []) if path not in sys.path]
    for name in config.get("preload", []):
        try:
            __import__(name)
        except BaseException as error:  # noqa: BLE001 - a missing optional module is reported, not fatal
            sys.stderr.write("acecoder worker: cannot preload %s: %r\n" % (name, error))
    zygote = Zygote(config)
    warm_up(zygote)
    gc.collect()
    gc.freeze()  # keep the warm heap out of collections, so forked children share its pages
    write_frame(1, json.dumps({"pid": os.getpid(), "python": sys.version.split()[0]}).encode())
    while True:
        frame = read_frame(0)
        if frame is None:
            return
        job = json.loads(frame)
        try:
            result = zygote.run_job(job)
        except Exception as error:  # noqa: BLE001 - report, and let the host decide
            sys.stderr.write("acecoder worker: job failed: %r\n" % (error,))
            raise
        write_frame(1, json.dumps(result).encode())
        if len(frame) > LARGE_FRAME_BYTES:
            # A large job (evalplus inputs and outputs) leaves megabytes of freed heap that every later fork would
            # copy the page tables of: hand them back to the kernel now.
            del job, result, frame
            release_free_heap()


if __name__ == "__main__":
    main()
