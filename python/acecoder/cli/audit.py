"""Mutation audit of each question's tests: how many mutants of its reference solution they kill, which mutants
survive (with their diffs), which tests add nothing, and, given a second independent suite, which survivors are
real weaknesses rather than mutants that may be equivalent (``acecoder.audit``).

The output is the input rows with ``kill_rate`` and ``audit`` added, so the steps after it (``sample``,
``passrate``, ``hard-subset --min-kill-rate``) carry each question's kill rate. Rows are appended as they finish, in
input order: rerunning the same command after a kill skips the audited rows. A table and a kill-rate histogram end
the run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from acecoder.cli.config_flags import positive_float, positive_int

HELP = "mutation audit of each question's tests: kill rate, surviving mutants, redundant tests"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from acecoder.audit import DEFAULT_MUTANTS, DEFAULT_TEST_CPU_SECONDS

    parser.add_argument(
        "--input", required=True, help="AceCode rows (id, question, test_cases) with a reference solution"
    )
    parser.add_argument(
        "--output", type=Path, required=True, help=".jsonl or .parquet: the rows with kill_rate and audit"
    )
    parser.add_argument("--mutants", type=positive_int, default=DEFAULT_MUTANTS,
                        help="mutants per question (fewer where the reference has fewer mutation sites)")  # fmt: skip
    parser.add_argument("--reference-column", default=None, help="the column holding each question's reference "
                        "solution (default: the oracle solution synth keeps, provenance.oracle_solution)")  # fmt: skip
    parser.add_argument("--ground-truth-tests", default=None, help="a second, independent suite: rows (id, "
                        "test_cases) matched by id; survivors it kills count as weak, the rest as possibly "
                        "equivalent (default: none)")  # fmt: skip
    parser.add_argument("--limit", type=positive_int, default=None, help="only the first N rows (default: all)")
    parser.add_argument("--workers", type=positive_int, default=None, help="engine workers (default: one per CPU)")
    parser.add_argument("--test-cpu-seconds", type=positive_float, default=DEFAULT_TEST_CPU_SECONDS,
                        help="CPU seconds one test may use where a row has no calibrated limit (its test_cpu_seconds "
                        "column, from acecoder calibrate or synth); short, since mutants often loop")  # fmt: skip
    parser.add_argument("--plot", type=Path, default=None, help="the kill-rate histogram (default: OUTPUT's name "
                        "with .kill_rate.png)")  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="no progress display")


def run(arguments: argparse.Namespace) -> int:
    from acecoder.audit import audit_rows, plot_kill_rates
    from acecoder.cli.progress import Progress
    from acecoder.data.acecode import output_format, read_acecode
    from acecoder.exec import Engine, Limits
    from acecoder.time_limits import row_limit

    try:
        output_format(arguments.output)
        error_records: list[dict] = []
        rows = read_acecode(arguments.input, error_records)
        ground_truth = None
        if arguments.ground_truth_tests is not None:
            ground_truth = {
                str(row["id"]): row["test_cases"] for row in read_acecode(arguments.ground_truth_tests)
            }  # fmt: skip
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if error_records:
        print(f"warning: left out {len(error_records)} error records of {arguments.input}", file=sys.stderr)
    rows = rows[: arguments.limit] if arguments.limit is not None else rows
    if not rows:
        print(f"error: {arguments.input} holds no rows; nothing to audit, nothing written", file=sys.stderr)
        return 1
    try:
        calibrated = [limit for limit in (row_limit(row) for row in rows) if limit is not None]
    except ValueError as error:
        print(f"error: {arguments.input}: {error}", file=sys.stderr)
        return 2
    # The engine's limit is the largest a question may use: each job then runs under its own question's.
    limits = Limits(test_cpu_seconds=max([arguments.test_cpu_seconds, *calibrated]))
    progress = None if arguments.quiet else Progress()
    try:
        with Engine(workers=arguments.workers, limits=limits) as engine:
            audited, summary = audit_rows(
                rows, engine, arguments.output, mutants=arguments.mutants, reference_column=arguments.reference_column,
                ground_truth=ground_truth, progress=progress.update if progress else None,
                test_cpu_seconds=arguments.test_cpu_seconds,
            )  # fmt: skip
    finally:
        if progress:
            progress.close()
    print(summary.table())
    print(f"wrote {arguments.output} ({len(audited)} rows)")
    if summary.kill_rates:
        plot_path = arguments.plot or arguments.output.with_name(arguments.output.name.split(".")[0] + ".kill_rate.png")
        try:
            print(f"plot: {plot_kill_rates(summary, plot_path)}")
        except ImportError:
            print("plot skipped: matplotlib is not installed (pip install 'acecoder[synth]')", file=sys.stderr)
    if not summary.kill_rates:
        causes = ", ".join(f"{status} {count}" for status, count in sorted(summary.statuses.items()))
        hint = "" if arguments.reference_column else " (name the reference's column with --reference-column)"
        print(f"error: no question could be audited: {causes or 'none finished'}{hint}", file=sys.stderr)
        return 1
    if summary.transient:
        print(f"error: {summary.transient} questions met a sandbox failure and were not written; rerun the same "
              "command to audit them", file=sys.stderr)  # fmt: skip
        return 1
    return 0
