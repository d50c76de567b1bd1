"""Writing output files atomically, with the permissions an ordinary ``open(path, "w")`` would give them.

Outputs are written to a temporary file beside the target and renamed over it, so a reader (or a rerun after a
kill) never sees half a file. ``tempfile.NamedTemporaryFile`` and ``mkstemp`` are the usual way to get such a
file, but they create it mode 0600 whatever the umask, and the rename keeps that mode: pairs, hard subsets and
synthesized questions came out unreadable to collaborators on a shared cluster. Here the temporary file is
created with mode 0666 and the process's umask applied by the kernel, exactly as ``open`` does (0644 under the
usual umask 022), and a target that already exists keeps its own mode, as it would when ``open`` truncates it.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = [
    "atomic_open",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "chmod_like_open",
    "open_mode",
    "share_saved_weights",
]

# What open() asks the kernel for when it creates a file; the umask takes its bits away.
_CREATE_MODE = 0o666


def current_umask() -> int:
    """The process's umask, read without changing it (``os.umask`` can only be read by setting it, which would
    race with other threads creating files); falls back to that where /proc does not say."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def open_mode(path: str | Path) -> int:
    """The permission bits ``open(path, "w")`` would leave ``path`` with: its own when it exists (``open``
    truncates and keeps them), else 0666 less the umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return _CREATE_MODE & ~current_umask()


def chmod_like_open(path: str | Path, mode: int | None = None, pattern: str = "*") -> None:
    """Gives ``path`` the permissions a file created by ``open`` gets (0666 less the umask), or ``mode``: for a
    file some library wrote through its own temporary file (safetensors' ``save_file`` writes 0600). A directory
    has every file below it whose name matches ``pattern`` so treated."""
    wanted = _CREATE_MODE & ~current_umask() if mode is None else mode
    path = Path(path)
    if path.is_dir():
        for file in path.rglob(pattern):
            if file.is_file() and not file.is_symlink():
                os.chmod(file, wanted)
    else:
        os.chmod(path, wanted)


def share_saved_weights(directory: str | Path) -> None:
    """After ``save_pretrained`` (or a trainer's checkpoint) into ``directory``: the ``*.safetensors`` files it
    wrote 0600 get ``open``'s permissions, like the config and tokenizer files beside them."""
    chmod_like_open(directory, pattern="*.safetensors")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary file beside ``path``, created empty with ``open``'s permissions, for the caller (or a library
    given its name) to fill; renamed over ``path`` when the block ends, removed if it raises."""
    path = Path(path)
    mode = open_mode(path)
    while True:
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _CREATE_MODE)
        except FileExistsError:
            continue
        os.close(descriptor)
        break
    try:
        yield temporary
        # A library may have replaced the file rather than written into it; the target's mode is set either way.
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """``open(path, mode)`` for writing (``"w"`` or ``"wb"``), atomically: the file appears whole or not at all."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes with 'w' or 'wb', not {mode!r}")
    with atomic_path(path) as temporary:
        with open(temporary, mode, encoding=None if "b" in mode else encoding) as handle:
            yield handle


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    """Writes ``text`` to ``path`` atomically, with ``open``'s permissions."""
    with atomic_open(path, "w", encoding=encoding) as handle:
        handle.write(text)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Writes ``data`` to ``path`` atomically, with ``open``'s permissions."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)
