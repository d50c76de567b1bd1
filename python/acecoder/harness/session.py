"""The judge's side of one runner: requests, decoded answers, callbacks, and the CPU accounting of the current step.

Every request carries the CPU time the current step has left; the runner arms its own timer with it (so an honest
infinite loop ends with an exception and the runner lives on), and the judge kills the runner if its CPU clock
runs past the budget anyway (so a program that swallows the timer gains nothing). A step's CPU time is the
judge's and the runner's together, both measured by the judge.

Answers are validated by the engine's validator before ``marshal.loads`` sees them; anything else the runner sends
(an unknown reply, a forged callback, garbage) ends the runner, and costs only the current test.
"""

from __future__ import annotations

import builtins
import marshal
import struct
import sys
import time
from collections import deque
from typing import Any

from acecoder.harness import runner as protocol
from acecoder.harness import wire
from acecoder.harness.channel import Runner, RunnerLost
from acecoder.harness.native import FROM_RUNNER, Native
from acecoder.harness.proxies import InvalidAnswer, ProgramClass, ProgramObject, TestTimeout

CALLBACK_GRACE = 0.1  # extra CPU seconds before the judge kills a runner that ignores its own timer
MAX_IN_FLIGHT = 64  # requests sent ahead of their answers in a pipeline
_U64 = struct.Struct("<Q")
_BUILTIN_REFERENCES = {
    name: b"#b" + marshal.dumps(name, 2) for name in ("str", "int", "float", "complex", "round", "format")
}


# The judge's own CPU per step: its thread's clock. A process's CPU clock advances only at scheduler ticks (a few
# milliseconds) while a CPU timer or RLIMIT_CPU is armed, as both are here; a thread's clock is exact.
_judge_clock = time.thread_time


class Session:
    def __init__(self, runner: Runner, native: Native, program_module: str = "__acecoder__"):
        self.runner = runner
        self.native = native
        self.program_module = program_module
        self.encoder = wire.Encoder(self._reference_of)
        self.callables: dict[int, object] = {}
        self.callable_ids: dict[int, int] = {}
        self.exception_classes: dict[str, type] = {}
        self.derived_classes: dict[tuple, type] = {}
        self.outstanding = 0  # requests in flight: a step that ends inside one leaves the runner mid-call
        self.prefetched: tuple | None = None  # (reference, arguments, keywords, reply frame) of a call made ahead
        self.prefetched_cpu = 0.0  # the runner CPU of a call made ahead, counted to the step that uses it
        self.active: Pipeline | None = None  # the pipeline whose answers are still arriving
        self.begin_step(3600.0, 3600.0)

    # --- CPU and wall budgets ---

    def begin_step(self, cpu_limit: float, wall_seconds: float) -> None:
        self.cpu_limit = cpu_limit
        self.wall_deadline = time.monotonic() + wall_seconds
        self.judge_started = _judge_clock()
        self.runner_started = self.runner.cpu()
        self.prefetched_cpu = 0.0

    def step_cpu(self) -> tuple[float, float]:
        """(judge CPU, runner CPU) used since the step began (a call made ahead for it included)."""
        runner = self.runner.cpu() - self.runner_started + self.prefetched_cpu
        return _judge_clock() - self.judge_started, runner

    def remaining(self) -> float:
        judge, runner = self.step_cpu()
        return self.cpu_limit - judge - runner

    # --- references the judge sends ---

    def global_reference(self, name: str) -> bytes:
        return b"#G" + marshal.dumps(name, 2)

    def _reference_of(self, value) -> bytes:
        if isinstance(value, ProgramObject):
            return value._reference
        # A test's int, float or str of a library subclass (socket.AF_INET, re.IGNORECASE, an enum) goes as its
        # plain value: the judge's own objects may lose their type, never their value.
        plain: Any
        for plain in (bool, int, float, complex, str, bytes):
            if isinstance(value, plain):
                return wire.Encoder().encode(plain(value))
        name = getattr(value, "__name__", None)
        if type(name) is str and getattr(builtins, name, None) is value:
            return b"#b" + marshal.dumps(name, 2)
        if callable(value):
            key = id(value)
            identifier = self.callable_ids.get(key)
            if identifier is None:
                identifier = len(self.callables) + 1
                self.callables[identifier] = value
                self.callable_ids[key] = identifier
            return b"#K" + _U64.pack(identifier)
        raise wire.Unencodable(
            "a %s cannot be given to the program: only plain data, program objects and callables cross"
            % type(value).__name__
        )

    def _slot(self, value) -> bytes:
        try:
            return self.encoder.slot(value)
        except RecursionError:
            raise wire.Unencodable("the value nests too deeply") from None

    # --- requests ---

    def request(self, kind: bytes, header: bytes, slots: bytes) -> bytes:
        """Sends one request with the step's remaining CPU time and returns the runner's reply frame."""
        budget = self.remaining()
        if budget <= 0:
            raise TestTimeout()
        payload = kind + struct.pack("<d", budget) + header + slots
        if self.active is not None:
            self.active.drain()  # answers already on their way come first; this request goes after them
        if self.runner.pending():
            # Words before any question: a frame sent ahead would be read as the next answer, and CPU spent between
            # tests would escape their limits. The runner is ended; this test is its.
            self.runner.kill("protocol")
            raise RunnerLost("protocol")
        self.outstanding += 1
        try:
            self.runner.send(payload, self.wall_deadline)
            ceiling = self.runner.cpu() + budget + max(CALLBACK_GRACE, 0.1 * budget)
            while True:
                frame = self.runner.receive(self.wall_deadline, ceiling)
                if frame[:1] != protocol.REPLY_CALLBACK:
                    return frame
                self._serve_callback(frame)
                ceiling = self.runner.cpu() + max(self.remaining(), 0.0) + CALLBACK_GRACE
        finally:
            self.outstanding -= 1

    def _serve_callback(self, frame: bytes) -> None:
        """Runs one of the test's callables for the program (test code, in the judge) and answers."""
        (identifier,) = _U64.unpack_from(frame, 1)
        function: Any = self.callables.get(identifier)
        if function is None:
            self.runner.kill("protocol")
            raise RunnerLost("protocol")
        (arguments, keywords), _ = self.values(frame, 1 + _U64.size, 2)
        try:
            result = function(*arguments, **(keywords or {}))
            reply = protocol.CALLBACK_RESULT + self._slot(result)
        except Exception as error:  # noqa: BLE001 - the test's callable failed: the program sees an exception
            reply = protocol.CALLBACK_ERROR + wire.encode_slot(protocol.describe_error(error))
        self.runner.send(reply, self.wall_deadline)

    # --- answers ---

    def values(self, frame: bytes, position: int, count: int) -> tuple[list, int]:
        values = []
        for _ in range(count):
            kind, payload, end = wire.split_slot(frame, position)
            start = end - len(payload)
            try:
                info = self.native.validate(frame, start, end, FROM_RUNNER)
                if kind == wire.PURE and not info.has_extensions:
                    values.append(marshal.loads(payload))
                else:
                    values.append(wire.Decoder(payload, self._handle, from_runner=True).decode())
            except (wire.WireError, ValueError, TypeError, OverflowError, EOFError) as error:
                raise InvalidAnswer("the program's answer is not valid plain data: %s" % error) from None
            position = end
        return values, position

    def _handle(self, code: bytes, payload):
        identifier, flags, module, qualname = payload
        label = "%s.%s" % (module, qualname)
        kind = ProgramClass if flags & wire.CLASS else ProgramObject
        return kind(self, b"#h" + _U64.pack(identifier), label, flags)

    def answer(self, frame: bytes, copy_back: tuple = ()):
        """The value of a reply (after copying changed arguments back), or the exception it describes, raised."""
        kind = frame[:1]
        cpu_used, flags = protocol.CPU.unpack_from(frame, 1)
        position = 1 + protocol.CPU.size
        if kind == protocol.REPLY_ERROR:
            (description,), _ = self.values(frame, position, 1)
            raise self.exception(description, flags)
        if kind != protocol.REPLY_VALUE:
            self.runner.kill("protocol")
            raise RunnerLost("protocol")
        if flags & protocol.TIMER_FIRED:
            raise TestTimeout()  # an answer given after the CPU limit (the program caught the timer's exception)
        (value,), position = self.values(frame, position, 1)
        # Changed arguments come back only from a call that returned None (an in-place procedure): a call that
        # returns its answer has no say over the test's own values (``assert f(xs) == sorted(xs)`` with ``f``
        # emptying ``xs`` would otherwise pass).
        if copy_back and value is None and position < len(frame):
            count = frame[position]
            position += 1
            for _ in range(count):
                index = frame[position]
                (changed,), position = self.values(frame, position + 1, 1)
                if index < len(copy_back):
                    assign_in_place(copy_back[index], changed)
        return value

    # --- exceptions ---

    def define_exception(self, qualname: str, base_names, module: str) -> type:
        """The judge's stand-in for an exception class of the program, with the builtin bases it has (``class
        Invalid(ValueError, TypeError)`` is caught as either)."""
        if type(base_names) is str:
            base_names = (base_names,)
        known = [getattr(builtins, name, None) for name in base_names if type(name) is str][:16]
        known = [base for base in known if isinstance(base, type) and issubclass(base, BaseException)]
        name = qualname.rpartition(".")[2] or "ProgramError"
        kind = _exception_type(name, qualname, module, known)
        self.exception_classes[qualname] = kind
        return kind

    def exception_class(self, qualname: str) -> type:
        return self.exception_classes.get(qualname) or self.define_exception(qualname, "Exception", self.program_module)

    def exception(self, description, flags: int) -> BaseException:
        """The program's exception as a judge-side exception of the same (or the nearest known) class."""
        try:
            lineage, message, arguments = description
            lineage = [(str(module), str(qualname)) for module, qualname in lineage][:64]
        except (TypeError, ValueError):
            return InvalidAnswer("the program's exception could not be described")
        judge_used, runner_used = self.step_cpu()
        names = [qualname for _, qualname in lineage]
        # The runner's word that its CPU timer fired can only turn its own answer into a timeout: it is believed.
        if flags & protocol.TIMER_FIRED or (
            "KeyboardInterrupt" in names and judge_used + runner_used >= self.cpu_limit - 0.05
        ):
            return TestTimeout()
        kind = self._known_class(lineage)
        if issubclass(kind, (StopIteration, StopAsyncIteration)):
            # Raised by a call, it would end the loop of whatever iterates (a `for` over `map(f, ...)`) and skip
            # the test's remaining asserts: it arrives as a RuntimeError, as PEP 479 makes it inside generators.
            kind = _STOP_ITERATION
        if type(arguments) is not tuple:
            arguments = () if message is None else (message,)
        error: Any
        try:
            error = kind(*arguments)
        except Exception:  # noqa: BLE001 - constructors with required arguments: build without them
            error = kind.__new__(kind)
            error.args = arguments
        error.acecoder_message = message  # what str() said in the runner
        return error

    def _known_class(self, lineage: list) -> type:
        """The class of ``lineage[0]`` if the judge knows it, else a subclass (of that name) of the nearest base it
        knows: ``except ValueError`` catches a program's ``class Invalid(ValueError)``."""
        for position, (module, qualname) in enumerate(lineage):
            kind = None
            if module == "builtins":
                kind = getattr(builtins, qualname, None)
            elif module == self.program_module and qualname in self.exception_classes:
                kind = self.exception_classes[qualname]
            elif module in sys.modules and module.partition(".")[0] != "acecoder":  # never the judge's own
                kind = getattr(sys.modules[module], qualname, None)
            if isinstance(kind, type) and issubclass(kind, BaseException):
                if position == 0:
                    return kind
                bases = [kind] + [
                    base for base in map(self._builtin_exception, lineage[position + 1 :]) if base is not None
                ]
                key = (lineage[0], tuple(bases))
                derived = self.derived_classes.get(key)
                if derived is None:
                    name = lineage[0][1].rpartition(".")[2] or "ProgramError"
                    derived = _exception_type(name, lineage[0][1], lineage[0][0], bases)
                    self.derived_classes[key] = derived
                return derived
        return Exception

    @staticmethod
    def _builtin_exception(entry: tuple):
        module, qualname = entry
        kind = getattr(builtins, qualname, None) if module == "builtins" else None
        return kind if isinstance(kind, type) and issubclass(kind, BaseException) else None

    # --- the operations proxies use ---

    def call(self, target: ProgramObject, arguments: tuple, keywords: dict, flags: int = protocol.COPY_BACK):
        prefetched = self.prefetched
        if prefetched is not None:
            self.prefetched = None
            reference, expected_arguments, expected_keywords, frame = prefetched
            if (
                target._reference == reference
                and _same(arguments, expected_arguments)
                and _same(keywords, expected_keywords)
            ):
                self.prefetched_cpu += protocol.CPU.unpack_from(frame, 1)[0]
                return self.answer(frame, arguments if flags & protocol.COPY_BACK else ())
        slots = target_slot(target) + self._slot(tuple(arguments)) + self._slot(keywords)
        frame = self.request(protocol.REQUEST_CALL, bytes([flags]), slots)
        return self.answer(frame, arguments if flags & protocol.COPY_BACK else ())

    def pipeline(self, requests: list, window: int = MAX_IN_FLIGHT) -> Pipeline:
        """Requests sent ahead of their answers (see ``Pipeline``); ``requests`` are (payload, CPU s, wall s)."""
        return Pipeline(self, requests, window)

    def _simple(self, kind: bytes, *values, target=None):
        slots = (target_slot(target) if target is not None else b"") + b"".join(self._slot(value) for value in values)
        return self.answer(self.request(kind, b"\0", slots))

    def getattr(self, target, name: str):
        return self._simple(protocol.REQUEST_GETATTR, name, target=target)

    def setattr(self, target, name: str, value) -> None:
        self._simple(protocol.REQUEST_SETATTR, name, value, target=target)

    def getitem(self, target, key):
        return self._simple(protocol.REQUEST_GETITEM, key, target=target)

    def setitem(self, target, key, value) -> None:
        self._simple(protocol.REQUEST_SETITEM, key, value, target=target)

    def iterate(self, target):
        return self._simple(protocol.REQUEST_ITER, target=target)

    def next_items(self, target, count: int) -> tuple[list, bool]:
        frame = self.request(protocol.REQUEST_NEXT, struct.pack("<I", count), target_slot(target))
        result = self.answer(frame)
        if type(result) is not tuple or len(result) != 2 or type(result[0]) is not list:
            raise InvalidAnswer("a malformed iteration answer")
        return result[0], bool(result[1])

    def global_value(self, name: str):
        return self._simple(protocol.REQUEST_GLOBAL, name)

    def isinstance(self, value, kind) -> bool:
        answer = self.answer(self.request(protocol.REQUEST_ISINSTANCE, b"\0", target_slot(value) + target_slot(kind)))
        return answer is True

    def convert(self, builtin: str, target, *extra):
        """``str(x)``, ``int(x)``... of a program object, computed by the runner; the answer must have that type."""
        reference = _BUILTIN_REFERENCES[builtin]
        slot = wire.SLOT_HEADER.pack(wire.EXTENDED, len(reference)) + reference
        frame = self.request(protocol.REQUEST_CALL, b"\0", slot + self._slot((target, *extra)) + self._slot({}))
        result = self.answer(frame)
        expected = {"str": str, "format": str, "int": int, "float": float, "complex": complex}.get(builtin)
        if expected is not None and type(result) is not expected:
            raise InvalidAnswer("%s() of a program object did not give a %s" % (builtin, expected.__name__))
        return result


class _ProgramStopIteration(RuntimeError):
    pass


_ProgramStopIteration.__name__ = _ProgramStopIteration.__qualname__ = "StopIteration"
_STOP_ITERATION = _ProgramStopIteration


class Pipeline:
    """Requests sent ahead of their answers, a window at a time, so the runner never waits on the judge; iterating
    yields ``(position, reply frame)`` in order. A runner lost while an answer is awaited raises RunnerLost with
    ``position``. If the judge must send a request of its own meanwhile (a test works with a program object that
    came back), ``drain`` first reads every answer already on its way, so the channel stays in step; the rest of
    the batch is sent after. The caller may stop early (the runner is then mid-batch: kill it)."""

    def __init__(self, session: Session, requests: list, window: int):
        self.session = session
        self.requests = requests
        self.window = window
        self.sent = 0
        self.in_flight: deque[int] = deque()
        self.arrived: deque[tuple[int, bytes]] = deque()
        self.last_cpu = session.runner.cpu()
        self.total_wall = time.monotonic() + sum(request[2] for request in requests)
        self.draining = False
        if session.runner.pending():
            self._lose(0)

    def _lose(self, position: int):
        self.session.runner.kill("protocol")
        error = RunnerLost("protocol")
        error.position = position  # type: ignore[attr-defined]
        raise error

    def _send_more(self) -> None:
        runner = self.session.runner
        while not self.draining and self.sent < len(self.requests) and len(self.in_flight) < self.window:
            try:
                runner.send(self.requests[self.sent][0], self.total_wall)
            except RunnerLost as lost:
                lost.position = self.in_flight[0] if self.in_flight else self.sent  # type: ignore[attr-defined]
                raise
            self.in_flight.append(self.sent)
            self.sent += 1

    def _receive(self) -> tuple[int, bytes]:
        runner = self.session.runner
        position = self.in_flight[0]
        _, budget, wall = self.requests[position]
        try:
            frame = runner.receive(time.monotonic() + wall, self.last_cpu + budget + max(CALLBACK_GRACE, 0.1 * budget))
            if frame[:1] == protocol.REPLY_CALLBACK:  # nothing the judge sent ahead can call back
                runner.kill("protocol")
                raise RunnerLost("protocol")
        except RunnerLost as lost:
            lost.position = position  # type: ignore[attr-defined]
            raise
        self.in_flight.popleft()
        self.last_cpu = runner.cpu()
        return position, frame

    def drain(self) -> None:
        self.draining = True
        while self.in_flight:
            self.arrived.append(self._receive())

    def __iter__(self):
        self.session.active = self
        try:
            while self.arrived or self.sent < len(self.requests) or self.in_flight:
                if not self.arrived:
                    self.draining = False
                    self._send_more()
                    self.arrived.append(self._receive())
                yield self.arrived.popleft()
                self.window = min(self.window * 2, MAX_IN_FLIGHT)
        finally:
            self.session.active = None


def _same(left, right) -> bool:
    """Whether the test's arguments are the literals the call was made ahead with (same types, same values)."""
    try:
        return type(left) is type(right) and left == right and repr(left) == repr(right)
    except Exception:  # noqa: BLE001 - a program object among them: not a literal
        return False


def call_request(name: str, arguments: tuple, keywords: dict, budget: float, flags: int = protocol.COPY_BACK) -> bytes:
    """A CALL request of the program global ``name`` (made ahead of the test that needs it)."""
    reference = b"#G" + marshal.dumps(name, 2)
    target = wire.SLOT_HEADER.pack(wire.EXTENDED, len(reference)) + reference
    return (
        protocol.REQUEST_CALL + protocol.BUDGET.pack(budget, flags) + target
        + wire.encode_slot(tuple(arguments)) + wire.encode_slot(keywords)
    )  # fmt: skip


def target_slot(target) -> bytes:
    reference = target._reference
    return wire.SLOT_HEADER.pack(wire.EXTENDED, len(reference)) + reference


def _exception_type(name: str, qualname: str, module: str, bases: list) -> type:
    """A judge-side exception class with the given bases, less those another base already derives from; a set
    Python cannot combine (two builtin bases with conflicting layouts) keeps the first."""
    minimal = tuple(
        base
        for base in dict.fromkeys(bases)
        if not any(other is not base and issubclass(other, base) for other in bases)
    )
    namespace = {"__module__": module, "__qualname__": qualname}
    try:
        return type(name, minimal or (Exception,), namespace)
    except TypeError:
        return type(name, minimal[:1], namespace)


def assign_in_place(original, changed) -> None:
    """Makes the test's argument equal to the program's changed copy, keeping its identity."""
    kind = type(original)
    if kind is list and type(changed) is list:
        original[:] = changed
    elif kind is dict and type(changed) is dict:
        original.clear()
        original.update(changed)
    elif kind is set and type(changed) is set:
        original.clear()
        original.update(changed)
    elif kind is bytearray and type(changed) in (bytes, bytearray):
        original[:] = changed
