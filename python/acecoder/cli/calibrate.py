"""Measure each question's time limit once, on its reference solution, and store it with the question.

A verb of its own rather than a ``passrate`` option: the limit belongs to the question (its tests and its
reference), not to one run's samples, so it is measured once and then read by every step that runs the question's
tests: ``passrate``, the TRL rewards in ``train-rl``, ``serve-reward`` and the OpenRLHF file. ``synth`` writes the
same columns for the questions it keeps, from its oracle solution. The rule and the stored form:
``acecoder.time_limits``. The flags are ``evaluate``'s for the same rule: ``--test-cpu-seconds`` is the least limit
(the floor), ``--gt-time-limit-factor`` the multiple of the reference's time. References run at the engine's default
limit; a stored limit never exceeds the ``--test-cpu-seconds`` of the step that reads it.
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

from acecoder.cli.config_flags import positive_float, positive_int
from acecoder.cli.vocabulary import add_option

HELP = "per-question time limits measured on a reference solution (test_cpu_seconds column)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from acecoder.time_limits import CALIBRATION_RUNS, MIN_TIME_LIMIT, TIME_LIMIT_FACTOR

    parser.add_argument("--input", required=True, help="AceCode rows (id, test_cases) with a reference solution")
    parser.add_argument("--output", type=Path, required=True, help=".jsonl or .parquet: the rows with the limits")
    parser.add_argument("--reference-column", required=True, help="the column holding each question's reference "
                        "solution (a program that passes its tests)")  # fmt: skip
    parser.add_argument("--runs", type=positive_int, default=CALIBRATION_RUNS, help="runs of each reference")
    add_option(parser, "--test-cpu-seconds", type=positive_float, default=MIN_TIME_LIMIT,
               help="CPU seconds one test may use at least: its limit is the larger of this and "
               "--gt-time-limit-factor times the reference's slowest test")  # fmt: skip
    parser.add_argument("--gt-time-limit-factor", type=positive_float, default=TIME_LIMIT_FACTOR,
                        help="the limit as a multiple of the reference's slowest test")  # fmt: skip
    parser.add_argument("--workers", type=positive_int, default=None, help="engine workers (default: one per CPU)")


def run(arguments: argparse.Namespace) -> int:
    from acecoder.data.acecode import output_format, read_acecode, write_rows
    from acecoder.exec import Engine, Limits
    from acecoder.time_limits import calibrated_rows

    try:
        output_format(arguments.output)
        rows = read_acecode(arguments.input)
        if arguments.gt_time_limit_factor < 1:
            raise ValueError(f"--gt-time-limit-factor must be at least 1, got {arguments.gt_time_limit_factor}")
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not rows:
        print(f"error: {arguments.input} holds no rows; nothing written", file=sys.stderr)
        return 1
    if not any(isinstance(row.get(arguments.reference_column), str) for row in rows):
        print(f"error: no row of {arguments.input} has a '{arguments.reference_column}' column holding a program; "
              "name the reference's column with --reference-column", file=sys.stderr)  # fmt: skip
        return 1
    floor = arguments.test_cpu_seconds
    with Engine(workers=arguments.workers, limits=Limits()) as engine:
        written, calibrations = calibrated_rows(rows, arguments.reference_column, engine=engine, runs=arguments.runs,
                                                floor=floor, factor=arguments.gt_time_limit_factor)  # fmt: skip
    write_rows(written, arguments.output)
    limits = [calibration.limit for calibration in calibrations if calibration.limit is not None]
    at_floor = sum(1 for limit in limits if limit == floor)
    print(
        f"{len(limits)} of {len(rows)} questions calibrated ({at_floor} at the {floor:g} s floor"
        + (f", the largest {max(limits):.2f} s" if limits else "")
        + f"); wrote {arguments.output}"
    )
    causes = collections.Counter(calibration.cause for calibration in calibrations if calibration.cause is not None)
    for cause, count in causes.most_common():
        print(f"  not calibrated (the default limit applies): {cause}: {count}")
    return 0
