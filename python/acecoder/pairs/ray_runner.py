"""The pass-rate step sharded over a Ray cluster: for users with many machines, so nobody builds a scheduler.

Ray already solves what a home-made multi-machine runner would get wrong: placing work by free CPUs, shipping
data, restarting what a lost node was running, and a dashboard to watch it. acecoder adds one thing: an actor per
group of CPUs that holds ONE long-lived ``Engine`` (its zygote workers start once, not once per task), fed with
runs of rows (about ``chunk_jobs`` programs each, cut as ``score_rows`` cuts them). Each actor has at most two
runs in flight and runs both at once on its engine, so its workers never idle while the driver hands out the
next run. The driver keeps the output: every finished run's rows are appended to the same journal ``score_rows``
writes, so output formats and resume behave identically (rows already in the output are skipped, and a run
killed at any point loses at most the runs in flight).

Every node of a cluster you join needs acecoder (the same version) installed in the Python environment its Ray
workers use. When this function starts Ray itself, the workers are this machine's, and a source checkout of
acecoder is put on their import path.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acecoder.data.acecode import output_format
from acecoder.data.journal import RowJournal
from acecoder.data.resume import ResumableOutput
from acecoder.exec import Engine, Limits
from acecoder.pairs.passrate import PassRateSummary, Progress, _Chunk, _row_runs, check_rows

__all__ = ["RunOutcome", "score_rows_with_ray", "score_run"]

CPUS_PER_ACTOR = 2  # engine workers per actor by default: small enough to fill odd-sized nodes well
RUNS_IN_FLIGHT = 2  # per actor: one running, one queued behind it, so the engine never waits for the driver
INSTALL_HINT = "score_rows_with_ray needs Ray: pip install 'acecoder[ray]'"


@dataclass
class RunOutcome:
    """What an actor sends back for one run of rows: the scored rows (plain JSON data) and what ran."""

    rows: list[dict]
    jobs_run: int = 0
    tests_run: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    calibrated: int = 0
    timed_out: int = 0
    timeout_cpu_seconds: float = 0.0
    test_cpu_seconds: float = 0.0


def score_run(engine: Engine, rows: Sequence[dict]) -> RunOutcome:
    """Scores one run of rows on ``engine``: the rows as ``score_rows`` writes them, in input order."""
    chunk = _Chunk(rows)
    figures = PassRateSummary()
    for index, result in chunk.stream(engine):
        chunk.results[index] = result
        figures.count(result)
    scored = [chunk.finished_row(position) for position in range(len(chunk.rows))]
    return RunOutcome(scored, figures.jobs_run, figures.tests_run, dict(figures.statuses), chunk.calibrated,
                      figures.timed_out, figures.timeout_cpu_seconds, figures.test_cpu_seconds)  # fmt: skip


class EngineActor:
    """The body of a Ray actor: one engine for the actor's whole life. Plain Python, wrapped by ``ray.remote``
    when the cluster is known, so importing this module never needs Ray."""

    def __init__(self, workers: int, limits: Limits | None) -> None:
        self.engine = Engine(workers=workers, limits=limits)

    def ready(self) -> int:
        """Answers once the engine's workers are up (the driver sends runs only to actors that answered)."""
        return self.engine.workers

    def score(self, rows: list[dict]) -> RunOutcome:
        return score_run(self.engine, rows)

    def close(self) -> None:
        self.engine.close()


def actor_plan(cluster_cpus: float, actors: int | None) -> tuple[int, int]:
    """(actors, engine workers per actor) for a cluster with ``cluster_cpus`` CPUs."""
    cpus = int(cluster_cpus)
    if actors is None:
        if cpus < 1:
            raise ValueError("the Ray cluster reports no CPUs; pass actors= to wait for an autoscaler")
        return max(1, cpus // CPUS_PER_ACTOR), min(CPUS_PER_ACTOR, cpus)
    if not isinstance(actors, int) or isinstance(actors, bool) or actors < 1:
        raise ValueError(f"actors must be a positive int or None, got {actors!r}")
    return actors, max(1, cpus // actors)


def _source_checkout_path() -> str | None:
    """The directory holding the ``acecoder`` package when it is not an installed site package."""
    root = Path(__file__).resolve().parents[2]
    return None if root.name in ("site-packages", "dist-packages") else str(root)


def _start_ray(ray: Any, address: str | None) -> bool:
    """Joins (or starts) the cluster unless the caller already did; True when this call started Ray."""
    if ray.is_initialized():
        return False
    options: dict[str, Any] = {"address": address, "ignore_reinit_error": True}
    checkout = _source_checkout_path()
    if checkout is not None:  # workers of a local cluster import the driver's acecoder, not whatever is installed
        paths = [checkout, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
        options["runtime_env"] = {"env_vars": {"PYTHONPATH": os.pathsep.join(paths)}}
    ray.init(**options)
    return True


def score_rows_with_ray(
    rows: Sequence[dict],
    output: str | Path,
    address: str | None = None,
    actors: int | None = None,
    limits: Limits | None = None,
    chunk_jobs: int = 512,
    progress: Progress | None = None,
) -> PassRateSummary:
    """``score_rows`` over a Ray cluster: scores every row not yet in ``output`` (``.jsonl`` or ``.parquet``).

    Args:
        rows: AceCode rows with ``id``, ``question``, ``test_cases`` and ``inferences``.
        output: where the scored rows go; rows already there are skipped.
        address: the cluster to join (``ray.init(address=...)``); ``None`` starts a local one, or uses the one
            this process already joined. Ray is shut down at the end only if this call started it.
        actors: engine actors; ``None`` means one per 2 CPUs of the cluster. Each actor's engine runs
            ``cluster CPUs // actors`` workers (2 by default) and reserves that many CPUs.
        limits: per-job limits of every engine (``Limits()`` by default).
        chunk_jobs: about how many programs one actor task scores.
        progress: ``progress("pass rates", finished_rows, total_rows)`` after each finished run.
    """
    output_format(output)
    check_rows(rows)
    if chunk_jobs < 1:
        raise ValueError(f"chunk_jobs must be >= 1, got {chunk_jobs!r}")
    try:
        import ray
    except ImportError as error:
        raise ImportError(INSTALL_HINT) from error

    # Runs come back in any order, so two rows that repeat an id may swap results when they land in different
    # runs (the engine-local ``score_rows`` writes in input order and never does).
    resume = ResumableOutput.of_rows(output, rows)
    pending = [rows[position] for position in resume.pending]
    summary = PassRateSummary(questions=len(rows), resumed=resume.resumed)
    started = time.perf_counter()
    if pending:
        started_ray = _start_ray(ray, address)
        try:
            _dispatch(ray, pending, resume.journal, summary, actors, limits, chunk_jobs, progress, len(rows))
        finally:
            if started_ray:
                ray.shutdown()
    summary.seconds = time.perf_counter() - started
    resume.finish()
    return summary


def _dispatch(
    ray: Any,
    pending: Sequence[dict],
    journal: RowJournal,
    summary: PassRateSummary,
    actors: int | None,
    limits: Limits | None,
    chunk_jobs: int,
    progress: Progress | None,
    total_rows: int,
) -> None:
    """Feeds runs of ``pending`` to the actors and journals what comes back, until every run is scored."""
    count, workers = actor_plan(ray.cluster_resources().get("CPU", 0), actors)
    # A lost node's actor restarts elsewhere and its runs are retried; an actor that cannot be placed at all
    # (odd node sizes) simply never answers ready and gets no work.
    remote_actor = ray.remote(EngineActor).options(
        num_cpus=workers, max_concurrency=RUNS_IN_FLIGHT, max_restarts=2, max_task_retries=2
    )
    handles = [remote_actor.remote(workers, limits) for _ in range(count)]
    starting = {handles[number].ready.remote(): number for number in range(count)}
    in_flight: dict[Any, int] = {}  # result reference → actor number
    load = [0] * count
    runs = _row_runs(pending, chunk_jobs)
    exhausted = False
    finished_rows = summary.resumed

    def feed(number: int) -> None:
        nonlocal exhausted
        while not exhausted and load[number] < RUNS_IN_FLIGHT:
            run = next(runs, None)
            if run is None:
                exhausted = True
                return
            in_flight[handles[number].score.remote(list(run))] = number
            load[number] += 1

    answered: list[int] = []
    try:
        while in_flight or (starting and not exhausted):
            (reference,), _ = ray.wait([*starting, *in_flight], num_returns=1)
            if reference in starting:
                number = starting.pop(reference)
                ray.get(reference)  # raises if the actor could not start (e.g. acecoder missing on its node)
                answered.append(number)
                feed(number)
                continue
            number = in_flight.pop(reference)
            load[number] -= 1
            outcome: RunOutcome = ray.get(reference)
            journal.append(outcome.rows)
            finished_rows += len(outcome.rows)
            summary.scored += len(outcome.rows)
            summary.programs += sum(len(row["inferences"]) for row in outcome.rows)
            summary.jobs_run += outcome.jobs_run
            summary.tests_run += outcome.tests_run
            summary.statuses.update(outcome.statuses)
            summary.calibrated += outcome.calibrated
            summary.timed_out += outcome.timed_out
            summary.timeout_cpu_seconds += outcome.timeout_cpu_seconds
            summary.test_cpu_seconds += outcome.test_cpu_seconds
            if progress is not None:
                progress("pass rates", finished_rows, total_rows)
            feed(number)
    except BaseException:
        for handle in handles:  # the engines' workers die with their actor (parent-death signal)
            ray.kill(handle, no_restart=True)
        raise
    _stop_actors(ray, [handles[number] for number in answered], handles)


def _stop_actors(ray: Any, idle: list[Any], handles: list[Any]) -> None:
    """Closes the idle engines (their workers exit at once), then ends every actor, so none outlives the call
    on a cluster that lives on."""
    if idle:
        ray.wait([handle.close.remote() for handle in idle], num_returns=len(idle), timeout=30.0)
    for handle in handles:
        ray.kill(handle, no_restart=True)
