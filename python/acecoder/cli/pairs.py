"""Turn pass rates into preference pairs with AceCoder's rule (chosen ≥ 0.8, chosen − rejected ≥ 0.4,
rejected > 0), one pair per line in TRL's preference format."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "preference pairs from pass rates (TRL prompt/chosen/rejected format)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, help="rows with pass rates (acecoder passrate's output)")
    parser.add_argument("--output", type=Path, required=True, help=".jsonl or .parquet")
    parser.add_argument("--chosen-min", type=float, default=0.8, help="lowest pass rate of a chosen program")
    parser.add_argument("--margin-min", type=float, default=0.4, help="lowest chosen − rejected pass rate")
    parser.add_argument("--rejected-min", type=float, default=0.0, help="a rejected program's pass rate must exceed this")
    parser.add_argument("--rejected-inclusive", action="store_true",
                        help="a rejected program may pass exactly --rejected-min: with 0, programs passing no test too")
    parser.add_argument("--max-pairs-per-question", type=int, default=None, help="cap (default: none)")
    parser.add_argument("--conversational", action="store_true", help="message lists instead of strings")


def run(arguments: argparse.Namespace) -> int:
    from acecoder.data.acecode import output_format, read_acecode, write_rows
    from acecoder.pairs.rules import PairRule, build_pairs, pair_statistics

    try:
        output_format(arguments.output)
        rows = read_acecode(arguments.input)
        rule = PairRule(chosen_min=arguments.chosen_min, margin_min=arguments.margin_min,
                        rejected_min=arguments.rejected_min, rejected_exclusive=not arguments.rejected_inclusive)
        pairs = list(build_pairs(rows, rule, arguments.conversational, arguments.max_pairs_per_question))
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    write_rows(pairs, arguments.output)
    statistics = pair_statistics(rows, pairs)
    print(f"{statistics.pairs} pairs from {statistics.questions_with_pairs} of {statistics.questions} questions "
          f"({statistics.mean_pairs_per_question:.2f} per question); wrote {arguments.output}")
    return 0
