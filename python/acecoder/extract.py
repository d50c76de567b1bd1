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

Completions decoded with special tokens kept (OpenRLHF does) end like ``` ```<|im_end|><|endoftext|> ```: the
markers around the code are peeled off first and a fence line followed by markers still closes its block (the
tokens and the rule live in ``acecoder.special_tokens``). Every reward path (``acecoder.rewards``, ``serve-reward``,
``passrate``, ``bon``) goes through ``extract_code``, so one rule serves them all. A completion with no code at all
(prose only, comments or bare names, or nothing but test code) gives ``""``, which callers count as ``no_code``
rather than run.
"""

from __future__ import annotations

import ast
import re
import threading
import warnings

from acecoder.special_tokens import strip_markers_at_end, strip_markers_at_start

__all__ = ["extract_code", "strip_test_code"]

# An opening fence names its language; Python blocks say python, py, python3 or nothing at all. What follows the
# language on the line must be nothing or special tokens ("```<|im_end|>" closes a block).
_FENCE_LINE = re.compile(r"^[ \t]*```[ \t]*([\w+#.-]*)[ \t]*")
# Characters ``ast.parse`` refuses before parsing, naming no line: a null, and a lone surrogate (no UTF-8 for it).
_UNPARSABLE = re.compile("[\0\ud800-\udfff]")
_PYTHON_LANGUAGES = frozenset({"", "python", "py", "python3", "py3"})
_DEFINES = re.compile(r"^[ \t]*(?:async[ \t]+def|def|class)[ \t]+\w", re.MULTILINE)
# Chatter lines skipped at most before the code starts ("Here is the code:", a blank line, "Sure!").
_MAX_LEADING_CHATTER = 3
# Text in which nothing parses is still an attempt at code (broken, or cut off) when a line starts like a statement;
# otherwise it is prose and holds no code. Keywords are lower-case: prose starts its sentences with capitals.
_STATEMENT_START = re.compile(
    r"^[ \t]*(?:async|await|def|class|import|from|return|yield|if|elif|else|for|while|with|try|except|finally|raise"
    r"|lambda|pass|break|continue|del|global|nonlocal|print)\b"
    r"|^[ \t]*[A-Za-z_][\w.]*(?:\[[^\]\n]*\])?[ \t]*(?:[-+*/%&|^@]|//|\*\*|>>|<<)?=(?!=)",
    re.MULTILINE,
)


def extract_code(text: str, *, strip_tests: bool = True) -> str:
    """The program in a completion, with its top-level test code removed (see ``strip_test_code``); ``""`` when the
    completion holds none. ``strip_tests=False`` keeps that code: for stdin/stdout tests the top-level prints and
    the ``__main__`` block are the program.

    Special tokens at either end are dropped first. Fenced Python blocks win (an unclosed final fence, from
    truncation, runs to the end); of several, the first that defines a function or class, else the first. Without
    one, the whole text, or, when it does not parse, the longest run of lines that does, past a little leading
    chatter and before any trailing chatter; when no line parses, the text itself if it looks like code (broken
    code still gets its run and its failure), else ``""``.
    """
    text = strip_markers_at_start(strip_markers_at_end(text))
    blocks = _python_blocks(text)
    tree: ast.Module | None = None
    if blocks:
        program = next((block for block in blocks if _DEFINES.search(block)), blocks[0])
    else:
        program, tree = _unfenced_program(text)
    # Each parse of a long program costs as much as everything else together: a tree is handed on while the text
    # it was parsed from is unchanged, so a completion that is all code is parsed once, not three times.
    if strip_tests:
        program, tree = _strip_test_code(program, tree)
    return program if _does_something(program, tree) else ""


def strip_test_code(program: str) -> str:
    """Remove top-level test code: ``assert`` statements, ``if __name__ == "__main__":`` blocks, bare calls to
    ``print(...)`` and ``unittest.main(...)``, and ``unittest.TestCase`` classes. Nothing inside a function or class
    is touched, and the other lines stay verbatim. A program that does not parse comes back unchanged."""
    return _strip_test_code(program, None)[0]


def _strip_test_code(program: str, tree: ast.Module | None) -> tuple[str, ast.Module | None]:
    """``strip_test_code`` given ``program``'s tree when known; returns the program and its tree (``None`` when the
    program changed or does not parse)."""
    if tree is None:
        tree = parse_python(program)
    if tree is None:
        return program, None
    spans = {id(statement): _line_span(statement) for statement in tree.body}
    kept_lines = {number for statement in tree.body if not _is_test_code(statement) for number in spans[id(statement)]}
    doomed: set[int] = set()
    for statement in tree.body:
        # A test statement sharing a line with program code ("x = f(); assert x") stays: lines are cut whole.
        if _is_test_code(statement) and not kept_lines.intersection(spans[id(statement)]):
            doomed.update(spans[id(statement)])
    if not doomed:
        return program, tree
    lines = program.splitlines(keepends=True)
    kept = "".join(line for number, line in enumerate(lines) if number not in doomed)
    return (kept.rstrip() + "\n" if kept.strip() else ""), None


# ---------------------------------------------------------------------------------------------------------------
# Finding the program


def _python_blocks(text: str) -> list[str]:
    """Bodies of fenced blocks in a Python language (or none), in order; an unclosed last fence runs to the end."""
    blocks: list[str] = []
    language: str | None = None
    body: list[str] = []
    for line in text.splitlines(keepends=True):
        fence = _fence(line)
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


def _fence(line: str) -> re.Match[str] | None:
    """A fence line's match (its language in group 1): "```", "```python", or either glued to special tokens."""
    if "```" not in line:
        return None
    fence = _FENCE_LINE.match(line)
    if fence is None:
        return None
    rest = line[fence.end() :]
    if rest.strip() and strip_markers_at_start(rest) == rest:
        return None  # followed by something other than special tokens: not a fence
    return fence


def _unfenced_program(text: str) -> tuple[str, ast.Module | None]:
    """The program in unfenced text, and its tree when it parsed."""
    tree = parse_python(text)
    if tree is not None:
        return text, tree
    lines = text.splitlines(keepends=True)
    best, best_tree = "", None
    for start in _code_starts(lines):
        prefix, prefix_tree = _longest_parsing_prefix(lines, start)
        if len(prefix.strip()) > len(best.strip()):
            best, best_tree = prefix, prefix_tree
    if best.strip():
        return best, best_tree
    return (text if _STATEMENT_START.search(text) else ""), None


def _code_starts(lines: list[str]) -> list[int]:
    """Where the code may begin: the first line, or just after each of the first few non-blank lines."""
    starts = [0]
    for number, line in enumerate(lines):
        if len(starts) > _MAX_LEADING_CHATTER:
            break
        if line.strip():
            starts.append(number + 1)
    return starts


def _longest_parsing_prefix(lines: list[str], start: int) -> tuple[str, ast.Module | None]:
    """The longest ``lines[start:end]`` that parses and holds a statement, with its tree. A syntax error's line
    number bounds the next try, so a long completion costs a few parses, not one per line.

    Each try parses the whole chunk, so shortening a chunk one line per try costs time quadratic in its length (a
    100 KB paragraph of prose took 6 s). Two failures are therefore settled at once. An error on the chunk's first
    line is one no shorter chunk escapes: the parser reads left to right, so every shorter chunk from the same line
    holds the same first line and fails on it or at its own end (an opener left unclosed stays unclosed, a
    statement cut short stays short). That holds when the parser's first line is ``lines[start]``: a form feed or
    other break that ``splitlines`` cuts at and the parser does not, or a backslash joining the next line, leaves
    the old way. The property tests in ``tests/test_extract_linear.py`` compare this with shortening line by line.
    A null character or a lone surrogate fails every chunk that holds it, naming no line, so the chunk is cut just
    before the first line with one.
    """
    end = len(lines)
    while end > start:
        chunk = "".join(lines[start:end])
        try:
            tree = _quiet_parse(chunk)
        except (SyntaxError, ValueError) as error:
            if isinstance(error, SyntaxError) and error.lineno is not None:
                if error.lineno == 1 and _ends_its_line(lines[start]):
                    return "", None
                bound = start + error.lineno - 1
                end = min(end - 1, bound) if bound > start else end - 1
                continue
            # No line named: a null (SyntaxError in 3.11.4+, ValueError before) or a surrogate (UnicodeEncodeError).
            first = next((number for number in range(start, end) if _UNPARSABLE.search(lines[number])), None)
            end = first if first is not None else end - 1
            continue
        except (MemoryError, RecursionError):
            end -= 1
            continue
        return (chunk, tree) if tree.body else ("", None)
    return "", None


def _ends_its_line(line: str) -> bool:
    """Whether the parser, too, ends its line where ``line`` ends: at a newline, and not joined to the next by a
    backslash."""
    return line.endswith(("\n", "\r")) and not line.rstrip("\r\n").endswith("\\")


def _does_something(program: str, tree: ast.Module | None = None) -> bool:
    """False for a program of nothing but comments, bare names and constants ("system", a stray docstring): what
    is left of prose or a chat template's role line, not code. Broken code does something: it fails. ``tree`` is
    ``program``'s, when already parsed."""
    if tree is None:
        tree = parse_python(program)
    if tree is None:
        return bool(program.strip())
    return any(
        not (isinstance(statement, ast.Expr) and isinstance(statement.value, (ast.Name, ast.Constant)))
        for statement in tree.body
    )


# ---------------------------------------------------------------------------------------------------------------
# Recognizing test code


# One parse at a time in this process. CPython 3.11 counts the AST builder's recursion depth in state shared by all
# threads, so two threads parsing at once (the reward server extracts in its request threads) can fail with
# "SystemError: AST constructor recursion depth mismatch"; and warnings.catch_warnings swaps process-wide filters.
# Parsing holds the GIL throughout anyway, so the lock costs no parallelism.
_PARSE_LOCK = threading.Lock()


def _quiet_parse(source: str) -> ast.Module:
    """``ast.parse`` under the lock, without the SyntaxWarnings that invalid escapes in untrusted strings raise."""
    with _PARSE_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(source)


def parse_python(source: str) -> ast.Module | None:
    """Parse untrusted text quietly; ``None`` when it is not Python (or too deep or large to parse)."""
    try:
        return _quiet_parse(source)
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
