"""Find the Python program in a model completion, without the test code the model wrote around it.

The pass-rate step runs each sampled program against the synthesized tests, so what it runs must be the program
and only the program. Completions wrap it in Markdown fences, add chatter before and after, get cut off by the
token limit, and often end with the model's own checks: asserts, an ``if __name__ == "__main__":`` block, prints,
a ``unittest`` class. Those must go: a wrong self-check raises before the real tests run (failing a correct
program), and prints and ``unittest.main()`` only add output and exits.

AceCoder applies the same rule textually: it cuts the completion at the first of "```", "import unittest",
"from unittest", "if __name__" or "assert" (``eval_post_process`` in
https://github.com/TIGER-AI-Lab/AceCoder/blob/main/data/inference/post_process_functions.py). A textual cut also
truncates a program at an ``assert`` inside a function. Here the program is parsed instead, and only *top-level*
test statements are removed by cutting their source lines, so everything else is kept verbatim.
"""

from __future__ import annotations

import ast
import re
import warnings

__all__ = ["extract_code", "strip_test_code"]

# An opening fence names its language; Python blocks say python, py, python3 or nothing at all.
_FENCE_LINE = re.compile(r"^[ \t]*```[ \t]*([\w+#.-]*)[ \t]*$")
_PYTHON_LANGUAGES = frozenset({"", "python", "py", "python3", "py3"})
_DEFINES = re.compile(r"^[ \t]*(?:async[ \t]+def|def|class)[ \t]+\w", re.MULTILINE)
# Chatter lines skipped at most before the code starts ("Here is the code:", a blank line, "Sure!").
_MAX_LEADING_CHATTER = 3


def extract_code(text: str) -> str:
    """The program in a completion, with its top-level test code removed (see ``strip_test_code``).

    Fenced Python blocks win (an unclosed final fence, from truncation, runs to the end); of several, the first that
    defines a function or class, else the first. Without one, the whole text, or, when it does not parse, the
    longest run of lines that does, past a little leading chatter and before any trailing chatter.
    """
    blocks = _python_blocks(text)
    if blocks:
        program = next((block for block in blocks if _DEFINES.search(block)), blocks[0])
    else:
        program = _unfenced_program(text)
    return strip_test_code(program)


def strip_test_code(program: str) -> str:
    """Remove top-level test code: ``assert`` statements, ``if __name__ == "__main__":`` blocks, bare calls to
    ``print(...)`` and ``unittest.main(...)``, and ``unittest.TestCase`` classes. Nothing inside a function or class
    is touched, and the other lines stay verbatim. A program that does not parse comes back unchanged."""
    tree = parse_python(program)
    if tree is None:
        return program
    spans = {id(statement): _line_span(statement) for statement in tree.body}
    kept_lines = {
        number for statement in tree.body if not _is_test_code(statement) for number in spans[id(statement)]
    }
    doomed: set[int] = set()
    for statement in tree.body:
        # A test statement sharing a line with program code ("x = f(); assert x") stays: lines are cut whole.
        if _is_test_code(statement) and not kept_lines.intersection(spans[id(statement)]):
            doomed.update(spans[id(statement)])
    if not doomed:
        return program
    lines = program.splitlines(keepends=True)
    kept = "".join(line for number, line in enumerate(lines) if number not in doomed)
    return kept.rstrip() + "\n" if kept.strip() else ""


# ---------------------------------------------------------------------------------------------------------------
# Finding the program


def _python_blocks(text: str) -> list[str]:
    """Bodies of fenced blocks in a Python language (or none), in order; an unclosed last fence runs to the end."""
    blocks: list[str] = []
    language: str | None = None
    body: list[str] = []
    for line in text.splitlines(keepends=True):
        fence = _FENCE_LINE.match(line)
        if language is None:
            if fence:
                language, body = fence.group(1).lower(), []
        elif fence and not fence.group(1):
            if language in _PYTHON_LANGUAGES:
                blocks.append("".join(body))
            language = None
        else:
            body.append(line)
    if language in _PYTHON_LANGUAGES and "".join(body).strip():
        blocks.append("".join(body))
    return [block for block in blocks if block.strip()]


def _unfenced_program(text: str) -> str:
    if parse_python(text) is not None:
        return text
    lines = text.splitlines(keepends=True)
    best = ""
    for start in _code_starts(lines):
        prefix = _longest_parsing_prefix(lines, start)
        if len(prefix.strip()) > len(best.strip()):
            best = prefix
    return best if best.strip() else text


def _code_starts(lines: list[str]) -> list[int]:
    """Where the code may begin: the first line, or just after each of the first few non-blank lines."""
    starts = [0]
    for number, line in enumerate(lines):
        if len(starts) > _MAX_LEADING_CHATTER:
            break
        if line.strip():
            starts.append(number + 1)
    return starts


def _longest_parsing_prefix(lines: list[str], start: int) -> str:
    """The longest ``lines[start:end]`` that parses and holds a statement. A syntax error's line number bounds the
    next try, so a long completion costs a few parses, not one per line."""
    end = len(lines)
    while end > start:
        chunk = "".join(lines[start:end])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tree = ast.parse(chunk)
        except SyntaxError as error:
            bound = start + (error.lineno or 1) - 1
            end = min(end - 1, bound) if bound > start else end - 1
            continue
        except (ValueError, MemoryError, RecursionError):
            end -= 1
            continue
        return chunk if tree.body else ""
    return ""


# ---------------------------------------------------------------------------------------------------------------
# Recognizing test code


def parse_python(source: str) -> ast.Module | None:
    """Parse untrusted text quietly: invalid escapes in its strings would otherwise raise SyntaxWarning."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None


def _line_span(statement: ast.stmt) -> range:
    """Zero-based line numbers of a statement, decorators included."""
    first = statement.lineno
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        first = min([first, *(decorator.lineno for decorator in statement.decorator_list)])
    return range(first - 1, statement.end_lineno or statement.lineno)


def _is_test_code(statement: ast.stmt) -> bool:
    if isinstance(statement, ast.Assert):
        return True
    if isinstance(statement, ast.If):
        return _is_main_guard(statement.test)
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call):
        return _dotted_name(statement.value.func) in {"print", "unittest.main"}
    if isinstance(statement, ast.ClassDef):
        return any(_dotted_name(base) in {"unittest.TestCase", "TestCase"} for base in statement.bases)
    return False


def _is_main_guard(test: ast.expr) -> bool:
    """``__name__ == "__main__"``, either way round."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    names = [side for side in sides if isinstance(side, ast.Name) and side.id == "__name__"]
    constants = [side for side in sides if isinstance(side, ast.Constant) and side.value == "__main__"]
    return len(names) == 1 and len(constants) == 1


def _dotted_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        parent = _dotted_name(node.value)
        return f"{parent}.{node.attr}" if parent is not None else None
    return None
