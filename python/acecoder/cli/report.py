"""Summarize a pass-rate file (and its pairs): a table on stdout and PNG plots (pass-rate histogram, tests per
question, pairs per question)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "summary table and PNG plots of pass rates and pairs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="rows with pass rates (acecoder passrate's output)")
    parser.add_argument("--pairs", default=None, help="pairs file (acecoder pairs' output)")
    parser.add_argument("--plots", type=Path, default=None, help="directory for the PNGs (default: beside PATH)")


def run(arguments: argparse.Namespace) -> int:
    from acecoder.cli.pairs import partly_scored, unscored_input
    from acecoder.data.acecode import read_acecode
    from acecoder.data.seeds import read_rows
    from acecoder.report import format_table, plot, summarize

    try:
        rows = read_acecode(arguments.path)
        pairs = read_rows(arguments.pairs) if arguments.pairs else None
        summary = summarize(rows, pairs)
        problem = unscored_input(rows, arguments.path) or partly_scored(rows, arguments.path)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if problem is not None:
        print(f"warning: {problem}", file=sys.stderr)
    print(format_table(summary))
    directory = arguments.plots or Path(arguments.path).with_name(Path(arguments.path).name.split(".")[0] + "-plots")
    try:
        written = plot(rows, pairs, directory)
    except ImportError:
        print("plots skipped: matplotlib is not installed (pip install 'acecoder[synth]')", file=sys.stderr)
        return 0
    print("plots: " + ", ".join(str(path) for path in written))
    return 0
