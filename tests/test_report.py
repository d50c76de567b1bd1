"""The report's numbers on hand-made rows, its table layout, and that plot() writes real PNG files."""

from __future__ import annotations

import pytest
from acecoder.pairs.rules import build_pairs
from acecoder.report import format_table, plot, summarize

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def make_row(question_id: str, rates: list[float | None], tests: int) -> dict:
    return {
        "id": question_id,
        "question": f"Question {question_id}",
        "test_cases": [f"assert f({number}) == {number}" for number in range(tests)],
        "inferences": [
            {"completion_id": index, "program": f"return {index}", "pass_rate": rate}
            for index, rate in enumerate(rates)
        ],
    }


def hand_rows() -> list[dict]:
    return [
        make_row("all-pass", [1.0, 1.0], tests=3),
        make_row("all-fail", [0.0, 0.0, None], tests=5),
        make_row("mixed", [1.0, 0.5, 0.25], tests=4),  # pairs: 1.0 over 0.5, 1.0 over 0.25
        make_row("unscored", [], tests=10),
    ]


def test_summary_numbers() -> None:
    rows = hand_rows()
    summary = summarize(rows, build_pairs(rows))
    assert summary == {
        "questions": 4,
        "inferences": 8,
        "scored_inferences": 7,
        "mean_pass_rate": pytest.approx(3.75 / 7),
        "all_pass_fraction": pytest.approx(1 / 3),  # of the three questions with a scored inference
        "all_fail_fraction": pytest.approx(1 / 3),
        "tests_per_question_mean": pytest.approx(5.5),
        "tests_per_question_median": pytest.approx(4.5),
        "pairs": 2,
        "questions_with_pairs": 1,
        "pairs_per_question_mean": pytest.approx(0.5),
    }


def test_summary_without_pairs_and_empty() -> None:
    assert "pairs" not in summarize(hand_rows())
    empty = summarize([], [])
    assert empty["questions"] == 0 and empty["pairs"] == 0
    assert empty["mean_pass_rate"] is None and empty["all_pass_fraction"] is None
    assert empty["tests_per_question_mean"] is None and empty["pairs_per_question_mean"] is None


def test_table_is_aligned() -> None:
    rows = hand_rows()
    table = format_table(summarize(rows, build_pairs(rows)))
    lines = table.splitlines()
    assert len(lines) == 2 + 11
    assert len({len(line) for line in lines}) == 1  # every line as wide: values are right-aligned
    assert lines[0].startswith("metric") and set(lines[1]) == {"-", " "}
    assert any(line.startswith("mean pass rate") and line.endswith("0.536") for line in lines)
    assert any(line.startswith("scored inferences") and line.endswith(" 7") for line in lines)
    assert "-" in format_table(summarize([]))


def test_plot_writes_png_files(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    rows = hand_rows()
    written = plot(rows, build_pairs(rows), tmp_path / "plots")
    assert [path.name for path in written] == ["pass_rate_histogram.png", "tests_per_question.png",
                                               "pairs_per_question.png"]  # fmt: skip
    for path in written:
        assert path.read_bytes()[:8] == PNG_SIGNATURE
        assert path.stat().st_size > 1000

    without_pairs = plot(rows, None, tmp_path / "no-pairs")
    assert [path.name for path in without_pairs] == ["pass_rate_histogram.png", "tests_per_question.png"]
    assert not (tmp_path / "no-pairs" / "pairs_per_question.png").exists()


def test_plot_with_no_data(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    written = plot([], [], tmp_path)
    assert all(path.read_bytes()[:8] == PNG_SIGNATURE for path in written)
