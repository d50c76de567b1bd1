"""Strict assertions: what the harness accepts as a value, and where it keeps Python's semantics."""

from __future__ import annotations

import pytest

from acecoder.exec import Engine
from conftest import FAST_LIMITS

CASES = {
    # name: (program, tests, passes with strict_equality=True, passes with it off)
    "always_equal_object": (
        "class A:\n    def __eq__(self, other):\n        return True\ndef f():\n    return A()\n",
        ["assert f() == 3", "assert [f()] == [3]", "assert 3 == f()"],
        0,
        3,
    ),
    "int_subclass": ("class I(int):\n    def __eq__(self, other):\n        return True\ndef f():\n    return I(1)\n", ["assert f() == 5"], 0, 1),
    "lying_bool": ("class B:\n    def __bool__(self):\n        return True\ndef f():\n    return B()\n", ["assert f()"], 0, 1),
    "honest_values": (
        "import re, datetime\nfrom collections import Counter, OrderedDict\n"
        "def f():\n    return {'a': [1, 2.0, (3, None)], 'b': {4}, 'c': b'x'}\n",
        [
            "assert f() == {'a': [1, 2.0, (3, None)], 'b': {4}, 'c': b'x'}",
            "assert re.match('a', 'abc')",
            "assert Counter('aab') == Counter({'a': 2, 'b': 1})",
            "assert OrderedDict(a=1) == {'a': 1}",
            "assert datetime.date(2020, 1, 1) < datetime.date(2021, 1, 1)",
            "assert 2.0 == 2 and not (1 == 2)",
            "assert f()['a'][2][1] is None",
        ],
        7,
        7,
    ),
    "tolerance_arithmetic": (
        "import builtins, math\nbuiltins.abs = lambda value: 0.0\nmath.isclose = lambda *a, **k: True\n"
        "def area(r):\n    return 1.0\n",
        [
            "assert abs(area(1) - 3.14159) < 1e-3",
            "import math\nassert math.isclose(area(1), 3.14159)",
            "from math import isclose\nassert isclose(area(2), 12.566)",
            "assert abs(area(1) - 1.0) < 1e-9",
        ],
        1,
        4,
    ),
    "lie_nested_among_scalars": (  # the check skips a sequence of scalars at C speed, never a deeper value
        "class I(int):\n    def __eq__(self, other):\n        return True\n"
        "def f():\n    return [1, 2, (3, 'x', [4.0, I(5)]), 6]\n",
        ["assert f() == [1, 2, (3, 'x', [4.0, 9]), 6]", "assert [f()[0], f()[1]] == [1, 2]"],
        1,
        2,
    ),
    "program_defines_a_builtin_name": ("def sum(a, b):\n    return a + b\n", ["assert sum(2, 3) == 5"], 1, 1),
    "missing_import_is_an_error_as_in_python": ("def f():\n    return 1.0\n", ["assert math.isclose(f(), 1.0)"], 0, 0),
    "methods_and_indexing_of_results": (
        "class Solution:\n    def solve(self, x):\n        return [x, x * 2]\ndef g():\n    return 'ABC'\n",
        ["assert Solution().solve(2) == [2, 4]", "assert g().lower() == 'abc'", "assert sorted(g())[0] == 'A'"],
        3,
        3,
    ),
}


@pytest.fixture(scope="module")
def engines():
    with Engine(workers=1, limits=FAST_LIMITS) as strict, Engine(workers=1, limits=FAST_LIMITS, strict_equality=False) as lenient:
        yield strict, lenient


@pytest.mark.parametrize("name", list(CASES))
def test_strict_and_lenient_pass_counts(engines, name):
    program, tests, strict_passes, lenient_passes = CASES[name]
    strict, lenient = engines
    (strict_result,) = strict.run([program], [tests])
    (lenient_result,) = lenient.run([program], [tests])
    assert strict_result.passed == strict_passes, strict_result.tests
    assert lenient_result.passed == lenient_passes, lenient_result.tests


def test_rejection_names_the_type(engines):
    strict, _ = engines
    (result,) = strict.run(["class Evil(str):\n    pass\ndef f():\n    return Evil('x')\n"], [["assert f() == 'x'"]])
    assert result.tests[0].exception_type == "NotPlainValue"
    assert "Evil" in result.tests[0].message


def test_numpy_values_are_plain(engines):
    numpy = pytest.importorskip("numpy")
    assert numpy is not None
    strict, _ = engines
    program = "import numpy as np\ndef f():\n    return np.arange(4)\n"
    tests = ["assert f().sum() == 6", "assert list(f()) == [0, 1, 2, 3]", "assert (f() == [0, 1, 2, 3]).all()"]
    (result,) = strict.run([program], [tests])
    assert result.passed == 3, result.tests
