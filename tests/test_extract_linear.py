"""Code extraction stays linear in the completion's length without changing its answers: the shortcut in
``_longest_parsing_prefix`` is compared with the line-by-line search it replaced on many small inputs, and a long
paragraph of prose, once quadratic, is settled (speed is measured in benches/bench_extract.py, never here)."""

from __future__ import annotations

import ast
import warnings

from acecoder.extract import _longest_parsing_prefix, extract_code
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as strategies


def line_by_line_prefix(lines: list[str], start: int) -> str:
    """The search as it was before the shortcut: one line shorter per try after an error on the chunk's first line."""
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


LINE_BODIES = [
    "Here is the code:",
    "Sure!",
    "This is not None",
    "x = 1",
    "def f():",
    "    return 1",
    "return 5",
    "x = (1,",
    "2)",
    "'''",
    '"""doc',
    "assert f()",
    "else:",
    "    pass",
    "if x:",
    "@decorator",
    "x = 1 \\",
    "",
    "print('hi')",
    "]",
    "class A:",
    "  indented",
    "lambda:",
    "f'{",
    "}'",
    "a\0b",
    "s = '\udcff'",
    "from __future__ import annotations",
    "x = [",
    "for i in range(3):",
    "  y = i",
    "except ValueError:",
    "try:",
    "The answer is 42.",
    "y = x +",
    "#",
]
LINE_ENDS = ["\n", "\n", "\n", "\r\n", "\r", "\x0c", ""]
line = strategies.builds(
    lambda body, end: body + end, strategies.sampled_from(LINE_BODIES), strategies.sampled_from(LINE_ENDS)
)
free_line = strategies.text(alphabet="abx =():[]'\"\\#\n\t +1,.", max_size=12)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(strategies.lists(strategies.one_of(line, free_line), max_size=9))
def test_the_shortcut_finds_what_line_by_line_search_found(pieces):
    lines = "".join(pieces).splitlines(keepends=True)
    for start in range(len(lines) + 1):
        assert _longest_parsing_prefix(lines, start)[0] == line_by_line_prefix(lines, start)


def test_a_long_paragraph_of_prose_holds_no_code():
    # Shortened a line per try, this took seconds per 100 KB and grew with the square of the length.
    prose = "This is some prose about the problem, nothing else.\n" * 20_000
    assert extract_code(prose) == ""
    code = "def f():\n    return 1\n"
    assert extract_code("Here it is:\n" + code + prose) == code


def test_lines_the_parser_refuses_are_skipped_at_once():
    # Every line holds a null character: once shortened a line per try (quadratic), now cut before the first.
    assert extract_code("a\0b\n" * 50_000) == ""
    assert extract_code("x = 1\n" + "a\0b\n" * 50_000) == "x = 1\n"
