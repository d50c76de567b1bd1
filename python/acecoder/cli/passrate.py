"""Run every sampled program against its question's tests and write the rows back with pass rates.

Streams (rows are written as they finish, in input order), shows progress and throughput, and resumes: rerunning
the same command skips the rows already in the output. ``--ray`` shards the work over a Ray cluster instead of this
machine. A row that cannot be scored gets an error record in the output and the run goes on; the summary counts
them and the exit status is 1 when there are any, since a failure nobody sees is worse than a crash. ``--strict``
refuses the input at its first bad row instead, before any work.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from acecoder.cli.config_flags import positive_float, positive_int
from acecoder.cli.vocabulary import add_option
from acecoder.exec import Limits

if TYPE_CHECKING:
    from acecoder.pairs.passrate import PassRateSummary

HELP = "pass rate of every sampled program (engine), rows written back with per-test statuses"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, help="AceCode rows with question, test_cases and inferences")
    parser.add_argument("--output", type=Path, required=True, help=".jsonl or .parquet")
    parser.add_argument("--workers", type=positive_int, default=None, help="engine workers (default: one per CPU)")
    add_option(parser, "--test-cpu-seconds", old=("--test-seconds",), type=positive_float,
               default=Limits().test_cpu_seconds, help="CPU seconds one test may use")  # fmt: skip
    parser.add_argument("--ray", action="store_true", help="shard over a Ray cluster (ray.init(address=--ray-address))")
    parser.add_argument("--ray-address", default=None, help="Ray cluster address (default: start or join a local one)")
    parser.add_argument(
        "--ray-actors", type=positive_int, default=None, help="engine actors (default: one per node CPU group)"
    )
    parser.add_argument("--strict", action="store_true", help="stop at the first row that cannot be scored (default: "
                        "write an error record in its place and go on)")  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="no progress display")


def run(arguments: argparse.Namespace) -> int:
    from acecoder.cli.progress import Progress
    from acecoder.data.acecode import output_format, read_acecode_rows
    from acecoder.exec import Engine
    from acecoder.pairs.passrate import check_rows, row_problem, score_rows

    try:
        output_format(arguments.output)
        rows = read_acecode_rows(arguments.input)
        if rows and not any(isinstance(row, dict) and "inferences" in row for row in rows):
            print(
                f"error: {arguments.input} holds questions without sampled programs ('inferences'); run "
                f"`acecoder sample --input {arguments.input}` first and score its output",
                file=sys.stderr,
            )
            return 2
        if arguments.strict or arguments.ray:  # Ray shards rows as they are: every one must be scorable
            check_rows(rows)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not rows:
        print(f"error: {arguments.input} holds no rows; nothing to score, nothing written", file=sys.stderr)
        return 1
    untested = sum(1 for row in rows if isinstance(row, dict) and row_problem(row) is None and not row["test_cases"])
    if untested:
        print(f"warning: {untested} of {len(rows)} questions have no tests; their programs get no pass rate",
              file=sys.stderr)  # fmt: skip
    limits = Limits(test_cpu_seconds=arguments.test_cpu_seconds)
    progress = None if arguments.quiet else Progress()
    callback = progress.update if progress else None
    try:
        if arguments.ray:
            from acecoder.pairs.ray_runner import score_rows_with_ray

            checked = [row for row in rows if isinstance(row, dict)]  # every row, by check_rows above
            summary = score_rows_with_ray(
                checked,
                arguments.output,
                address=arguments.ray_address,
                actors=arguments.ray_actors,
                limits=limits,
                progress=callback,
            )
        else:
            with Engine(workers=arguments.workers, limits=limits) as engine:
                summary = score_rows(rows, engine, arguments.output, progress=callback)
    finally:
        if progress:
            progress.close()
    statuses = ", ".join(f"{status} {count}" for status, count in summary.statuses.most_common())
    print(
        f"questions {summary.questions}: scored {summary.scored}, resumed {summary.resumed}, errors "
        f"{len(summary.errors)}; programs run {summary.jobs_run} ({summary.programs_per_second:,.0f}/s), tests "
        f"{summary.tests_run} ({summary.tests_per_second:,.0f}/s); statuses: {statuses or 'none'}"
    )
    print(time_limit_report(summary, limits.test_cpu_seconds))
    if not arguments.output.exists():
        print(f"error: nothing was written to {arguments.output}", file=sys.stderr)
        return 1
    print(f"wrote {arguments.output}")
    if summary.errors:
        shown = "; ".join(summary.errors[:5]) + (
            f"; and {len(summary.errors) - 5} more" if len(summary.errors) > 5 else ""
        )
        print(f"error: {len(summary.errors)} of {summary.questions} rows could not be scored and hold an error record "
              f"('error') in the output: {shown}", file=sys.stderr)  # fmt: skip
        return 1
    return 0


def time_limit_report(summary: PassRateSummary, default_seconds: float) -> str:
    """One line: which limits applied, and what the programs that ran out of time cost."""
    share = summary.timeout_cpu_seconds / summary.test_cpu_seconds if summary.test_cpu_seconds else 0.0
    return (f"time limits: {summary.calibrated} of {summary.scored} questions at their calibrated limit "
            f"(test_cpu_seconds column), the rest at {default_seconds:g} CPU s per test; programs timed out: "
            f"{summary.timed_out}, their timed-out tests took {summary.timeout_cpu_seconds:,.1f} CPU s ({share:.0%} of all "
            f"tests' {summary.test_cpu_seconds:,.1f})")  # fmt: skip
