"""What a test sees of the program: the judge's semantics, case by case, with exact pass counts.

Tests run in the judge, never in the program's process; each name the program defines is a proxy, values come
back as plain data, and program objects (held by handle) are never compared, truth-tested, hashed or measured.
Each case says what it shows: a lie that must gain nothing, or honest work that must still pass."""

from __future__ import annotations

import pytest
from acecoder.exec import Engine, IOTest
from conftest import FAST_LIMITS

CASES = {
    # name: (program, tests, passes)
    "always_equal_object": (
        "class A:\n    def __eq__(self, other):\n        return True\n    def __ne__(self, other):\n        return False\n"
        "    __hash__ = object.__hash__\ndef f():\n    return A()\n",
        [
            "assert f() == 3",
            "assert [f()] == [3]",
            "assert 3 == f()",
            "assert not f() != 3",
            "assert f() in [3]",
            "assert all(f() == y for y in [3, 4])",
            "assert (f() == 3) is True",
            "assert bool(f() == 3)",
        ],
        0,
    ),
    "int_subclass": (
        "class I(int):\n    def __eq__(self, other):\n        return True\ndef f():\n    return I(1)\n",
        ["assert f() == 5"],
        0,
    ),
    "lying_bool": (
        "class B:\n    def __bool__(self):\n        return True\ndef f():\n    return B()\n",
        ["assert f()"],
        0,
    ),
    "honest_values": (
        "import re, datetime\nfrom collections import Counter, OrderedDict\n"
        "def f():\n    return {'a': [1, 2.0, (3, None)], 'b': {4}, 'c': b'x'}\n"
        "def g():\n    return Counter('aab'), OrderedDict(a=1), datetime.date(2020, 1, 1), 2 + 3j, frozenset({1})\n",
        [
            "assert f() == {'a': [1, 2.0, (3, None)], 'b': {4}, 'c': b'x'}",
            "assert re.match('a', 'abc')",
            "assert Counter('aab') == Counter({'a': 2, 'b': 1})",
            "assert g()[0] == Counter({'a': 2, 'b': 1}) and isinstance(g()[0], Counter)",
            "assert g()[1] == {'a': 1} and g()[2] < datetime.date(2021, 1, 1)",
            "assert g()[3:] == (2 + 3j, frozenset({1}))",
            "assert 2.0 == 2 and not (1 == 2)",
            "assert f()['a'][2][1] is None",
        ],
        8,
    ),
    "patched_modules_and_builtins_do_not_reach_the_tests": (
        "import builtins, math, operator, collections\nbuiltins.abs = lambda value: 0.0\n"
        "math.isclose = lambda *a, **k: True\noperator.eq = lambda a, b: True\n"
        "collections.Counter.__eq__ = lambda self, other: True\nmath.pi = 3\n"
        "def area(r):\n    return 1.0\ndef counts():\n    return collections.Counter('ab')\n",
        [
            "assert abs(area(1) - 3.14159) < 1e-3",
            "import math\nassert math.isclose(area(1), 3.14159)",
            "from math import isclose\nassert isclose(area(2), 12.566)",
            "import operator\nassert operator.eq(area(1), 2.0)",
            "from collections import Counter\nassert counts() == Counter('xyz')",
            "import math\nassert abs(area(1) - math.pi) < 0.2",
            "assert abs(area(1) - 1.0) < 1e-9",
        ],
        1,
    ),
    "lie_nested_among_plain_values": (
        "class I(int):\n    def __eq__(self, other):\n        return True\n"
        "def f():\n    return [1, 2, (3, 'x', [4.0, I(5)]), 6]\n",
        ["assert f() == [1, 2, (3, 'x', [4.0, 9]), 6]", "assert [f()[0], f()[1]] == [1, 2]"],
        1,
    ),
    "a_function_named_like_a_builtin_is_tested_on": (
        "def sum(a, b):\n    return a - b\n",
        ["assert sum(10, 15) == -5"],
        1,
    ),
    "shadowed_builtins_do_not_judge": (
        "def all(*a, **k):\n    return True\ndef abs(x):\n    return 0\nrange = lambda *a: []\ndef f(x):\n    return 0\n",
        [
            "assert all(f(x) == 1 for x in range(3))",
            "assert abs(f(1) - 7) < 1e-9",
            "for x in range(2):\n    assert f(x) == 1",
            "assert len(range(3)) == 3 and f(0) == 0",
        ],
        1,
    ),
    "a_fake_module_in_the_programs_globals_does_not_judge": (
        "class M:\n    isclose = staticmethod(lambda *a, **k: True)\n    pi = 0.0\nmath = M()\nnp = M()\n"
        "def f():\n    return 0.0\n",
        ["assert math.isclose(f(), 1.0)", "assert np.isclose(f(), 1.0)", "assert f() == math.pi - math.pi"],
        1,
    ),
    "a_library_class_the_program_names_is_not_made_in_the_judge": (
        "import unittest.mock as mock\nsolution = mock._ANY\nclass Claim:\n    def __eq__(self, other):\n        return True\n"
        "Claim.__module__, Claim.__qualname__ = 'unittest.mock', '_ANY'\nanswer = Claim\n",
        ["assert solution() == 42", "assert answer() == 42", "assert [solution()] == [42]"],
        0,
    ),
    "missing_import_is_an_error_as_in_python": ("def f():\n    return 1.0\n", ["assert math.isclose(f(), 1.0)"], 0),
    "methods_attributes_and_indexing": (
        "class Solution:\n    limit = 3\n    def solve(self, x):\n        return [x, x * 2]\n"
        "class Node:\n    def __init__(self, value, next=None):\n        self.value, self.next = value, next\n"
        "def g():\n    return 'ABC'\ndef chain():\n    return Node(1, Node(2))\n",
        [
            "assert Solution().solve(2) == [2, 4]",
            "assert g().lower() == 'abc'",
            "assert sorted(g())[0] == 'A'",
            "assert Solution.limit == 3",
            "assert chain().next.value == 2 and chain().next.next is None",
            "n = Node(5)\nn.value = 6\nassert n.value == 6",
            "assert isinstance(chain(), Node)",
        ],
        7,
    ),
    "exceptions_cross_with_their_classes": (
        "class Invalid(ValueError):\n    pass\ndef check(x):\n    if x < 0:\n        raise Invalid('negative: %d' % x)\n"
        "    if x == 0:\n        raise KeyError('zero')\n    return x\n",
        [
            "try:\n    check(-1)\n    assert False\nexcept ValueError as error:\n    assert str(error) == 'negative: -1'",
            "try:\n    check(-1)\nexcept Invalid:\n    pass\nelse:\n    assert False",
            "try:\n    check(0)\nexcept KeyError as error:\n    assert error.args == ('zero',)",
            "assert check(3) == 3",
            "check(-2)",
        ],
        4,
    ),
    "arguments_changed_in_place_come_back": (
        "def sort_in_place(items):\n    items.sort()\ndef add_key(mapping):\n    mapping['k'] = 1\n",
        ["a = [3, 1, 2]\nsort_in_place(a)\nassert a == [1, 2, 3]", "d = {}\nadd_key(d)\nassert d == {'k': 1}"],
        2,
    ),
    "generators_and_iterators": (
        "def squares(n):\n    for i in range(n):\n        yield i * i\n",
        [
            "assert list(squares(4)) == [0, 1, 4, 9]",
            "assert sum(squares(3)) == 5",
            "assert next(iter(squares(2))) == 0",
            "assert squares(2)",
            "assert sorted(squares(3), reverse=True) == [4, 1, 0]",
        ],
        5,
    ),
    "callables_the_test_gives_run_in_the_judge": (
        "def apply(function, items):\n    return [function(item) for item in items]\n"
        "def order(items, key):\n    return sorted(items, key=key)\n",
        [
            "assert apply(lambda x: x + 1, [1, 2]) == [2, 3]",
            "assert order(['bb', 'a'], len) == ['a', 'bb']",
            "assert apply(str, [1]) == ['1']",
        ],
        3,
    ),
    "program_globals": (
        "state = []\ncount = 0\ndef increment():\n    global count\n    count += 1\n    return count\nLIMIT = 10\n",
        ["state.append(1)", "assert state == [1]", "increment()\nassert count == 1", "assert LIMIT == 10"],
        4,
    ),
    "truth_of_c_objects": (
        "import re\ndef check(text):\n    return re.search('^[aeiou]', text)\n",
        ["assert check('apple')", "assert not check('xyz')", "assert check('egg') is not None"],
        3,
    ),
    "stop_iteration_from_a_call_does_not_end_a_loop_early": (
        "def f(x):\n    raise StopIteration\n",
        ["for value in map(f, [1, 2]):\n    assert value == 1", "assert list(map(f, [1])) == []"],
        0,
    ),
    "numpy_values_cross_by_value": (
        "import numpy as np\ndef f():\n    return np.arange(4)\ndef g():\n    return np.float64(2.5)\n",
        [
            "assert f().sum() == 6",
            "assert list(f()) == [0, 1, 2, 3]",
            "assert (f() == [0, 1, 2, 3]).all()",
            "import numpy as np\nassert np.allclose(f(), [0, 1, 2, 3.0000001])",
            "assert g() == 2.5",
            "assert isinstance(g(), np.floating)",
        ],
        6,
    ),
}


@pytest.fixture(scope="module")
def results():
    pytest.importorskip("numpy")
    with Engine(workers=2, limits=FAST_LIMITS) as engine:
        outcome = engine.run([program for program, _, _ in CASES.values()], [tests for _, tests, _ in CASES.values()])
    return dict(zip(CASES, outcome))


@pytest.mark.parametrize("name", list(CASES))
def test_pass_counts(results, name):
    result = results[name]
    assert result.passed == CASES[name][2], [
        (test.status.value, test.exception_type, test.message) for test in result.tests
    ]


def test_a_rejected_comparison_names_the_type(results):
    test = results["int_subclass"].tests[0]
    assert test.exception_type == "NotPlainValue"
    assert "I" in test.message and "==" in test.message


def test_an_uncaught_program_exception_is_the_tests_error(results):
    test = results["exceptions_cross_with_their_classes"].tests[4]
    assert (test.status.value, test.exception_type, test.message) == ("error", "Invalid", "negative: -2")


def test_a_failed_comparison_says_what_was_compared(results):
    message = results["patched_modules_and_builtins_do_not_reach_the_tests"].tests[4].message
    assert message.startswith("Counter({'a': 1, 'b': 1}) == Counter(")


def test_nan_matches_no_number_in_stdout():
    with Engine(workers=1, limits=FAST_LIMITS) as engine:
        cases = [IOTest("", "1.0\n", float_tolerance=0.5), IOTest("", "nan\n", float_tolerance=0.5)]
        programs = ["print(float('nan'))", "print(float('inf'))", "print(1.2)"]
        results = engine.run(programs, [cases, cases, cases])
    # nan matches only the literal token "nan"; inf is no number's neighbour; 1.2 is within 0.5 of 1.0.
    assert [[test.status.value for test in result.tests] for result in results] == [
        ["failed", "passed"],
        ["failed", "failed"],
        ["passed", "failed"],
    ]


def test_calls_made_ahead_keep_the_order_of_a_tests_own_requests():
    # Every test below calls `make` with literals, so the judge makes those calls ahead, in one batch; the tests
    # that then read an attribute of what came back must still see their own object, and the counter must show
    # the calls in the order the tests made them.
    program = (
        "class Box:\n    def __init__(self, value):\n        self.value = value\n"
        "made = []\ndef make(value):\n    made.append(value)\n    return Box(value)\n"
        "def history():\n    return list(made)\n"
    )
    tests = [
        "assert make(1).value == 1",
        "assert make(2).value == 2",
        "assert make(3).value == 3",
        "assert history() == [1, 2, 3]",
    ]
    with Engine(workers=1, limits=FAST_LIMITS) as engine:
        (result,) = engine.run([program], [tests])
    assert result.passed == 4, result.tests
