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


def humaneval_check_test(task: dict) -> str:
    """HumanEval's test for ``task`` as one assert-style test: the prompt's helpers, ``check``, ``check(entry)``.

    Some checks call helpers the prompt defines (``poly`` in HumanEval/32, ``encode_cyclic`` in /38,
    ``encode_shift`` in /50). Tests run in the judge and the program in the runner, so a helper that only the
    program defines would be the program's to answer: it could return 0 from ``poly`` (any answer is then a root)
    or remember what ``encode_cyclic`` was given (the answer). Carried in the test, the prompt's helpers are the
    judge's own. The entry point's own definition is left out: that is what the program supplies.
    """
    prompt = task["prompt"]
    tree = ast.parse(prompt)
    lines = prompt.splitlines()
    helpers = []
    for statement in tree.body:
        defines_entry = isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and (
            statement.name == task["entry_point"]
        )
        if defines_entry or isinstance(statement, ast.Expr):  # the entry point, the module docstring
            continue
        first = min([statement.lineno, *(decorator.lineno for decorator in getattr(statement, "decorator_list", []))])
        helpers.append("\n".join(lines[first - 1 : statement.end_lineno or statement.lineno]))
    return "\n".join([*helpers, task["test"], "check(%s)" % task["entry_point"], ""])
