"""What a synthesized test may reach: a check on the syntax tree of one ``assert``, by what it can get hold of.

A test runs inside the sandbox, so safety of the machine is not the point here: the sandbox stops a test's effect,
but a kept test stays in the dataset, and a test whose verdict depends on the file system, the network, other
processes, a random draw or the clock does not measure the program. AceCoder turns pass rates into preference
pairs, so such a test is noise at best and, shipped in a dataset, an attack on whoever runs it without a sandbox.

Checking spelling is not enough: ``getattr(getattr(f, '__glo' + 'bals__')['__builti' + 'ns__'], 'ev' + 'al')``
names no module at all. So the check is about reach. A test that stays within the program's own functions and
plain values needs none of the roads out of it, and each is refused:

- names of modules and builtins that touch the world (files, network, processes, randomness, the clock), and of
  those that run code from strings or hand out namespaces (``eval``, ``exec``, ``compile``, ``__import__``,
  ``importlib``, ``vars``, ``globals``, ``breakpoint``...);
- every dunder name and dunder attribute except a few plain data ones (``__name__``, ``__doc__``...): ``__class__``,
  ``__globals__``, ``__subclasses__`` and friends are how a test climbs from ``()`` to ``os``;
- the attributes of frames, generators and code objects (``gi_frame``, ``f_globals``...), which do the same
  without dunders;
- ``getattr``, ``hasattr``, ``setattr`` and ``delattr`` unless called directly with a constant attribute name that
  would itself pass (a computed name, ``'sys' + 'tem'``, cannot be checked; ``getattr`` passed around as a value
  can be called with anything);
- any string constant that is a dunder name (``'__globals__'``) or walks to one in a format field
  (``'{0.__globals__}'.format(f)``): a subscript, ``str.format`` or ``operator.attrgetter`` turns such a string
  into a reach; and ``format``/``format_map`` called on anything but a string constant (``('{0.__glob' +
  'als__}').format(f)``), or ``string.Formatter``;
- the interactive helpers (``input``, ``help``, ``license``...), which wait for a person at the terminal.

What it cannot see: names the program under test brought into its own namespace under another name
(``from os import system as run``), since the check sees the test alone. The sandbox covers that.
"""

from __future__ import annotations

import ast
import re

__all__ = ["UNSAFE_ATTRIBUTES", "UNSAFE_NAMES", "unsafe_reason"]

# Names a test may not mention, by why. "files" covers ways to a file (``io.open``, ``codecs.open``); "code"
# covers everything that runs code from data or reaches another namespace (``pickle.loads`` runs code, ``gc``
# hands out every live object, ``inspect`` every frame).
UNSAFE_NAME_GROUPS: dict[str, frozenset[str]] = {
    "files": frozenset(
        "open os posix nt pathlib Path shutil tempfile glob fileinput io codecs mmap shelve dbm sqlite3".split()
    ),
    "network": frozenset("socket ssl requests urllib http httpx ftplib smtplib webbrowser".split()),
    "processes": frozenset(
        "sys subprocess multiprocessing threading _thread concurrent asyncio signal pty resource platform atexit "
        "exit quit _posixsubprocess".split()
    ),
    # The interactive helpers wait for a person at the terminal (``license()`` pages and reads stdin).
    "the terminal": frozenset("input help license credits copyright breakpoint".split()),
    "randomness": frozenset("random secrets uuid".split()),
    "the clock": frozenset("time".split()),
    "code": frozenset(
        "exec eval compile builtins importlib ctypes globals locals vars gc inspect marshal pickle runpy code "
        "codeop pdb zipimport site sysconfig Formatter".split()
    ),
}
UNSAFE_NAMES = frozenset().union(*UNSAFE_NAME_GROUPS.values())
_NAME_GROUP = {name: group for group, names in UNSAFE_NAME_GROUPS.items() for name in names}

# Attributes refused whatever object they hang from: the wall clock (``datetime.now()``, ``date.today()``), numpy's
# ``np.random``; frames, generators and code objects, which lead to any namespace without a dunder; and the
# process-level calls of ``os`` and ``sys`` under an alias the check cannot see.
UNSAFE_ATTRIBUTES = frozenset(
    "now today utcnow random "
    "gi_frame gi_code cr_frame cr_code ag_frame ag_code f_globals f_locals f_builtins f_back f_code tb_frame tb_next "
    "func_globals attrgetter methodcaller getattr_static Formatter "
    "system popen spawnl spawnv execv execve execl fork forkpty kill killpg environ modules unlink rmtree".split()
)

# Dunder attributes that are plain data, reachable from any function and useless as a road out.
SAFE_DUNDER_ATTRIBUTES = frozenset({"__name__", "__qualname__", "__doc__", "__module__"})

ATTRIBUTE_FUNCTIONS = frozenset({"getattr", "hasattr", "setattr", "delattr"})
FORMAT_METHODS = frozenset({"format", "format_map"})

# A string that is a dunder name, or a format field that walks to one (``'{0.__globals__}'``, ``'{0[__builtins__]}'``);
# ``'a__b__c'`` in an expected output is neither.
_DUNDER_STRING = re.compile(r"^\s*__\w+__\s*$|[.\[]__\w+__")


def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def _is_string_constant(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _attribute_reason(name: str) -> str | None:
    """Why reaching attribute ``name`` of an object is refused, or None."""
    if _is_dunder(name) and name not in SAFE_DUNDER_ATTRIBUTES:
        return f"reaches attribute {name} (introspection)"
    if name in UNSAFE_ATTRIBUTES:
        return f"reaches attribute {name}"
    return None


def unsafe_reason(tree: ast.AST) -> str | None:
    """Why the test whose syntax tree is ``tree`` is refused, or None when it reaches nothing it should not."""
    direct_calls: set[int] = set()  # getattr & co. called directly, their name argument checked
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ATTRIBUTE_FUNCTIONS:
            reason = _attribute_call_reason(node)
            if reason is not None:
                return reason
            direct_calls.add(id(node.func))
        if isinstance(node, ast.Attribute) and node.attr in FORMAT_METHODS and not _is_string_constant(node.value):
            # A format string walks attributes and items (``{0.__globals__}``): one built at run time cannot be
            # read here.
            return f"{node.attr} on a string built at run time"
    for node in ast.walk(tree):
        reason = None
        if isinstance(node, ast.Name):
            reason = _name_reason(node, direct_calls)
        elif isinstance(node, ast.Attribute):
            reason = _attribute_reason(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _DUNDER_STRING.search(node.value):
            reason = f"string {node.value[:40]!r} names a dunder"
        if reason is not None:
            return reason
    return None


def _name_reason(node: ast.Name, direct_calls: set[int]) -> str | None:
    name = node.id
    if name in _NAME_GROUP:
        return f"names {name} ({_NAME_GROUP[name]})"
    if _is_dunder(name):
        return f"names {name} (introspection)"
    if name in ATTRIBUTE_FUNCTIONS and id(node) not in direct_calls:
        return f"uses {name} as a value (it could be called with any attribute name)"
    return None


def _attribute_call_reason(call: ast.Call) -> str | None:
    """``getattr(obj, 'name')`` passes when ``obj.name`` would; any other attribute name cannot be checked."""
    function = call.func.id  # type: ignore[attr-defined]
    if len(call.args) < 2 or any(isinstance(argument, ast.Starred) for argument in call.args[:2]) or call.keywords:
        return f"{function} with arguments the check cannot read"
    name = call.args[1]
    if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
        return f"{function} with a computed attribute name"
    reason = _attribute_reason(name.value)
    if reason is None and name.value in _NAME_GROUP:
        reason = f"reaches attribute {name.value} ({_NAME_GROUP[name.value]})"
    return f"{function} {reason}" if reason is not None else None
