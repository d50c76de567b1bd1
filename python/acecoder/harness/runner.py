"""The runner: the only process where program code runs, and the zygote that forks it.

Why a process of its own: a verdict must be something the program can change only by computing the right answer.
If the program shared an interpreter with the tests, it could read the expected values from a frame, patch the
comparison, or write a forged record. So the runner never holds a test, an expected value or a verdict: it is
sent a program and, per call, the *inputs* a test chose to give it, and it answers with plain values (``wire``) or
with the exception raised. Everything it says is the program's answer, nothing more; the judge decides.

The runner zygote is started by the judge zygote as ``python -s -S -c BOOTSTRAP <modules> <config>`` inside a
sandbox applied between fork and exec (privilege drop, Landlock, seccomp), so from its first instruction its
filesystem view is the standard library and the declared third-party packages: never acecoder's files (the
packaged benchmarks hold answers), the caller's directories or HOME. It imports the preload modules once and
then, on its control socket (fd 0), forks one runner child per request (``F``) and reaps it (``R``); it never
sees a job.

Each runner child adds its own sandbox layer (a nested Landlock domain that writes and reads only its own scratch
directory besides the allowed trees and cannot signal outside itself, a seccomp filter against new processes,
signals to others and raised limits, rlimits), reports ready on its channel (fd 3) and then answers requests
until it is killed. Stdlib only.
"""

from __future__ import annotations

import builtins
import ctypes
import fcntl
import gc
import json
import marshal
import os
import resource
import signal
import socket
import struct
import sys
import time
import types

from acecoder import digest
from acecoder.harness import wire

CHANNEL_FD = 3
MAX_DESCRIPTOR = 1 << 20
EXIT_SETUP_FAILED = 71
MAX_CALLBACK_DEPTH = 50
TIMER_INTERVAL = 0.05  # the CPU timer fires again this often if the program swallows its exception

# Requests (judge -> runner), replies (runner -> judge); see acecoder.harness.session for the judge's side.
REQUEST_PROGRAM = b"P"
REQUEST_CALL = b"C"
REQUEST_GETATTR = b"A"
REQUEST_SETATTR = b"S"
REQUEST_GETITEM = b"I"
REQUEST_SETITEM = b"J"
REQUEST_ITER = b"T"
REQUEST_NEXT = b"X"
REQUEST_GLOBAL = b"G"
REQUEST_ISINSTANCE = b"K"
CALLBACK_RESULT = b"r"
CALLBACK_ERROR = b"e"
REPLY_READY = b"!"
REPLY_VALUE = b"V"
REPLY_ERROR = b"E"
REPLY_NAMES = b"N"
REPLY_DONE = b"D"
REPLY_CALLBACK = b"k"

# Request flags.
AS_MAIN = 1  # the program runs as __main__ (stdin/stdout tests)
COPY_BACK = 1  # call: send back the new state of list/dict/set arguments the call changed
PICKLE_DIGEST = 2  # call: answer value_digest(result) instead of the result
REPR_DIGEST = 4  # call: answer repr_digest(result)
# Reply flags.
TIMER_FIRED = 1

_SIGPROF = signal.SIGPROF.value
# Taken before any program runs: a program that patches `os`, `signal` or `time` (innocently or not) must not
# break the runner's own channel and timer for the tests after it.
_read = os.read
_write = os.write
_setitimer = signal.setitimer
# The CPU a request used, as reported: the thread's clock, exact (the process's advances only at scheduler ticks
# while a CPU timer is armed); limits are the process-wide timer's and the judge's job, not this number's.
_process_time = time.thread_time
BUDGET = struct.Struct("<dB")  # CPU seconds, flags
PROGRAM_HEADER = struct.Struct("<dBQI")  # CPU seconds, flags, seed, the whole run's CPU seconds (RLIMIT_CPU)
NEXT_HEADER = struct.Struct("<dI")  # CPU seconds, how many items
CPU = struct.Struct("<dB")  # reply: CPU seconds used, flags
HANDLE_ID = struct.Struct("<Q")
INDEX = struct.Struct("<B")

_IMMUTABLE_TYPE = 1 << 8  # Py_TPFLAGS_IMMUTABLETYPE: set on C types, never on a class a program defines
_PLAIN_GLOBAL_TYPES = frozenset({type(None), bool, int, float, complex, str, bytes, tuple, list, dict, set, frozenset})
_MUTABLE_ARGUMENTS = frozenset({list, dict, set, bytearray})


def read_exact(fd: int, count: int) -> bytes | None:
    # Deliberately not shared with judge.py's read_exact: this one reads through `_read`, taken before any program
    # runs in this process, so that a program that patches `os` cannot reach the channel.
    chunks = []
    while count:
        chunk = _read(fd, count)
        if not chunk:
            return None
        chunks.append(chunk)
        count -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int) -> bytes | None:
    header = read_exact(fd, wire.FRAME_HEADER.size)
    if header is None:
        return None
    (length,) = wire.FRAME_HEADER.unpack(header)
    return read_exact(fd, length) if length else b""


def write_frame(fd: int, payload: bytes) -> None:
    view = memoryview(wire.FRAME_HEADER.pack(len(payload)) + payload)
    while view:
        view = view[_write(fd, view) :]


# --------------------------------------------------------------------------------------------- values and errors


class JudgeCallable:
    """A callable the test gave the program (a ``key=`` function): calling it asks the judge to run it."""

    __slots__ = ("_identifier", "_session")

    def __init__(self, session: Session, identifier: int):
        self._session = session
        self._identifier = identifier

    def __call__(self, *arguments, **keywords):
        return self._session.callback(self._identifier, arguments, keywords)

    def __repr__(self) -> str:
        return "<test callable #%d>" % self._identifier


def _text(value, limit=1000):
    """str() of something the program made, or None if that fails; never longer than ``limit``."""
    try:
        text = str(value)
    except BaseException:  # noqa: BLE001 - a hostile __str__
        return None
    if type(text) is not str:
        return None
    return text if len(text) <= limit else text[:limit] + "..."


def _name_of(kind, attribute):
    try:
        value = getattr(kind, attribute)
    except BaseException:  # noqa: BLE001
        return "?"
    return value if type(value) is str else "?"


def describe_class(kind) -> tuple:
    return (_name_of(kind, "__module__"), _name_of(kind, "__qualname__"))


def describe_error(error: BaseException) -> tuple:
    """(the exception class's MRO as (module, qualname) pairs, its message, its args when plain)."""
    try:
        lineage = [describe_class(kind) for kind in type(error).__mro__]
    except BaseException:  # noqa: BLE001
        lineage = [describe_class(type(error))]
    arguments = getattr(error, "args", None)
    if type(arguments) is not tuple:
        arguments = None
    return (lineage, _text(error), arguments)


def reseed(seed: int) -> None:
    random_module = sys.modules.get("random")
    if random_module is not None:
        random_module.seed(seed)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        try:
            numpy.random.seed(seed % (2**32))
        except Exception:  # noqa: BLE001 - a broken numpy must not break the job
            pass


def flush_output() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - the program may have replaced or closed it
            pass


# --------------------------------------------------------------------------------------------------- the session


class Session:
    """The runner child's side of one job: the program's namespace, the objects handed out as handles, and the
    handlers of the judge's requests. Handlers return the reply's bytes, so the zygote can warm them up in-process.
    """

    def __init__(self, fd: int = -1):
        self.fd = fd
        self.namespace: dict = {}
        self.handles: dict[int, object] = {}
        self.next_handle = 1
        self.callback_depth = 0
        self.timer_fired = False
        self.wakeup = -1  # read end of the signal wakeup pipe: how the session learns that its CPU timer fired
        self.sandbox: ChildSandbox | None = None  # the layer still to apply when the program arrives
        self.encoder = wire.Encoder(self._handle_of)

    # --- handles and references ---

    def _handle_of(self, value) -> bytes:
        identifier = self.next_handle
        self.next_handle += 1
        self.handles[identifier] = value
        kind = type(value)
        flags = 0
        try:
            if callable(value):
                flags |= wire.CALLABLE
            if isinstance(value, type):
                flags |= wire.CLASS
                if issubclass(value, BaseException):
                    flags |= wire.EXCEPTION_CLASS
                kind = value
            elif type(value) is types.ModuleType:
                flags |= wire.MODULE
            elif type(value).__flags__ & _IMMUTABLE_TYPE and not isinstance(value, type):
                # A C type: its truth is C code the program cannot have written (re.Match is always true).
                flags |= wire.TRUTH_KNOWN | (wire.TRUTH_VALUE if bool(value) else 0)
        except BaseException:  # noqa: BLE001 - the program's own metaclass or __class__; an ambiguous truth
            pass
        module, qualname = describe_class(kind)
        return (
            b"#H" + HANDLE_ID.pack(identifier) + INDEX.pack(flags)
            + marshal_text(module) + marshal_text(qualname)
        )  # fmt: skip

    def _resolve(self, code: bytes, payload):
        if code == b"h":
            if payload not in self.handles:
                raise LookupError("no program object #%d" % payload)
            return self.handles[payload]
        if code == b"K":
            return JudgeCallable(self, payload)
        if code == b"G":
            if payload not in self.namespace:
                raise NameError("name %r is not defined" % payload)
            return self.namespace[payload]
        return getattr(builtins, payload)

    def _values(self, data, position: int, count: int) -> tuple[list, int]:
        values = []
        for _ in range(count):
            kind, payload, position = wire.split_slot(data, position)
            values.append(wire.decode_slot(kind, payload, self._resolve))
        return values, position

    def _slot(self, value) -> bytes:
        return self.encoder.slot(value)

    # --- running program code under the CPU timer ---

    def _measured(self, budget: float, work):
        """Runs ``work()`` with the CPU timer armed; (reply kind, body, CPU used). The exception's description and
        the answer's encoding happen under the timer too: both may run the program's code."""
        started = _process_time()
        self._signals()
        previous = _setitimer(signal.ITIMER_PROF, max(budget, 0.001), TIMER_INTERVAL)
        try:
            try:
                kind, body = REPLY_VALUE, work()
            except BaseException as error:  # noqa: BLE001 - everything the program does is an answer
                kind, body = REPLY_ERROR, self._error_body(error)
        except BaseException as error:  # noqa: BLE001 - the timer fired while the error was described
            kind, body = REPLY_ERROR, self._error_body(error, plain=True)
        finally:
            _setitimer(signal.ITIMER_PROF, *previous)
        cpu_used = _process_time() - started
        # The timer's own signal (seen in the wakeup pipe, whatever the program did with the exception): CPU
        # timers fire on sampled ticks, a few percent early on a busy machine, so the clock alone would miss it.
        self.timer_fired = _SIGPROF in self._signals() or cpu_used >= budget - TIMER_INTERVAL
        return kind, body, cpu_used

    def _signals(self) -> bytes:
        """Drains the signal wakeup pipe: the numbers of the signals since the last call."""
        received = b""
        while self.wakeup >= 0:
            try:
                chunk = _read(self.wakeup, 256)
            except OSError:
                break
            if not chunk:
                break
            received += chunk
        return received

    def _error_body(self, error, plain=False) -> bytes:
        if plain:
            description = ([(_name_of(type(error), "__module__"), _name_of(type(error), "__qualname__"))], None, None)
        else:
            description = describe_error(error)
        try:
            return wire.encode_slot(description)
        except (wire.Unencodable, RecursionError):
            return wire.encode_slot((description[0], description[1], None))

    def _reply(self, kind, body, cpu_used) -> bytes:
        flush_output()
        flags = TIMER_FIRED if self.timer_fired else 0
        return kind + CPU.pack(cpu_used, flags) + body

    # --- requests ---

    def _dispatch(self, frame: bytes) -> bytes:
        kind = frame[:1]
        handler = _HANDLERS.get(kind)
        if handler is None:
            return self._reply(
                REPLY_ERROR, wire.encode_slot(([("acecoder", "ProtocolError")], "bad request", None)), 0.0
            )
        return handler(self, frame)

    def run_program(self, frame: bytes) -> bytes:
        budget, flags, seed, whole = PROGRAM_HEADER.unpack_from(frame, 1)
        if self.sandbox is not None:
            # The last layer goes on now, before the first byte of the program: RLIMIT_CPU for this run (known only
            # now), then the seccomp filter, which refuses any later change of a limit.
            self.sandbox.finish(whole)
            self.sandbox = None
        position = 1 + PROGRAM_HEADER.size
        (source, stdin), _ = self._values(frame, position, 2)
        if stdin:
            stdin_file = os.memfd_create("stdin", 0)
            os.write(stdin_file, stdin)
            os.lseek(stdin_file, 0, os.SEEK_SET)
            os.dup2(stdin_file, 0)
            os.close(stdin_file)
        as_main = bool(flags & AS_MAIN)
        module = types.ModuleType("__main__" if as_main else "__acecoder__")
        module.__dict__["__builtins__"] = builtins
        sys.modules["__main__"] = module
        self.namespace = module.__dict__
        reseed(seed)

        def work():
            code = compile(source, "<program>", "exec")
            try:
                exec(code, self.namespace)
            except SystemExit as error:
                if not as_main or error.code not in (None, 0):
                    raise
            return b"" if as_main else self._slot(self.names())

        kind, body, cpu_used = self._measured(budget, work)
        if kind == REPLY_VALUE:
            kind = REPLY_DONE if as_main else REPLY_NAMES
        return self._reply(kind, body, cpu_used)

    def names(self) -> list[tuple]:
        """What the program defined, for the judge's test namespace: (name, kind, detail) per global."""
        table: list[tuple] = []
        for name, value in list(self.namespace.items()):
            if type(name) is not str or (name.startswith("__") and name.endswith("__")):
                continue
            kind = type(value)
            if kind is types.ModuleType:
                module_name = getattr(value, "__name__", None)
                table.append((name, "module", module_name if type(module_name) is str else None))
            elif isinstance(value, type):
                exception_base = None
                if issubclass(value, BaseException):  # its builtin bases, in MRO order (the judge rebuilds it)
                    exception_base = tuple(klass.__name__ for klass in value.__mro__ if klass.__module__ == "builtins")
                module, qualname = describe_class(value)
                table.append((name, "class", (module, qualname, exception_base)))
            elif kind in _PLAIN_GLOBAL_TYPES:
                table.append((name, "value", None))
            else:
                table.append((name, "callable" if callable(value) else "object", None))
        return table

    def _target(self, frame, position):
        (target,), position = self._values(frame, position, 1)
        return target, position

    def call(self, frame: bytes) -> bytes:
        budget, flags = BUDGET.unpack_from(frame, 1)
        (target, arguments, keywords), _ = self._values(frame, 1 + BUDGET.size, 3)
        arguments = tuple(arguments)
        before = {}
        if flags & COPY_BACK:
            for index, argument in enumerate(arguments[:255]):
                if type(argument) in _MUTABLE_ARGUMENTS:
                    before[index] = wire.Encoder().encode(argument)

        def work():
            result = target(*arguments, **(keywords or {}))
            if flags & PICKLE_DIGEST:
                return self._slot(digest.value_digest(result))
            if flags & REPR_DIGEST:
                wire.Encoder().encode(result)  # plain data only: the repr of anything else is the program's word
                return self._slot(digest.repr_digest(result))
            body = self._slot(result)
            changed = []
            for index, encoded in before.items():
                try:
                    if wire.Encoder().encode(arguments[index]) != encoded:
                        changed.append((index, arguments[index]))
                except wire.Unencodable:
                    pass
            return (
                body
                + INDEX.pack(len(changed))
                + b"".join(INDEX.pack(index) + self._slot(value) for index, value in changed)
            )

        return self._reply(*self._measured(budget, work))

    def _simple(self, frame: bytes, count: int, operation) -> bytes:
        budget, _ = BUDGET.unpack_from(frame, 1)
        values, _ = self._values(frame, 1 + BUDGET.size, count)
        return self._reply(*self._measured(budget, lambda: self._slot(operation(*values))))

    def getattr(self, frame: bytes) -> bytes:
        return self._simple(frame, 2, getattr)

    def setattr(self, frame: bytes) -> bytes:
        return self._simple(frame, 3, setattr)

    def getitem(self, frame: bytes) -> bytes:
        return self._simple(frame, 2, lambda target, key: target[key])

    def setitem(self, frame: bytes) -> bytes:
        return self._simple(frame, 3, lambda target, key, value: target.__setitem__(key, value))

    def iterate(self, frame: bytes) -> bytes:
        budget, _ = BUDGET.unpack_from(frame, 1)
        (target,), _ = self._values(frame, 1 + BUDGET.size, 1)
        return self._reply(*self._measured(budget, lambda: self._slot(iter(target))))

    def next_items(self, frame: bytes) -> bytes:
        budget, count = NEXT_HEADER.unpack_from(frame, 1)
        (target,), _ = self._values(frame, 1 + NEXT_HEADER.size, 1)

        def work():
            items = []
            exhausted = False
            for _ in range(max(1, min(count, 4096))):
                try:
                    items.append(next(target))
                except StopIteration:
                    exhausted = True
                    break
            return self._slot((items, exhausted))

        return self._reply(*self._measured(budget, work))

    def global_value(self, frame: bytes) -> bytes:
        return self._simple(frame, 1, lambda name: self.namespace[name])

    def isinstance_of(self, frame: bytes) -> bytes:
        return self._simple(frame, 2, lambda value, kind: bool(isinstance(value, kind)))

    # --- callbacks into the judge ---

    def callback(self, identifier: int, arguments: tuple, keywords: dict):
        """Asks the judge to run one of the test's callables; serves the judge's nested requests meanwhile."""
        if self.callback_depth >= MAX_CALLBACK_DEPTH:
            raise RecursionError("test callables nested too deeply")
        request = REPLY_CALLBACK + HANDLE_ID.pack(identifier) + self._slot(tuple(arguments)) + self._slot(keywords)
        remaining = _setitimer(signal.ITIMER_PROF, 0)
        self.callback_depth += 1
        try:
            write_frame(self.fd, request)
            while True:
                frame = read_frame(self.fd)
                if frame is None:
                    os._exit(0)  # the judge is gone
                kind = frame[:1]
                if kind == CALLBACK_RESULT:
                    (value,), _ = self._values(frame, 1, 1)
                    return value
                if kind == CALLBACK_ERROR:
                    (description,), _ = self._values(frame, 1, 1)
                    raise _rebuilt_error(description)
                write_frame(self.fd, self.dispatch(frame))
        finally:
            self.callback_depth -= 1
            _setitimer(signal.ITIMER_PROF, *remaining)

    def serve(self) -> None:
        write_frame(self.fd, REPLY_READY)
        while True:
            frame = read_frame(self.fd)
            if frame is None:
                return
            write_frame(self.fd, self.dispatch(frame))

    def dispatch(self, frame: bytes) -> bytes:
        """The reply to one request; a request this side cannot read is answered as an error, not a crash."""
        try:
            return self._dispatch(frame)
        except Exception as error:  # noqa: BLE001 - a malformed request (the judge's bug), reported as such
            description = ([("acecoder", "ProtocolError")], "the runner could not read a request: %r" % (error,), None)
            return self._reply(REPLY_ERROR, wire.encode_slot(description), 0.0)


def marshal_text(text: str) -> bytes:
    return marshal.dumps(text if type(text) is str else "?", wire.MARSHAL_VERSION)


def _rebuilt_error(description) -> BaseException:
    """A test callable's exception, as the closest builtin exception (its class stays in the judge)."""
    try:
        lineage, message = description[0], description[1]
        for module, qualname in lineage:
            kind = getattr(builtins, qualname, None) if module == "builtins" else None
            if isinstance(kind, type) and issubclass(kind, Exception):
                return kind(message)
    except Exception:  # noqa: BLE001 - a malformed description is still an error
        pass
    return RuntimeError("a test callable raised an exception")


_HANDLERS = {
    REQUEST_PROGRAM: Session.run_program,
    REQUEST_CALL: Session.call,
    REQUEST_GETATTR: Session.getattr,
    REQUEST_SETATTR: Session.setattr,
    REQUEST_GETITEM: Session.getitem,
    REQUEST_SETITEM: Session.setitem,
    REQUEST_ITER: Session.iterate,
    REQUEST_NEXT: Session.next_items,
    REQUEST_GLOBAL: Session.global_value,
    REQUEST_ISINSTANCE: Session.isinstance_of,
}


# ------------------------------------------------------------------------------------------ the child's sandbox

PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15


def name_process(name: bytes, libc=None) -> None:
    """The process's name in ps, top and perf (15 bytes at most): acecoder-judge, acecoder-tests (a judge child),
    acecoder-forker (the runner zygote) and acecoder-runner."""
    try:
        (libc or ctypes.CDLL(None)).prctl(PR_SET_NAME, ctypes.c_char_p(name[:15]), 0, 0, 0)
    except (OSError, AttributeError):
        pass


PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SYS_LANDLOCK_CREATE_RULESET = 444  # the same numbers on x86_64 and aarch64
SYS_LANDLOCK_ADD_RULE = 445
SYS_LANDLOCK_RESTRICT_SELF = 446
LANDLOCK_RULE_PATH_BENEATH = 1


class _SocketFilterProgram(ctypes.Structure):
    _fields_ = [("length", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _high(fd: int) -> int:
    """Moves a descriptor the zygote keeps above the low numbers a child's stdio and channel take over."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100)
    os.close(fd)
    return moved


def _check(result: int, what: str) -> int:
    if result < 0:
        number = ctypes.get_errno()
        raise OSError(number, "%s: %s" % (what, os.strerror(number)))
    return result


class ChildSandbox:
    """The layer each runner child adds to the zygote's sandbox (numbers planned by the engine, ``sandbox/mod.rs``).

    As much as possible is done once, in the zygote: the rules' paths are opened once; each child's Landlock
    ruleset is built by the zygote just before the fork (so the child, whose every touched page is a copy-on-write
    fault, only restricts itself with it); the seccomp filter is built once, and the child only writes its pid
    into the few instructions that name it."""

    def __init__(self, plan: dict):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.syscall.restype = ctypes.c_long
        self.rlimits = plan.get("rlimits", {})
        self.address_space_base = 0
        self.landlock = plan.get("landlock")
        self.rules: list = []  # (buffer holding a path_beneath rule, its O_PATH descriptor)
        if self.landlock:
            attributes = struct.pack(
                "<QQQ", self.landlock["handled_fs"], self.landlock.get("handled_net", 0), self.landlock.get("scoped", 0)
            )
            self.attributes = ctypes.create_string_buffer(attributes, len(attributes))
            for path, access in self.landlock["rules"]:
                try:
                    fd = _high(os.open(path, os.O_PATH | os.O_CLOEXEC))
                except OSError:
                    continue
                self.rules.append((ctypes.create_string_buffer(struct.pack("<Qi", access, fd), 12), fd))
        self.filter = None
        self.patch_offsets: list = []
        if plan.get("seccomp"):
            program = bytes.fromhex(plan["seccomp"])
            self.filter = ctypes.create_string_buffer(program, len(program))
            self.fprog = _SocketFilterProgram(len(program) // 8, ctypes.cast(self.filter, ctypes.c_void_p))
            placeholders = plan.get("seccomp_placeholders", {})
            wanted = {placeholders.get("pid"): False, placeholders.get("negative_pid"): True}
            for offset in range(0, len(program), 8):  # where the child's pid (or its negation) goes
                (constant,) = struct.unpack_from("<I", program, offset + 4)
                if constant in wanted:
                    self.patch_offsets.append((offset + 4, wanted[constant]))

    def prepare(self, run_directory: str) -> int:
        """In the zygote, before the fork: the child's Landlock ruleset (its own directory writable), or -1."""
        if not self.landlock:
            return -1
        size = self.landlock.get("attribute_size", len(self.attributes))
        ruleset = _check(
            self.libc.syscall(SYS_LANDLOCK_CREATE_RULESET, self.attributes, ctypes.c_size_t(size), 0), "landlock"
        )
        own = os.open(run_directory, os.O_PATH | os.O_CLOEXEC)
        try:
            own_rule = ctypes.create_string_buffer(struct.pack("<Qi", self.landlock["write"], own), 12)
            for rule, _ in [*self.rules, (own_rule, own)]:
                _check(
                    self.libc.syscall(SYS_LANDLOCK_ADD_RULE, ruleset, LANDLOCK_RULE_PATH_BENEATH, rule, 0),
                    "landlock rule",
                )
        except BaseException:
            os.close(ruleset)
            raise
        finally:
            os.close(own)
        return ruleset

    def enter(self, ruleset: int, zygote_pid: int) -> None:
        """In the child: everything but the last layer, applied while it waits to be taken (no program code yet)."""
        _check(self.libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")
        if os.getppid() != zygote_pid:
            os._exit(EXIT_SETUP_FAILED)  # the zygote died while this child started: nobody would kill it
        self._set_rlimits()
        if ruleset >= 0:
            _check(self.libc.syscall(SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0), "landlock_restrict_self")
            os.close(ruleset)

    def finish(self, cpu_seconds: int) -> None:
        """The run's CPU limit, then the seccomp filter (which refuses any later change of a limit)."""
        if cpu_seconds:
            resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
        if self.filter is not None:
            pid = os.getpid()
            for offset, negative in self.patch_offsets:
                struct.pack_into("<I", self.filter, offset, (-pid) & 0xFFFFFFFF if negative else pid)
            _check(self.libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(self.fprog), 0, 0), "seccomp")

    def _set_rlimits(self) -> None:
        limits = self.rlimits
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if limits.get("memory_bytes") and self.address_space_base:
            ceiling = self.address_space_base + limits["memory_bytes"]
            resource.setrlimit(resource.RLIMIT_AS, (ceiling, ceiling))
        for name, key in (
            ("RLIMIT_FSIZE", "file_size_bytes"),
            ("RLIMIT_NOFILE", "open_files"),
            ("RLIMIT_NPROC", "threads"),
        ):
            value = limits.get(key)
            if value:
                resource.setrlimit(getattr(resource, name), (value, value))


# ---------------------------------------------------------------------------------------------------- the zygote


class ImportGuard:
    """Refuses, with a clear message, modules that are neither in the standard library nor declared importable
    (their files are hidden by the sandbox anyway; this only turns a PermissionError into the right error)."""

    def __init__(self, allowed: set[str]):
        self.allowed = allowed

    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in self.allowed or top in sys.stdlib_module_names or top in sys.builtin_module_names:
            return None
        raise ModuleNotFoundError("No module named %r (not importable in the acecoder sandbox)" % name, name=name)


class Zygote:
    def __init__(self, config: dict):
        self.config = config
        self.scratch = config["scratch"]
        self.child = ChildSandbox(config.get("child", {}))
        self.devnull = _high(os.open(os.devnull, os.O_RDWR))
        self.control = socket.socket(fileno=0)
        self.counter = 0
        self.pid = os.getpid()
        self.run_directories: dict[int, str] = {}

    def serve(self) -> None:
        while True:
            message, descriptors, _, _ = socket.recv_fds(self.control, 256, 8)
            if not message:
                return
            kind = message[:1]
            if kind == b"F":
                self._fork(descriptors)
            elif kind == b"R":
                (pid,) = struct.unpack_from("<i", message, 1)
                self._reap(pid)
            elif kind == b"L":
                (self.child.address_space_base,) = struct.unpack_from("<Q", message, 1)
            elif kind == b"Q":
                return
            for fd in descriptors:
                os.close(fd)

    def _fork(self, descriptors: list[int]) -> None:
        self.counter += 1
        run_directory = os.path.join(self.scratch, "run-%d" % self.counter)
        try:
            os.mkdir(run_directory, 0o700)
        except FileExistsError:
            pass
        try:
            ruleset = self.child.prepare(run_directory)
        except OSError as error:
            sys.stderr.write("acecoder runner: cannot prepare a child's sandbox: %s\n" % error)
            ruleset = -2  # the child reports the failure (it must not run unconfined)
        pid = os.fork()
        if pid == 0:
            self._child(descriptors, run_directory, ruleset)
        if ruleset >= 0:
            os.close(ruleset)
        self.run_directories[pid] = run_directory
        self.control.send(b"f" + struct.pack("<i", pid))

    def _child(self, descriptors: list[int], run_directory: str, ruleset: int) -> None:
        try:
            name_process(b"acecoder-runner", self.child.libc)
            channel, stdout, stderr = descriptors
            os.setpgid(0, 0)
            os.dup2(self.devnull, 0)
            os.dup2(stdout, 1)
            os.dup2(stderr, 2)
            os.dup2(channel, CHANNEL_FD)
            os.chdir(run_directory)
            os.environ["HOME"] = os.environ["TMPDIR"] = run_directory
            if ruleset == -2:
                raise OSError("the zygote could not prepare this child's Landlock ruleset")
            self.child.enter(ruleset, self.pid)
            # Everything but stdio and the channel goes: the control socket, the zygote's trees, the other fds.
            os.closerange(CHANNEL_FD + 1, MAX_DESCRIPTOR)
        except BaseException as error:  # noqa: BLE001 - a child that cannot sandbox itself must not run anything
            try:
                os.write(2, ("runner setup failed: %r\n" % (error,)).encode())
            finally:
                os._exit(EXIT_SETUP_FAILED)
        try:
            session = Session(CHANNEL_FD)
            session.sandbox = self.child
            session.wakeup, write_end = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
            signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
            session.serve()
        finally:
            os._exit(0)

    def _reap(self, pid: int) -> None:
        try:
            _, status, usage = os.wait4(pid, 0)
            reply = struct.pack("<iiddq", pid, status, usage.ru_utime, usage.ru_stime, usage.ru_maxrss * 1024)
        except ChildProcessError:
            reply = struct.pack("<iiddq", pid, -1, 0.0, 0.0, 0)
        self.control.send(b"r" + reply)
        directory = self.run_directories.pop(pid, None)
        if directory is not None:
            clean_directory(directory)


def clean_directory(path: str) -> None:
    """Removes a tree a job left, whatever it did to it: each pass removes what it can at the top level and moves
    the entries of every top-level directory up (after making it accessible: the job's uid is ours), so no path is
    ever deeper than two names and a pass that changes nothing ends the work (see ``rust/src/scratch.rs``)."""
    moved = 0
    try:
        os.chmod(path, 0o700)
    except OSError:
        return
    while True:
        try:
            names = os.listdir(path)
        except OSError:
            return
        if not names:
            break
        progress = False
        for name in names:
            entry = os.path.join(path, name)
            try:
                os.unlink(entry)
                progress = True
                continue
            except OSError:
                pass
            try:
                os.rmdir(entry)
                progress = True
                continue
            except OSError:
                pass
            try:
                os.chmod(entry, 0o700, follow_symlinks=False)
                children = os.listdir(entry)
            except OSError:
                continue
            for child in children:
                moved += 1
                try:
                    os.rename(os.path.join(entry, child), os.path.join(path, ".acecoder-moved-%d" % moved))
                    progress = True
                except OSError:
                    pass
        if not progress:
            return
    try:
        os.rmdir(path)
    except OSError:
        pass


def warm_up() -> None:
    """Runs the request handlers a few times in the zygote, so that CPython has specialised their bytecode before
    any fork (otherwise every child would redo it on copy-on-write pages)."""
    session = Session()
    program = wire.encode_slot("def f(x, y=1):\n    return [x, x + 1.0, {'k': (x,)}]\nclass C:\n    v = 3\n")
    request = REQUEST_PROGRAM + PROGRAM_HEADER.pack(1.0, 0, 0, 0) + program + wire.encode_slot(b"")
    for _ in range(8):
        session.dispatch(request)
        for value in (1, "text", [1, 2], (3.5, None)):
            call = (
                REQUEST_CALL + BUDGET.pack(1.0, COPY_BACK)
                + _reference_slot(b"G", "f") + wire.encode_slot((value,)) + wire.encode_slot({})
            )  # fmt: skip
            session.dispatch(call)
        session.dispatch(REQUEST_GETATTR + BUDGET.pack(1.0, 0) + _reference_slot(b"G", "C") + wire.encode_slot("v"))
    signal.setitimer(signal.ITIMER_PROF, 0)


def _reference_slot(code: bytes, name: str) -> bytes:
    payload = b"#" + code + wire.Encoder().encode(name)
    return wire.SLOT_HEADER.pack(wire.EXTENDED, len(payload)) + payload


def main(config_text: str) -> None:
    config = json.loads(config_text)
    name_process(b"acecoder-forker")
    sys.path[:] = [entry for entry in config["sys_path"] if entry]
    sys.meta_path.insert(0, ImportGuard(set(config.get("importable", []))))
    builtins.exit = builtins.quit = _quit  # type: ignore[assignment]  # what `site` would add; -S leaves them out
    for name in config.get("preload", []):
        try:
            __import__(name)
        except BaseException as error:  # noqa: BLE001 - a missing optional module is reported, not fatal
            sys.stderr.write("acecoder runner: cannot preload %s: %r\n" % (name, error))
    # A C-level handler for the CPU timer: it raises KeyboardInterrupt and holds nothing a program could patch.
    signal.signal(signal.SIGPROF, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    zygote = Zygote(config)
    warm_up()
    gc.collect()
    gc.freeze()  # keep the warm heap out of collections, so forked children share its pages
    zygote.control.send(b"ready")
    zygote.serve()


def _quit(code=None):
    raise SystemExit(code)
