"""The runner zygote, from the judge's side: starting it inside its sandbox, and taking runners from it.

Why the judge zygote starts it (fork, sandbox, exec) rather than the Rust host: the runner zygote must never hold a
job, and the judge zygote is the one process that knows when a runner is needed; keeping the pair together also
keeps the host's view of a worker to one process. The runner zygote is exec'd, so nothing of the judge's memory
reaches it, and it is sandboxed before exec, so it never reads a file outside its view.

One runner is always forked ahead (``spare``): its sandbox entry overlaps the judge's work on the previous job.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys
import time

from acecoder import digest
from acecoder.harness import runner as runner_module
from acecoder.harness import wire
from acecoder.harness.channel import Runner, RunnerLost
from acecoder.harness.native import Native

# Loads the runner's modules from their sources (its sandbox hides the package's files), then starts it. Each
# module gets a private copy of the builtins, taken before any program runs: a program that patches `builtins`
# changes nothing the runner's own code relies on.
BOOTSTRAP = """
import builtins, sys, types
arguments = sys.argv[1:]
config = arguments.pop()
for position in range(0, len(arguments), 2):
    name, source = arguments[position], arguments[position + 1]
    parts = name.split(".")
    for depth in range(1, len(parts)):
        package = ".".join(parts[:depth])
        if package not in sys.modules:
            module = types.ModuleType(package)
            module.__path__ = []
            sys.modules[package] = module
            if depth > 1:
                setattr(sys.modules[".".join(parts[:depth - 1])], parts[depth - 1], module)
    module = types.ModuleType(name)
    module.__dict__["__builtins__"] = dict(builtins.__dict__)
    sys.modules[name] = module
    setattr(sys.modules[".".join(parts[:-1])], parts[-1], module)
    exec(compile(source, "<" + name + ">", "exec"), module.__dict__)
sys.modules["acecoder.harness.runner"].main(config)
"""
RUNNER_MODULES = (
    ("acecoder.digest", digest),
    ("acecoder.harness.wire", wire),
    ("acecoder.harness.runner", runner_module),
)
STARTUP_SECONDS = 120.0
REPLY_SECONDS = 60.0
_REAPED = struct.Struct("<iiddq")


class SandboxFailure(RuntimeError):
    """A runner could not be started in its sandbox (before any program code ran): an infrastructure failure."""


def _source(module) -> str:
    with open(module.__file__, encoding="utf-8") as handle:
        return handle.read()


def _statm_size(pid: int) -> int:
    with open("/proc/%d/statm" % pid) as handle:
        pages = int(handle.read().split()[0])
    return pages * os.sysconf("SC_PAGE_SIZE")


class RunnerSupply:
    def __init__(self, native: Native, config: dict, max_frame: int):
        self.native = native
        self.config = config
        self.max_frame = max_frame
        self.spare: tuple | None = None
        self.spare_pid: int | None = None
        self.pid = 0
        self.control: socket.socket = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)  # replaced by start()

    def start(self, sandbox_plan: dict, runner_config: dict, environment: dict) -> None:
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        interpreter = os.path.realpath(sys.executable)
        arguments = [interpreter, "-s", "-S", "-c", BOOTSTRAP]
        for name, module in RUNNER_MODULES:
            arguments += [name, _source(module)]
        arguments.append(json.dumps(runner_config))
        devnull = os.open(os.devnull, os.O_RDWR)
        pid = os.fork()
        if pid == 0:
            try:
                os.dup2(child_end.fileno(), 0)
                os.dup2(devnull, 1)
                os.closerange(3, 1 << 20)
                os.chdir(runner_config["scratch"])
                self.native.enter_runner_zygote(sandbox_plan)
                os.execve(interpreter, arguments, environment)
            except BaseException as error:  # noqa: BLE001 - report and end; the judge sees the zygote missing
                try:
                    os.write(2, ("acecoder: cannot start the runner zygote: %r\n" % (error,)).encode())
                finally:
                    os._exit(runner_module.EXIT_SETUP_FAILED)
        os.close(devnull)
        child_end.close()
        self.pid = pid
        self.control = parent_end
        self.control.settimeout(STARTUP_SECONDS)
        try:
            ready = self.control.recv(64)
        except OSError as error:
            raise SandboxFailure("the runner zygote did not start: %s" % error) from None
        if ready != b"ready":
            raise SandboxFailure("the runner zygote did not start (see the worker log)")
        self.control.settimeout(REPLY_SECONDS)
        # A job's address space is limited relative to its zygote's own (numpy and OpenBLAS must still import).
        self.control.send(b"L" + struct.pack("<Q", _statm_size(pid)))
        self.request_spare()

    def request_spare(self) -> None:
        judge_end, runner_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        stdout = os.memfd_create("acecoder-stdout", os.MFD_CLOEXEC)
        stderr = os.memfd_create("acecoder-stderr", os.MFD_CLOEXEC)
        socket.send_fds(self.control, [b"F"], [runner_end.fileno(), stdout, stderr])
        runner_end.close()
        self.spare = (judge_end, stdout, stderr)
        self.spare_pid = None

    def _reply(self, kind: bytes) -> bytes:
        while True:
            try:
                message = self.control.recv(256)
            except OSError as error:
                raise SandboxFailure("the runner zygote stopped answering: %s" % error) from None
            if not message:
                raise SandboxFailure("the runner zygote exited")
            if message[:1] == b"f":
                (self.spare_pid,) = struct.unpack_from("<i", message, 1)
                if kind == b"f":
                    return message
            elif message[:1] == kind:
                return message

    def take(self) -> Runner:
        """The spare runner, sandboxed and ready; a new spare is forked at once."""
        if self.spare is None:
            self.request_spare()
        if self.spare_pid is None:
            self._reply(b"f")
        assert self.spare is not None and self.spare_pid is not None
        channel, stdout, stderr = self.spare
        runner = Runner(self.spare_pid, channel, stdout, stderr, self.max_frame)
        self.spare = None
        self.request_spare()
        try:
            frame = runner.receive(time.monotonic() + STARTUP_SECONDS)
        except RunnerLost:
            frame = None
        if frame != runner_module.REPLY_READY:
            reason = runner.tail(stderr, 2000).strip() or "the runner exited before it was ready"
            self.release(runner)
            raise SandboxFailure("a runner could not enter its sandbox: %s" % reason)
        return runner

    def release(self, runner: Runner) -> tuple[int, float, int]:
        """Kills the runner and reaps it: (wait status, CPU seconds, peak RSS in bytes)."""
        runner.kill(runner.lost or "done")
        self.control.send(b"R" + struct.pack("<i", runner.pid))
        message = self._reply(b"r")
        _, status, user, system, peak = _REAPED.unpack_from(message, 1)
        runner.close()
        return status, user + system, peak

    def close(self) -> None:
        try:
            self.control.send(b"Q")
        except OSError:
            pass
        self.control.close()
        if self.pid:
            try:
                os.kill(self.pid, 9)
                os.waitpid(self.pid, 0)
            except OSError:
                pass
