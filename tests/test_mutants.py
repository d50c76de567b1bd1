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
