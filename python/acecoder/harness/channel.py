"""One runner child as the judge sees it: a process to watch and kill, and a channel that may say anything.

Why the care: the runner is the program. It may never answer, answer forever, stop reading, write garbage, or die
at any moment; the judge must notice each from outside and turn it into a verdict, never hang and never crash.
Every wait here carries a wall-clock deadline, and a CPU-time limit measured on the runner's own CPU clock (read
by the judge: nothing the program does can stop it), and the runner is killed the moment either passes.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import time

from acecoder.harness import wire

_CPU_CLOCK_SCHED = 2  # the kernel's per-process CPU clock ids: MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)


class RunnerLost(BaseException):
    """The runner can answer no more (it died, or the judge killed it). A BaseException, so that a test's
    ``except Exception`` cannot swallow it; ``reason`` says why: exited, cpu, wall, protocol."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Runner:
    """A runner child: its pid, a pidfd, the channel socket and its stdout/stderr memory files."""

    def __init__(self, pid: int, channel: socket.socket, stdout: int, stderr: int, max_frame: int):
        self.pid = pid
        self.pidfd = os.pidfd_open(pid)
        self.channel = channel
        self.channel.setblocking(False)
        self.stdout = stdout
        self.stderr = stderr
        self.max_frame = max_frame
        self.clock = ((~pid) << 3) | _CPU_CLOCK_SCHED
        self.buffer = bytearray()
        self.closed = False  # the channel reached its end (the runner closed it or died)
        self.lost: str | None = None  # why the runner can answer no more
        self.last_cpu = 0.0
        self.cpu_budget = 0  # whole seconds of CPU for this run (its RLIMIT_CPU), set by whoever takes it
        self.poller = select.poll()
        self.poller.register(self.channel.fileno(), select.POLLIN)
        self.poller.register(self.pidfd, select.POLLIN)

    # --- the process ---

    def cpu(self) -> float:
        """CPU seconds the runner has used, read from outside."""
        try:
            self.last_cpu = time.clock_gettime(self.clock)
        except OSError:
            pass  # gone: its last reading stands (the exact figure comes from wait4 when it is reaped)
        return self.last_cpu

    def kill(self, reason: str) -> None:
        if self.lost is None:
            self.lost = reason
        try:
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        except OSError:
            pass

    def close(self) -> None:
        """Closes the channel and the pidfd (the output files stay readable until ``close_output``)."""
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1
        self.channel.close()

    def close_output(self) -> None:
        for fd in (self.stdout, self.stderr):
            try:
                os.close(fd)
            except OSError:
                pass
        self.stdout = self.stderr = -1

    def _lose(self, reason: str):
        self.kill(reason)
        raise RunnerLost(self.lost or reason)

    # --- the channel ---

    def _frame(self) -> bytes | None:
        buffer = self.buffer
        if len(buffer) < wire.FRAME_HEADER.size:
            return None
        (length,) = wire.FRAME_HEADER.unpack_from(buffer)
        if length > self.max_frame:
            self._lose("protocol")
        end = wire.FRAME_HEADER.size + length
        if len(buffer) < end:
            return None
        frame = bytes(buffer[wire.FRAME_HEADER.size : end])
        del buffer[:end]
        return frame

    def _read_available(self) -> None:
        """Moves what the channel holds into the buffer; marks the channel closed at its end."""
        while not self.closed:
            try:
                data = self.channel.recv(1 << 20)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self.closed = True
                return
            self.buffer += data
            if len(data) < 1 << 20:
                return

    def receive(self, wall_deadline: float, cpu_limit: float | None = None) -> bytes:
        """The next frame. Raises RunnerLost when the runner dies, breaks the protocol, or is killed because its
        CPU clock passed ``cpu_limit`` (an absolute reading of ``cpu()``) or the wall clock ``wall_deadline``."""
        if self.lost is not None:
            raise RunnerLost(self.lost)
        while True:
            frame = self._frame()
            if frame is not None:
                return frame
            if self.closed:
                self._lose("exited")
            now = time.monotonic()
            if now >= wall_deadline:
                self._lose("wall")
            wait = wall_deadline - now
            if cpu_limit is not None:
                used = self.cpu()
                if used >= cpu_limit:
                    self._lose("cpu")
                # CPU time never runs faster than the wall clock, so nothing can be missed before this much passes.
                wait = min(wait, max(cpu_limit - used, 0.002))
            for fd, _ in self.poller.poll(wait * 1000):
                if fd == self.pidfd:
                    # Gone: what it wrote before it ended is still read, and then the channel's end is seen.
                    self._read_available()
                    if not self._frame_ready():
                        self._lose("exited")
                else:
                    self._read_available()

    def pending(self) -> bool:
        """Whether the runner has sent anything not yet read (it should be silent until asked)."""
        if self.buffer:
            return True
        try:
            return bool(self.channel.recv(1, socket.MSG_PEEK))
        except BlockingIOError:
            return False
        except OSError:
            return False

    def _frame_ready(self) -> bool:
        if len(self.buffer) < wire.FRAME_HEADER.size:
            return False
        (length,) = wire.FRAME_HEADER.unpack_from(self.buffer)
        return len(self.buffer) >= wire.FRAME_HEADER.size + length

    def send(self, payload: bytes, wall_deadline: float) -> None:
        """Writes one frame, reading meanwhile whatever the runner sends (so neither side can block the other)."""
        if self.lost is not None:
            raise RunnerLost(self.lost)
        view = memoryview(wire.FRAME_HEADER.pack(len(payload)) + payload)
        while view:
            try:
                sent = self.channel.send(view)
                view = view[sent:]
                continue
            except BlockingIOError:
                pass
            except OSError:
                self._lose("exited")
            now = time.monotonic()
            if now >= wall_deadline:
                self._lose("wall")
            poller = select.poll()
            poller.register(self.channel.fileno(), select.POLLOUT | select.POLLIN)
            poller.register(self.pidfd, select.POLLIN)
            for fd, event in poller.poll((wall_deadline - now) * 1000):
                if fd == self.pidfd:
                    self._lose("exited")
                if event & select.POLLIN:
                    self._read_available()

    def output_exceeded(self, cap: int) -> bool:
        return any(os.fstat(fd).st_size >= cap for fd in (self.stdout, self.stderr))

    def tail(self, fd: int, keep: int) -> str:
        size = os.fstat(fd).st_size
        start = max(0, size - keep)
        return os.pread(fd, size - start, start).decode("utf-8", "replace")
