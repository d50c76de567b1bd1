"""The sandbox end to end: the published hostile cases and our own corpus (`tests/hostile/corpus.jsonl`) run in one
batch through the engine as shipped (every layer on), with the exact pass count of each case and the machine
checked before and after: no file written or changed outside scratch, no connection or datagram received, no
secret or root-only content in any result, no process left behind, honest jobs between hostile ones unaffected.

The batch runs in a separate caller process started with a secret in its environment, so that the secret sits in
that caller's `/proc/<pid>/environ` exactly as an API key would in a trainer's; the caller makes itself a child
subreaper, so any process a job managed to leave behind comes back to it and is counted.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest
from acecoder.exec import Engine
from conftest import FAST_LIMITS, REPOSITORY, hostile_cases
from test_hostile import expected_passed

CORPUS = Path(__file__).parent / "hostile" / "corpus.jsonl"
CLASSES = frozenset(
    {"exit", "exception", "signal", "channel", "patching", "equality", "timer", "resource", "process", "network",
     "filesystem", "secrets", "isolation"}
)  # fmt: skip
PLACEHOLDERS = ("{PORT}", "{SECRET_NAME}", "{SECRET}", "{ROOT_ONLY}", "{CANARY_DIR}", "{REPO}")
# Every escape attempt in the corpus writes this text or uses a file name containing "acecoder-escape" /
# "acecoder_escape", so that what got out can be found (and removed) whatever directory it reached.
MARKER = b"ACECODER-ESCAPE"
ESCAPE_NAME = re.compile(r"acecoder[-_]escape")
TEMPORARY_DIRECTORIES = ("/tmp", "/var/tmp", "/dev/shm")
NOBODY = 65534  # the uid jobs run as when the engine runs as root
# Build outputs and caches that change under their own tools while the batch runs.
UNWATCHED = {"target", ".venv", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}

# The caller of the engine, in its own process (see the module docstring). Prints one JSON object.
DRIVER = r"""
import ctypes, json, os, sys
sys.path.insert(0, sys.argv[1])
from conftest import FAST_LIMITS, descendants, strays
from acecoder.exec import Engine

PR_SET_CHILD_SUBREAPER = 36
ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
jobs = json.load(sys.stdin)
with Engine(workers=2, limits=FAST_LIMITS) as engine:
    workers = engine.worker_pids()
    results = engine.run(jobs["programs"], jobs["tests"])
    leftovers_before_close = sorted(strays(os.getpid(), workers))
leftovers_after_close = sorted(descendants(os.getpid()))
json.dump(
    {
        "pid": os.getpid(),
        "workers": workers,
        "results": [result.to_dict() for result in results],
        "leftovers_before_close": leftovers_before_close,
        "leftovers_after_close": leftovers_after_close,
    },
    sys.stdout,
)
"""


def corpus_cases() -> list[dict]:
    return [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]


def all_cases() -> list[tuple[str, dict]]:
    try:
        shared = hostile_cases()
    except pytest.skip.Exception:
        shared = []
    return [("shared", case) for case in shared] + [("corpus", case) for case in corpus_cases()]


def substitute(text: str, values: dict[str, str]) -> str:
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text


# ----------------------------------------------------------------------------------------------- machine snapshots


def _watched_files(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every file below `root` except build outputs: relative path -> (mode, size, mtime). Git internals other
    than hooks and config are skipped (git rewrites them on its own); hooks are where an escape would hide."""
    found = {}
    for directory, subdirectories, files in os.walk(root):
        relative = os.path.relpath(directory, root)
        keep = []
        for name in subdirectories:
            if name in UNWATCHED:
                continue
            if relative == "." and name == ".git":
                continue
            keep.append(name)
        subdirectories[:] = keep
        for name in files:
            if name.startswith("_engine") and name.endswith(".so"):
                continue  # rebuilt by `make install`
            path = os.path.join(directory, name)
            try:
                status = os.lstat(path)
            except OSError:
                continue
            found[os.path.relpath(path, root)] = (status.st_mode, status.st_size, status.st_mtime_ns)
    git = root / ".git"
    if git.is_dir():
        for entry in [git / "config", *sorted((git / "hooks").glob("*"))]:
            try:
                status = entry.lstat()
            except OSError:
                continue
            found[os.path.relpath(entry, root)] = (status.st_mode, status.st_size, status.st_mtime_ns)
    return found


def _canary_state(root: Path) -> dict[str, tuple]:
    """Everything about the canary tree: each entry's mode, owner, size, mtime and content digest."""
    state = {}
    for directory, subdirectories, files in os.walk(root):
        for name in sorted(subdirectories + files) + ["."]:
            path = os.path.join(directory, name)
            status = os.lstat(path)
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest() if os.path.isfile(path) else None
            key = os.path.relpath(path, root)
            state[key] = (status.st_mode, status.st_uid, status.st_size, status.st_mtime_ns, digest)
    return state


def _top_level(directories) -> set[str]:
    names: set[str] = set()
    for directory in directories:
        try:
            names.update(os.path.join(directory, name) for name in os.listdir(directory))
        except OSError:
            pass
    return names


def _holds_marker(path: str) -> bool:
    candidates = [path]
    if os.path.isdir(path) and not os.path.islink(path):
        try:
            candidates = [os.path.join(path, name) for name in os.listdir(path)]
        except OSError:
            return False
    for candidate in candidates:
        try:
            if os.path.isfile(candidate) and not os.path.islink(candidate):
                with open(candidate, "rb") as handle:
                    if MARKER in handle.read(1 << 16):
                        return True
        except OSError:
            pass
    return False


def _escape_files(roots) -> list[str]:
    """Files named like an escape attempt below `roots` (searched two levels deep, build outputs skipped)."""
    found: list[str] = []
    for root in roots:
        base_depth = str(root).rstrip("/").count("/")
        for directory, subdirectories, files in os.walk(root):
            if directory.count("/") - base_depth >= 2:
                subdirectories[:] = []
            subdirectories[:] = [name for name in subdirectories if name not in UNWATCHED]
            found.extend(os.path.join(directory, name) for name in files + subdirectories if ESCAPE_NAME.search(name))
    return found


def _job_changes(root: Path, before: dict, after: dict) -> list[str]:
    """Paths that appeared or changed between two `_watched_files` snapshots and show a job's hand: the corpus's
    marker or escape name, or the unprivileged owner that jobs run as. Other changes are left alone, because
    developers and their tools may edit the checkout while the batch runs."""
    found = []
    for path in sorted(after):
        if before.get(path) == after[path]:
            continue
        full = root / path
        try:
            owner = full.lstat().st_uid
        except OSError:
            continue
        if ESCAPE_NAME.search(path) or owner == NOBODY or _holds_marker(str(full)):
            found.append(path)
    return found


def _code_directories() -> list[str]:
    paths = {sysconfig.get_paths()[key] for key in ("stdlib", "purelib", "platlib")}
    return sorted(path for path in paths if os.path.isdir(path))


def _listeners() -> tuple[socket.socket, socket.socket]:
    """A TCP listener and a UDP socket bound to the same port on 127.0.0.1."""
    for _ in range(20):
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.bind(("127.0.0.1", 0))
        tcp.listen(16)
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            udp.bind(("127.0.0.1", tcp.getsockname()[1]))
        except OSError:
            tcp.close()
            udp.close()
            continue
        tcp.setblocking(False)
        udp.setblocking(False)
        return tcp, udp
    pytest.fail("cannot bind a TCP and a UDP socket to one port")


def _engine_processes(scratch_prefix: str) -> list[int]:
    """Processes anywhere on the machine whose command line names this run's scratch root (workers, their jobs)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if scratch_prefix.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


# -------------------------------------------------------------------------------------------------------- the run


@pytest.fixture(scope="module")
def sandbox_run():
    cases = all_cases()
    tcp, udp = _listeners()
    secret_name = "ACECODER_TEST_SECRET"
    secret = f"secret-{secrets.token_hex(16)}"
    root_only_content = f"root-only-{secrets.token_hex(16)}"
    canary = Path(tempfile.mkdtemp(prefix="acecoder-canary-", dir="/tmp"))
    root_only_directory = Path(tempfile.mkdtemp(prefix="acecoder-rootonly-", dir="/tmp"))
    try:
        # World-writable so that only the sandbox (not file permissions) keeps a job from creating files here.
        canary.chmod(0o777)
        (canary / "canary.txt").write_text("canary\n")
        (canary / "canary.txt").chmod(0o644)
        (canary / "subdir").mkdir(mode=0o755)
        root_only_directory.chmod(0o755)
        root_only = root_only_directory / "secret"
        root_only.write_text(root_only_content)
        root_only.chmod(0o600)
        values = {
            "{PORT}": str(tcp.getsockname()[1]),
            "{SECRET_NAME}": secret_name,
            "{SECRET}": secret,
            "{ROOT_ONLY}": str(root_only),
            "{CANARY_DIR}": str(canary),
            "{REPO}": str(REPOSITORY),
        }
        jobs = {
            "programs": [substitute(case["program"], values) for _, case in cases],
            "tests": [[substitute(test, values) for test in case["tests"]] for _, case in cases],
        }
        canary_before = _canary_state(canary)
        repository_before = _watched_files(REPOSITORY)
        temporary_before = _top_level(TEMPORARY_DIRECTORIES)

        completed = subprocess.run(
            [sys.executable, "-c", DRIVER, str(Path(__file__).parent)],
            input=json.dumps(jobs),
            capture_output=True,
            text=True,
            cwd=REPOSITORY,
            env={**os.environ, secret_name: secret},
            timeout=240,
            check=False,
        )
        assert completed.returncode == 0, f"the caller process failed:\n{completed.stderr[-4000:]}"
        report = json.loads(completed.stdout)
        scratch_prefix = f"acecoder-{report['pid']}-"

        escapes = _escape_files([REPOSITORY, *_code_directories(), *TEMPORARY_DIRECTORIES, canary])
        temporary_after = _top_level(TEMPORARY_DIRECTORIES)
        new_temporary = sorted(temporary_after - temporary_before - {str(canary), str(root_only_directory)})
        # Other processes share these directories, so an unknown new entry is not evidence by itself: what counts
        # is this run's scratch outliving the engine, or the corpus's escape names and marker.
        suspicious_temporary = [
            path
            for path in new_temporary
            if os.path.basename(path).startswith(scratch_prefix) or ESCAPE_NAME.search(path) or _holds_marker(path)
        ]

        connections = []
        while True:
            try:
                connection, address = tcp.accept()
            except BlockingIOError:
                break
            connections.append(address)
            connection.close()
        datagrams = []
        while True:
            try:
                datagrams.append(udp.recvfrom(65536))
            except BlockingIOError:
                break

        yield {
            "cases": cases,
            "results": {(source, case["name"]): result for (source, case), result in zip(cases, report["results"])},
            "report": report,
            "secret": secret,
            "root_only_content": root_only_content,
            "canary_before": canary_before,
            "canary_after": _canary_state(canary),
            "repository_changes": _job_changes(REPOSITORY, repository_before, _watched_files(REPOSITORY)),
            "escapes": escapes,
            "suspicious_temporary": suspicious_temporary,
            "connections": connections,
            "datagrams": datagrams,
            "engine_processes": _engine_processes(scratch_prefix),
        }
    finally:
        tcp.close()
        udp.close()
        for path in _escape_files([REPOSITORY, *_code_directories(), *TEMPORARY_DIRECTORIES]):
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                Path(path).unlink(missing_ok=True)
        shutil.rmtree(canary, ignore_errors=True)
        shutil.rmtree(root_only_directory, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------------- tests


def test_corpus_is_well_formed():
    cases = corpus_cases()
    names = [case["name"] for case in cases]
    assert len(cases) >= 50
    assert len(names) == len(set(names)), "case names must be unique"
    for case in cases:
        assert set(case) == {"name", "class", "program", "tests", "expected_passed", "why"}, case["name"]
        assert case["class"] in CLASSES, case["name"]
        assert 0 <= case["expected_passed"] <= len(case["tests"]), case["name"]
        for text in [case["program"], *case["tests"]]:
            for placeholder in re.findall(r"\{[A-Z_]+\}", text):
                assert placeholder in PLACEHOLDERS, f"{case['name']}: unknown placeholder {placeholder}"
    per_class = {name: sum(case["class"] == name for case in cases) for name in CLASSES}
    assert min(per_class.values()) >= 3, per_class
    assert any(case["expected_passed"] > 0 for case in cases if case["class"] not in ("equality", "isolation"))


def _describe(result: dict) -> str:
    lines = [f"status={result['status']} passed={result['passed']}/{result['total']}"]
    if result.get("exception_type"):
        lines.append(f"program: {result['exception_type']}: {(result.get('message') or '')[:200]}")
    for index, test in enumerate(result["tests"]):
        message = (test.get("message") or "")[:160]
        lines.append(f"  test {index}: {test['status']} {test.get('exception_type') or ''} {message}")
    return "\n".join(lines)


def _parameters() -> list:
    parameters = []
    for source, case in all_cases():
        parameters.append(pytest.param(source, case["name"], id=f"{source}/{case['name']}"))
    return parameters


def _interpreter_traversable() -> bool:
    """Whether an unprivileged user can reach the interpreter's files (if not, jobs keep CAP_DAC_READ_SEARCH)."""
    paths = [sys.prefix, sys.base_prefix, *[entry for entry in sys.path if entry and os.path.isdir(entry)]]
    for path in paths:
        parts = os.path.realpath(path).split(os.sep)
        for depth in range(1, len(parts) + 1):
            directory = os.sep.join(parts[:depth]) or os.sep
            if not os.stat(directory).st_mode & 0o001:
                return False
    return True


@pytest.mark.parametrize(("source", "name"), _parameters())
def test_pass_count_is_exact(sandbox_run, source, name):
    case = next(case for case_source, case in sandbox_run["cases"] if case_source == source and case["name"] == name)
    result = sandbox_run["results"][(source, name)]
    assert result["total"] == len(case["tests"])
    expected = expected_passed(case) if source == "shared" else case["expected_passed"]
    assert result["passed"] == expected, f"{case['why']}\n{_describe(result)}"


def test_no_file_written_outside_scratch(sandbox_run):
    assert sandbox_run["escapes"] == [], "files planted by jobs (removed by this test)"
    assert sandbox_run["canary_after"] == sandbox_run["canary_before"], "the canary directory changed"
    assert sandbox_run["repository_changes"] == [], "repository files a job created or changed"
    assert sandbox_run["suspicious_temporary"] == [], "new entries in the temporary directories"


def test_no_network_traffic_reached_the_listeners(sandbox_run):
    assert sandbox_run["connections"] == []
    assert sandbox_run["datagrams"] == []


def test_secrets_never_appear_in_results(sandbox_run):
    needles = [sandbox_run["secret"], sandbox_run["root_only_content"]]
    for (source, name), result in sandbox_run["results"].items():
        texts = [result.get("stdout") or "", result.get("stderr") or "", result.get("message") or ""]
        texts.extend(test.get("message") or "" for test in result["tests"])
        for needle in needles:
            assert not any(needle in text for text in texts), f"{source}/{name} leaked {needle[:12]}..."


def test_no_process_outlives_the_engine(sandbox_run):
    report = sandbox_run["report"]
    assert report["leftovers_before_close"] == [], "processes other than the workers after the batch"
    assert report["leftovers_after_close"] == [], "processes left after Engine.close()"
    assert sandbox_run["engine_processes"] == [], "engine processes alive after the caller exited"


def test_honest_jobs_between_hostile_ones_are_unaffected(sandbox_run):
    honest = [
        ("shared", "honest_pass"),
        ("shared", "cross_job_state_check"),
        ("corpus", "isolation_honest_between_hostile"),
        ("corpus", "isolation_check_right_after"),
        ("corpus", "isolation_check_after_nested_directories"),
        ("corpus", "isolation_check_at_end"),
    ]
    for key in honest:
        if key in sandbox_run["results"]:
            result = sandbox_run["results"][key]
            assert result["passed"] == result["total"], f"{key}: {_describe(result)}"


@pytest.mark.skipif(os.geteuid() != 0, reason="the privilege drop only happens when the engine runs as root")
@pytest.mark.xfail(
    os.geteuid() == 0 and not _interpreter_traversable(),
    strict=True,
    reason="the interpreter lives below a directory only root can traverse (e.g. pyenv in /root), so jobs keep "
    "CAP_DAC_READ_SEARCH to import it; Landlock then is the only guard, and it allows this tree (SECURITY.md)",
)
def test_root_only_file_is_unreadable_even_where_reads_are_allowed():
    # Landlock allows reading this tree (as it allows the interpreter's trees and the caller's sys.path), so only
    # the privilege drop stands between a job and a root-only file in it.
    directory = Path(tempfile.mkdtemp(prefix="acecoder-rootonly-readable-", dir="/tmp"))
    try:
        directory.chmod(0o755)
        secret = directory / "secret"
        content = f"root-only-{secrets.token_hex(8)}"
        secret.write_text(content)
        secret.chmod(0o600)
        program = (
            f"def steal():\n    try:\n        return open({str(secret)!r}).read()\n"
            "    except OSError:\n        return 'refused'\n"
        )
        with Engine(workers=1, limits=FAST_LIMITS, extra_read_paths=[str(directory)]) as engine:
            (result,) = engine.run([program], [["assert steal() == 'refused'"]])
        assert result.passed == 1, result
        assert content not in (result.tests[0].message or "")
    finally:
        shutil.rmtree(directory, ignore_errors=True)
