"""The pair rule on its edge values, pair building (same question only, deduplicated, both TRL formats, capped,
deterministic) and the hard subset, on hand-made rows whose expected output is worked out by hand."""

from __future__ import annotations

import copy
from collections.abc import Iterable

import pytest
from acecoder.pairs.rules import PairRule, PairStatistics, build_pairs, hard_subset, pair_statistics
from acecoder.prompts import policy_prompt, response_text


def make_row(question_id: str, scored: list[tuple[str, float | None]], tests: int = 3) -> dict:
    """A row whose inferences are (program, pass rate) in order, with completion ids 0, 1, …"""
    return {
        "id": question_id,
        "question": f"Write function f for {question_id}.",
        "test_cases": [f"assert f({number}) == {number}" for number in range(tests)],
        "source": "hand-made",
        "context_messages": [{"role": "user", "content": f"Write function f for {question_id}."}],
        "inferences": [
            {
                "model_name": "hand",
                "completion_id": completion_id,
                "completion": f"```python\n{program}\n```",
                "program": program,
                "pass_rate": pass_rate,
                "test_statuses": [],
            }
            for completion_id, (program, pass_rate) in enumerate(scored)
        ],
    }


def rates_of(pairs: Iterable[dict]) -> list[tuple[float, float]]:
    return [(pair["chosen_pass_rate"], pair["rejected_pass_rate"]) for pair in pairs]


# ---- the rule ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("chosen", "rejected", "expected"),
    [
        (0.8, 0.4, True),  # chosen exactly 0.8, margin exactly 0.4
        (0.79, 0.3, False),  # chosen just below 0.8
        (0.9, 0.5, True),  # margin 0.4 in float
        (0.85, 0.45, True),  # 0.85 - 0.45 == 0.39999999999999997
        (0.95, 0.55, True),  # 0.95 - 0.55 == 0.3999999999999999
        (1.0, 0.6, True),
        (0.8, 0.41, False),  # margin 0.39
        (1.0, 0.61, False),  # margin 0.39
        (1.0, 0.0, False),  # rejected exactly 0 never qualifies
        (0.8, 0.0, False),
        (1.0, 0.05, True),  # rejected just above 0
        (0.8, 0.05, True),
        (1.0, 1.0, False),
        (0.5, 0.05, False),  # chosen too low despite a margin
    ],
)
def test_rule_edges(chosen: float, rejected: float, expected: bool) -> None:
    assert PairRule().accepts(chosen, rejected) is expected


def test_rule_edges_with_real_ratios() -> None:
    rule = PairRule()
    assert rule.accepts(4 / 5, 2 / 5)  # 0.8 and 0.4 as a pass-rate step computes them
    assert rule.accepts(17 / 20, 9 / 20)  # 0.85 - 0.45
    assert rule.accepts(19 / 20, 11 / 20)  # 0.95 - 0.55
    assert not rule.accepts(15 / 19, 1 / 19)  # 0.789… is below 0.8
    assert rule.accepts(1.0, 1 / 20)


def test_rule_is_configurable() -> None:
    inclusive = PairRule(rejected_exclusive=False)
    assert inclusive.accepts(1.0, 0.0)
    looser = PairRule(chosen_min=0.5, margin_min=0.2, rejected_min=0.1)
    assert looser.accepts(0.5, 0.3)
    assert not looser.accepts(0.5, 0.1)  # exclusive floor
    assert not looser.accepts(0.5, 0.31)


def test_pairs_command_can_reject_programs_that_pass_nothing(tmp_path) -> None:
    """AceCoder's rule never rejects a program passing no test; ``--rejected-inclusive`` (a weak policy's data,
    where most wrong programs pass nothing) does."""
    import json

    from acecoder.cli import main

    rates = tmp_path / "rates.jsonl"
    row = make_row("q", [("return 1", 1.0), ("return 2", 1 / 3), ("return", 0.0)])
    rates.write_text(json.dumps(row) + "\n", encoding="utf-8")
    strict, inclusive = tmp_path / "strict.jsonl", tmp_path / "inclusive.jsonl"
    assert main(["pairs", "--input", str(rates), "--output", str(strict)]) == 0
    assert main(["pairs", "--input", str(rates), "--output", str(inclusive), "--rejected-inclusive"]) == 0

    def written(path) -> list[dict]:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]

    assert rates_of(written(strict)) == [(1.0, 1 / 3)]
    assert sorted(rates_of(written(inclusive))) == [(1.0, 0.0), (1.0, 1 / 3)]


@pytest.mark.parametrize(
    "arguments",
    [
        {"chosen_min": 1.2},
        {"chosen_min": -0.1},
        {"margin_min": 2},
        {"rejected_min": float("nan")},
        {"chosen_min": True},
        {"margin_min": "0.4"},
        {"rejected_exclusive": 1},
    ],
)
def test_rule_validation(arguments: dict) -> None:
    with pytest.raises(ValueError):
        PairRule(**arguments)


# ---- building pairs ----------------------------------------------------------------------------------------------


def test_standard_format_and_fields() -> None:
    row = make_row("q1", [("return 1", 1.0), ("return 2", 0.5), ("return 3", 0.0)])
    pairs = list(build_pairs([row]))
    assert pairs == [
        {
            "prompt": policy_prompt(row["question"], row["test_cases"]),
            "chosen": response_text("return 1"),
            "rejected": response_text("return 2"),
            "id": "q1",
            "chosen_pass_rate": 1.0,
            "rejected_pass_rate": 0.5,
            "chosen_completion_id": 0,
            "rejected_completion_id": 1,
        }
    ]
    assert pairs[0]["prompt"].endswith("assert f(0) == 0\n")


def test_conversational_format() -> None:
    row = make_row("q1", [("return 1", 1.0), ("return 2", 0.5)])
    (pair,) = build_pairs([row], conversational=True)
    assert pair["prompt"] == [{"role": "user", "content": policy_prompt(row["question"], row["test_cases"])}]
    assert pair["chosen"] == [{"role": "assistant", "content": response_text("return 1")}]
    assert pair["rejected"] == [{"role": "assistant", "content": response_text("return 2")}]
    assert (pair["id"], pair["chosen_completion_id"], pair["rejected_completion_id"]) == ("q1", 0, 1)


def test_pairs_stay_within_a_question() -> None:
    good = make_row("good", [("return 1", 1.0), ("return 11", 0.9)])
    weak = make_row("weak", [("return 2", 0.3), ("return 22", 0.2)])
    assert list(build_pairs([good, weak])) == []


def test_every_qualifying_combination_in_order() -> None:
    row = make_row("q", [("a", 0.3), ("b", 1.0), ("c", 0.8), ("d", 0.5), ("e", 0.0), ("f", 0.4)])
    pairs = list(build_pairs([row]))
    # chosen in inference order (b, then c), rejected in inference order; e (0.0) is never rejected.
    assert rates_of(pairs) == [(1.0, 0.3), (1.0, 0.5), (1.0, 0.4), (0.8, 0.3), (0.8, 0.4)]
    assert [(pair["chosen_completion_id"], pair["rejected_completion_id"]) for pair in pairs] == [
        (1, 0), (1, 3), (1, 5), (2, 0), (2, 5),
    ]  # fmt: skip


def test_duplicate_programs_count_once() -> None:
    row = make_row(
        "q",
        [
            ("return 1", 1.0),
            ("  return 1\n", 1.0),  # same program after strip: dropped
            ("return 2", 0.5),
            ("return 2", 0.5),  # exact duplicate: dropped
            ("return 1", 0.2),  # same text as the first, scored differently: the first one counts
        ],
    )
    pairs = list(build_pairs([row]))
    assert [(pair["chosen"], pair["rejected"]) for pair in pairs] == [
        (response_text("return 1"), response_text("return 2"))
    ]
    assert all(pair["chosen"] != pair["rejected"] for pair in pairs)
    assert pairs[0]["chosen_completion_id"] == 0 and pairs[0]["rejected_completion_id"] == 2


def test_unscored_and_empty_programs_are_skipped() -> None:
    row = make_row("q", [("return 1", 1.0), ("return 2", None), ("   ", 0.5), ("", 0.3), ("return 3", 0.5)])
    row["inferences"].append({"completion_id": 9, "pass_rate": 0.2})  # no program at all
    pairs = list(build_pairs([row]))
    assert [(pair["chosen_completion_id"], pair["rejected_completion_id"]) for pair in pairs] == [(0, 4)]


def test_rows_without_inferences_yield_nothing() -> None:
    row = make_row("q", [])
    del row["inferences"]
    assert list(build_pairs([row, make_row("r", [])])) == []


def test_bad_pass_rate_raises() -> None:
    for bad in (1.5, -0.1, float("nan"), "1.0", True):
        with pytest.raises(ValueError, match="pass_rate"):
            list(build_pairs([make_row("q", [("return 1", bad)])]))  # type: ignore[list-item]


def test_cap_keeps_largest_margins_in_order() -> None:
    # Margins in enumeration order: 1.0-0.5=0.5, 1.0-0.1=0.9, 1.0-0.6=0.4, 0.9-0.5=0.4, 0.9-0.1=0.8.
    row = make_row("q", [("a", 1.0), ("b", 0.5), ("c", 0.9), ("d", 0.1), ("e", 0.6)])
    uncapped = list(build_pairs([row]))
    assert rates_of(uncapped) == [(1.0, 0.5), (1.0, 0.1), (1.0, 0.6), (0.9, 0.5), (0.9, 0.1)]
    assert rates_of(build_pairs([row], max_pairs_per_question=2)) == [(1.0, 0.1), (0.9, 0.1)]
    assert rates_of(build_pairs([row], max_pairs_per_question=3)) == [(1.0, 0.5), (1.0, 0.1), (0.9, 0.1)]
    # A tie at margin 0.4 (1.0 - 0.6 and 0.9 - 0.5): the earlier pair wins.
    assert rates_of(build_pairs([row], max_pairs_per_question=4)) == [(1.0, 0.5), (1.0, 0.1), (1.0, 0.6), (0.9, 0.1)]
    assert list(build_pairs([row], max_pairs_per_question=5)) == uncapped
    assert list(build_pairs([row], max_pairs_per_question=100)) == uncapped


def test_cap_is_per_question() -> None:
    rows = [make_row("q1", [("a", 1.0), ("b", 0.5), ("c", 0.2)]), make_row("q2", [("a", 1.0), ("b", 0.5)])]
    pairs = list(build_pairs(rows, max_pairs_per_question=1))
    assert [(pair["id"], pair["rejected_pass_rate"]) for pair in pairs] == [("q1", 0.2), ("q2", 0.5)]


@pytest.mark.parametrize("cap", [0, -1, 1.5, True])
def test_cap_validation(cap: object) -> None:
    with pytest.raises(ValueError, match="max_pairs_per_question"):
        list(build_pairs([], max_pairs_per_question=cap))  # type: ignore[arg-type]


def test_deterministic_and_input_untouched() -> None:
    rows = [
        make_row("q1", [("a", 1.0), ("b", 0.5), ("c", 0.9), ("d", 0.1)]),
        make_row("q2", [("x", 0.2), ("y", 0.85), ("z", 0.45)]),
    ]
    before = copy.deepcopy(rows)
    first = list(build_pairs(rows))
    assert first == list(build_pairs(copy.deepcopy(rows)))
    assert rows == before
    assert [pair["id"] for pair in first] == ["q1", "q1", "q1", "q1", "q2", "q2"]
    assert rates_of(first)[-2:] == [(0.85, 0.2), (0.85, 0.45)]


def test_build_pairs_is_lazy_over_rows() -> None:
    def rows():
        yield make_row("q1", [("a", 1.0), ("b", 0.5)])
        raise AssertionError("read past the first question")

    assert next(build_pairs(rows()))["id"] == "q1"


# ---- the hard subset ---------------------------------------------------------------------------------------------


def hard_rows() -> list[dict]:
    def row(question_id: str, rates: list[float | None]) -> dict:
        return make_row(question_id, [(f"return {index}", rate) for index, rate in enumerate(rates)])

    return [
        row("all-fail", [0.0, 0.0, 0.0, 0.0]),  # mean 0, std 0
        row("split", [0.0, 1.0]),  # mean 0.5, std 0.5
        row("low", [0.2, None, 0.4]),  # mean 0.3, std 0.1 (the None is ignored)
        row("all-pass", [1.0, 1.0]),  # mean 1, std 0
        row("flat-half", [0.5, 0.5]),  # mean 0.5, std 0
        row("spread-half", [0.1, 0.9, 0.5, 0.5]),  # mean 0.5, std sqrt(0.08) ≈ 0.283
        row("unscored", [None, None]),  # skipped entirely
        row("easy", [0.8, 1.0]),  # mean 0.9, std 0.1
    ]


def test_hard_subset_by_hand() -> None:
    # Means of scored questions: 0, 0.5, 0.3, 1, 0.5, 0.5, 0.9 -> median 0.5; mean <= 0.5 keeps all-fail, split,
    # low, flat-half, spread-half. Their stds: 0, 0.5, 0.1, 0, 0.283 -> median 0.1; std >= 0.1 keeps split, low
    # (exactly at the median) and spread-half.
    rows = hard_rows()
    before = copy.deepcopy(rows)
    kept = hard_subset(rows)
    assert [row["id"] for row in kept] == ["split", "low", "spread-half"]
    assert [row["mean_pass_rate"] for row in kept] == pytest.approx([0.5, 0.3, 0.5])
    assert [row["std_pass_rate"] for row in kept] == pytest.approx([0.5, 0.1, 0.08**0.5])
    assert kept[0]["inferences"] == rows[1]["inferences"]
    assert rows == before  # copies, not the caller's rows


def test_hard_subset_of_a_weak_policy_is_all_unsolved_unless_flat_groups_are_dropped() -> None:
    def row(question_id: str, rates: list[float]) -> dict:
        return make_row(question_id, [(f"return {index}", rate) for index, rate in enumerate(rates)])

    # Most questions never solved, as with a 135M policy: the medians are 0 and the plain rule keeps the unsolved.
    rows = [row(f"zero-{number}", [0.0] * 4) for number in range(5)]
    rows += [row("rare", [0.0, 0.0, 0.0, 1.0]), row("half", [0.0, 1.0, 0.0, 1.0]), row("solved", [1.0] * 4)]
    assert [kept["id"] for kept in hard_subset(rows)] == [f"zero-{number}" for number in range(5)]
    # Dropping flat questions first: means 0.25, 0.5 -> median 0.375 keeps rare; std of rare ≈ 0.433 >= median.
    assert [kept["id"] for kept in hard_subset(rows, drop_flat=True)] == ["rare"]
    # By hand: drop_flat removes all-fail, all-pass and flat-half before the medians of the rest.
    # Means 0.5, 0.3, 0.5, 0.9 -> median 0.5 keeps split, low, spread-half; stds 0.5, 0.1, 0.283 -> median 0.283.
    assert [kept["id"] for kept in hard_subset(hard_rows(), drop_flat=True)] == ["split", "spread-half"]


def test_hard_subset_follows_input_order() -> None:
    rows = list(reversed(hard_rows()))
    assert [row["id"] for row in hard_subset(rows)] == ["spread-half", "low", "split"]


def test_hard_subset_empty_and_unscored() -> None:
    assert hard_subset([]) == []
    assert hard_subset([make_row("q", [("a", None)])]) == []
    (only,) = hard_subset([make_row("q", [("a", 0.5)])])
    assert (only["mean_pass_rate"], only["std_pass_rate"]) == (0.5, 0.0)


# ---- statistics --------------------------------------------------------------------------------------------------


def test_pair_statistics() -> None:
    rows = [
        make_row("q1", [("a", 1.0), ("b", 0.5), ("c", 0.2)]),
        make_row("q2", [("a", 0.3)]),
        make_row("q3", [("a", 0.9), ("b", 0.4)]),
    ]
    statistics = pair_statistics(rows, build_pairs(rows))
    assert statistics == PairStatistics(questions=3, questions_with_pairs=2, pairs=3, pairs_per_question=[2, 0, 1])
    assert statistics.mean_pairs_per_question == pytest.approx(1.0)
    assert pair_statistics([], []).mean_pairs_per_question == 0.0


def test_pair_statistics_rejects_foreign_pairs() -> None:
    pairs = list(build_pairs([make_row("elsewhere", [("a", 1.0), ("b", 0.5)])]))
    with pytest.raises(ValueError, match="elsewhere"):
        pair_statistics([make_row("q", [])], pairs)
