"""What each process of a worker may read and write (its Landlock rules), and the runner's import path.

Why the runner's view is drawn this narrowly: answers live on disk. The packaged HumanEval+/MBPP+ files, the
caller's working directory (a ``.env`` with an API key), HOME and the caller's ``sys.path`` must all be out of a
program's reach, while the standard library and the third-party packages the user declares importable (numpy and
the like) stay readable. Landlock cannot carve a subtree out of an allowed tree, so the rules name every entry of
the interpreter's library directory except ``site-packages``, and, in ``site-packages``, only the files of the
declared packages and their dependencies (listing the directory stays allowed: names are no secret).

Rules are (path, kind) pairs; kind is ``read`` (read and execute), ``list`` (list the directory, read nothing in
it) or ``write`` (everything). ``rust/src/sandbox/landlock.rs`` turns them into access rights.
"""

from __future__ import annotations

import os
import re
import sys
import sysconfig
from collections.abc import Iterable, Sequence

# What CPython and the common native libraries read at run time besides the interpreter's own trees. Nothing else
# of /proc: no process's entries, not even a runner's own (its environment and maps are nobody's business).
SYSTEM_FILES = (
    "/etc/ld.so.cache", "/etc/localtime", "/usr/share/zoneinfo", "/dev/zero", "/dev/urandom", "/dev/random",
    "/proc/cpuinfo", "/proc/meminfo", "/sys/devices/system/cpu",
)  # fmt: skip
# Trees of shared libraries; their Python directories (Debian's dist-packages...) are left out.
LIBRARY_TREES = ("/usr/lib", "/usr/lib64", "/usr/local/lib")
# The judge (trusted code) reads what the old single-process worker read.
JUDGE_SYSTEM_PATHS = (
    "/usr", "/lib", "/lib64", "/bin", "/etc/ld.so.cache", "/etc/localtime", "/dev/null", "/dev/zero",
    "/dev/urandom", "/dev/random", "/proc/cpuinfo", "/proc/meminfo", "/sys/devices/system/cpu",
)  # fmt: skip
# Third-party packages programs may import by default, where installed (AceCoder-style solutions use them).
DEFAULT_IMPORTABLE = (
    "numpy", "scipy", "pandas", "sympy", "networkx", "sortedcontainers", "more_itertools", "regex", "dateutil",
    "pytz",
)  # fmt: skip
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _entries_except(directory: str, excluded) -> list[str]:
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    return [os.path.join(directory, name) for name in names if not excluded(name)]


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _distributions_of(importable: Iterable[str]) -> list:
    """The installed distributions that provide ``importable`` (top-level names), with their dependencies."""
    import importlib.metadata as metadata

    providers = metadata.packages_distributions()
    by_name: dict[str, metadata.Distribution] = {}
    for distribution in metadata.distributions():
        name = distribution.metadata["Name"]
        if name:
            by_name.setdefault(_normalized(name), distribution)
    pending = [name for top in importable for name in providers.get(top, [])]
    found: dict[str, metadata.Distribution] = {}
    while pending:
        key = _normalized(pending.pop())
        candidate = by_name.get(key)
        if candidate is None or key in found:
            continue
        found[key] = candidate
        for requirement in candidate.requires or []:
            if "extra ==" in requirement or "extra==" in requirement:
                continue
            match = _REQUIREMENT_NAME.match(requirement)
            if match:
                pending.append(match.group(1))
    return list(found.values())


def installed(names: Iterable[str]) -> list[str]:
    """The names among ``names`` that this interpreter can import (checked without importing them)."""
    import importlib.util

    available = []
    for name in names:
        try:
            if importlib.util.find_spec(name) is not None:
                available.append(name)
        except (ImportError, ValueError):
            continue
    return available


def runner_files(importable: Sequence[str], extra_read: Sequence[str]) -> dict:
    """The runner's read rules and ``sys.path`` (the same for every worker of an engine: computed once)."""
    rules: list[tuple[str, str]] = []
    interpreter = os.path.realpath(sys.executable)
    rules.append((interpreter, "read"))
    stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
    rules.append((stdlib, "list"))
    rules += [
        (path, "read") for path in _entries_except(stdlib, lambda name: name in ("site-packages", "dist-packages"))
    ]
    sys_path = []
    version = "%d%d" % sys.version_info[:2]
    archive = os.path.join(sys.base_prefix, "lib", "python%s.zip" % version)
    if os.path.exists(archive):
        rules.append((archive, "read"))
        sys_path.append(archive)
    sys_path += [stdlib, os.path.join(stdlib, "lib-dynload")]
    library_directory = sysconfig.get_config_var("LIBDIR")
    library_name = sysconfig.get_config_var("INSTSONAME")
    if library_directory and library_name and os.path.exists(os.path.join(library_directory, library_name)):
        rules.append((os.path.realpath(os.path.join(library_directory, library_name)), "read"))
    for tree in dict.fromkeys(os.path.realpath(path) for path in LIBRARY_TREES if os.path.isdir(path)):
        rules.append((tree, "list"))
        rules += [(path, "read") for path in _entries_except(tree, lambda name: name.startswith("python"))]
    rules += [(path, "read") for path in SYSTEM_FILES if os.path.exists(path)]
    for distribution in _distributions_of(importable):
        location = os.path.realpath(str(distribution.locate_file("")))
        tops = {str(path).split("/")[0] for path in distribution.files or []}
        tops.discard("..")
        if location not in sys_path:
            sys_path.append(location)
            rules.append((location, "list"))
        rules += [
            (os.path.join(location, top), "read") for top in sorted(tops) if os.path.exists(os.path.join(location, top))
        ]
    rules += [(os.path.realpath(path), "read") for path in extra_read if os.path.exists(path)]
    return {"rules": rules, "sys_path": sys_path}


def runner_plan(files: dict, scratch: str) -> dict:
    """One worker's runner rules (``files`` plus its scratch tree), its ``sys.path``, and the coarse trees each
    runner child re-allows in its own layer."""
    rules = [(path, kind) for path, kind in files["rules"]] + [(scratch, "write"), ("/dev/null", "write")]
    return {"rules": rules, "sys_path": list(files["sys_path"]), "coarse_read": coarse_roots(rules, scratch)}


def _contains(ancestor: str, path: str) -> bool:
    return path == ancestor or path.startswith(ancestor.rstrip("/") + "/")


def coarse_roots(rules: Sequence[tuple[str, str]], scratch: str) -> list[str]:
    """For the child's own layer: each read rule widened to its highest ancestor that does not hold the scratch
    tree. The layers intersect, so the zygote's exact rules still decide inside these trees; the child's layer only
    has to keep other jobs' scratch directories out, in as few rules as possible."""
    roots = []
    for path, kind in rules:
        if kind == "write":
            continue  # writes: only the child's own directory
        if _contains(path, scratch):
            continue  # an ancestor of the scratch tree: the child must not re-allow it
        parts = path.strip("/").split("/")
        for depth in range(1, len(parts) + 1):
            candidate = "/" + "/".join(parts[:depth])
            if not _contains(candidate, scratch):
                roots.append(candidate)
                break
    unique = sorted(set(roots), key=len)
    return [root for index, root in enumerate(unique) if not any(_contains(other, root) for other in unique[:index])]


def traversable(path: str) -> bool:
    """Whether an unprivileged user may reach and list ``path`` (search permission on every ancestor)."""
    path = os.path.realpath(path)
    parts = path.split(os.sep)
    for depth in range(1, len(parts) + 1):
        directory = os.sep.join(parts[:depth]) or os.sep
        try:
            mode = os.stat(directory).st_mode
        except OSError:
            return False
        if not mode & 0o001:
            return False
    return bool(os.stat(path).st_mode & 0o004)


def judge_plan(extra_read: Sequence[str], scratch: str) -> dict:
    """The judge zygote's rules: read the interpreter, the caller's import path and the system; write its scratch."""
    paths = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *sys.path, *JUDGE_SYSTEM_PATHS]
    paths += list(extra_read)
    rules = [(os.path.realpath(path), "read") for path in dict.fromkeys(paths) if path and os.path.exists(path)]
    rules += [(scratch, "write"), ("/dev/null", "write")]
    return {"rules": rules}
