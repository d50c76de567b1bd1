"""Assert tests (AceCoder's ``test_cases``): each test's statements run in a judge child, never in the runner.

Why a child per job: tests are the user's data, trusted not to attack but possibly buggy (loops, crashes, changes
to modules or files), so nothing one job's tests do may reach the next job's. The judge zygote forks a child that
runs the job's tests in order in one namespace (``proxies.TestNamespace``), each under its CPU limit, and writes
one verdict per test to a pipe. If the runner dies during a test, the child reports that test as the runner's and
exits; the zygote then re-runs the program in a fresh runner for the tests after it.
"""

from __future__ import annotations

import ast
import json
import os
import random
import resource
import signal
import sys

from acecoder.harness.calls import short
from acecoder.harness.channel import RunnerLost
from acecoder.harness.proxies import TestNamespace, TestTimeout
from acecoder.harness.runner import name_process
from acecoder.harness.session import Session
from acecoder.harness.verdicts import TIMER_GRANULARITY, from_exception, timeout, truncate, verdict

CACHE_ENTRIES = 256


_SYMBOLS = {
    ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Is: "is",
    ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in",
}  # fmt: skip
DESCRIBE = "__acecoder_describe"
_VALUES = "__acecoder_compared"


def describe(values: tuple, symbol: str) -> str:
    return "%s %s %s" % (short(values[0]), symbol, short(values[1]))


# Tests made only of these can run in the long-lived judge itself (no process per job): they can change nothing
# that outlives the job. Everything else (a def, a loop, a with, an import of os...) runs in a test child.
_PURE_STATEMENTS = (ast.Assert, ast.Expr, ast.Assign, ast.AugAssign, ast.Import, ast.ImportFrom, ast.Pass)
_IMPURE_EXPRESSIONS = (ast.NamedExpr, ast.Await, ast.Yield, ast.YieldFrom)
# Modules a pure test may import or name: their functions change no state that outlives a job (random's and
# numpy's generators are seeded again for every job).
PURE_MODULES = frozenset({
    "math", "cmath", "collections", "itertools", "functools", "operator", "string", "re", "heapq", "bisect",
    "fractions", "statistics", "numbers", "typing", "copy", "random", "datetime", "numpy", "np", "array", "enum",
    "json", "textwrap", "unicodedata",
})  # fmt: skip
# Functions that change a module's state for every later job (numpy's error and print settings, decimal's context).
_STATEFUL_CALLS = frozenset({
    "seterr", "seterrcall", "set_printoptions", "setbufsize", "set_string_function", "setcontext",
    "setrecursionlimit", "set_default_dtype", "setstate",
})  # fmt: skip
# Builtins a pure test may not name: they reach files, the interpreter or the process's output.
_IMPURE_BUILTINS = frozenset({
    "open", "exec", "eval", "compile", "__import__", "input", "print", "exit", "quit", "setattr", "delattr",
    "globals", "vars", "locals", "breakpoint", "help", "memoryview", "super", "classmethod", "staticmethod",
    "property",
})  # fmt: skip
_IMPURE_NAMES = _IMPURE_BUILTINS | (frozenset(sys.stdlib_module_names) - PURE_MODULES)
# Nodes whose children after the first run only sometimes (and, for scopes, any number of times).
_SCOPES = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.Lambda)
_LITERAL_FAILURES = (ValueError, TypeError, SyntaxError, MemoryError, RecursionError)


class _Analysis:
    """Everything the judge needs to know about a test, from one walk over its syntax tree:

    - ``names``: every name it loads or binds, in any scope (the protection rule of ``TestNamespace``);
    - ``pure``: whether it can run in the long-lived judge (see ``_PURE_STATEMENTS``; the program's own names are
      proxies either way);
    - ``literal``/``other``: its calls by name, those with literal arguments as (name, arguments, keywords, always
      runs) and the names of the others. A test whose only call into the program has literal arguments and always
      runs can have that call made ahead, batched with its neighbours' (``judge.py``);
    - ``asserts``: the ``assert a <op> b`` statements (one operator, no message) whose failure can say what was
      compared.
    """

    __slots__ = ("names", "pure", "literal", "other", "asserts")

    def __init__(self, tree: ast.Module):
        self.names: set[str] = set()
        self.pure = _pure_statements(tree)
        self.literal: list[tuple[str, tuple, dict, bool]] = []
        self.other: set[str] = set()
        self.asserts: list[ast.Assert] = []
        for statement in tree.body:
            self._visit(statement, False)

    def _visit(self, node: ast.AST, conditional: bool) -> None:
        kind = type(node)
        if kind is ast.Name:
            name = node.id  # type: ignore[attr-defined]
            self.names.add(name)
            if name in _IMPURE_NAMES or name.startswith("__"):
                self.pure = False
            return
        if kind is ast.Constant:
            return
        if kind is ast.Call:
            if self._literal_call(node, conditional):  # type: ignore[arg-type]
                return
        elif kind is ast.Attribute:
            attribute = node.attr  # type: ignore[attr-defined]
            if attribute.startswith("__") or attribute in _STATEFUL_CALLS:
                self.pure = False
        elif kind is ast.BoolOp:
            values = node.values  # type: ignore[attr-defined]
            self._visit(values[0], conditional)
            for value in values[1:]:
                self._visit(value, True)
            return
        elif kind is ast.IfExp:
            self._visit(node.test, conditional)  # type: ignore[attr-defined]
            self._visit(node.body, True)  # type: ignore[attr-defined]
            self._visit(node.orelse, True)  # type: ignore[attr-defined]
            return
        elif kind is ast.Assert:
            test, message = node.test, node.msg  # type: ignore[attr-defined]
            if message is None and type(test) is ast.Compare and len(test.ops) == 1 and type(test.ops[0]) in _SYMBOLS:
                self.asserts.append(node)  # type: ignore[arg-type]
            self._visit(test, conditional)
            if message is not None:
                self._visit(message, True)
            return
        elif kind in _SCOPES:
            conditional = True
        elif isinstance(node, _IMPURE_EXPRESSIONS):
            self.pure = False
        for field in node._fields:
            value = getattr(node, field, None)
            if type(value) is list:
                for item in value:
                    if isinstance(item, ast.AST):
                        self._visit(item, conditional)
            elif isinstance(value, ast.AST):
                self._visit(value, conditional)

    def _literal_call(self, node: ast.Call, conditional: bool) -> bool:
        """Records a call by name; True when its arguments are all literals (nothing inside to visit)."""
        function = node.func
        if type(function) is not ast.Name or not all(keyword.arg is not None for keyword in node.keywords):
            return False
        try:
            arguments = tuple(ast.literal_eval(argument) for argument in node.args)
            keywords = {keyword.arg: ast.literal_eval(keyword.value) for keyword in node.keywords}
        except _LITERAL_FAILURES:
            self.other.add(function.id)
            return False
        self.names.add(function.id)
        if function.id in _IMPURE_NAMES or function.id.startswith("__"):
            self.pure = False
        self.literal.append((function.id, arguments, keywords, not conditional))  # type: ignore[misc]
        return True


def _pure_statements(tree: ast.Module) -> bool:
    for statement in tree.body:
        if not isinstance(statement, _PURE_STATEMENTS):
            return False
        if isinstance(statement, ast.Assign) and not all(isinstance(target, ast.Name) for target in statement.targets):
            return False
        if isinstance(statement, ast.AugAssign) and not isinstance(statement.target, ast.Name):
            return False
        if isinstance(statement, ast.Import) and not all(alias.name in PURE_MODULES for alias in statement.names):
            return False
        if isinstance(statement, ast.ImportFrom) and (statement.level or statement.module not in PURE_MODULES):
            return False
    return True


def describing_source(source: str, asserts: list) -> str | None:
    """``source`` with each of ``asserts`` (``assert a == b``) rewritten on its own lines as
    ``values = (a, b); assert values[0] == values[1], describe(values, "==")``: the same evaluation in the same
    order, and a failure that says what was compared (``4 == 5``). A rewrite of the text, not of the tree:
    CPython compiles source text faster than a tree it must first validate. None when there is nothing to do."""
    if not asserts:
        return None
    data = source.encode("utf-8")
    starts = [0]
    position = data.find(b"\n")
    while position >= 0:
        starts.append(position + 1)
        position = data.find(b"\n", position + 1)

    def segment(node) -> bytes:
        return data[starts[node.lineno - 1] + node.col_offset : starts[node.end_lineno - 1] + node.end_col_offset]

    pieces = []
    cursor = 0
    for node in asserts:  # in source order: the walk visits statements in order, and asserts do not nest
        begin = starts[node.lineno - 1] + node.col_offset
        test = node.test
        symbol = _SYMBOLS[type(test.ops[0])]
        pieces.append(data[cursor:begin])
        pieces.append(
            b"%s = (%s, %s); assert %s[0] %s %s[1], %s(%s, '%s')" % (
                _VALUES.encode(), segment(test.left), segment(test.comparators[0]), _VALUES.encode(),
                symbol.encode(), _VALUES.encode(), DESCRIBE.encode(), _VALUES.encode(), symbol.encode(),
            )
        )  # fmt: skip
        cursor = starts[node.end_lineno - 1] + node.end_col_offset
    pieces.append(data[cursor:])
    return b"".join(pieces).decode("utf-8")


class CompiledTests:
    """Tests compiled once in the judge (the same tests recur across a question's samples)."""

    def __init__(self):
        self.cache: dict[str, tuple] = {}

    def get(self, source: str) -> tuple:
        """('code', code object, referenced names, pure, (literal calls, other called names)) or ('error',
        exception type, message)."""
        compiled = self.cache.get(source)
        if compiled is None:
            compiled = self._compile(source)
            if len(self.cache) >= CACHE_ENTRIES:
                del self.cache[next(iter(self.cache))]
            self.cache[source] = compiled
        return compiled

    @staticmethod
    def _compile(source: str) -> tuple:
        try:
            tree = ast.parse(source, "<test>", "exec")
            analysis = _Analysis(tree)
            code = None
            try:
                rewritten = describing_source(source, analysis.asserts)
            except UnicodeError:  # lone surrogates in a string literal
                rewritten = None
            if rewritten is not None:
                try:
                    code = compile(rewritten, "<test>", "exec")
                except SyntaxError:
                    code = None  # an operand that does not stand alone in a tuple: the test as written
            if code is None:
                code = compile(tree, "<test>", "exec")
            calls = (tuple(analysis.literal), frozenset(analysis.other)) if analysis.pure else ((), frozenset())
            return ("code", code, frozenset(analysis.names), analysis.pure, calls)
        except Exception as error:  # noqa: BLE001 - a test that does not compile is that test's error
            return ("error", type(error).__name__, truncate(error))


def raise_timeout(signal_number, frame):
    """The judge's CPU timer during a test: a Python-level handler (the judge is trusted code)."""
    raise TestTimeout()


def run_test(compiled: tuple, namespace: TestNamespace, session: Session, cpu_limit: float, wall_seconds: float):
    """One test's verdict. Its CPU time is the judge's and the runner's, both measured by the judge."""
    if compiled[0] == "error":
        return verdict("error", compiled[1], compiled[2])
    _, code, names, _, _ = compiled
    namespace.begin_test(names)
    session.begin_step(cpu_limit, wall_seconds)
    outcome: dict | None = None
    timed_out = False
    signal.setitimer(signal.ITIMER_PROF, cpu_limit, TIMER_GRANULARITY)
    try:
        try:
            exec(code, namespace)
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0, 0)
    except RunnerLost:
        raise
    except TestTimeout:
        timed_out = True
    except BaseException as error:  # noqa: BLE001 - a test ended by any exception: failed, or an error
        outcome = from_exception(error, 0.0)
    judge_used, runner_used = session.step_cpu()
    used = judge_used + runner_used
    if timed_out or (
        used >= cpu_limit - TIMER_GRANULARITY and (outcome is None or outcome["status"] in ("failed", "error"))
    ):
        return timeout(cpu_limit, used)
    if outcome is None:
        outcome = verdict("passed")
    outcome["cpu_time"] = used
    return outcome


def _keep_only(descriptors) -> None:
    """The judge child keeps the runner's channel and pidfd and its record pipe; its stdio is /dev/null (a test
    that prints must not write into the host's frames), and the zygote's other descriptors are closed."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(devnull, target)
    low = 3
    for fd in sorted(descriptors) + [1 << 20]:
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1


def judge_child(
    job: dict, plan: dict, steps: list, first: int, session: Session, names: list, importable, records, keep
):
    """The judge child's whole life: run tests ``first..`` and report each; never returns."""
    status = 0
    try:
        _keep_only(keep)
        name_process(b"acecoder-tests")
        os.setpgid(0, 0)
        signal.signal(signal.SIGPROF, raise_timeout)
        memory = plan.get("judge_memory_bytes")
        if memory:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        random.seed(job.get("seed", 0))
        namespace = TestNamespace(session, names, importable, session.program_module)
        namespace[DESCRIBE] = describe
        fail_fast = job.get("fail_fast", False)
        skip = set(plan.get("skip", ()))
        for index in range(first, len(steps)):
            if index in skip:
                continue
            try:
                outcome = run_test(steps[index], namespace, session, plan["test_cpu"][index], plan["test_wall"][index])
            except RunnerLost as lost:
                _write(records, {"index": index, "lost": lost.reason})
                break
            if session.outstanding:  # the test ended inside a call: the runner's state is unknown
                session.runner.kill("aborted")
                _write(records, {"index": index, "verdict": outcome, "lost": "aborted"})
                break
            _write(records, {"index": index, "verdict": outcome})
            if fail_fast and outcome["status"] != "passed":
                break
    except BaseException as error:  # noqa: BLE001 - report, then end: the zygote decides
        status = 1
        try:
            _write(records, {"index": -1, "judge_error": repr(error)[:2000]})
        except BaseException:  # noqa: BLE001
            pass
    finally:
        os._exit(status)


def _write(fd: int, record: dict) -> None:
    data = (json.dumps(record) + "\n").encode()
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
