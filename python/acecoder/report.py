"""A short account of a scored data set and its pairs: a table for the terminal and a few plots.

Why: the numbers that decide whether a run is worth training on are few. If most questions are all-pass or
all-fail, the pair rule finds little and the hard subset is thin; too few tests per question make pass rates
coarse (with five tests only 0, 0.2, … 1 exist); and pairs concentrated in a handful of questions teach the reward
model about those questions only. ``summarize`` computes these numbers, ``format_table`` prints them, and ``plot``
draws the three distributions behind them.

matplotlib is optional: it is imported inside ``plot`` only. Figures are built as ``matplotlib.figure.Figure``
objects and saved through the Agg canvas, so plotting never changes the global pyplot backend of the caller and
leaves no open figure behind.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from acecoder.pairs.rules import pair_statistics, scored_pass_rates

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Above this many distinct integer values a histogram gets equal-width bins instead of one bar per value.
_MAX_INTEGER_BARS = 60

_LABELS = {
    "questions": "questions",
    "inferences": "inferences",
    "scored_inferences": "scored inferences",
    "mean_pass_rate": "mean pass rate",
    "all_pass_fraction": "questions all-pass",
    "all_fail_fraction": "questions all-fail",
    "tests_per_question_mean": "tests per question (mean)",
    "tests_per_question_median": "tests per question (median)",
    "pairs": "pairs",
    "questions_with_pairs": "questions with pairs",
    "pairs_per_question_mean": "pairs per question (mean)",
    "questions_audited": "questions audited (kill rate)",
    "kill_rate_mean": "kill rate of the tests (mean)",
    "kill_rate_median": "kill rate of the tests (median)",
}


def summarize(rows: Sequence[dict], pairs: Iterable[dict] | None = None) -> dict[str, Any]:
    """Headline numbers for scored rows and, when given, their pairs.

    ``mean_pass_rate`` averages over all scored inferences; ``all_pass_fraction`` / ``all_fail_fraction`` are the
    shares of questions with at least one scored inference whose scored inferences all pass (pass rate 1) / all
    fail (pass rate 0). Values that have no data (no scored inference, no question) are None. The pair entries
    (``pairs``, ``questions_with_pairs``, ``pairs_per_question_mean`` over all questions) appear only when
    ``pairs`` is given.
    """
    rates_per_question = [scored_pass_rates(row) for row in rows]
    all_rates = [rate for rates in rates_per_question for rate in rates]
    scored_questions = [rates for rates in rates_per_question if rates]
    tests = [len(row.get("test_cases") or ()) for row in rows]
    summary: dict[str, Any] = {
        "questions": len(rows),
        "inferences": sum(len(row.get("inferences") or ()) for row in rows),
        "scored_inferences": len(all_rates),
        "mean_pass_rate": statistics.fmean(all_rates) if all_rates else None,
        "all_pass_fraction": _fraction(scored_questions, lambda rates: all(rate == 1.0 for rate in rates)),
        "all_fail_fraction": _fraction(scored_questions, lambda rates: all(rate == 0.0 for rate in rates)),
        "tests_per_question_mean": statistics.fmean(tests) if tests else None,
        "tests_per_question_median": statistics.median(tests) if tests else None,
    }
    kill_rates = _kill_rates(rows)
    if kill_rates:  # audited questions (acecoder audit): how strong their tests are
        summary["questions_audited"] = len(kill_rates)
        summary["kill_rate_mean"] = statistics.fmean(kill_rates)
        summary["kill_rate_median"] = statistics.median(kill_rates)
    if pairs is not None:
        counts = pair_statistics(rows, pairs)
        summary["pairs"] = counts.pairs
        summary["questions_with_pairs"] = counts.questions_with_pairs
        summary["pairs_per_question_mean"] = counts.mean_pairs_per_question if rows else None
    return summary


def _kill_rates(rows: Sequence[dict]) -> list[float]:
    return [
        float(row["kill_rate"]) for row in rows
        if isinstance(row.get("kill_rate"), (int, float)) and not isinstance(row.get("kill_rate"), bool)
    ]  # fmt: skip


def _fraction(items: list[list[float]], predicate: Callable[[list[float]], bool]) -> float | None:
    if not items:
        return None
    return sum(1 for item in items if predicate(item)) / len(items)


def format_table(summary: dict[str, Any]) -> str:
    """The summary as a two-column text table: labels left-aligned, values right-aligned; fractions and means get
    three decimals, missing values a dash."""
    lines = [(_LABELS.get(key, key.replace("_", " ")), _format_value(value)) for key, value in summary.items()]
    label_width = max([len("metric")] + [len(label) for label, _ in lines])
    value_width = max([len("value")] + [len(value) for _, value in lines])
    rule = f"{'-' * label_width}  {'-' * value_width}"
    table = [f"{'metric':<{label_width}}  {'value':>{value_width}}", rule]
    table += [f"{label:<{label_width}}  {value:>{value_width}}" for label, value in lines]
    return "\n".join(table)


def _format_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() and abs(value) >= 10 else f"{value:.3f}"
    return str(value)


def plot(rows: Sequence[dict], pairs: Iterable[dict] | None, directory: str | Path) -> list[Path]:
    """Writes ``pass_rate_histogram.png``, ``tests_per_question.png``, ``kill_rate_histogram.png`` when rows carry
    a ``kill_rate`` (``acecoder audit``) and, when ``pairs`` is given, ``pairs_per_question.png`` into
    ``directory`` (created if missing); returns their paths in that order. Needs matplotlib."""
    import matplotlib  # noqa: F401 - a missing matplotlib fails here, before the directory is made

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    rates = [rate for row in rows for rate in scored_pass_rates(row)]
    title = f"Pass rates of {len(rates):,} scored programs"
    figure = _fraction_histogram(
        rates, 20, "tab:blue", title, "pass rate (fraction of the question's tests passed)", "programs"
    )
    written.append(_save(figure, directory / "pass_rate_histogram.png"))

    tests = [len(row.get("test_cases") or ()) for row in rows]
    title = f"Tests per question ({len(rows):,} questions)"
    figure = _integer_histogram(tests, "tab:green", title, "tests in the question", "questions")
    written.append(_save(figure, directory / "tests_per_question.png"))

    kill_rates = _kill_rates(rows)
    if kill_rates:
        title = f"Kill rates of {len(kill_rates):,} audited questions' tests"
        xlabel = "kill rate (mutants of the reference the tests kill)"
        figure = _fraction_histogram(kill_rates, 10, "tab:purple", title, xlabel, "questions")
        written.append(_save(figure, directory / "kill_rate_histogram.png"))

    if pairs is not None:
        counts = pair_statistics(rows, pairs)
        title = f"Preference pairs per question ({counts.pairs:,} pairs, {counts.questions:,} questions)"
        figure = _integer_histogram(counts.pairs_per_question, "tab:orange", title, "pairs from the question",
                                    "questions")  # fmt: skip
        written.append(_save(figure, directory / "pairs_per_question.png"))
    return written


def _fraction_histogram(values: list[float], bins: int, color: str, title: str, xlabel: str, ylabel: str) -> Figure:
    """Values in [0, 1] in ``bins`` equal bins, counts on an integer axis."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(7, 4.5), layout="constrained")
    axes = figure.subplots()
    axes.hist(values, bins=[step / bins for step in range(bins + 1)], color=color, edgecolor="white")
    axes.set_xlim(0.0, 1.0)
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    return figure


def _integer_histogram(values: list[int], color: str, title: str, xlabel: str, ylabel: str) -> Figure:
    """One bar per integer value when there are few, centred on the value; equal-width bins otherwise."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(7, 4.5), layout="constrained")
    axes = figure.subplots()
    low, high = (min(values), max(values)) if values else (0, 1)
    if high - low <= _MAX_INTEGER_BARS:
        bins: list[float] | int = [value - 0.5 for value in range(low, high + 2)]
    else:
        bins = 40
    axes.hist(values, bins=bins, color=color, edgecolor="white")
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    return figure


def _save(figure: Figure, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=100)
    figure.clear()
    return path
