"""Sandbox planning: which paths a job may read and write, and whether jobs can reach the interpreter's files.

Part of the zygote harness (HARNESS = ``strict.py`` + ``digest.py`` + ``calls.py`` + ``child.py`` + this file +
``zygote.py``); runs once, in the zygote, before any job. Stdlib only.
"""

import os
import sys


def interpreter_paths():
    """Directories the interpreter loads code from (stdlib, extension modules, site-packages)."""
    paths = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    paths.extend(entry for entry in sys.path if entry)
    return [path for path in dict.fromkeys(paths) if os.path.isdir(path)]


def traversable(path):
    """Whether an unprivileged user may reach and list `path` (search permission on every ancestor)."""
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


# What CPython and common native libraries read at run time besides the interpreter's own trees.
SYSTEM_READ_PATHS = (
    "/usr", "/lib", "/lib64", "/bin", "/etc/ld.so.cache", "/etc/localtime", "/dev/null", "/dev/zero",
    "/dev/urandom", "/dev/random", "/proc/self", "/proc/cpuinfo", "/proc/meminfo", "/sys/devices/system/cpu",
)  # fmt: skip


def outermost(paths):
    """`paths` without those already inside another one (one Landlock rule covers a whole tree)."""
    kept = []
    for path in sorted(set(paths), key=len):
        if not any(path == parent or path.startswith(parent.rstrip(os.sep) + os.sep) for parent in kept):
            kept.append(path)
    return kept


def filesystem_plan(config, scratch):
    read = list(SYSTEM_READ_PATHS)
    for path in interpreter_paths() + list(config.get("extra_read_paths", [])):
        read.append(os.path.realpath(path))
    return {"read": outermost(read), "write": [scratch, "/dev/null"]}
