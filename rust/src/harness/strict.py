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

Chained comparisons, ``not``, ``and``/``or`` are handled the same way, operand by operand, and so is the arithmetic
that tolerance tests wrap around a result: in ``abs(f(x) - 3.14) < 1e-6``, ``math.isclose(f(x), y)``,
``sorted(f(x)) == [...]`` or ``f(x)[0].lower() == 'a'`` only ``f(x)`` is evaluated by the program's rules; the
subtraction, ``abs``, ``math.isclose``, ``sorted``, indexing and methods of plain values are applied by the harness
itself, with the builtins and ``math`` functions as they were before any program ran (a program that patches
``builtins.abs`` or ``math.isclose`` changes nothing here; one that defines its own ``sum`` is tested on it, as
Python would). Anything else in a test
(imports, helper assignments, a non-assert last statement) runs unchanged before the final assertion.
"""

import sys

# First of all: nothing may be imported from the current directory (Python 3.10 has no PYTHONSAFEPATH).
sys.path[:] = [entry for entry in sys.path if entry and entry != "."]

import builtins as _builtins_module  # noqa: E402

# The harness runs on a private copy of the builtins: every function defined below takes its builtins from this
# dict, so a program that patches the `builtins` module (exec, isinstance, AssertionError...) cannot reach them.
__builtins__ = dict(_builtins_module.__dict__)

import ast  # noqa: E402 - after the snapshot on purpose
import collections  # noqa: E402
import math  # noqa: E402
import operator  # noqa: E402

_COMPARISONS = {
    ast.Eq: lambda left, right: _equal(left, right),
    ast.NotEq: lambda left, right: not _equal(left, right),
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

# `type` itself: a class whose metaclass is exactly `type` compares by identity.
_SCALAR_TYPES = frozenset({int, float, complex, bool, str, bytes, bytearray, type(None), type(Ellipsis), range, type})
# C-implemented stdlib value types, recognised by module and name once their module is loaded (never imported here).
_STDLIB_VALUE_TYPES = frozenset({
    ("datetime", "date"), ("datetime", "datetime"), ("datetime", "time"), ("datetime", "timedelta"),
    ("decimal", "Decimal"),
})  # fmt: skip
_SEQUENCE_TYPES = frozenset({list, tuple, set, frozenset, collections.deque})
# Counter's own __eq__ is Python code a program could replace on the class, so the harness compares Counters
# itself (see _equal), by the rule Counter documents: missing elements count as zero.
_MAPPING_TYPES = frozenset({dict, collections.OrderedDict, collections.defaultdict, collections.Counter})
_COUNTER = collections.Counter
_dict_items = dict.items
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
    if type(value) in _SCALAR_TYPES:  # the common case, without building a work list
        return
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
            # The types of all items at C speed: a sequence of scalars (most of a huge result) needs no loop here.
            if not set(map(type, item)) <= _SCALAR_TYPES:
                pending.extend(item)
        elif kind in _MAPPING_TYPES:
            seen.add(id(item))
            pending.extend(item.keys())
            pending.extend(item.values())
        elif not (_is_numpy_value(item, kind) or _is_stdlib_value(kind)):
            raise NotPlainValue("a value of type %s.%s is not plain data" % (kind.__module__, kind.__qualname__))


def _counts(counter):
    return {key: count for key, count in _dict_items(counter) if count != 0}


def _equal(left, right):
    """`left == right` for plain values, without ever calling a method a program could have replaced."""
    if type(left) is _COUNTER and type(right) is _COUNTER:
        return _counts(left) == _counts(right)
    if type(left) is _COUNTER or type(right) is _COUNTER:
        # Counter against another mapping: Python falls back to dict equality.
        if not (isinstance(left, dict) and isinstance(right, dict)):
            return False
        return dict(_dict_items(left)) == dict(_dict_items(right))
    return left == right


# A list or tuple longer than this is cut before its repr is taken: the message keeps 117 characters, and the repr
# of 50 items is at least 148 long, so the text is the same while a result of millions of items costs nothing.
_SHORT_ITEMS = 50


def _short(value):
    if type(value) in (list, tuple) and len(value) > _SHORT_ITEMS:
        value = value[:_SHORT_ITEMS]
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


# ----------------------------------------------------------------------------------------- compiling (zygote side)


# Functions a test may apply to a program's results; the harness calls these originals itself.
_PURE_BUILTINS = {
    name: __builtins__[name]
    for name in (
        "abs", "all", "any", "bool", "dict", "float", "frozenset", "int", "isinstance", "len", "list", "max", "min",
        "round", "set", "sorted", "str", "sum", "tuple",
    )
}  # fmt: skip
_MATH_FUNCTIONS = {name: getattr(math, name) for name in dir(math) if callable(getattr(math, name))}
_BINARY = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}  # fmt: skip
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}


def _code(node, filename):
    """The code of one expression of the test being compiled.

    Compiling the expression's own source text is twice as fast as compiling its syntax tree (which CPython must
    first validate and convert back); the tree is the fallback for an expression spread over several lines."""
    if node.lineno == node.end_lineno:
        line = _current_lines[node.lineno - 1]
        try:
            return compile(line[node.col_offset : node.end_col_offset], filename, "eval")
        except SyntaxError:
            pass  # a segment that does not stand alone: compile the tree instead
    return compile(ast.Expression(body=node), filename, "eval")


def _math_aliases(statements):
    """Names a test binds to `math` or its functions (`import math as m`, `from math import isclose`)."""
    aliases = {"math": None}
    for statement in statements:
        if isinstance(statement, ast.Import):
            for alias in statement.names:
                if alias.name == "math":
                    aliases[alias.asname or "math"] = None
        elif isinstance(statement, ast.ImportFrom) and statement.module == "math" and statement.level == 0:
            for alias in statement.names:
                if alias.name in _MATH_FUNCTIONS:
                    aliases[alias.asname or alias.name] = alias.name
    return aliases


_current_aliases = {"math": None}
_current_lines = []  # the test being compiled, as UTF-8 lines (the parser's column offsets count bytes)


def _expression(node, filename):
    """An expression plan: the structure the harness evaluates itself, with program-evaluated leaves.

    ('constant', value) | ('leaf', code) | ('opaque', code) | ('binary', function, left, right)
    | ('unary', function, operand) | ('builtin', name, arguments, keywords)
    | ('math', bound_name, function, arguments, keywords)
    | ('method', object, name, arguments, keywords) | ('subscript', object, index) | ('sequence', builder, items)

    Leaves are evaluated by the program's rules and must then be plain; opaque parts (lambdas, comprehensions,
    keyword arguments such as ``key=`` or ``rel_tol=``) are test code, evaluated as written and never checked.
    """
    if isinstance(node, ast.Constant):
        return ("constant", node.value)
    if isinstance(node, (ast.Lambda, ast.GeneratorExp, ast.ListComp, ast.SetComp, ast.DictComp)):
        return ("opaque", _code(node, filename))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return ("binary", _BINARY[type(node.op)], _expression(node.left, filename), _expression(node.right, filename))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return ("unary", _UNARY[type(node.op)], _expression(node.operand, filename))
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and not any(isinstance(item, ast.Starred) for item in node.elts):
        builder = {ast.Tuple: tuple, ast.List: list, ast.Set: set}[type(node)]
        return ("sequence", builder, tuple(_expression(item, filename) for item in node.elts))
    if isinstance(node, ast.Subscript) and not isinstance(node.slice, ast.Slice):
        return ("subscript", _expression(node.value, filename), _expression(node.slice, filename))
    if isinstance(node, ast.Call) and not any(isinstance(item, ast.Starred) for item in node.args):
        if all(keyword.arg is not None for keyword in node.keywords):
            arguments = tuple(_expression(item, filename) for item in node.args)
            keywords = tuple((keyword.arg, ("opaque", _code(keyword.value, filename))) for keyword in node.keywords)
            function = node.func
            if isinstance(function, ast.Name) and _current_aliases.get(function.id):
                math_function = _MATH_FUNCTIONS[_current_aliases[function.id]]
                return ("math", function.id, math_function, arguments, keywords)
            if isinstance(function, ast.Name) and function.id in _PURE_BUILTINS:
                return ("builtin", function.id, arguments, keywords)
            if (
                isinstance(function, ast.Attribute)
                and isinstance(function.value, ast.Name)
                and function.value.id in _current_aliases
                and _current_aliases[function.value.id] is None
                and function.attr in _MATH_FUNCTIONS
            ):
                return ("math", function.value.id, _MATH_FUNCTIONS[function.attr], arguments, keywords)
            if isinstance(function, ast.Attribute):
                # A method (f(x).lower(), Solution().solve(...)): its arguments are checked like any others and
                # its result must be plain; the object itself may be anything, as the test asked for it.
                return ("method", _expression(function.value, filename), function.attr, arguments, keywords)
    return ("leaf", _code(node, filename))


def _condition(node, filename):
    """A condition tree: ('compare', operands, operators) | ('not', c) | ('and'|'or', [c...]) | ('value', e)."""
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
    global _current_aliases, _current_lines
    _current_aliases = _math_aliases(tree.body[:-1])
    _current_lines = source.encode("utf-8").splitlines() if isinstance(source, str) else source.splitlines()
    prefix = None
    if len(tree.body) > 1:
        prefix = compile(ast.Module(body=tree.body[:-1], type_ignores=[]), filename, "exec")
    return ("assert", prefix, _condition(final.test, filename))


# ------------------------------------------------------------------------------------------- running (child side)


def _value(plan, namespace, evaluate, checked):
    """Evaluates an expression plan; with `checked`, the result must be plain data."""
    kind = plan[0]
    if kind == "constant":
        return plan[1]
    if kind == "opaque":
        return evaluate(plan[1], namespace)
    if kind == "leaf":
        value = evaluate(plan[1], namespace)
    elif kind == "binary":
        value = plan[1](_value(plan[2], namespace, evaluate, True), _value(plan[3], namespace, evaluate, True))
    elif kind == "unary":
        value = plan[1](_value(plan[2], namespace, evaluate, True))
    elif kind == "sequence":
        value = plan[1]([_value(item, namespace, evaluate, True) for item in plan[2]])
    elif kind == "subscript":
        value = _value(plan[1], namespace, evaluate, False)[_value(plan[2], namespace, evaluate, True)]
    elif kind == "math":
        # As in Python, the name must be bound (a test that forgot `import math` fails the same way); what it
        # is bound to does not matter: the function applied is the original.
        if plan[1] not in namespace and plan[1] not in _builtins_module.__dict__:
            raise NameError("name %r is not defined" % plan[1])
        arguments = [_value(item, namespace, evaluate, True) for item in plan[3]]
        keywords = {name: _value(item, namespace, evaluate, True) for name, item in plan[4]}
        value = plan[2](*arguments, **keywords)
    elif kind == "builtin":
        # A program that defines its own `sum` (MBPP has such tasks) is tested on it, as Python would;
        # otherwise the name means the builtin as it was before the program ran.
        function = namespace.get(plan[1], _PURE_BUILTINS[plan[1]])
        arguments = [_value(item, namespace, evaluate, True) for item in plan[2]]
        keywords = {name: _value(item, namespace, evaluate, True) for name, item in plan[3]}
        value = function(*arguments, **keywords)
    else:  # method
        target = _value(plan[1], namespace, evaluate, False)
        arguments = [_value(item, namespace, evaluate, True) for item in plan[3]]
        keywords = {name: _value(item, namespace, evaluate, True) for name, item in plan[4]}
        value = getattr(target, plan[2])(*arguments, **keywords)
    if checked:
        check_plain(value)
    return value


def _holds(condition, namespace, evaluate, failures):
    """Whether `condition` holds; a failed comparison also appends its description to `failures`."""
    kind = condition[0]
    if kind == "compare":
        _, operands, operators = condition
        left = _value(operands[0], namespace, evaluate, False)
        for operator_type, operand in zip(operators, operands[1:]):
            right = _value(operand, namespace, evaluate, False)
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
    value = _value(condition[1], namespace, evaluate, False)
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
