"""What a test sees of the program: proxies in the judge for the names the program defines.

Why proxies: the test's own statements (asserts, loops, helpers, ``check(candidate)``, ``numpy.allclose``) run in
the judge, which never runs program code. A name the program defines becomes a ``ProgramObject`` whose calls,
attribute reads and item reads go to the runner and come back as plain values (or as more program objects, held by
handle). A program object never forwards a comparison, a truth test, a hash, a length, ``in`` or arithmetic:
each would hand the program the test's expected value and let it choose the verdict, so each fails the test with
``NotPlainValue`` instead. The judge decides only on values it decoded itself.

The test namespace (``TestNamespace``) resolves names lazily: what the test binds itself comes first, then the
program's names, then the builtins. Builtins and module names (``math``, ``np``...) are *protected*: a program
that defines ``all``, ``abs``, ``range`` or a fake ``math`` does not change what a test that uses them means.
A protected name the program defines is used only by a test that references no other name of the program, which
is how a task whose function is itself named ``sum`` (MBPP 126) is tested on it.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import sys

from acecoder.harness import wire

BUILTIN_NAMES = frozenset(name for name in dir(builtins) if not name.startswith("__"))
# Classes a test may get as the judge's own when the program binds them: the types of the values the wire carries.
VALUE_TYPES = frozenset({
    ("builtins", name) for name in (
        "bool", "int", "float", "complex", "str", "bytes", "bytearray", "list", "tuple", "dict", "set", "frozenset",
        "range",
    )
} | {
    ("collections", "Counter"), ("collections", "OrderedDict"), ("collections", "defaultdict"),
    ("collections", "deque"), ("datetime", "date"), ("datetime", "datetime"), ("datetime", "time"),
    ("datetime", "timedelta"), ("datetime", "timezone"), ("decimal", "Decimal"), ("fractions", "Fraction"),
    ("numpy", "ndarray"),
})  # fmt: skip
# The questions that tests ask of what they expect to be a str or a set, with the answer as the argument
# (``title_case(x).startswith('Hello')``, ``f(x).issubset({1, 2})``) or none (``f(x).isdigit()``): asked of a
# program object, its own method would choose the verdict, so they are refused. Methods of other names are the
# program's to answer (``Solution().twoSum(...)``, ``stack.pop()``), as a function's return value is.
PLAIN_PREDICATES = frozenset(
    {name for name in dir(str) if name.startswith("is")}
    | {"startswith", "endswith", "issubset", "issuperset", "isdisjoint", "equals", "array_equal", "allclose"}
)
# Common aliases of modules that tests use without importing them (relying on the program's import).
MODULE_ALIASES = {"np": "numpy", "pd": "pandas", "nx": "networkx", "sp": "scipy"}


class NotPlainValue(Exception):
    """The test compared, tested the truth of, hashed, measured or computed with a program object, so the
    program would have decided the outcome: the test fails."""


class NotPlainLength(NotPlainValue, TypeError):
    """``len()`` of a program object. Also a TypeError, so that ``list(handle)`` (which asks for a length hint
    first, and ignores a TypeError) still iterates."""


class TestTimeout(BaseException):
    """The test used up its CPU time (the judge's and the runner's together)."""


class InvalidAnswer(Exception):
    """The runner's answer was not a valid encoding of plain data."""


def _refuse(operation: str):
    def refused(self, *arguments):
        raise NotPlainValue(
            "%s on a program object (%s): only plain values are compared and computed with" % (operation, self._label)
        )

    refused.__name__ = operation
    return refused


class ProgramObject:
    """A program object held by the judge: a global of the program (by name) or a value it returned (by handle)."""

    __slots__ = ("_session", "_reference", "_label", "_flags", "__weakref__")

    def __init__(self, session, reference: bytes, label: str, flags: int = 0):
        object.__setattr__(self, "_session", session)
        object.__setattr__(self, "_reference", reference)
        object.__setattr__(self, "_label", label)
        object.__setattr__(self, "_flags", flags)

    def __call__(self, *arguments, **keywords):
        return self._session.call(self, arguments, keywords)

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)  # probes such as __array__ or __deepcopy__ are not the program's business
        if name in PLAIN_PREDICATES:
            raise NotPlainValue(
                "%s() on a program object (%s): the test asks a plain value's question (a str's or a set's), and a "
                "program object would answer it with the program's code" % (name, self._label)
            )
        return self._session.getattr(self, name)

    def __setattr__(self, name: str, value) -> None:
        self._session.setattr(self, name, value)

    def __getitem__(self, key):
        return self._session.getitem(self, key)

    def __setitem__(self, key, value) -> None:
        self._session.setitem(self, key, value)

    def __iter__(self):
        return ProgramIterator(self._session, self._session.iterate(self))

    def __next__(self):
        items, exhausted = self._session.next_items(self, 1)
        if items:
            return items[0]
        raise StopIteration

    # Conversions answer with a value the program chose for its own object, as returning that value would.
    def __str__(self) -> str:
        return self._session.convert("str", self)

    def __format__(self, specification: str) -> str:
        return self._session.convert("format", self, specification)

    def __int__(self) -> int:
        return self._session.convert("int", self)

    def __float__(self) -> float:
        return self._session.convert("float", self)

    def __index__(self) -> int:
        return self._session.convert("int", self)

    def __complex__(self) -> complex:
        return self._session.convert("complex", self)

    def __round__(self, digits=None):
        return self._session.convert("round", self) if digits is None else self._session.convert("round", self, digits)

    def __repr__(self) -> str:
        return "<program object %s>" % self._label

    def __reduce__(self):
        raise TypeError("a program object cannot be pickled")

    __eq__ = _refuse("==")
    __ne__ = _refuse("!=")
    __lt__ = _refuse("<")
    __le__ = _refuse("<=")
    __gt__ = _refuse(">")
    __ge__ = _refuse(">=")

    def __bool__(self) -> bool:
        if self._flags & wire.TRUTH_KNOWN:
            return bool(self._flags & wire.TRUTH_VALUE)
        raise NotPlainValue("a truth test on a program object (%s): only plain values are tested" % self._label)

    def __len__(self) -> int:
        raise NotPlainLength("len() on a program object (%s): only plain values are measured" % self._label)

    __hash__ = _refuse("hash()")  # type: ignore[assignment]
    __contains__ = _refuse("'in'")
    for _name in (
        "add", "sub", "mul", "truediv", "floordiv", "mod", "divmod", "pow", "matmul", "lshift", "rshift", "and",
        "or", "xor",
    ):  # fmt: skip
        locals()["__%s__" % _name] = _refuse("arithmetic (%s)" % _name)
        locals()["__r%s__" % _name] = _refuse("arithmetic (%s)" % _name)
    del _name
    __neg__ = _refuse("arithmetic (neg)")
    __pos__ = _refuse("arithmetic (pos)")
    __abs__ = _refuse("abs()")
    __invert__ = _refuse("arithmetic (invert)")


class ProgramClass(ProgramObject):
    """A class the program defines: calling it makes an instance (a program object); ``isinstance`` asks the
    runner, which answers about its own objects only."""

    __slots__ = ()

    def __instancecheck__(self, instance) -> bool:
        if not isinstance(instance, ProgramObject):
            return False
        return self._session.isinstance(instance, self)

    def __subclasscheck__(self, subclass) -> bool:
        return False

    def __mro_entries__(self, bases):
        raise TypeError("a test cannot subclass the program's class %s" % self._label)


class ProgramIterator:
    """Iteration over a program object: items arrive in growing batches (one round trip per batch)."""

    __slots__ = ("_session", "_iterator", "_pending", "_batch", "_exhausted")

    def __init__(self, session, iterator):
        self._session = session
        self._iterator = iterator
        self._pending: list = []
        self._batch = 1
        self._exhausted = False

    def __iter__(self):
        return self

    def __next__(self):
        if not self._pending:
            if self._exhausted:
                raise StopIteration
            items, self._exhausted = self._session.next_items(self._iterator, self._batch)
            self._batch = min(self._batch * 2, 256)
            self._pending = list(reversed(items))
            if not self._pending:
                raise StopIteration
        return self._pending.pop()


def referenced_names(tree: ast.AST) -> frozenset[str]:
    """Every name a test loads or binds, in any scope (what the protection rule needs to know)."""
    return frozenset(node.id for node in ast.walk(tree) if isinstance(node, ast.Name))


def _known_module_names(importable) -> frozenset[str]:
    return frozenset(sys.stdlib_module_names) | frozenset(importable) | frozenset(MODULE_ALIASES)


class TestNamespace(dict):
    """The globals of a job's tests: the test's own names, then the program's (as proxies), then the builtins."""

    __test__ = False  # not a pytest class

    def __init__(self, session, names_table: list, importable=(), program_module: str = "__acecoder__"):
        super().__init__()
        self["__builtins__"] = builtins
        self["__name__"] = "__acecoder_test__"
        self.session = session
        self.program = {name: (kind, detail) for name, kind, detail in names_table}
        self.importable = frozenset(importable)
        self.modules = _known_module_names(self.importable) - BUILTIN_NAMES
        self.protected = BUILTIN_NAMES | self.modules
        self.ordinary = frozenset(name for name in self.program if name not in self.protected)
        self.program_module = program_module
        self.shadowing = False
        for kind, detail in self.program.values():
            if kind == "class" and detail[2] is not None:
                session.define_exception(detail[1], detail[2], detail[0])

    def begin_test(self, names: frozenset[str]) -> None:
        """The protection rule for the next test, given the names it references."""
        self.shadowing = not (names & self.ordinary)

    def __missing__(self, name: str):
        entry = self.program.get(name)
        if entry is None:
            raise KeyError(name)
        if name in self.modules:
            # A module name is never the program's: a test that uses ``np`` or ``math`` without importing it gets the
            # judge's module (or a NameError), never a stand-in the program bound to that name.
            module = self.module(MODULE_ALIASES.get(name, name))
            if module is None:
                raise KeyError(name)
            return module
        if name in self.protected and not self.shadowing:
            raise KeyError(name)  # the builtin
        kind, detail = entry
        if kind == "value":
            # A number or string is read afresh each time (calls may change it); a container is read once and then
            # belongs to the tests, so that what one test does to it the next one sees.
            value = self.session.global_value(name)
            if type(value) in (list, dict, set, bytearray) and name not in self.protected:
                dict.__setitem__(self, name, value)
            return value
        value = self.resolve(name, kind, detail)
        if name not in self.protected:
            dict.__setitem__(self, name, value)
        return value

    def resolve(self, name: str, kind: str, detail):
        reference = self.session.global_reference(name)
        if kind == "module":
            module = self.module(detail) if isinstance(detail, str) else None
            return module if module is not None else ProgramObject(self.session, reference, name)
        if kind == "class":
            module_name, qualname, exception_base = detail
            if exception_base is not None and module_name == self.program_module:
                return self.session.exception_class(qualname)
            real = self.library_class(module_name, qualname)
            if real is not None:
                return real
            return ProgramClass(self.session, reference, name)
        return ProgramObject(self.session, reference, name)

    def allowed_module(self, name: str) -> bool:
        top = name.partition(".")[0]
        return top in sys.stdlib_module_names or top in self.importable

    def module(self, name: str):
        """The judge's own copy of a module the runner may import, or None."""
        if not self.allowed_module(name):
            return None
        try:
            return importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a module the judge cannot import is simply not there
            return None

    def library_class(self, module_name: str, qualname: str):
        """The judge's own class ``module_name.qualname`` when the program binds one (``from collections import
        Counter``), so that ``isinstance`` and ``except`` work in tests; only exception classes and the value types
        the wire carries. Anything else stays the program's (a proxy): an instance the judge made of an arbitrary
        library class could be one whose ``__eq__`` always agrees (``unittest.mock.ANY``'s)."""
        if type(module_name) is not str or type(qualname) is not str or module_name == self.program_module:
            return None
        module = sys.modules.get(module_name) or self.module(module_name)
        value = module
        for part in qualname.split("."):
            value = getattr(value, part, None)
        if not isinstance(value, type) or getattr(value, "__module__", None) not in (module_name, "builtins"):
            return None
        if issubclass(value, BaseException) or (value.__module__, value.__qualname__) in VALUE_TYPES:
            return value
        return None
