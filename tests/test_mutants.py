"""Mechanical mutants (acecoder.data.mutants): one operator flipped per mutant, distinct, and the limit honoured."""

from __future__ import annotations

import ast

from acecoder.data.mutants import mutants

PROGRAM = "def f(a, b):\n    if a < b and a > 0:\n        return a + 1\n    return b - a\n"


def test_every_mutant_parses_differs_and_flips_one_site() -> None:
    every = mutants(PROGRAM)
    original = ast.unparse(ast.parse(PROGRAM))
    # Sites: `<`, `and`, `>`, `0`, `+`, `1`, `-`: seven single-site mutants, all distinct.
    assert len(every) == 7 and len(set(every)) == 7 and original not in every
    assert any("a <= b" in mutant for mutant in every) and any("a + 2" in mutant for mutant in every)
    for mutant in every:
        ast.parse(mutant)
        changed = sum(left != right for left, right in zip(original.split(), mutant.split()))
        assert changed == 1, mutant


def test_limit_is_honoured_including_zero() -> None:
    assert mutants(PROGRAM, limit=0) == []
    assert mutants(PROGRAM, limit=2) == mutants(PROGRAM)[:2]
    assert mutants("x = 'no sites'\n") == []


def test_mutant_set_is_distinct_deterministic_capped_and_diffed() -> None:
    from acecoder.data.mutants import mutant_set

    every = mutant_set(PROGRAM, 100)
    sources = [mutant.source for mutant in every]
    original = ast.unparse(ast.parse(PROGRAM))
    assert len(set(sources)) == len(sources) and original not in sources and len(every) > len(mutants(PROGRAM))
    for mutant in every:
        ast.parse(mutant.source)
        removed = [line for line in mutant.diff.splitlines() if line.startswith("-") and not line.startswith("---")]
        added = [line for line in mutant.diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
        assert len(removed) == len(added) == 1, mutant.diff  # one line changed, shown against the reference
        assert original.splitlines()[mutant.line - 1] == removed[0][1:]
    some = mutant_set(PROGRAM, 4)
    assert len(some) == 4 and some == mutant_set(PROGRAM, 4)  # the same four on every run
    assert set(some) <= set(every) and [sources.index(mutant.source) for mutant in some] == sorted(
        sources.index(mutant.source) for mutant in some
    )  # in site order
    assert mutant_set(PROGRAM, 0) == [] and [mutant.operator for mutant in mutant_set("x = 'no'\n", 5)] == ["'no' → ''"]
    assert {mutant.operator for mutant in every} >= {"< → <=", "and → or", "+ → -", "0 → 1", "0 → -1"}
