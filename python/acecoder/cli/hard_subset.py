"""AceCoder's RL subset: questions whose mean pass rate is at most the median, then, among those, whose pass-rate
spread (standard deviation) is at least the median spread: hard, but not hopeless for the policy."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from acecoder.cli.pairs import add_kill_rate_flag

HELP = "the hard subset for RL (mean pass rate ≤ median, then std ≥ median)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, help="rows with pass rates (acecoder passrate's output)")
    parser.add_argument("--output", type=Path, required=True, help=".jsonl or .parquet")
    parser.add_argument("--drop-flat", action="store_true", help="first leave out questions whose samples all scored "
                        "the same (GRPO learns nothing from them; with a weak policy they are most questions)")  # fmt: skip
    add_kill_rate_flag(parser)


def run(arguments: argparse.Namespace) -> int:
    from acecoder.cli.pairs import kill_rate_filtered, partly_scored, unscored_input
    from acecoder.data.acecode import output_format, read_acecode, write_rows
    from acecoder.pairs.rules import hard_subset

    try:
        output_format(arguments.output)
        error_records: list[dict] = []
        rows = read_acecode(arguments.input, error_records)
        if error_records:
            print(f"warning: left out {len(error_records)} error records of {arguments.input} (rows an earlier step "
                  f"could not use), the first: row {error_records[0].get('row')}: {error_records[0].get('error')}",
                  file=sys.stderr)  # fmt: skip
        problem = unscored_input(rows, arguments.input)
        if problem is not None:
            print(f"error: {problem}; nothing written", file=sys.stderr)
            return 1
        rows = kill_rate_filtered(rows, arguments.min_kill_rate, arguments.input)
        warning = partly_scored(rows, arguments.input)
        subset = hard_subset(rows, drop_flat=arguments.drop_flat)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if warning is not None:
        print(f"warning: {warning}", file=sys.stderr)
    if not subset:  # only --drop-flat can empty it: scored questions always leave the median ones
        print(f"0 of {len(rows)} questions in the hard subset")
        print("error: every scored question's programs scored alike (all pass or all fail), so --drop-flat left "
              "none; nothing written", file=sys.stderr)  # fmt: skip
        return 1
    write_rows(subset, arguments.output)
    print(f"{len(subset)} of {len(rows)} questions in the hard subset; wrote {arguments.output}")
    return 0
