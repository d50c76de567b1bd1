"""Best-of-N: the selection table and bootstrap interval on hand-made candidates (exact numbers, ties, NaN), the
table text and plot, batching to a scorer, and ``acecoder bon`` end to end with a tiny random reward model on
AceCode questions (real programs through the engine) and on three MBPP+ tasks (evalplus verdicts)."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pytest
from acecoder.cli import bon
from acecoder.data.benchmarks import load_mbpp_plus
from acecoder.eval.best_of_n import (
    Candidates,
    attach_scores,
    bootstrap_interval,
    default_ns,
    format_interval,
    format_table,
    paired_bootstrap,
    plot,
    score_candidates,
    selection_table,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def hand_candidates() -> list[Candidates]:
    def problem(name: str, correct: list[bool], scores: list[float], greedy: bool | None) -> Candidates:
        return Candidates(name, f"prompt {name}", [f"program {name} {index}" for index in range(len(correct))], correct,
                          scores=scores, greedy_correct=greedy)  # fmt: skip

    yes, no = True, False
    return [
        problem("tie-late", [yes, no, no, yes], [0.1, 0.9, 0.9, 0.5], greedy=yes),  # 0.9 twice: index 1 wins
        problem("never", [no, no, no, no], [1.0, 2.0, 3.0, 4.0], greedy=no),
        problem("tie-first", [no, yes, yes, yes], [2.0, 2.0, 1.0, 0.0], greedy=yes),  # tie at 2.0: index 0 (wrong)
        problem("rm-finds-it", [no, no, yes, no], [0.0, 0.0, 5.0, 0.0], greedy=no),
    ]


def test_selection_table_exact_numbers_with_ties() -> None:
    rows = selection_table(hand_candidates())
    assert [row["n"] for row in rows] == [1, 2, 4]
    expected = {
        1: {"average": 0.25, "oracle": 0.25, "rm_selected": 0.25},
        2: {"average": 0.25, "oracle": 0.5, "rm_selected": 0.0},
        4: {"average": 0.375, "oracle": 0.75, "rm_selected": 0.25},
    }
    for row in rows:
        assert row["problems"] == 4 and row["greedy"] == 0.5
        assert row["random_selected"] == row["average"]
        for method, value in expected[row["n"]].items():
            assert row[method] == pytest.approx(value), (row["n"], method)


def test_selection_table_edges() -> None:
    assert default_ns(16) == [1, 2, 4, 8, 16] and default_ns(6) == [1, 2, 4, 6] and default_ns(1) == [1]
    problems = hand_candidates()
    assert [row["n"] for row in selection_table(problems, ns=[3])] == [3]
    with pytest.raises(ValueError, match="between 1 and 4"):
        selection_table(problems, ns=[8])
    # A NaN score never wins; without scores there is no RM column; greedy covers the problems that have one.
    nan = Candidates("nan", "p", ["a", "b"], [False, True], scores=[math.nan, -1.0])
    assert nan.selected(2) == 1
    unscored = [Candidates("a", "p", ["x"], [True]), Candidates("b", "p", ["y"], [False], greedy_correct=True)]
    (row,) = selection_table(unscored)
    assert row["rm_selected"] is None and row["greedy"] == 1.0 and row["oracle"] == 0.5
    with pytest.raises(ValueError, match="3 verdicts"):
        Candidates("bad", "p", ["x", "y"], [True, False, True])


def test_bootstrap_interval_is_seeded_and_holds_the_estimate() -> None:
    problems = hand_candidates()
    interval = bootstrap_interval(problems, seed=7)
    # Per problem at N=4: RM pick minus the mean: -0.5, 0, -0.75, +0.75.
    assert interval.n == 4 and interval.difference == pytest.approx(-0.125)
    assert interval.low <= interval.difference <= interval.high and interval.low < interval.high
    assert interval.resamples == 2000 and interval.problems == 4 and interval.confidence == 0.95
    assert bootstrap_interval(problems, seed=7) == interval
    small = bootstrap_interval(problems, n=1, resamples=50, seed=0)
    assert small.difference == 0.0 and small.low == small.high == 0.0  # at N=1 the RM has no choice
    assert "-12.5 points" in format_interval(interval)
    with pytest.raises(ValueError, match="RM scores"):
        bootstrap_interval([Candidates("a", "p", ["x"], [True])])


def test_paired_bootstrap_brackets_the_mean_and_is_seeded() -> None:
    differences = [1.0, 0.0, 0.0, -0.5, 0.25, 0.0, 1.0, 0.0]
    low, high = paired_bootstrap(differences, resamples=500, seed=3)
    assert low < sum(differences) / len(differences) < high and -0.5 <= low and high <= 1.0
    assert paired_bootstrap(differences, resamples=500, seed=3) == (low, high)
    assert paired_bootstrap([0.25] * 5, resamples=20) == (0.25, 0.25)  # no spread, no width
    with pytest.raises(ValueError, match="no differences"):
        paired_bootstrap([])


def test_table_text_and_plot(tmp_path: Path) -> None:
    rows = selection_table(hand_candidates())
    text = format_table(rows).splitlines()
    cells = [[cell.strip() for cell in line.split("|")[1:-1]] for line in text]
    assert cells[0] == ["N", "greedy", "average", "oracle (pass@N)", "RM-selected", "random-selected"]
    assert cells[-1] == ["4", "50.0", "37.5", "75.0", "25.0", "37.5"]
    assert len({len(line) for line in text}) == 1 and len(text) == 2 + len(rows)
    pytest.importorskip("matplotlib")
    path = plot(rows, tmp_path / "figures" / "bon.png")
    assert path.read_bytes().startswith(PNG_SIGNATURE)


class LengthScorer:
    """Scores a response by its length; records the batches it was given."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def score(self, prompts, responses):
        assert len(prompts) == len(responses)
        self.batches.append(len(responses))
        self.prompts = list(prompts)
        return [float(len(response)) for response in responses]


def test_scores_come_back_in_order_through_chunks() -> None:
    scorer = LengthScorer()
    responses = ["x" * length for length in (5, 1, 9, 3, 7)]
    assert score_candidates(scorer, ["p"] * 5, responses, chunk_size=2) == [5.0, 1.0, 9.0, 3.0, 7.0]
    assert scorer.batches == [2, 2, 1]
    problems = [Candidates("a", "p", ["x", "xxx"], [False, True]), Candidates("b", "p", ["yy"], [True])]
    attach_scores(problems, LengthScorer())
    assert problems[0].scores == [float(len("```python\nx\n```")), float(len("```python\nxxx\n```"))]
    assert problems[0].selected(2) == 1 and problems[1].scores == [float(len("```python\nyy\n```"))]
    conversational = LengthScorer()
    attach_scores(problems, conversational, conversational=True)
    assert conversational.prompts[0] == [{"role": "user", "content": "p"}]


# ------------------------------------------------------------------------------------------- acecoder bon, end to end


def run_bon(arguments: list[str]) -> int:
    parser = argparse.ArgumentParser()
    bon.add_arguments(parser)
    return bon.run(parser.parse_args(arguments))


@pytest.fixture(scope="module")
def tiny_reward_model(tmp_path_factory) -> Path:
    """A randomly initialised tiny Llama as a one-score sequence classifier, with a real tokenizer."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    models = pytest.importorskip("acecoder.models.loading")
    pytest.importorskip("acecoder.models.scoring")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        policy = models.build_tiny_model(tmp_path_factory.mktemp("tiny-policy"))
        # load_reward_model: AutoModelForSequenceClassification(num_labels=1) with the padding token agreed on.
        model, tokenizer = models.load_reward_model(str(policy))
        directory = tmp_path_factory.mktemp("tiny-rm")
        model.save_pretrained(directory)
        tokenizer.save_pretrained(directory)
    return directory


def fenced(code: str) -> str:
    return f"Here is the function:\n```python\n{code}```\n"


QUESTIONS = [
    {"id": "add", "question": "Write add(a, b) returning the sum.", "test_cases": [
        "assert add(1, 2) == 3", "assert add(-1, 1) == 0", "assert add(5, 5) == 10", "assert add(0, 7) == 7"]},
    {"id": "reverse", "question": "Write reverse(s) returning s reversed.", "test_cases": [
        "assert reverse('abc') == 'cba'", "assert reverse('') == ''", "assert reverse('ab') == 'ba'"]},
    {"id": "even", "question": "Write is_even(n).", "test_cases": [
        "assert is_even(2)", "assert not is_even(3)", "assert is_even(0)", "assert not is_even(-1)"]},
    {"id": "unused", "question": "Write square(x).", "test_cases": ["assert square(3) == 9"]},
]  # fmt: skip
COMPLETIONS = {
    "add": [
        fenced("def add(a, b):\n    return a - b\n"),
        fenced("def add(a, b):\n    return a + b\n\nassert add(1, 1) == 3\n"),  # right; its wrong self-check is cut
        "def add(a, b):\n    return a + b\n",
        fenced("def add(a, b):\n    return abs(a) + b\n"),  # 3 of 4
    ],
    "reverse": [
        fenced("def reverse(s):\n    return s\n"),  # passes '' only
        fenced("def reverse(s):\n    return s[::-1]\n"),
        fenced("def reverse(s):\n    raise NotImplementedError\n"),
        fenced("def reverse(s):\n    return ''.join(sorted(s, reverse=True))\n"),  # right on these tests
    ],
    "even": [fenced("def is_even(n):\n    return n % 2 == 1\n")] * 4,
    "unused": [fenced("def square(x):\n    return x * x\n")] * 4,
}
EXPECTED_RATES = {
    "add": [0.0, 1.0, 1.0, 0.75],
    "reverse": [1 / 3, 1.0, 0.0, 1.0],
    "even": [0.0] * 4,
}
GREEDY = {"add": fenced("def add(a, b):\n    return a + b\n"), "reverse": fenced("def reverse(s):\n    return s\n"),
          "even": fenced("def is_even(n):\n    return n % 2 == 0\n")}  # fmt: skip


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def check_rm_column(output: Path, table: dict) -> None:
    """The RM-selected figures follow from the per-candidate scores written beside them."""
    by_problem: dict[str, list[dict]] = {}
    for record in read_jsonl(output / "candidates.jsonl"):
        by_problem.setdefault(record["problem_id"], []).append(record)
    for row in table["rows"]:
        picks = []
        for records in by_problem.values():
            first = sorted(records, key=lambda record: record["index"])[: row["n"]]
            best = max(range(len(first)), key=lambda index: first[index]["score"])
            picks.append(first[best]["correct"])
        assert row["rm_selected"] == pytest.approx(sum(picks) / len(picks))
    interval = table["rm_minus_random"]
    assert interval["low"] <= interval["difference"] <= interval["high"] and interval["resamples"] == 200


def test_bon_on_acecode_questions(tmp_path: Path, tiny_reward_model: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    questions = write_jsonl(tmp_path / "questions.jsonl", QUESTIONS)
    samples = write_jsonl(tmp_path / "samples.jsonl", [
        {**row, "inferences": [{"completion_id": index, "completion": text}
                               for index, text in enumerate(COMPLETIONS[row["id"]])]}
        for row in QUESTIONS
    ])  # fmt: skip
    greedy = write_jsonl(tmp_path / "greedy.jsonl", [
        {"id": key, "question": "", "test_cases": [], "inferences": [{"completion": text}]}
        for key, text in GREEDY.items()
    ])  # fmt: skip
    output = tmp_path / "bon"
    code = run_bon(["--rm", str(tiny_reward_model), "--input", str(questions), "--candidates", str(samples),
                    "--greedy-candidates", str(greedy), "--limit", "3", "--output-dir", str(output), "--workers", "2",
                    "--resamples", "200", "--quiet"])  # fmt: skip
    printed = capsys.readouterr()
    assert code == 0, printed.err
    table = json.loads((output / "bon_table.json").read_text())
    assert table["problems"] == 3 and table["samples_per_problem"] == 4
    assert [row["n"] for row in table["rows"]] == [1, 2, 4]
    # Correct = every test passes: add [no, yes, yes, no], reverse [no, yes, no, yes], even [no] * 4.
    expected = {1: (0.0, 0.0), 2: (1 / 3, 2 / 3), 4: (1 / 3, 2 / 3)}
    for row in table["rows"]:
        assert (row["average"], row["oracle"]) == pytest.approx(expected[row["n"]])
        assert row["random_selected"] == row["average"]
        assert row["greedy"] == pytest.approx(2 / 3)  # add and even right, reverse wrong
    records = read_jsonl(output / "candidates.jsonl")
    assert len(records) == 12 and all(isinstance(record["score"], float) for record in records)
    rates = {}
    for record in records:
        rates.setdefault(record["problem_id"], []).append(record["pass_rate"])
    assert rates == {key: pytest.approx(value) for key, value in EXPECTED_RATES.items()}
    assert "assert add(1, 1)" not in records[1]["program"]  # the program the RM saw: self-checks cut
    check_rm_column(output, table)
    assert (output / "bon.png").read_bytes().startswith(PNG_SIGNATURE)
    assert "oracle (pass@N)" in (output / "bon_table.md").read_text()
    assert "RM-selected - random-selected at N=4" in printed.out and "|   66.7 |" in printed.out


MBPP_TASKS = ("Mbpp/2", "Mbpp/3", "Mbpp/4")


def test_bon_on_mbpp_plus(tmp_path: Path, tiny_reward_model: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("ACECODER_CACHE_DIR", str(tmp_path / "cache"))
    tasks = load_mbpp_plus()
    canonical = {task_id: tasks[task_id]["canonical_solution"] for task_id in MBPP_TASKS}
    broken = {task_id: f"def {tasks[task_id]['entry_point']}(*arguments):\n    return None\n" for task_id in MBPP_TASKS}
    # Right on the five base inputs of Mbpp/3, wrong on its extra ones (7920 is not prime): wrong for MBPP+.
    base_only = "def is_not_prime(n):\n    return n in (1, 10, 35)\n"
    solutions = {
        "Mbpp/2": [broken["Mbpp/2"], canonical["Mbpp/2"], canonical["Mbpp/2"], broken["Mbpp/2"]],
        "Mbpp/3": [base_only, canonical["Mbpp/3"], base_only, broken["Mbpp/3"]],
        "Mbpp/4": [broken["Mbpp/4"]] * 4,
    }
    samples = write_jsonl(tmp_path / "samples.jsonl", [
        {"task_id": task_id, "solution": solution} for task_id, items in solutions.items() for solution in items
    ])  # fmt: skip
    greedy = write_jsonl(tmp_path / "greedy.jsonl", [
        {"task_id": "Mbpp/2", "solution": canonical["Mbpp/2"]}, {"task_id": "Mbpp/3", "solution": base_only},
        {"task_id": "Mbpp/4", "solution": broken["Mbpp/4"]},
    ])  # fmt: skip
    output = tmp_path / "bon"
    code = run_bon(["--rm", str(tiny_reward_model), "--benchmark", "mbpp+", "--candidates", str(samples),
                    "--greedy-candidates", str(greedy), "--output-dir", str(output), "--workers", "2",
                    "--resamples", "200", "--quiet"])  # fmt: skip
    printed = capsys.readouterr()
    assert code == 0, printed.err
    table = json.loads((output / "bon_table.json").read_text())
    assert table["problems"] == 3 and table["problems_from"] == "mbpp+"
    # Correct: Mbpp/2 [no, yes, yes, no], Mbpp/3 [no, yes, no, no], Mbpp/4 [no] * 4.
    expected = {1: (0.0, 0.0), 2: (1 / 3, 2 / 3), 4: (0.25, 2 / 3)}
    for row in table["rows"]:
        assert (row["average"], row["oracle"]) == pytest.approx(expected[row["n"]])
        assert row["greedy"] == pytest.approx(1 / 3)
    check_rm_column(output, table)
    prompts = {record["problem_id"] for record in read_jsonl(output / "candidates.jsonl")}
    assert prompts == set(MBPP_TASKS)


def test_bon_samples_candidates_with_a_backend(tmp_path: Path, tiny_reward_model: Path, monkeypatch, capsys) -> None:
    pytest.importorskip("openai")
    from chat_server import ChatServer, recorded

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    questions = write_jsonl(tmp_path / "questions.jsonl", QUESTIONS)
    output = tmp_path / "bon"
    # n=4 sampled answers per question; the greedy request (n=1) gets the first of them.
    replies = recorded({"add(a, b)": COMPLETIONS["add"], "reverse(s)": COMPLETIONS["reverse"]})
    with ChatServer(replies) as server:
        code = run_bon(["--rm", str(tiny_reward_model), "--input", str(questions), "--limit", "2",
                        "--backend", "openai", "--model", "policy", "--base-url", server.base_url, "--n", "4",
                        "--cache", str(tmp_path / "cache.sqlite"), "--output-dir", str(output), "--workers", "2",
                        "--resamples", "100", "--quiet"])  # fmt: skip
        bodies = server.requests
    assert code == 0, capsys.readouterr().err
    requests = sorted((body.get("n") or 1, body["temperature"]) for body in bodies)
    assert requests == [(1, 0.0), (1, 0.0), (4, 1.0), (4, 1.0)]
    assert (output / "samples.jsonl").exists() and (output / "greedy_samples.jsonl").exists()
    table = json.loads((output / "bon_table.json").read_text())
    # add [no, yes, yes, no] and reverse [no, yes, no, yes]; both greedy answers (the first samples) are wrong.
    last = table["rows"][-1]
    assert (last["n"], last["average"], last["oracle"], last["greedy"]) == (4, 0.5, 1.0, 0.0)


def test_bon_rejects_incomplete_arguments(tmp_path: Path, capsys) -> None:
    assert run_bon(["--rm", str(tmp_path), "--benchmark", "mbpp+", "--output-dir", str(tmp_path / "out")]) == 2
    assert "--benchmark needs --candidates or --backend" in capsys.readouterr().err
    arguments = ["--rm", str(tmp_path), "--input", str(tmp_path / "absent.jsonl"), "--output-dir", str(tmp_path)]
    assert run_bon(arguments) == 2
    assert "no such file" in capsys.readouterr().err
