"""Turn pass rates into preference pairs with AceCoder's rule (chosen ≥ 0.8, chosen − rejected ≥ 0.4,
rejected > 0), one pair per line in TRL's preference format.

An input that cannot give pairs (no rows, or `acecoder sample` output that has not been through `acecoder passrate`)
is an error that names the missing step, and a run that finds no pair says why and exits 1 without writing a file:
an empty pairs file would only fail later, in training, far from its cause.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from acecoder.cli.config_flags import fraction, positive_int

if TYPE_CHECKING:
    from acecoder.pairs.rules import PairRule

HELP = "preference pairs from pass rates (TRL prompt/chosen/rejected format)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from acecoder.pairs.rules import PairRule

    rule = PairRule()  # the defaults are AceCoder's rule as the library holds it
    parser.add_argument("--input", required=True, help="rows with pass rates (acecoder passrate's output)")
    parser.add_argument("--output", type=Path, required=True, help=".jsonl or .parquet")
    parser.add_argument(
        "--chosen-min", type=fraction, default=rule.chosen_min, help="lowest pass rate of a chosen program"
    )
    parser.add_argument(
        "--margin-min", type=fraction, default=rule.margin_min, help="lowest chosen − rejected pass rate"
    )
    parser.add_argument(
        "--rejected-min",
        type=fraction,
        default=rule.rejected_min,
        help="a rejected program's pass rate must exceed this",
    )
    parser.add_argument(
        "--rejected-inclusive",
        action="store_true",
        help="a rejected program may pass exactly --rejected-min: with 0, programs passing no test too",
    )
    parser.add_argument("--max-pairs-per-question", type=positive_int, default=None, help="cap (default: no cap)")
    parser.add_argument("--conversational", action="store_true", help="message lists instead of strings")
    add_kill_rate_flag(parser)


def add_kill_rate_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--min-kill-rate", type=fraction, default=None, help="first leave out questions whose tests "
                        "kill fewer of their mutants than this (kill_rate, from acecoder audit), and questions "
                        "without one (default: keep every question)")  # fmt: skip


def kill_rate_filtered(rows: list[dict], minimum: float | None, source: object) -> list[dict]:
    """``rows`` less those under ``--min-kill-rate`` (said on stderr); ``ValueError`` when no row has a kill rate
    (the audit step is missing)."""
    if minimum is None:
        return rows
    from acecoder.pairs.rules import strong_enough

    kept, below, unknown = strong_enough(rows, minimum)
    if unknown == len(rows) and rows:
        raise ValueError(f"no question in {source} has a kill_rate: run `acecoder audit --input QUESTIONS "
                         "--output AUDITED.jsonl` on the questions before sampling, or leave out --min-kill-rate")  # fmt: skip
    print(f"--min-kill-rate {minimum:g}: kept {len(kept)} of {len(rows)} questions ({below} below it, {unknown} "
          "without a kill rate)", file=sys.stderr)  # fmt: skip
    return kept


def unscored_input(rows: Sequence[dict], source: object) -> str | None:
    """Why ``rows`` cannot give pairs or a hard subset, naming the step that is missing; None when some program
    has a pass rate."""
    from acecoder.pairs.rules import scored_pass_rates

    if not rows:
        return f"{source} holds no rows"
    if any(scored_pass_rates(row) for row in rows):
        return None
    inferences = [inference for row in rows for inference in row.get("inferences") or ()]
    if not inferences:
        return (f"{source} holds no sampled programs ('inferences'): run `acecoder sample` on it, then "
                "`acecoder passrate` on the samples, and give the pass-rate file here")  # fmt: skip
    if not any("pass_rate" in inference for inference in inferences):
        return (f"no program in {source} has a pass rate (sampled, not yet scored): run `acecoder passrate --input "
                f"{source} --output RATES.jsonl` first, and give RATES.jsonl here")  # fmt: skip
    return f"no program in {source} was scored (every pass_rate is null: questions without tests, or sandbox errors)"


def partly_scored(rows: Sequence[dict], source: object) -> str | None:
    """A warning when some questions have no scored program (they take no part), else None."""
    from acecoder.pairs.rules import scored_pass_rates

    count = sum(1 for row in rows if not scored_pass_rates(row))
    return f"{count} of {len(rows)} questions in {source} have no scored program; they take no part" if count else None


def no_pairs_reason(rows: Sequence[dict], rule: PairRule) -> str:
    """Why scored ``rows`` gave no pair under ``rule``, in counts a user can act on."""
    from acecoder.pairs.rules import scored_pass_rate

    scored = with_chosen = all_fail = single = 0
    for row in rows:
        rates = {}  # distinct program → pass rate: a pair needs two different programs
        for inference in row.get("inferences") or ():
            rate = scored_pass_rate(inference, row.get("id"))
            if rate is not None:
                rates[str(inference.get("program") or inference.get("completion") or "").strip()] = rate
        if not rates:
            continue
        scored += 1
        with_chosen += any(rule.accepts_chosen(rate) for rate in rates.values())
        all_fail += all(rate == 0.0 for rate in rates.values())
        single += len(rates) == 1
    floor = f"{'>' if rule.rejected_exclusive else '≥'} {rule.rejected_min:g}"
    return (f"no pair meets the rule (chosen ≥ {rule.chosen_min:g}, margin ≥ {rule.margin_min:g}, rejected {floor}); "
            f"of {scored} scored questions, {with_chosen} with a program passing ≥ {rule.chosen_min:g}, {all_fail} "
            f"with every program failing every test, {single} with a single distinct program. More samples per "
            "question, a stronger policy, or looser thresholds (--chosen-min, --margin-min, --rejected-inclusive) "
            "give pairs")  # fmt: skip


def run(arguments: argparse.Namespace) -> int:
    from acecoder.data.acecode import check_questions, output_format, read_acecode, write_rows
    from acecoder.pairs.rules import PairRule, build_pairs, pair_statistics

    try:
        output_format(arguments.output)
        error_records: list[dict] = []
        rows = read_acecode(arguments.input, error_records)
        check_questions(rows, arguments.input)  # each pair's prompt holds the question and its first test
        if error_records:
            print(f"warning: left out {len(error_records)} error records of {arguments.input} (rows an earlier step "
                  f"could not use), the first: row {error_records[0].get('row')}: {error_records[0].get('error')}",
                  file=sys.stderr)  # fmt: skip
        rule = PairRule(
            chosen_min=arguments.chosen_min,
            margin_min=arguments.margin_min,
            rejected_min=arguments.rejected_min,
            rejected_exclusive=not arguments.rejected_inclusive,
        )
        problem = unscored_input(rows, arguments.input)
        if problem is not None:
            print(f"error: {problem}; nothing written", file=sys.stderr)
            return 1
        rows = kill_rate_filtered(rows, arguments.min_kill_rate, arguments.input)
        warning = partly_scored(rows, arguments.input)
        pairs = list(build_pairs(rows, rule, arguments.conversational, arguments.max_pairs_per_question))
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if warning is not None:
        print(f"warning: {warning}", file=sys.stderr)
    statistics = pair_statistics(rows, pairs)
    summary = (f"{statistics.pairs} pairs from {statistics.questions_with_pairs} of {statistics.questions} questions "
               f"({statistics.mean_pairs_per_question:.2f} per question)")  # fmt: skip
    if not pairs:
        print(summary)
        print(f"error: {no_pairs_reason(rows, rule)}; nothing written", file=sys.stderr)
        return 1
    write_rows(pairs, arguments.output)
    print(f"{summary}; wrote {arguments.output}")
    return 0
