"""Extracting the program from a completion: fences, several blocks, no fence, chatter, truncation, and removal of
top-level test code (asserts, __main__ blocks, prints, unittest) while code inside functions stays untouched."""

from __future__ import annotations

import ast

import pytest
from acecoder.extract import extract_code, strip_test_code

PROGRAM = "def add(a, b):\n    return a + b\n"


# ---------------------------------------------------------------------------------------------------------- fences


@pytest.mark.parametrize("language", ["python", "py", "Python", "python3", ""])
def test_fenced_block(language):
    text = f"Here is my solution:\n\n```{language}\n{PROGRAM}```\n\nIt adds two numbers."
    assert extract_code(text) == PROGRAM


def test_other_language_blocks_are_ignored():
    text = f"Run it with:\n```bash\npython add.py\n```\nCode:\n```python\n{PROGRAM}```\n"
    assert extract_code(text) == PROGRAM


def test_several_blocks_prefer_the_first_that_defines_a_function():
    text = (
        "First import:\n```python\nimport math\n```\n"
        f"Then the function:\n```python\n{PROGRAM}```\n"
        "And another:\n```python\ndef other():\n    return 0\n```\n"
    )
    assert extract_code(text) == PROGRAM


def test_several_blocks_without_definitions_take_the_first():
    text = "```python\nx = 1\n```\nthen\n```python\ny = 2\n```\n"
    assert extract_code(text) == "x = 1\n"


def test_class_counts_as_a_definition():
    text = "```python\nprint('hi')\n```\n```python\nclass Solution:\n    def f(self):\n        return 1\n```"
    assert extract_code(text) == "class Solution:\n    def f(self):\n        return 1\n"


def test_truncated_fence_runs_to_the_end():
    text = f"Here you go:\n```python\n{PROGRAM}\nassert add(1, 2) == 3\n"
    assert extract_code(text) == PROGRAM


def test_truncated_fence_mid_function_is_returned_unchanged():
    text = "```python\ndef add(a, b):\n    return (a +"
    assert extract_code(text) == "def add(a, b):\n    return (a +"


# -------------------------------------------------------------------------------------------------------- no fence


def test_no_fence_whole_text():
    assert extract_code(PROGRAM) == PROGRAM


def test_no_fence_trailing_chatter_removed():
    text = PROGRAM + "\nThis function returns the sum of a and b. It's O(1).\n"
    extracted = extract_code(text)
    assert extracted.strip() == PROGRAM.strip()
    ast.parse(extracted)


def test_no_fence_leading_chatty_line_removed():
    text = "Here is the code:\n" + PROGRAM
    assert extract_code(text) == PROGRAM


def test_no_fence_chatter_before_and_after():
    text = "Sure! Here is the implementation:\n\n" + PROGRAM + "\nThat's it: it handles negative numbers too.\n"
    assert extract_code(text).strip() == PROGRAM.strip()


def test_unparsable_text_is_returned_unchanged():
    text = "def broken(:\n    return ]"
    assert extract_code(text) == text


def test_empty_text():
    assert extract_code("") == ""


# ---------------------------------------------------------------------------------------------------- test removal


def test_trailing_asserts_removed():
    program = PROGRAM + "\nassert add(1, 2) == 3\nassert add(-1, 1) == 0\n"
    assert strip_test_code(program) == PROGRAM


def test_multiline_assert_removed():
    program = PROGRAM + "assert add(\n    1,\n    2,\n) == 3, (\n    'message'\n)\n"
    assert strip_test_code(program) == PROGRAM


def test_main_block_removed():
    program = PROGRAM + '\nif __name__ == "__main__":\n    print(add(1, 2))\n    assert add(2, 2) == 4\n'
    assert strip_test_code(program) == PROGRAM


def test_main_block_reversed_comparison_removed():
    program = PROGRAM + "if '__main__' == __name__:\n    add(1, 2)\n"
    assert strip_test_code(program) == PROGRAM


def test_other_if_blocks_kept():
    program = "import sys\nif sys.version_info >= (3, 8):\n    X = 1\n" + PROGRAM
    assert strip_test_code(program) == program


def test_prints_and_unittest_main_removed():
    program = "import unittest\n" + PROGRAM + "print(add(1, 2))\nunittest.main()\n"
    assert strip_test_code(program) == "import unittest\n" + PROGRAM


def test_unittest_class_removed():
    program = (
        "import unittest\n"
        + PROGRAM
        + "\nclass TestAdd(unittest.TestCase):\n    def test_add(self):\n        self.assertEqual(add(1, 2), 3)\n"
        + "\n\nif __name__ == '__main__':\n    unittest.main()\n"
    )
    assert strip_test_code(program) == "import unittest\n" + PROGRAM


def test_decorated_testcase_class_removed_with_its_decorator():
    program = PROGRAM + "@skip_unless(True)\nclass T(TestCase):\n    pass\n"
    assert strip_test_code(program) == PROGRAM


def test_assert_inside_a_function_kept():
    program = "def add(a, b):\n    assert isinstance(a, int)\n    print('adding')\n    return a + b\n"
    assert strip_test_code(program) == program
    assert extract_code(f"```python\n{program}\nassert add(1, 2) == 3\n```") == program


def test_assert_inside_a_class_kept():
    program = "class Solution:\n    def f(self):\n        assert True\n        return 1\n\n    print('class body')\n"
    assert strip_test_code(program) == program


def test_code_between_removed_statements_is_verbatim():
    program = "x = 1  # keep me\nassert x == 1\ny = [\n    1,  # odd   spacing\n]\nprint(y)\n"
    assert strip_test_code(program) == "x = 1  # keep me\ny = [\n    1,  # odd   spacing\n]\n"


def test_test_statement_sharing_a_line_with_code_is_kept():
    program = "x = 1; assert x == 1\n"
    assert strip_test_code(program) == program


def test_only_test_code_leaves_nothing():
    assert strip_test_code("assert 1 == 1\nprint('ok')\n") == ""


def test_strip_unparsable_program_unchanged():
    program = "def f(:\nassert 1\n"
    assert strip_test_code(program) == program


def test_invalid_escape_does_not_warn():
    # filterwarnings = error would turn a SyntaxWarning from ast.parse into a failure.
    program = "import re\nPATTERN = re.compile('\\d+')\nassert PATTERN.match('1')\n"
    assert strip_test_code(program) == "import re\nPATTERN = re.compile('\\d+')\n"


class _CollectedWithAFinalizer:
    """Garbage whose collection runs Python code: the collector may then switch threads in the middle of a parse."""

    def __del__(self) -> None:
        sum(range(50))


def test_threads_extracting_at_once_never_break_the_parser():
    """CPython 3.11 shares the AST builder's recursion counter between threads: without extraction's parse lock,
    6 threads × 200 extractions here gave ~40 `SystemError: AST constructor recursion depth mismatch` (the reward
    server extracts in its request threads)."""
    import gc
    import sys
    import threading

    program = ("```python\ndef f(x):\n    return " + "(" * 30 + "x" + ")" * 30 + "\n"
               + "class A:\n    def g(self):\n        return [i for i in range(3)]\n" * 20 + "```<|im_end|>")  # fmt: skip
    expected = extract_code(program)
    problems: list[str] = []

    def work() -> None:
        for _ in range(200):
            first, second = _CollectedWithAFinalizer(), _CollectedWithAFinalizer()
            first.other, second.other = second, first  # type: ignore[attr-defined]
            try:
                if extract_code(program) != expected:
                    problems.append("different extraction")
            except Exception as error:  # noqa: BLE001 - any exception is the failure being tested
                problems.append(repr(error))

    interval, thresholds = sys.getswitchinterval(), gc.get_threshold()
    sys.setswitchinterval(1e-6)
    gc.set_threshold(50, 2, 2)
    try:
        threads = [threading.Thread(target=work) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
        gc.set_threshold(*thresholds)
    assert expected.startswith("def f") and problems == []
