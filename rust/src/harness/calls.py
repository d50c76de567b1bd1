"""Call tests: the harness calls the program's function on given arguments and judges the result itself.

Part of the zygote harness (after ``strict.py``, whose plain-value checks and comparisons it uses, and the package's
``digest.py``); stdlib only.
This is the test format of HumanEval+ and MBPP+ (evalplus): an entry point, argument tuples, expected outputs and
an absolute tolerance for floats. The caller pickles the arguments and expected value (base64, inside the job's
JSON); the zygote decodes them before it forks, so the child holds fresh objects no program has touched, and the
comparison below runs on references taken before any job.

The comparison follows evalplus 0.3.1 (``evalplus/eval/__init__.py``, ``unsafe_execute``): exact equality first;
then the per-task special oracles; then, when the (effective) tolerance is not zero, the result must have the
expected type and length and be element-wise within ``atol + 1e-7 * |expected|`` (``np.allclose`` with
``rtol=1e-07``). The caller computes the effective tolerance (evalplus switches to 1e-6 once it has seen a float
expected value). One deliberate difference: the result must be plain data (``strict.check_plain``) before it is
compared, so an object with a lying ``__eq__`` fails instead of passing.
"""

import binascii
import math
import pickle

_sha256 = None  # the SHA-256 of "repr_digest" tests: loaded by the zygote for the first job that has one


def _load_sha256():
    """OpenSSL's SHA-256 (about 6x faster than CPython's own on the hundreds of megabytes a digest test can hash),
    called once here so that OpenSSL initialises in the zygote, before any job's sandbox. Loaded only when a job
    needs it: OpenSSL adds about 0.6 MB to the zygote, which every later fork copies the page tables of."""
    global _sha256
    if _sha256 is not None:
        return
    try:
        from _hashlib import openssl_sha256 as function

        function(b"").hexdigest()
    except Exception:  # noqa: BLE001 - an interpreter built without OpenSSL
        try:
            from _sha256 import sha256 as function  # Python 3.10-3.11
        except ImportError:
            from _sha2 import sha256 as function  # Python 3.12+
    _sha256 = function


_decode_base64 = binascii.a2b_base64
_unpickle = pickle.loads
_RELATIVE_TOLERANCE = 1e-07
_NUMBER_TYPES = (int, float, bool, complex)
_SEQUENCES = (list, tuple)


def compile_call(test):
    """The zygote's form of one call test: ('call', entry point, arguments, expected, atol, oracle)."""
    try:
        arguments = tuple(_unpickle(_decode_base64(test["arguments"])))
        expected = _unpickle(_decode_base64(test["expected"]))
    except Exception as error:  # noqa: BLE001 - a test that does not decode is that test's error
        return ("error", type(error).__name__, truncate(error))
    if test.get("oracle") in ("repr_digest", "pickle_digest"):
        _load_sha256()
    return ("call", test["entry_point"], arguments, expected, float(test.get("atol") or 0.0), test.get("oracle"))


def _number(value):
    if type(value) in _NUMBER_TYPES:
        return value
    if _is_numpy_value(value, type(value)) and getattr(value, "shape", None) == ():
        return value.item()
    raise TypeError("not a number")


def _close(actual, expected, atol):
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


def _polynomial(coefficients, x):  # HumanEval/32
    return sum(coefficient * math.pow(x, power) for power, coefficient in enumerate(coefficients))


def _fail(entry_point, actual, expected):
    raise AssertionError("%s(...) returned %s, expected %s" % (entry_point, _short(actual), _short(expected)))


def run_call(step, namespace):
    """Calls the function and raises AssertionError (or NotPlainValue) unless its result is accepted."""
    _, entry_point, arguments, expected, atol, oracle = step
    function = namespace.get(entry_point)
    if function is None:
        raise NameError("name %r is not defined" % entry_point)
    actual = function(*arguments)
    stop_step_clock()  # the limit is on the function; judging its result is the harness's time
    if oracle == "any":  # Mbpp/164: every answer is accepted
        return
    if oracle == "not_none":  # Mbpp tasks whose outputs do not serialise: only None-ness (or a bool) is compared
        exact = (actual == expected) if type(actual) is bool else (expected == (actual is not None))
    elif oracle == "pickle_digest":  # an expected output too large to send: its pickle's SHA-256 (digest.py)
        try:
            digest = value_digest(actual, _sha256)
        except DigestRefused as error:
            raise NotPlainValue(str(error)) from None
        if digest == expected:
            return
        _fail(entry_point, actual, "the expected value (sha256 %s of its pickle)" % expected[:16])
    else:
        check_plain(actual)
        if oracle == "repr_digest":  # an expected output too large to send: its repr's SHA-256
            if repr_digest(actual, _sha256) == expected:
                return
            _fail(entry_point, actual, "the expected value (sha256 %s of its repr)" % expected[:16])
        if oracle == "poly_root":  # HumanEval/32: any root of the polynomial
            if abs(_polynomial(*arguments, actual)) <= atol:
                return
            _fail(entry_point, actual, "a root")
        if oracle == "set":  # Mbpp tasks whose order is free
            exact = set(actual) == set(expected)
        else:
            exact = _equal(actual, expected)
            if oracle == "or_zero":  # Mbpp/295
                exact = exact or _equal(actual, 0)
            elif oracle == "surface_area":  # Mbpp/581
                exact = exact or abs(actual - _surface_area(*arguments)) <= atol
            elif oracle == "digit_distance":  # Mbpp/558
                exact = exact or _equal(actual, _digit_distance(*arguments))
    if exact:
        return
    if atol != 0 and type(actual) is type(expected) and _close(actual, expected, atol):
        return
    _fail(entry_point, actual, expected)
