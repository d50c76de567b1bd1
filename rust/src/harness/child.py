"""The job's side of the harness: what runs in a forked child, inside the sandbox.

Part of the zygote harness (HARNESS = ``strict.py`` + ``digest.py`` + ``calls.py`` + this file + ``planning.py`` +
``zygote.py``, run as one ``python -s -S -c`` script); stdlib only. The child enters the sandbox through the
engine's library, runs the program and then each test under a CPU-time limit, and appends one nonce-stamped
record per step to its record file. Everything here runs after untrusted code may have patched the interpreter,
so it uses only references taken before any job ran.
"""

import json
import os
import signal
import sys
import time

EXIT_DONE = 0  # the child finished its work and reported every step
EXIT_SETUP_FAILED = 70  # the child could not set up its descriptors
EXIT_SANDBOX_FAILED = 71  # the sandbox refused to start (message on stderr)
EXIT_CHANNEL_LOST = 72  # the record channel broke (closed by the program)
EFBIG = 27  # errno of a write past RLIMIT_FSIZE
TIMER_GRANULARITY = 0.05  # seconds: CPU itimers fire on scheduler ticks, up to a few ticks early
RECORD_FD = 1023
TIMER_READ_FD = 1021  # the CPU timer's wakeup pipe (see Zygote.inherit_job_state)
TIMER_WRITE_FD = 1022

# Taken before any untrusted code runs; the child uses only these.
_exec = exec
_eval = eval
_compile = compile
_encode_string = json.encoder.encode_basestring_ascii  # the C implementation
_process_time = time.process_time
_setitimer = signal.setitimer
_exit = os._exit
_BaseException = BaseException


def truncate(text, limit=1000):
    text = str(text)
    return text if len(text) <= limit else text[:limit] + "..."


def verdict(status, exception_type=None, message=None, cpu_time=0.0):
    return {"status": status, "exception_type": exception_type, "message": message, "cpu_time": cpu_time}


def not_run():
    return verdict("not_run")


# ------------------------------------------------------------------------------------------------------- the child


def child_main(zygote, job, first, io_case, stdin_file, cpu_budget):
    """Runs in the forked child. Never returns: ends with os._exit so no atexit hook or finaliser runs."""
    try:
        os.setpgid(0, 0)
        os.dup2(stdin_file if stdin_file is not None else zygote.devnull, 0)
        os.dup2(zygote.stdout_file, 1)
        os.dup2(zygote.stderr_file, 2)
        # The record file moves to a fixed high descriptor, where the sandbox expects it.
        os.dup2(zygote.record_file, RECORD_FD)
    except BaseException:  # noqa: BLE001 - nothing may escape the child
        _exit(EXIT_SETUP_FAILED)
    if zygote.enter_sandbox(cpu_budget, zygote.error_buffer, len(zygote.error_buffer)) != 0:
        os.write(2, b"sandbox: " + zygote.error_buffer.value)
        _exit(EXIT_SANDBOX_FAILED)
    # Only now (the sandbox needed the prepared Landlock paths' descriptors) is everything else closed.
    os.closerange(3, TIMER_READ_FD)
    os.closerange(RECORD_FD + 1, 65536)
    limits = zygote.limits
    record = Recorder(zygote.record)
    reseed(job.get("seed", 0))
    _timer_fired()  # drop whatever an earlier child left in the inherited wakeup pipe
    if io_case is not None:
        run_io_child(job, io_case, record, limits)
    else:
        run_assert_child(job, first, record, limits)
    flush_output()
    _exit(EXIT_DONE)


def _json_text(value):
    if value is None:
        return "null"
    return _encode_string(value if type(value) is str else "<unprintable>")


class Recorder:
    """Writes the harness's records through the sandbox library, which stamps them with the child's nonce.

    The JSON is assembled by hand from C-level pieces (the C string encoder, `%` formatting of ints and floats):
    a program can patch `json`, `JSONEncoder` or `isinstance`, and none of that is on this path.
    """

    __slots__ = ("function",)

    def __init__(self, function):
        self.function = function

    def __call__(self, step, outcome, index=-1):
        text = '{"step":"%s","index":%d,"verdict":{"status":"%s","exception_type":%s,"message":%s,"cpu_time":%r}}' % (
            step,
            index,
            outcome["status"],
            _json_text(outcome["exception_type"]),
            _json_text(outcome["message"]),
            float(outcome["cpu_time"]),
        )
        data = text.encode("ascii")
        if self.function(data, len(data)) != 0:
            _exit(EXIT_CHANNEL_LOST)  # the channel is gone: nothing more can be reported honestly


def reseed(seed):
    random_module = sys.modules.get("random")
    if random_module is not None:
        random_module.seed(seed)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        try:
            numpy.random.seed(seed % (2**32))
        except Exception:  # noqa: BLE001 - a broken numpy must not break the job
            pass


def _execute_step(step, namespace):
    kind = step[0]
    if kind == "exec":
        _exec(step[1], namespace)
    elif kind == "assert":
        run_assert(step, namespace, _exec, _eval)
    elif kind == "call":
        run_call(step, namespace)
    else:  # ("error", type, message): the test itself does not compile
        raise _CompileFailure(step[1], step[2])


class _CompileFailure(Exception):
    pass


_timer_pipe = -1
_SIGPROF_BYTE = signal.SIGPROF.value


def _timer_fired():
    """Drains the wakeup pipe; True if SIGPROF was among the signals since the last call."""
    fired = False
    while True:
        try:
            data = os.read(_timer_pipe, 256)
        except OSError:
            return fired
        if not data:
            return fired
        fired = fired or _SIGPROF_BYTE in data


def install_audit_hook(zygote):
    """Refuses the interpreter features that reach the harness's objects wholesale: scanning all objects or all
    threads' frames, and loading the engine's own library (or any library a job wrote) with ctypes.

    The hook is a closure that nothing else references, and audit hooks cannot be removed once added.
    """
    library = os.path.realpath(zygote.config["sandbox_library"])
    scratch = os.path.realpath(zygote.scratch) + os.sep
    blocked = frozenset({"gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys._current_frames"})
    realpath = os.path.realpath

    def hook(event, arguments):
        if event in blocked:
            raise RuntimeError("acecoder sandbox: %s is not available to jobs" % event)
        if event == "ctypes.dlopen" and arguments and type(arguments[0]) is str:
            target = realpath(arguments[0])
            if target == library or target.startswith(scratch):
                raise PermissionError("acecoder sandbox: this library may not be loaded by a job")

    sys.addaudithook(hook)


_clock_stopped_at = None


def stop_step_clock():
    """Ends the current step's CPU-time limit early: a call test's function has returned, and the time the harness
    then spends judging its result (a huge output takes seconds to check) is not the program's."""
    global _clock_stopped_at
    _setitimer(signal.ITIMER_PROF, 0, 0)
    _clock_stopped_at = _process_time()


def run_step(step, namespace, cpu_limit):
    """Runs one step (the program's code object, or a compiled test) with a CPU-time limit; returns its verdict."""
    global _clock_stopped_at
    _timer_fired()  # forget signals from before this step
    _clock_stopped_at = None
    cpu_started = _process_time()
    outcome = None
    try:
        _setitimer(signal.ITIMER_PROF, cpu_limit, 0.05)
        try:
            _execute_step(step, namespace)
        finally:
            _setitimer(signal.ITIMER_PROF, 0, 0)
    except AssertionError as error:
        outcome = verdict("failed", "AssertionError", safe_message(error) or None)
    except NotPlainValue as error:
        outcome = verdict("failed", "NotPlainValue", safe_message(error))
    except _CompileFailure as error:
        outcome = verdict("error", error.args[0], error.args[1])
    except MemoryError:
        outcome = verdict("memory_exceeded", "MemoryError", "memory limit exceeded")
    except OSError as error:
        if error.errno == EFBIG:
            outcome = verdict("output_exceeded", "OSError", "output or file size limit exceeded")
        else:
            outcome = verdict("error", safe_type_name(error), safe_message(error))
    except SystemExit as error:
        outcome = verdict("error", "SystemExit", safe_message(error))
        code = getattr(error, "code", 1)
        outcome["exit_code"] = code if code is None or type(code) is int else 1
    except _BaseException as error:  # KeyboardInterrupt, custom BaseExceptions: errors, not passes
        outcome = verdict("error", safe_type_name(error), safe_message(error))
    cpu_used = (_process_time() if _clock_stopped_at is None else _clock_stopped_at) - cpu_started
    if outcome is None:
        outcome = verdict("passed")
    # The CPU timer fired (its signal number is in the wakeup pipe), or the process clock shows the limit reached
    # within the timer's granularity (a program may have disabled the timer or the wakeup pipe): a timeout,
    # whatever the program did with the signal.
    if (_timer_fired() or cpu_used >= cpu_limit - TIMER_GRANULARITY) and outcome["status"] in (
        "passed",
        "failed",
        "error",
    ):
        outcome = verdict("timeout", "Timeout", "CPU-time limit of %gs exceeded" % cpu_limit)
    outcome["cpu_time"] = cpu_used
    return outcome


def flush_output():
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # noqa: BLE001 - programs may replace or close sys.stdout
        pass


def safe_type_name(error):
    try:
        return truncate(type(error).__name__, 200)
    except BaseException:  # noqa: BLE001
        return "BaseException"


def safe_message(error):
    try:
        return truncate(error)
    except BaseException:  # noqa: BLE001 - a hostile __str__ must not escape
        return None


def program_namespace(name):
    """A fresh module for the program, registered as `__main__`: the harness's own module stays out of reach
    through `sys.modules`."""
    module = type(sys)(name)
    module.__dict__["__builtins__"] = _builtins_module
    sys.modules["__main__"] = module
    return module.__dict__


def run_assert_child(job, first, record, limits):
    namespace = program_namespace("__acecoder__")
    try:
        program = ("exec", _compile(job["program"], "<program>", "exec"))
    except BaseException as error:  # noqa: BLE001 - SyntaxError, ValueError (NUL bytes), RecursionError...
        record("program", verdict("error", safe_type_name(error), safe_message(error)))
        return
    outcome = run_step(program, namespace, limits["program_cpu_seconds"])
    outcome.pop("exit_code", None)
    record("program", outcome)
    if outcome["status"] != "passed":
        return
    steps = job["steps"]
    seconds = job["test_seconds"]
    fail_fast = job.get("fail_fast", False)
    for index in range(first, len(steps)):
        outcome = run_step(steps[index], namespace, seconds[index])
        outcome.pop("exit_code", None)
        record("end", outcome, index)
        if fail_fast and outcome["status"] != "passed":
            return


def run_io_child(job, io_case, record, limits):
    namespace = program_namespace("__main__")
    try:
        program = ("exec", _compile(job["program"], "<program>", "exec"))
    except BaseException as error:  # noqa: BLE001
        record("io", verdict("error", safe_type_name(error), safe_message(error)))
        return
    outcome = run_step(program, namespace, limits["test_cpu_seconds"])
    flush_output()  # the zygote reads this program's stdout as soon as the record is written
    if outcome.pop("exit_code", 1) in (None, 0):
        # sys.exit() / exit(0) is how many stdin/stdout programs finish; the zygote judges the output itself.
        outcome = verdict("passed", cpu_time=outcome["cpu_time"])
    record("io", outcome)
