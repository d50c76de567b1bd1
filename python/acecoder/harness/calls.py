"""Call tests (HumanEval+/MBPP+): the judge calls the program's function in the runner and judges the answer.

No test code runs here, so the judge zygote does it itself, without forking: it sends the calls to the runner ahead
of the answers (a few at first when failing fast, then more), so the runner never waits on the judge, and compares
each answer as it arrives. The runner gets the inputs only; the expected values stay here.

The comparison follows evalplus 0.3.1 (``evalplus/eval/__init__.py``, ``unsafe_execute``): exact equality first;
then the per-task special oracles; then, when the (effective) tolerance is not zero, the result must have the
expected type and length and be element-wise within ``atol + 1e-7 * |expected|`` (``np.allclose`` with
``rtol=1e-07``). The caller computes the effective tolerance. Answers are plain values the judge decoded itself:
a program object (a handle) fails with NotPlainValue the moment it is compared.
"""

from __future__ import annotations

import base64
import math
import pickle
import reprlib
from collections import OrderedDict, deque

from acecoder.harness import runner as protocol
from acecoder.harness import wire
from acecoder.harness.channel import RunnerLost
from acecoder.harness.proxies import InvalidAnswer, NotPlainValue, TestTimeout
from acecoder.harness.session import Session
from acecoder.harness.verdicts import TIMER_GRANULARITY, from_exception, timeout, truncate, verdict

_RELATIVE_TOLERANCE = 1e-07
_NUMBER_TYPES = (int, float, bool, complex)
_SEQUENCES = (list, tuple)
MAX_IN_FLIGHT = 64
EXPECTED_CACHE_ENTRIES = 4096


class ExpectedValues:
    """Decoded expected values, by the caller's key: a question's samples share them (never mutated here)."""

    def __init__(self):
        self.cache: OrderedDict[str, object] = OrderedDict()

    def get(self, test: dict):
        key = test.get("expected_key")
        if key is not None and key in self.cache:
            self.cache.move_to_end(key)
            return self.cache[key]
        value = pickle.loads(base64.b64decode(test["expected"]))  # the caller's own data
        if key is not None:
            self.cache[key] = value
            if len(self.cache) > EXPECTED_CACHE_ENTRIES:
                self.cache.popitem(last=False)
        return value


def _number(value):
    if type(value) in _NUMBER_TYPES:
        return value
    numpy = _numpy()
    if numpy is not None and isinstance(value, numpy.generic) and getattr(value, "shape", None) == ():
        return value.item()
    raise TypeError("not a number")


def _numpy():
    import sys

    return sys.modules.get("numpy")


def _close(actual, expected, atol) -> bool:
    """np.allclose(actual, expected, rtol=1e-07, atol=atol) for numbers and equally shaped nested lists/tuples."""
    if type(actual) in _SEQUENCES or type(expected) in _SEQUENCES:
        if type(actual) not in _SEQUENCES or type(expected) not in _SEQUENCES or len(actual) != len(expected):
            return False
        return all(_close(left, right, atol) for left, right in zip(actual, expected))
    try:
        left, right = _number(actual), _number(expected)
    except TypeError:
        return False
    if left == right:
        return True  # equal infinities included
    if left != left or right != right or math.isinf(abs(left)) or math.isinf(abs(right)):
        return False
    return abs(left - right) <= atol + _RELATIVE_TOLERANCE * abs(right)


# evalplus's reference implementations for its special oracles (``evalplus/eval/_special_oracle.py``).
def _surface_area(base_edge, height):  # Mbpp/581
    slant_height = math.sqrt((base_edge / 2) ** 2 + height**2)
    return round(base_edge**2 + 4 * (base_edge * slant_height) / 2)


def _digit_distance(first, second):  # Mbpp/558
    left, right = str(first), str(second)
    width = max(len(left), len(right))
    return sum(abs(int(a) - int(b)) for a, b in zip(left.zfill(width), right.zfill(width)))


def _polynomial(coefficients, x, *_):  # HumanEval/32
    return sum(coefficient * math.pow(x, power) for power, coefficient in enumerate(coefficients))


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxtuple, _SHORT.maxdict, _SHORT.maxset = 4, 50, 50, 20, 20
_SHORT.maxstring, _SHORT.maxother, _SHORT.maxlong = 120, 120, 120


def short(value) -> str:
    """A bounded repr for messages: a result of millions of items or digits costs nothing."""
    try:
        text = _SHORT.repr(value)
    except Exception:  # noqa: BLE001 - huge ints beyond the str conversion limit, broken values
        text = "<%s>" % type(value).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def judge(test: dict, arguments, actual, expected) -> None:
    """Raises AssertionError (or NotPlainValue) unless ``actual`` is accepted for this call test."""
    oracle = test.get("oracle")
    atol = float(test.get("atol") or 0.0)
    entry_point = test["entry_point"]
    if oracle == "any":  # Mbpp/164: every answer is accepted
        return
    if oracle in ("pickle_digest", "repr_digest"):  # the runner answered the digest of its result
        if type(actual) is str and actual == expected:
            return
        form = "pickle" if oracle == "pickle_digest" else "repr"
        raise AssertionError(
            "%s(...) returned a value (sha256 %s of its %s), expected the expected value (sha256 %s of its %s)"
            % (entry_point, short(actual)[:18], form, str(expected)[:16], form)
        )
    if oracle == "not_none":  # outputs that do not serialise: only None-ness (or a bool) is compared
        exact = (actual == expected) if type(actual) is bool else (expected == (actual is not None))
    elif oracle == "poly_root":  # HumanEval/32: any root of the polynomial
        try:
            if abs(_polynomial(*arguments, actual)) <= atol:
                return
        except (TypeError, ValueError, OverflowError):
            pass
        raise AssertionError("%s(...) returned %s, expected a root" % (entry_point, short(actual)))
    elif oracle == "set":  # Mbpp tasks whose order is free
        if type(actual) not in (list, tuple, set, frozenset):
            exact = False
        else:
            wire.check_hash_spread(list(actual))
            exact = set(actual) == set(expected)
    else:
        exact = actual == expected
        if oracle == "or_zero":  # Mbpp/295
            exact = exact or actual == 0
        elif oracle == "surface_area":  # Mbpp/581
            exact = exact or (type(actual) in _NUMBER_TYPES and abs(actual - _surface_area(*arguments)) <= atol)
        elif oracle == "digit_distance":  # Mbpp/558
            exact = exact or actual == _digit_distance(*arguments)
    if exact is True:
        return
    if atol != 0 and type(actual) is type(expected) and _close(actual, expected, atol):
        return
    raise AssertionError("%s(...) returned %s, expected %s" % (entry_point, short(actual), short(expected)))


class CallJudge:
    """The call tests ``first..`` of one job against one runner session."""

    def __init__(self, session: Session, job_tests: list, plan: dict, expected_values: ExpectedValues):
        self.session = session
        self.tests = job_tests
        self.plan = plan
        self.expected_values = expected_values

    def _request(self, index: int) -> bytes:
        test = self.tests[index]
        budget = self.plan["test_cpu"][index]
        oracle = test.get("oracle")
        flags = (
            protocol.PICKLE_DIGEST
            if oracle == "pickle_digest"
            else protocol.REPR_DIGEST
            if oracle == "repr_digest"
            else 0
        )
        reference = b"#G" + wire.Encoder().encode(test["entry_point"])
        target = wire.SLOT_HEADER.pack(wire.EXTENDED, len(reference)) + reference
        arguments = base64.b64decode(test["arguments"])
        return protocol.REQUEST_CALL + protocol.BUDGET.pack(budget, flags) + target + arguments + wire.encode_slot({})

    def run(self, first: int, fail_fast: bool, verdicts: list) -> int | None:
        """Fills ``verdicts[first:]``; returns the index of the test during which the runner was lost (its verdict
        is left for the caller, who knows how the runner died), or None when every test got a verdict."""
        runner = self.session.runner
        count = len(self.tests)
        window = 1 if fail_fast else MAX_IN_FLIGHT
        sent = first
        in_flight: deque[int] = deque()
        started_wall = _now()
        last_cpu = runner.cpu()
        while sent < count or in_flight:
            while sent < count and len(in_flight) < window:
                runner.send(self._request(sent), started_wall + self.plan["job_wall"])
                in_flight.append(sent)
                sent += 1
            index = in_flight[0]
            budget = self.plan["test_cpu"][index]
            try:
                frame = runner.receive(
                    _now() + self.plan["test_wall"][index], last_cpu + budget + max(0.1, 0.1 * budget)
                )
            except RunnerLost:
                return index
            in_flight.popleft()
            last_cpu = runner.cpu()
            outcome = self._verdict(index, frame)
            verdicts[index] = outcome
            if outcome["status"] != "passed" and fail_fast:
                if sent < count or in_flight:
                    runner.kill("done")
                for rest in range(index + 1, count):
                    verdicts[rest] = None
                return None
            window = min(window * 2, MAX_IN_FLIGHT)
        return None

    def _verdict(self, index: int, frame: bytes) -> dict:
        test = self.tests[index]
        budget = self.plan["test_cpu"][index]
        cpu_used, flags = protocol.CPU.unpack_from(frame, 1)
        timed_out = cpu_used >= budget - TIMER_GRANULARITY or bool(flags & protocol.TIMER_FIRED)
        try:
            actual = self.session.answer(frame)
        except TestTimeout:
            return timeout(budget, cpu_used)
        except InvalidAnswer as error:
            return verdict("failed", "InvalidAnswer", truncate(error), cpu_used)
        except BaseException as error:  # noqa: BLE001 - the program raised
            if timed_out:
                return timeout(budget, cpu_used)
            return from_exception(error, cpu_used)
        if timed_out:
            return timeout(budget, cpu_used)
        try:
            arguments = None
            if test.get("oracle") in ("poly_root", "surface_area", "digit_distance"):
                arguments = wire.decode_slot(*_slot_parts(base64.b64decode(test["arguments"])))
            judge(test, arguments, actual, self.expected_values.get(test))
        except AssertionError as error:
            return verdict("failed", "AssertionError", truncate(error), cpu_used)
        except NotPlainValue as error:
            return verdict("failed", "NotPlainValue", truncate(error), cpu_used)
        except wire.WireError as error:
            return verdict("failed", "InvalidAnswer", truncate(error), cpu_used)
        return verdict("passed", cpu_time=cpu_used)


def _slot_parts(slot: bytes):
    kind, payload, _ = wire.split_slot(slot, 0)
    return kind, payload


def _now() -> float:
    import time

    return time.monotonic()
