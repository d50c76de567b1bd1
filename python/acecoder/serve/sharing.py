"""Sharing one engine fairly among the requests of a reward server.

The engine's queue is first in, first out across batches: a request of 10,000 responses submitted whole puts
10,000 jobs ahead of every request that comes after it (a small client was measured waiting 11.6 s), and a request
whose client has gone keeps its jobs queued until they have all run. So requests never hand the engine more than a
*turn* of jobs at a time (``jobs_per_turn``: 8, one GRPO group, or one per worker when there are more workers), and
turns are granted in arrival order from a bounded number of job slots (``capacity``). A request with more jobs than
a turn waits at the back of the line for its next turn, behind the small requests that arrived meanwhile: round
robin between requests, counted in jobs, the way deficit round robin counts bytes
(https://en.wikipedia.org/wiki/Deficit_round_robin).

Slots come back one job at a time as results arrive. The capacity is a turn plus one job per worker: the next turn
is submitted while the last jobs of the one before still run, so workers do not idle between turns, and a newcomer
finds at most a turn's jobs queued in the engine ahead of its own (jobs are never preempted: beside programs that
run to their time limit, that is a wait of ``jobs_per_turn / workers`` time limits). A request larger than one turn
keeps two turns in flight (from two threads), so that one turn's stragglers do not leave workers idle; it therefore
holds at most two places in line, a small request one. Before each turn the request's ``gone`` check runs (the
server's: has the client closed its connection?); once it says yes, no further job of that request is submitted
and ``ClientGone`` is raised with the count of jobs left unrun.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence

from acecoder.exec import Engine, ExecResult, Test

__all__ = ["DEFAULT_JOBS_PER_TURN", "ClientGone", "FairShare", "RequestShare"]

DEFAULT_JOBS_PER_TURN = 8
# Turns in flight for one request larger than a turn (see the module doc).
TURNS_IN_FLIGHT = 2


class ClientGone(Exception):
    """The client of a request went away; ``unrun`` of its jobs were never submitted."""

    def __init__(self, unrun: int) -> None:
        super().__init__(f"the client went away; {unrun} jobs not run")
        self.unrun = unrun


class FairShare:
    """Grants requests turns on ``engine``, ``jobs_per_turn`` jobs at a time, in arrival order.

    ``jobs_per_turn`` defaults to the larger of 8 and the workers; ``capacity`` (jobs submitted and not yet finished,
    across all requests) to a turn plus the workers (see the module doc). ``jobs_run`` and ``jobs_cancelled`` count
    finished and abandoned jobs.
    """

    def __init__(self, engine: Engine, jobs_per_turn: int | None = None, capacity: int | None = None) -> None:
        if jobs_per_turn is None:
            jobs_per_turn = max(DEFAULT_JOBS_PER_TURN, engine.workers)
        if not isinstance(jobs_per_turn, int) or isinstance(jobs_per_turn, bool) or jobs_per_turn < 1:
            raise ValueError(f"jobs_per_turn must be a positive int, got {jobs_per_turn!r}")
        if capacity is None:
            capacity = jobs_per_turn + engine.workers
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < jobs_per_turn:
            raise ValueError(f"capacity must be an int of at least jobs_per_turn ({jobs_per_turn}), got {capacity!r}")
        self.engine = engine
        self.jobs_per_turn = jobs_per_turn
        self.capacity = capacity
        self.jobs_run = 0
        self.jobs_cancelled = 0
        self._free = capacity
        self._line: deque[object] = deque()
        self._condition = threading.Condition()

    # --- slots ---

    def _take(self, count: int) -> None:
        """Waits for this thread's turn at the head of the line and for ``count`` free slots, then takes them."""
        ticket = object()
        with self._condition:
            self._line.append(ticket)
            self._condition.wait_for(lambda: self._line[0] is ticket and self._free >= count)
            self._line.popleft()
            self._free -= count
            self._condition.notify_all()  # the next in line may fit too

    def _give_back(self, count: int, *, run: int = 0, cancelled: int = 0) -> None:
        with self._condition:
            self._free += count
            self.jobs_run += run
            self.jobs_cancelled += cancelled
            self._condition.notify_all()

    # --- requests ---

    def run(
        self,
        programs: Sequence[str],
        tests: Sequence[Sequence[Test]],
        *,
        fail_fast: bool = False,
        test_cpu_seconds: Sequence[float | None] | None = None,
        gone: Callable[[], bool] | None = None,
    ) -> list[ExecResult]:
        """``Engine.run`` in turns; raises ``ClientGone`` when ``gone()`` says so before a turn."""
        total = len(programs)
        if len(tests) != total:
            raise ValueError(f"got {total} programs but {len(tests)} test lists: one list per program")
        if test_cpu_seconds is not None and len(test_cpu_seconds) != total:
            raise ValueError(f"got {total} programs but {len(test_cpu_seconds)} test_cpu_seconds: one per program")
        results: list[ExecResult | None] = [None] * total
        starts = iter(range(0, total, self.jobs_per_turn))
        lock = threading.Lock()
        failures: list[BaseException] = []
        stopped = threading.Event()

        def turns() -> None:
            while not stopped.is_set():
                with lock:
                    start = next(starts, None)
                if start is None:
                    return
                end = min(start + self.jobs_per_turn, total)
                self._take(end - start)
                held = end - start
                try:
                    if stopped.is_set() or (gone is not None and gone()):
                        stopped.set()
                        return
                    batch = self.engine.stream(
                        programs[start:end],
                        tests[start:end],
                        fail_fast=fail_fast,
                        test_cpu_seconds=None if test_cpu_seconds is None else test_cpu_seconds[start:end],
                    )
                    for index, result in batch:
                        results[start + index] = result
                        held -= 1
                        self._give_back(1, run=1)
                except BaseException as error:  # noqa: BLE001 (handed to the request's thread below)
                    stopped.set()
                    failures.append(error)
                finally:
                    self._give_back(held)

        helpers = []
        if total > self.jobs_per_turn:
            helpers = [
                threading.Thread(target=turns, name="reward-turns", daemon=True) for _ in range(TURNS_IN_FLIGHT - 1)
            ]
        for helper in helpers:
            helper.start()
        turns()
        for helper in helpers:
            helper.join()
        if failures:
            raise failures[0]
        unrun = sum(result is None for result in results)
        if unrun:
            self._give_back(0, cancelled=unrun)
            raise ClientGone(unrun)
        return results  # type: ignore[return-value]

    def for_request(self, gone: Callable[[], bool] | None = None) -> RequestShare:
        """What one request scores with: ``run`` as ``Engine.run`` has it, in turns, checking ``gone``."""
        return RequestShare(self, gone)


class RequestShare:
    """One request's view of a ``FairShare``: an engine-shaped ``run``."""

    def __init__(self, share: FairShare, gone: Callable[[], bool] | None) -> None:
        self.share = share
        self.gone = gone

    def run(
        self,
        programs: Sequence[str],
        tests: Sequence[Sequence[Test]],
        *,
        fail_fast: bool = False,
        test_cpu_seconds: Sequence[float | None] | None = None,
    ) -> list[ExecResult]:
        return self.share.run(programs, tests, fail_fast=fail_fast, test_cpu_seconds=test_cpu_seconds, gone=self.gone)
