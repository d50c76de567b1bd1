"""Turning test scripts into lists of single tests.

Benchmarks store tests as one script (MBPP+'s ``assertion``, MBPP's ``test_list`` plus setup code), while the
engine scores each test separately. A script splits at its top-level ``assert`` statements; any other statement
(``import math``, a helper assignment) is kept and prepended to the next assert, so every test runs with the
context it had in the script.
"""

from __future__ import annotations

import ast


def split_test_script(script: str) -> list[str]:
    """Splits ``script`` into tests, one per top-level ``assert``. Raises ``SyntaxError`` for invalid Python."""
    tree = ast.parse(script)
    lines = script.splitlines()
    tests: list[str] = []
    context: list[str] = []
    for statement in tree.body:
        end = statement.end_lineno or statement.lineno
        source = "\n".join(lines[statement.lineno - 1 : end])
        if isinstance(statement, ast.Assert):
            tests.append("\n".join([*context, source]))
        else:
            context.append(source)
    return tests
