"""Strict assertions: how the harness runs a test so that a program cannot fake the values it is judged on.

Prepended to the zygote harness (``zygote.py``) by the engine; stdlib only.

A test such as ``assert f(3) == [1, 2]`` normally lets the program decide the outcome: ``f`` may return an object
whose ``__eq__`` always answers True, an ``int`` subclass that equals everything, or something whose ``__bool__``
lies. In strict mode (the default) the zygote compiles each test once, splitting its final ``assert`` into its
operands: the child evaluates every operand separately, checks that each value is *plain* (exactly a builtin value
type, a C-implemented numpy type or a datetime/decimal value, recursively through containers), and only then
compares them with the builtin operators, whose behaviour on plain values no program can change. A value that is
not plain fails the test. A bare ``assert value`` only needs a value whose truth is not defined by the program: any
type implemented in C (``re.Match`` included), since only a Python-defined class could make ``__bool__`` lie. Identity
(``is``/``is not``) cannot be faked and is left alone.

Chained comparisons, ``not``, ``and``/``or`` are handled the same way, operand by operand. Anything else in a test
(imports, helper assignments, a non-assert last statement) runs unchanged before the final assertion.
"""

import builtins as _builtins_module

# The harness runs on a private copy of the builtins: every function defined below takes its builtins from this
# dict, so a program that patches the `builtins` module (exec, isinstance, AssertionError...) cannot reach them.
__builtins__ = dict(_builtins_module.__dict__)

import ast  # noqa: E402 - after the snapshot on purpose
import collections  # noqa: E402
import operator  # noqa: E402

_COMPARISONS = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
    ast.In: lambda item, container: item in container,
    ast.NotIn: lambda item, container: item not in container,
}
_SYMBOLS = {
    ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
    ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in",
}  # fmt: skip

_SCALAR_TYPES = frozenset({int, float, complex, bool, str, bytes, bytearray, type(None), type(Ellipsis), range})
# C-implemented stdlib value types, recognised by module and name once their module is loaded (never imported here).
_STDLIB_VALUE_TYPES = frozenset({
    ("datetime", "date"), ("datetime", "datetime"), ("datetime", "time"), ("datetime", "timedelta"),
    ("decimal", "Decimal"),
})  # fmt: skip
_SEQUENCE_TYPES = frozenset({list, tuple, set, frozenset, collections.deque})
_MAPPING_TYPES = frozenset({dict, collections.OrderedDict, collections.defaultdict, collections.Counter})
_IDENTITY = (ast.Is, ast.IsNot)
# Py_TPFLAGS_IMMUTABLETYPE (Python 3.10+): set on every type implemented in C (static, or a heap type its module
# declared immutable) and never on a class defined by a `class` statement, whatever tricks the class plays.
_IMMUTABLE_TYPE_FLAG = 1 << 8


class NotPlainValue(Exception):
    """A compared value is not plain data, so comparing it would let the program decide the outcome."""


def _is_numpy_value(value, kind):
    # numpy's scalar and array types are C types: a program cannot define one in Python, and a fake module in
    # sys.modules cannot make a Python class look like one.
    if not kind.__flags__ & _IMMUTABLE_TYPE_FLAG or not kind.__module__.startswith("numpy"):
        return False
    dtype = getattr(value, "dtype", None)
    return dtype is None or getattr(dtype, "kind", "O") != "O"


def _is_stdlib_value(kind):
    return bool(kind.__flags__ & _IMMUTABLE_TYPE_FLAG) and (kind.__module__, kind.__name__) in _STDLIB_VALUE_TYPES


def check_truth_source(value):
    """Raises NotPlainValue if the truth of `value` is decided by code the program wrote (a Python class)."""
    kind = type(value)
    if not kind.__flags__ & _IMMUTABLE_TYPE_FLAG:
        raise NotPlainValue("the truth of a %s.%s is decided by the program" % (kind.__module__, kind.__qualname__))


def check_plain(value):
    """Raises NotPlainValue unless `value` is plain data all the way down."""
    pending = [value]
    seen = set()
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind in _SCALAR_TYPES:
            continue
        if id(item) in seen:
            continue
        if kind in _SEQUENCE_TYPES:
            seen.add(id(item))
            pending.extend(item)
        elif kind in _MAPPING_TYPES:
            seen.add(id(item))
            pending.extend(item.keys())
            pending.extend(item.values())
        elif not (_is_numpy_value(item, kind) or _is_stdlib_value(kind)):
            raise NotPlainValue("a value of type %s.%s is not plain data" % (kind.__module__, kind.__qualname__))


def _short(value):
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


# ----------------------------------------------------------------------------------------- compiling (zygote side)


def _expression(node, filename):
    expression = ast.Expression(body=node)
    ast.fix_missing_locations(expression)
    return compile(expression, filename, "eval")


def _condition(node, filename):
    """A condition tree: ('compare', operand_codes, operators) | ('not', c) | ('and'|'or', [c...]) | ('value', code)."""
    if isinstance(node, ast.Compare):
        operands = [node.left, *node.comparators]
        return ("compare", tuple(_expression(operand, filename) for operand in operands), tuple(type(op) for op in node.ops))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return ("not", _condition(node.operand, filename))
    if isinstance(node, ast.BoolOp):
        return ("and" if isinstance(node.op, ast.And) else "or", tuple(_condition(value, filename) for value in node.values))
    return ("value", _expression(node, filename))


def compile_test(source, filename, strict):
    """Compiles a test into ('exec', code) or, in strict mode with a final assert, ('assert', prefix, condition).

    Raises whatever `compile` raises for invalid source.
    """
    if not strict:
        return ("exec", compile(source, filename, "exec"))
    tree = ast.parse(source, filename, "exec")
    if not tree.body or not isinstance(tree.body[-1], ast.Assert):
        return ("exec", compile(tree, filename, "exec"))
    final = tree.body[-1]
    prefix = None
    if len(tree.body) > 1:
        prefix = compile(ast.Module(body=tree.body[:-1], type_ignores=[]), filename, "exec")
    return ("assert", prefix, _condition(final.test, filename))


# ------------------------------------------------------------------------------------------- running (child side)


def _holds(condition, namespace, evaluate, failures):
    """Whether `condition` holds; a failed comparison also appends its description to `failures`."""
    kind = condition[0]
    if kind == "compare":
        _, operands, operators = condition
        left = evaluate(operands[0], namespace)
        for operator_type, operand in zip(operators, operands[1:]):
            right = evaluate(operand, namespace)
            if operator_type not in _IDENTITY:
                check_plain(left)
                check_plain(right)
            outcome = _COMPARISONS[operator_type](left, right)
            check_truth_source(outcome)  # numpy arrays compare element-wise; their truth is ambiguous, as in Python
            if not outcome:
                failures.append("%s %s %s" % (_short(left), _SYMBOLS[operator_type], _short(right)))
                return False
            left = right
        return True
    if kind == "not":
        return not _holds(condition[1], namespace, evaluate, failures)
    if kind == "and":
        return all(_holds(part, namespace, evaluate, failures) for part in condition[1])
    if kind == "or":
        return any(_holds(part, namespace, evaluate, failures) for part in condition[1])
    value = evaluate(condition[1], namespace)
    check_truth_source(value)
    return bool(value)


def run_assert(step, namespace, execute, evaluate):
    """Runs a compiled strict test; raises AssertionError when it does not hold."""
    _, prefix, condition = step
    if prefix is not None:
        execute(prefix, namespace)
    failures = []
    if not _holds(condition, namespace, evaluate, failures):
        raise AssertionError(failures[0] if len(failures) == 1 else "")
