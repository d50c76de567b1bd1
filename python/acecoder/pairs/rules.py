"""Step three of AceCoder (arXiv 2502.01718, section 3): scored programs become preference pairs for the reward
model, and the questions the policy finds hard-but-not-hopeless become the RL subset.

Why this rule: a pair only teaches the reward model something if the chosen program is good (pass rate ≥ 0.8),
clearly better than the rejected one (margin ≥ 0.4), and the rejected one is a real attempt rather than code that
fails everything (pass rate > 0: an all-failing program is usually a syntax error or a wrong signature, which is
too easy to tell apart). Pairs never cross questions, since the reward is relative to one prompt, and identical
programs count once, so no pair repeats and none compares a program with itself.

Why the hard subset: RL learns most where the policy's samples disagree. AceCoder keeps questions whose mean pass
rate is at or below the median (hard) and, among those, whose spread is at or above the median (solvable now and
then), about a quarter of the data.

Pass rates are ratios of small integers stored as floats, so while ``0.9 - 0.5`` is ``0.4``, ``0.85 - 0.45`` is
``0.39999999999999997`` and ``0.95 - 0.55`` is ``0.3999999999999999``. Every threshold is compared with a slack of
``EPSILON`` (far below the smallest difference between two real pass rates, 1 / tests²) so that a value which is
exactly on the threshold on paper is on it in code too.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from acecoder.prompts import policy_prompt, response_text

EPSILON = 1e-9
"""Slack for comparing pass rates with thresholds; see the module docstring."""


@dataclass(frozen=True)
class PairRule:
    """When two programs for one question form a (chosen, rejected) pair. Defaults are AceCoder's."""

    chosen_min: float = field(default=0.8, metadata={"help": "Lowest pass rate a chosen program may have."})
    margin_min: float = field(default=0.4, metadata={"help": "Smallest chosen − rejected pass-rate difference."})
    rejected_min: float = field(
        default=0.0, metadata={"help": "Floor on the rejected program's pass rate (see rejected_exclusive)."}
    )
    rejected_exclusive: bool = field(
        default=True, metadata={"help": "The rejected pass rate must be strictly above rejected_min (AceCoder: > 0)."}
    )

    def __post_init__(self) -> None:
        for name in ("chosen_min", "margin_min", "rejected_min"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
                raise ValueError(f"PairRule.{name} must be a number in [0, 1], got {value!r}")
        if not isinstance(self.rejected_exclusive, bool):
            raise ValueError(f"PairRule.rejected_exclusive must be a bool, got {self.rejected_exclusive!r}")

    def accepts_chosen(self, pass_rate: float) -> bool:
        return pass_rate >= self.chosen_min - EPSILON

    def accepts_rejected(self, pass_rate: float) -> bool:
        if self.rejected_exclusive:
            return pass_rate > self.rejected_min + EPSILON
        return pass_rate >= self.rejected_min - EPSILON

    def accepts(self, chosen_pass_rate: float, rejected_pass_rate: float) -> bool:
        """True if a program passing ``chosen_pass_rate`` may be preferred over one passing ``rejected_pass_rate``."""
        return (
            self.accepts_chosen(chosen_pass_rate)
            and self.accepts_rejected(rejected_pass_rate)
            and chosen_pass_rate - rejected_pass_rate >= self.margin_min - EPSILON
        )


def scored_pass_rate(inference: dict, question_id: object = None) -> float | None:
    """An inference's pass rate as a float, or None when it was not scored. A pass rate that is neither None nor a
    number in [0, 1] is bad data and raises ValueError rather than quietly skewing pairs and statistics."""
    value = inference.get("pass_rate")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or not 0 <= value <= 1:
        completion = inference.get("completion_id")
        raise ValueError(f"question {question_id!r}, completion {completion!r}: pass_rate must be in [0, 1] or None, "
                         f"got {value!r}")  # fmt: skip
    return float(value)


def scored_pass_rates(row: dict) -> list[float]:
    """The pass rates of a row's scored inferences, in inference order."""
    rates = (scored_pass_rate(inference, row.get("id")) for inference in row.get("inferences") or ())
    return [rate for rate in rates if rate is not None]


@dataclass(frozen=True)
class _Candidate:
    index: int
    program: str
    pass_rate: float
    completion_id: Any


def _candidates(row: dict) -> list[_Candidate]:
    """Scored inferences with a program, the first of each distinct (stripped) program only."""
    seen: set[str] = set()
    candidates = []
    for index, inference in enumerate(row.get("inferences") or ()):
        pass_rate = scored_pass_rate(inference, row.get("id"))
        program = inference.get("program")
        if pass_rate is None or not isinstance(program, str) or not program.strip():
            continue
        program = program.strip()
        if program in seen:
            continue
        seen.add(program)
        candidates.append(_Candidate(index, program, pass_rate, inference.get("completion_id")))
    return candidates


def build_pairs(
    rows: Iterable[dict],
    rule: PairRule = PairRule(),
    conversational: bool = False,
    max_pairs_per_question: int | None = None,
) -> Iterator[dict]:
    """Preference pairs in TRL's format, question by question in input order.

    Within a question, pairs come in order of the chosen program's position among the inferences, then the
    rejected one's. ``max_pairs_per_question`` keeps the pairs with the largest margins (ties: the earlier pair) and
    still yields them in that order, so a cap at or above a question's pair count changes nothing. Standard format:
    ``prompt``, ``chosen`` and ``rejected`` are strings; conversational: ``prompt`` is a one-message user chat and
    ``chosen`` / ``rejected`` one-message assistant chats. Each pair also carries the question ``id`` and both
    programs' pass rates and completion ids.
    """
    if max_pairs_per_question is not None and (
        isinstance(max_pairs_per_question, bool)
        or not isinstance(max_pairs_per_question, int)
        or max_pairs_per_question < 1
    ):
        raise ValueError(f"max_pairs_per_question must be a positive integer or None, got {max_pairs_per_question!r}")
    for row in rows:
        candidates = _candidates(row)
        matches = [
            (chosen, rejected)
            for chosen in candidates
            if rule.accepts_chosen(chosen.pass_rate)
            for rejected in candidates
            if rejected is not chosen and rule.accepts(chosen.pass_rate, rejected.pass_rate)
        ]
        if not matches:
            continue
        if max_pairs_per_question is not None and len(matches) > max_pairs_per_question:
            # Margins are rounded so that float noise (0.9 - 0.5 vs 0.8 - 0.4) cannot break a tie out of order.
            ranked = sorted(
                range(len(matches)),
                key=lambda position: (-round(matches[position][0].pass_rate - matches[position][1].pass_rate, 9),
                                      position),
            )  # fmt: skip
            kept = sorted(ranked[:max_pairs_per_question])
            matches = [matches[position] for position in kept]
        prompt = policy_prompt(row["question"], row.get("test_cases") or ())
        for chosen, rejected in matches:
            yield _pair(row["id"], prompt, chosen, rejected, conversational)


def _pair(question_id: str, prompt: str, chosen: _Candidate, rejected: _Candidate, conversational: bool) -> dict:
    chosen_text = response_text(chosen.program)
    rejected_text = response_text(rejected.program)
    pair: dict[str, Any]
    if conversational:
        pair = {
            "prompt": [{"role": "user", "content": prompt}],
            "chosen": [{"role": "assistant", "content": chosen_text}],
            "rejected": [{"role": "assistant", "content": rejected_text}],
        }
    else:
        pair = {"prompt": prompt, "chosen": chosen_text, "rejected": rejected_text}
    pair.update(
        id=question_id,
        chosen_pass_rate=chosen.pass_rate,
        rejected_pass_rate=rejected.pass_rate,
        chosen_completion_id=chosen.completion_id,
        rejected_completion_id=rejected.completion_id,
    )
    return pair


def strong_enough(rows: Iterable[dict], min_kill_rate: float) -> tuple[list[dict], int, int]:
    """The rows whose tests kill at least ``min_kill_rate`` of their mutants (``kill_rate`` from ``acecoder
    audit``), and how many were below it and how many had no kill rate (not audited, or no mutant to make): both
    left out. Why: where the tests let wrong programs pass, a pass rate does not separate right from wrong, so
    pairs and RL rewards from such a question teach the wrong thing."""
    kept: list[dict] = []
    below = unknown = 0
    for row in rows:
        rate = row.get("kill_rate")
        if not isinstance(rate, (int, float)) or isinstance(rate, bool) or math.isnan(rate):
            unknown += 1
        elif rate >= min_kill_rate - EPSILON:
            kept.append(row)
        else:
            below += 1
    return kept, below, unknown


def hard_subset(rows: Iterable[dict], drop_flat: bool = False) -> list[dict]:
    """AceCoder's RL subset: questions with mean pass rate ≤ the median of all means, then, among those, with
    (population) standard deviation ≥ the median of their standard deviations.

    Questions without a scored inference take no part (not in either median, never kept). With ``drop_flat``,
    questions whose samples all scored the same (std 0: all failed, or all passed) are left out before the medians:
    a GRPO group whose rewards are all equal has zero advantage and teaches nothing, and when most questions are
    unsolved (a small policy) the plain rule keeps exactly those, since the median mean and std are then 0.
    Returns copies of the kept rows in input order, each with ``mean_pass_rate`` and ``std_pass_rate`` added.
    """
    scored: list[tuple[dict, float, float]] = []
    for row in rows:
        rates = scored_pass_rates(row)
        if rates:
            scored.append((row, statistics.fmean(rates), statistics.pstdev(rates)))
    if drop_flat:
        scored = [entry for entry in scored if entry[2] > EPSILON]
    if not scored:
        return []
    median_mean = statistics.median(mean for _, mean, _ in scored)
    hard = [entry for entry in scored if entry[1] <= median_mean + EPSILON]
    median_std = statistics.median(std for _, _, std in hard)
    return [
        {**row, "mean_pass_rate": mean, "std_pass_rate": std} for row, mean, std in hard if std >= median_std - EPSILON
    ]


@dataclass(frozen=True)
class PairStatistics:
    """How pairs spread over questions. ``pairs_per_question`` follows the rows' order and includes zeros."""

    questions: int
    questions_with_pairs: int
    pairs: int
    pairs_per_question: list[int]

    @property
    def mean_pairs_per_question(self) -> float:
        return self.pairs / self.questions if self.questions else 0.0


def pair_statistics(rows: Sequence[dict], pairs: Iterable[dict]) -> PairStatistics:
    """Counts pairs per question, matching pairs to rows by question ``id``; a pair whose id is not among the rows
    raises ValueError (the pairs were built from other data)."""
    counts = {row["id"]: 0 for row in rows}
    total = 0
    for pair in pairs:
        if pair["id"] not in counts:
            raise ValueError(f"pair for question {pair['id']!r}, which is not among the rows")
        counts[pair["id"]] += 1
        total += 1
    per_question = [counts[row["id"]] for row in rows]
    return PairStatistics(
        questions=len(rows),
        questions_with_pairs=sum(1 for count in per_question if count),
        pairs=total,
        pairs_per_question=per_question,
    )
