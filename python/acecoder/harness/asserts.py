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
import time

from acecoder.harness.calls import short
from acecoder.harness.channel import RunnerLost
from acecoder.harness.proxies import TestNamespace, TestTimeout, referenced_names
from acecoder.harness.session import Session
from acecoder.harness.verdicts import TIMER_GRANULARITY, from_exception, timeout, truncate, verdict

CACHE_ENTRIES = 256


_SYMBOLS = {
    ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Is: "is",
    ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in",
}  # fmt: skip
DESCRIBE = "__acecoder_describe"
_VALUES = "__acecoder_compared"


class _DescribeFailures(ast.NodeTransformer):
    """``assert a == b`` becomes ``values = (a, b); assert values[0] == values[1], describe(values, "==")``: the
    same evaluation, in the same order, and a failure that says what was compared (``4 == 5``)."""

    def visit_Assert(self, node: ast.Assert):
        test = node.test
        if node.msg is not None or not isinstance(test, ast.Compare) or len(test.ops) != 1:
            return node

        def located(new):  # every node made here takes the assert's position (cheaper than fix_missing_locations)
            return ast.copy_location(new, node)

        values = located(ast.Name(_VALUES, ast.Load()))
        pair = located(ast.Tuple([test.left, test.comparators[0]], ast.Load()))
        assign = located(ast.Assign([located(ast.Name(_VALUES, ast.Store()))], pair))
        first = located(ast.Subscript(values, located(ast.Constant(0)), ast.Load()))
        second = located(ast.Subscript(values, located(ast.Constant(1)), ast.Load()))
        symbol = located(ast.Constant(_SYMBOLS[type(test.ops[0])]))
        message = located(ast.Call(located(ast.Name(DESCRIBE, ast.Load())), [values, symbol], []))
        rewritten = located(ast.Assert(located(ast.Compare(first, test.ops, [second])), message))
        return [assign, rewritten]

    def visit_FunctionDef(self, node):
        self.generic_visit(node)
        return node


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


def is_pure(tree: ast.Module) -> bool:
    """Whether a test can run in the long-lived judge: asserts, expressions and assignments to names, over values
    and functions that keep no state (see ``_PURE_STATEMENTS``); the program's own names are proxies either way."""
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
    for node in ast.walk(tree):
        if isinstance(node, _IMPURE_EXPRESSIONS):
            return False
        if isinstance(node, ast.Attribute) and (node.attr.startswith("__") or node.attr in _STATEFUL_CALLS):
            return False
        if isinstance(node, ast.Name):
            if node.id in _IMPURE_BUILTINS or node.id.startswith("__"):
                return False
            if node.id in sys.stdlib_module_names and node.id not in PURE_MODULES:
                return False
    return True


class _Calls(ast.NodeVisitor):
    """The calls of a test by name: those with literal arguments (and whether they always run), and the names of
    the others. A test whose only call into the program has literal arguments and always runs can have that call
    made ahead, batched with its neighbours' (``judge.py``)."""

    def __init__(self):
        self.literal: list[tuple[str, tuple, dict, bool]] = []
        self.other: set[str] = set()
        self.conditional = 0

    def _conditionally(self, nodes) -> None:
        self.conditional += 1
        for node in nodes:
            self.visit(node)
        self.conditional -= 1

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        self.visit(node.values[0])
        self._conditionally(node.values[1:])

    def visit_IfExp(self, node: ast.IfExp) -> None:
        self.visit(node.test)
        self._conditionally([node.body, node.orelse])

    def visit_Assert(self, node: ast.Assert) -> None:
        self.visit(node.test)
        self._conditionally([node.msg] if node.msg is not None else [])

    def _scope(self, node) -> None:  # comprehensions and lambdas run their body any number of times
        self._conditionally(list(ast.iter_child_nodes(node)))

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_Lambda = _scope

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and all(keyword.arg is not None for keyword in node.keywords):
            try:
                arguments = tuple(ast.literal_eval(argument) for argument in node.args)
                keywords = {keyword.arg: ast.literal_eval(keyword.value) for keyword in node.keywords}
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                self.other.add(node.func.id)
            else:
                self.literal.append((node.func.id, arguments, keywords, self.conditional == 0))
                return
        self.generic_visit(node)


def calls_of(tree: ast.Module) -> tuple[tuple, frozenset]:
    finder = _Calls()
    finder.visit(tree)
    return tuple(finder.literal), frozenset(finder.other)


class CompiledTests:
    """Tests compiled once in the judge (the same tests recur across a question's samples)."""

    def __init__(self):
        self.cache: dict[str, tuple] = {}

    def get(self, source: str) -> tuple:
        """('code', code object, referenced names, pure, calls) or ('error', exception type, message)."""
        compiled = self.cache.get(source)
        if compiled is None:
            try:
                tree = ast.parse(source, "<test>", "exec")
                names = referenced_names(tree)
                pure = is_pure(tree)
                calls = calls_of(tree) if pure else ((), frozenset())
                _DescribeFailures().visit(tree)
                compiled = ("code", compile(tree, "<test>", "exec"), names, pure, calls)
            except Exception as error:  # noqa: BLE001 - a test that does not compile is that test's error
                compiled = ("error", type(error).__name__, truncate(error))
            if len(self.cache) >= CACHE_ENTRIES:
                del self.cache[next(iter(self.cache))]
            self.cache[source] = compiled
        return compiled


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


def judge_child(job: dict, plan: dict, steps: list, first: int, session: Session, names: list, importable, records, keep):
    """The judge child's whole life: run tests ``first..`` and report each; never returns."""
    status = 0
    try:
        _keep_only(keep)
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


