"""Summarize a pass-rate file (and its pairs): a table on stdout and PNG plots (pass-rate histogram, tests per
question, pairs per question).

The pass-rate file is ``--input``, as in every verb; the bare path it took first still works, with a notice."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from acecoder.cli.vocabulary import add_option

HELP = "summary table and PNG plots of pass rates and pairs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", default=None, help="rows with pass rates, acecoder passrate's output (required)")
    parser.add_argument("path", nargs="?", default=None, help=argparse.SUPPRESS)  # the old spelling of --input
    parser.add_argument("--pairs", default=None, help="pairs file, acecoder pairs' output (default: none)")
    add_option(parser, "--output-dir", old=("--plots",), type=Path, default=None,
               help="directory for the PNGs (default: INPUT's name with -plots, beside it)")  # fmt: skip


def input_path(arguments: argparse.Namespace) -> str | None:
    """``--input``, or the bare path of the old spelling (with a notice); None (after an error line) for neither
    or both."""
    if arguments.path is not None and arguments.input is not None:
        print("error: give the pass-rate file once, as --input", file=sys.stderr)
        return None
    if arguments.path is not None:
        print("acecoder report: a bare PATH is deprecated; use --input PATH", file=sys.stderr)
        return str(arguments.path)
    if arguments.input is None:
        print("error: the pass-rate file is required: --input PATH", file=sys.stderr)
    return arguments.input


def run(arguments: argparse.Namespace) -> int:
    from acecoder.cli.pairs import partly_scored, unscored_input
    from acecoder.data.acecode import read_acecode
    from acecoder.data.seeds import read_rows
    from acecoder.report import format_table, plot, summarize

    source = input_path(arguments)
    if source is None:
        return 2
    try:
        rows = read_acecode(source)
        pairs = read_rows(arguments.pairs) if arguments.pairs else None
        summary = summarize(rows, pairs)
        problem = unscored_input(rows, source) or partly_scored(rows, source)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if problem is not None:
        print(f"warning: {problem}", file=sys.stderr)
    print(format_table(summary))
    directory = arguments.output_dir or Path(source).with_name(Path(source).name.split(".")[0] + "-plots")
    try:
        written = plot(rows, pairs, directory)
    except ImportError:
        print("plots skipped: matplotlib is not installed (pip install 'acecoder[synth]')", file=sys.stderr)
        return 0
    print("plots: " + ", ".join(str(path) for path in written))
    return 0
