"""Containment beyond the filesystem and network rules: the side doors issue 17 found, one self-contained test each.

- SysV IPC (shared memory, semaphores, message queues) is outside Landlock's and the uid's reach: a segment a job
  creates outlives its engine, and a job of a later engine can attach to it. Jobs must not get SysV IPC at all.
- Pathname UNIX sockets are files Landlock does not guard on connect: a job could talk to ssh-agent, a Docker
  socket or an X server. Connecting must fail, wherever the socket lives; socketpair() (no path) keeps working.
- Scratch cleanup runs after every job; a tree the job leaves (a directory made mode 0, a FIFO, a socket file, a
  deep tree) must not wedge it: the next job on the same worker passes promptly, no engine process spins, and the
  next job starts in an empty scratch.
- With a root engine, job uids are per worker: two engines on one host must never hand out the same uid (they
  would share RLIMIT_NPROC and each other's files and signals).
- A job sees nothing a previous job wrote, and cannot see or signal the processes of another engine.

Each test starts its engines in a separate caller process, as the current user and, when the tests run as root,
also as an unprivileged user (`setpriv`), since several of these doors open only for a non-root engine (its jobs
run as the caller's own uid, and its zygote has no power over a tree its job locked). Run this module as a script
to record which tests fail against the engine installed (`hostile/containment_today.json`).
"""

from __future__ import annotations

import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import descendants

TESTS_DIRECTORY = Path(__file__).parent
TODAY = TESTS_DIRECTORY / "hostile" / "containment_today.json"
UNPRIVILEGED_UID = 1_989_000_000  # far from any account, and from the engine's job uids (1_990_000_000 + worker)
MARKER = b"ACECODER-ESCAPE"
CALLER_TIMEOUT = 120

# The caller of the engine, in its own process: runs a scenario (Python code that fills `report`), prints `report`.
CALLER = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
from conftest import FAST_LIMITS, descendants
from acecoder.exec import Engine

CLOCK_TICKS = os.sysconf('SC_CLK_TCK')

def cpu_seconds(pids):
    total = 0.0
    for pid in pids:
        try:
            fields = open('/proc/%d/stat' % pid).read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total

job = json.load(sys.stdin)
arguments = job['arguments']
report = {}
exec(compile(job['scenario'], '<scenario>', 'exec'))
json.dump(report, sys.stdout)
"""


# --------------------------------------------------------------------------------------------------- the callers


def _interpreter_traversable() -> bool:
    """Whether an unprivileged user can reach the interpreter's files (if not, it needs CAP_DAC_READ_SEARCH)."""
    paths = [sys.prefix, sys.base_prefix, *[entry for entry in sys.path if entry and os.path.isdir(entry)]]
    for path in paths:
        parts = os.path.realpath(path).split(os.sep)
        for depth in range(1, len(parts) + 1):
            if not os.stat(os.sep.join(parts[:depth]) or os.sep).st_mode & 0o001:
                return False
    return True


def _callers() -> list:
    """The users an engine is started as: the current one, and an unprivileged one when we can switch to it."""
    current = "root_engine" if os.geteuid() == 0 else "unprivileged_engine"
    callers = [pytest.param(None, id=current)]
    if os.geteuid() == 0:
        available = shutil.which("setpriv") is not None
        callers.append(
            pytest.param(
                UNPRIVILEGED_UID,
                id="unprivileged_engine",
                marks=pytest.mark.skipif(not available, reason="setpriv is needed to start an unprivileged caller"),
            )
        )
    return callers


CALLERS = _callers()


def _cpu_seconds(pids) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def engine_uid(user: int | None) -> int:
    return os.geteuid() if user is None else user


def run_scenario(scenario: str, arguments: dict, user: int | None) -> dict:
    """Runs `scenario` in a caller process (as `user`, or as ourselves) and returns its report."""
    home = Path(tempfile.mkdtemp(prefix="acecoder-containment-home-"))
    command = [sys.executable, "-c", CALLER, str(TESTS_DIRECTORY)]
    if user is not None:
        os.chown(home, user, user)
        switch = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"]
        if not _interpreter_traversable():  # e.g. pyenv in /root: the interpreter needs this capability to load
            switch += ["--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]
        command = switch + command
    process = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=home,
        env={**os.environ, "HOME": str(home)},
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(json.dumps({"scenario": scenario, "arguments": arguments}),
                                             timeout=CALLER_TIMEOUT)  # fmt: skip
    except subprocess.TimeoutExpired:
        processes = descendants(process.pid) | {process.pid}
        before = _cpu_seconds(processes)
        time.sleep(1.0)
        busy = _cpu_seconds(processes) - before
        for pid in processes:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        process.communicate()
        pytest.fail(
            f"the caller did not finish within {CALLER_TIMEOUT} s; its engine's {len(processes)} processes used "
            f"{busy:.2f} CPU s in the last second (a wedged engine)"
        )
    finally:
        shutil.rmtree(home, ignore_errors=True)
    assert process.returncode == 0, f"the caller process failed:\n{stderr[-4000:]}"
    return json.loads(stdout)


def job_output(result: dict) -> dict:
    """The JSON object a job printed as its last line of stdout."""
    lines = [line for line in result["stdout"].splitlines() if line.startswith("{")]
    assert lines, f"the job printed no report: {result['status']} {result.get('message')} {result['stdout'][-500:]}"
    return json.loads(lines[-1])


# ------------------------------------------------------------------------------------------------------ SysV IPC

SYSV_CREATE = r"""
import ctypes, errno, json, struct
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
libc.shmdt.argtypes = [ctypes.c_void_p]
IPC_CREAT = 0o1000
KEY, MARKER = {key}, {marker!r}
def refused():
    return 'refused: ' + errno.errorcode.get(ctypes.get_errno(), '?')
outcome = {{}}
memory = libc.shmget(KEY, 4096, IPC_CREAT | 0o666)
outcome['shared_memory'] = refused() if memory < 0 else 'created'
if memory >= 0:
    address = libc.shmat(memory, None, 0)
    if address and address != ctypes.c_void_p(-1).value:
        ctypes.memmove(address, MARKER, len(MARKER))
        libc.shmdt(address)
semaphores = libc.semget(KEY + 1, 1, IPC_CREAT | 0o666)
outcome['semaphores'] = refused() if semaphores < 0 else 'created'
queue = libc.msgget(KEY + 2, IPC_CREAT | 0o666)
outcome['message_queue'] = refused() if queue < 0 else 'created'
if queue >= 0:
    message = struct.pack('q', 1) + MARKER
    libc.msgsnd(queue, message, len(MARKER), 0)
print(json.dumps(outcome))
"""

SYSV_READ = r"""
import ctypes, json
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
KEY = {key}
outcome = {{}}
memory = libc.shmget(KEY, 0, 0)
if memory >= 0:
    address = libc.shmat(memory, None, 0o10000)  # SHM_RDONLY
    if address and address != ctypes.c_void_p(-1).value:
        outcome['shared_memory'] = ctypes.string_at(address, 64).rstrip(b'\0').decode('latin-1')
queue = libc.msgget(KEY + 2, 0)
if queue >= 0:
    buffer = ctypes.create_string_buffer(8 + 64)
    received = libc.msgrcv(queue, buffer, 64, 0, 0o4000)  # IPC_NOWAIT
    if received > 0:
        outcome['message_queue'] = buffer.raw[8:8 + received].decode('latin-1')
print(json.dumps(outcome))
"""

SYSV_SCENARIO = r"""
for name in ('create', 'read'):  # one engine each, the first closed before the second starts
    with Engine(workers=1, limits=FAST_LIMITS) as engine:
        (result,) = engine.run([arguments[name]], [['assert True']])
        report[name] = result.to_dict()
"""


def _remove_sysv_objects(key: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    ipc_remove = 0
    memory = libc.shmget(key, 0, 0)
    if memory >= 0:
        libc.shmctl(memory, ipc_remove, None)
    semaphores = libc.semget(key + 1, 0, 0)
    if semaphores >= 0:
        libc.semctl(semaphores, 0, ipc_remove)
    queue = libc.msgget(key + 2, 0)
    if queue >= 0:
        libc.msgctl(queue, ipc_remove, None)


@pytest.mark.parametrize("user", CALLERS)
def test_sysv_ipc_is_refused_and_never_crosses_engines(user):
    key = 0x5EED0000 + secrets.randbelow(1 << 16) * 4
    marker = MARKER + secrets.token_hex(4).encode()
    try:
        report = run_scenario(
            SYSV_SCENARIO,
            {"create": SYSV_CREATE.format(key=key, marker=marker), "read": SYSV_READ.format(key=key)},
            user,
        )
        created = job_output(report["create"])
        read_back = job_output(report["read"])
        assert read_back == {}, f"a job of a second engine read what a job of the first left: {read_back}"
        assert all(outcome.startswith("refused") for outcome in created.values()), created
    finally:
        _remove_sysv_objects(key)


# ------------------------------------------------------------------------------------------ pathname UNIX sockets

SOCKET_PROGRAM = r"""
import socket
TARGETS = {targets!r}
def connect_all():
    reached = []
    for kind, path in TARGETS:
        try:
            if kind == 'stream':
                connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                connection.settimeout(1.0)
                connection.connect(path)
                connection.sendall({marker!r})
            else:
                connection = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                connection.sendto({marker!r}, path)
            connection.close()
            reached.append(path)
        except OSError:
            pass
    return reached
def socketpair_round_trip():
    left, right = socket.socketpair()
    left.sendall(b'ping')
    return right.recv(4)
"""


@pytest.mark.parametrize("user", CALLERS)
def test_pathname_unix_sockets_are_unreachable(user):
    owner = engine_uid(user)
    private = Path(tempfile.mkdtemp(prefix="acecoder-containment-agent-"))  # 0700, like ssh-agent's directory
    token = secrets.token_hex(6)
    shared = Path(tempfile.gettempdir())  # world-connectable sockets straight in /tmp, like an X server's
    listeners = []
    try:
        os.chown(private, owner, owner)
        targets = []
        for directory, mode, kind in ((private, 0o600, "stream"), (shared, 0o777, "stream"), (shared, 0o777, "dgram")):
            path = directory / f"acecoder-containment-{token}-{kind}.socket"
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM if kind == "stream" else socket.SOCK_DGRAM)
            listener.bind(str(path))
            if kind == "stream":
                listener.listen(4)
            listener.setblocking(False)
            os.chown(path, owner, owner)
            path.chmod(mode)
            listeners.append((kind, listener))
            targets.append((kind, str(path)))
        program = SOCKET_PROGRAM.format(targets=targets, marker=MARKER)
        report = run_scenario(
            "with Engine(workers=1, limits=FAST_LIMITS) as engine:\n"
            "    (result,) = engine.run([arguments['program']], [arguments['tests']])\n"
            "    report['result'] = result.to_dict()\n",
            {"program": program, "tests": ["assert connect_all() == []", "assert socketpair_round_trip() == b'ping'"]},
            user,
        )
        received = []
        for kind, listener in listeners:
            try:
                if kind == "stream":
                    connection, _ = listener.accept()
                    received.append(connection.recv(64) or b"(a connection)")
                    connection.close()
                else:
                    received.append(listener.recv(64))
            except BlockingIOError:
                pass
        result = report["result"]
        assert received == [], f"listeners received {received}"
        assert [test["status"] for test in result["tests"]] == ["passed", "passed"], [
            (test["status"], test.get("message")) for test in result["tests"]
        ]
    finally:
        for _, listener in listeners:
            listener.close()
        shutil.rmtree(private, ignore_errors=True)
        for kind in ("stream", "dgram"):
            (shared / f"acecoder-containment-{token}-{kind}.socket").unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------------- scratch cleanup

# Trees a job can leave in its scratch directory; each step is tried on its own, so a refused step (a FIFO or a
# socket file where the sandbox forbids them) leaves the rest of the tree in place.
POISONS = {
    "directory_mode_0": ["os.mkdir('d')", "open('d/f', 'w').write('x')", "os.chmod('d', 0)"],
    "nested_directories_mode_0": [
        "os.makedirs('a/b/c')",
        "for path in ('a/f', 'a/b/f', 'a/b/c/f'):\n    open(path, 'w').write('x')",
        "for path in ('a/b/c', 'a/b', 'a'):\n    os.chmod(path, 0)",
    ],
    "directory_read_only": ["os.mkdir('r')", "open('r/f', 'w').write('x')", "os.chmod('r', 0o500)"],
    "file_mode_0": ["open('f', 'w').write('x')", "os.chmod('f', 0)"],
    "scratch_itself_mode_0": ["open('f', 'w').write('x')", "os.chmod('.', 0)"],
    "deep_tree": [
        "for _ in range(3000):\n    os.mkdir('d')\n    os.chdir('d')",
        "open('f', 'w').write('x')",
        "os.chmod('.', 0)",
    ],
    "fifo": ["os.mkfifo('p')", "os.mkdir('q')", "os.mkfifo('q/p')", "os.chmod('q', 0)"],
    "socket_file": [
        "import socket",
        "os.mkdir('s')",
        "server = socket.socket(socket.AF_UNIX)",
        "server.bind('s/socket')",
        "os.chmod('s', 0)",
    ],
    "immutable_attributes": [
        "import fcntl, struct",
        "open('i', 'w').write('x')",
        # FS_IOC_SETFLAGS with FS_IMMUTABLE_FL, then FS_APPEND_FL (both need CAP_LINUX_IMMUTABLE)
        "with open('i') as handle:\n    fcntl.ioctl(handle, 0x40086602, struct.pack('l', 0x10))",
        "with open('i') as handle:\n    fcntl.ioctl(handle, 0x40086602, struct.pack('l', 0x20))",
    ],
}
POISON_PROGRAM = (
    "import os\nfor step in {steps!r}:\n    try:\n        exec(step)\n    except Exception:\n        pass\n"
)
HONEST_PROGRAM = "import os\nentries = sorted(os.listdir('.'))\n"

# The poisoning programs get more program time than FAST_LIMITS' 2 s (3,000 nested mkdir+chdir can pass its 7 s of
# wall on a loaded machine): what is tested is the cleanup after them, not how fast they poison.
CLEANUP_SCENARIO = r"""
from dataclasses import replace
with Engine(workers=1, limits=replace(FAST_LIMITS, program_cpu_seconds=10.0)) as engine:
    started = time.monotonic()
    (poison,) = engine.run([arguments['poison']], [['assert True']])
    report['poison'] = poison.to_dict()
    report['poison_seconds'] = time.monotonic() - started
    for name in ('honest', 'honest_again'):
        started = time.monotonic()
        (honest,) = engine.run([arguments['honest']], [['assert entries == []', 'assert 1 + 1 == 2']])
        report[name] = honest.to_dict()
        report[name + '_seconds'] = time.monotonic() - started
    processes = descendants(os.getpid())
    before = cpu_seconds(processes)
    time.sleep(1.0)
    report['idle_cpu_seconds'] = cpu_seconds(processes) - before
"""
# Honest jobs take milliseconds; this leaves room for a worker replaced once on a loaded machine.
PROMPT_SECONDS = 10.0


@pytest.mark.parametrize("user", CALLERS)
@pytest.mark.parametrize("poison", sorted(POISONS))
def test_scratch_cleanup_cannot_be_wedged(user, poison):
    program = POISON_PROGRAM.format(steps=POISONS[poison])
    report = run_scenario(CLEANUP_SCENARIO, {"poison": program, "honest": HONEST_PROGRAM}, user)
    problems = []
    if report["poison"]["status"] != "passed":
        problems.append(f"the poisoning job itself: {report['poison']['status']} {report['poison'].get('message')}")
    for name in ("honest", "honest_again"):
        statuses = [(test["status"], test.get("message")) for test in report[name]["tests"]]
        if statuses != [("passed", None), ("passed", None)]:
            problems.append(f"{name} job: {report[name]['status']} {statuses}")
        if report[name + "_seconds"] >= PROMPT_SECONDS:
            problems.append(f"{name} job took {report[name + '_seconds']:.1f} s")
    if report["idle_cpu_seconds"] >= 0.3:
        problems.append(f"engine processes used {report['idle_cpu_seconds']:.2f} CPU s in one idle second")
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------------------------------------------ job uids

UID_PROGRAM = "import os, time\nprint('uid', os.getuid())\ntime.sleep(0.3)\n"
UID_SCENARIO = r"""
with Engine(workers=2, limits=FAST_LIMITS) as first, Engine(workers=2, limits=FAST_LIMITS) as second:
    for name, engine in (('first', first), ('second', second)):
        results = engine.run([arguments['program']] * 8, [['assert True']] * 8)
        report[name] = sorted({int(line.split()[1]) for result in results for line in result.stdout.splitlines()
                               if line.startswith('uid ')})
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="job uids are assigned only by an engine that runs as root")
def test_two_root_engines_never_share_a_job_uid():
    report = run_scenario(UID_SCENARIO, {"program": UID_PROGRAM}, None)
    first, second = report["first"], report["second"]
    assert len(first) == 2 and len(second) == 2, f"each engine's two workers should have run jobs: {report}"
    assert 0 not in first + second
    assert set(first).isdisjoint(second), f"job uids shared between engines: {sorted(set(first) & set(second))}"


# -------------------------------------------------------------------------------------------- one job to the next

LEAVE_PROGRAM = r"""
import json, os, tempfile
written = []
for path in ('left.txt', '.hidden', 'dir/inner.txt', os.path.join(os.environ.get('TMPDIR', '.'), 'tmpdir.txt'),
             os.path.join(os.path.expanduser('~'), '.config', 'home.txt')):
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, 'w') as handle:
            handle.write('ACECODER-ESCAPE')
        written.append(os.path.abspath(path))
    except OSError:
        pass
handle, name = tempfile.mkstemp()
os.write(handle, b'ACECODER-ESCAPE')
written.append(name)
print(json.dumps({'written': written}))
"""
LOOK_PROGRAM = r"""
import json, os, tempfile
WRITTEN = {written!r}
def visible():
    found = [path for path in WRITTEN if os.path.exists(path)]
    for directory in {{'.', os.path.expanduser('~'), tempfile.gettempdir()}}:
        try:
            found.extend(os.path.join(directory, name) for name in os.listdir(directory))
        except OSError:
            pass
    return found
"""
NEXT_JOB_SCENARIO = r"""
with Engine(workers=1, limits=FAST_LIMITS) as engine:
    (left,) = engine.run([arguments['leave']], [['assert True']])
    report['left'] = left.to_dict()
    written = [line for line in left.stdout.splitlines() if line.startswith('{')]
    written = json.loads(written[-1])['written'] if written else []
    (look,) = engine.run([arguments['look'].format(written=written)], [['assert visible() == []']])
    report['look'] = look.to_dict()
"""


@pytest.mark.parametrize("user", CALLERS)
def test_the_next_job_sees_nothing_the_previous_one_wrote(user):
    report = run_scenario(NEXT_JOB_SCENARIO, {"leave": LEAVE_PROGRAM, "look": LOOK_PROGRAM}, user)
    assert job_output(report["left"])["written"], "the first job could not write anything (the test would be empty)"
    look = report["look"]["tests"][0]
    assert look["status"] == "passed", look.get("message")


# ------------------------------------------------------------------------------------------ another engine's jobs

PROBE_PROGRAM = r"""
import json, os, signal
TARGETS = {targets!r}
def reached():
    found = []
    for pid in TARGETS:
        for path in ('/proc/%d/status' % pid, '/proc/%d/cmdline' % pid):
            try:
                with open(path, 'rb') as handle:
                    handle.read(64)
                found.append(path)
            except OSError:
                pass
        for number in (0, signal.SIGSTOP, signal.SIGKILL):
            try:
                os.kill(pid, number)
                found.append('signal %d to %d' % (number, pid))
            except OSError:
                pass
    return found
"""
SLEEPER_PROGRAM = "import time\ntime.sleep(2.5)\n"
OTHER_ENGINE_SCENARIO = r"""
import threading
with Engine(workers=1, limits=FAST_LIMITS) as first, Engine(workers=1, limits=FAST_LIMITS) as second:
    outcome = {}
    thread = threading.Thread(
        target=lambda: outcome.update(result=first.run([arguments['sleeper']], [['assert True']])[0])
    )
    thread.start()
    worker = first.worker_pids()[0]
    deadline = time.monotonic() + 2.0
    jobs = set()
    while not jobs and time.monotonic() < deadline:
        jobs = descendants(worker)
        time.sleep(0.02)
    targets = sorted(jobs) + [worker]
    (probe,) = second.run([arguments['probe'].format(targets=targets)], [['assert reached() == []']])
    thread.join()
    report['targets'] = targets
    report['probe'] = probe.to_dict()
    report['sleeper'] = outcome['result'].to_dict()
"""


@pytest.mark.parametrize("user", CALLERS)
def test_jobs_cannot_see_or_signal_another_engines_processes(user):
    report = run_scenario(OTHER_ENGINE_SCENARIO, {"probe": PROBE_PROGRAM, "sleeper": SLEEPER_PROGRAM}, user)
    assert len(report["targets"]) >= 2, f"the first engine's job was not found running: {report['targets']}"
    probe = report["probe"]["tests"][0]
    assert probe["status"] == "passed", probe.get("message")
    assert report["sleeper"]["status"] == "passed", report["sleeper"]


# --------------------------------------------------------------------------------------------- today's record


class _Recorder:
    """A pytest plugin that keeps each test's outcome and the first line of its failure."""

    def __init__(self) -> None:
        self.outcomes: dict[str, dict] = {}

    def pytest_runtest_logreport(self, report) -> None:
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            entry = {"outcome": report.outcome}
            if report.failed:
                crash = getattr(report.longrepr, "reprcrash", None)
                entry["failure"] = str(crash.message if crash is not None else report.longrepr)[:2000]
            elif report.skipped:
                reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
                entry["reason"] = str(reason)
            self.outcomes[report.nodeid.split("::", 1)[1]] = entry


if __name__ == "__main__":
    recorder = _Recorder()
    pytest.main([__file__, "-q", "-p", "no:cacheprovider", "-p", "no:randomly"], plugins=[recorder])
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=TESTS_DIRECTORY, check=False
    ).stdout.strip()
    failed = sorted(name for name, entry in recorder.outcomes.items() if entry["outcome"] == "failed")
    document = {
        "engine_commit": commit,
        "euid": os.geteuid(),
        "summary": {"tests": len(recorder.outcomes), "failed": len(failed), "failed_tests": failed},
        "tests": recorder.outcomes,
    }
    (Path(sys.argv[1]) if len(sys.argv) > 1 else TODAY).write_text(json.dumps(document, indent=1) + "\n")
    print(json.dumps(document["summary"], indent=1))
