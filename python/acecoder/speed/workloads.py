"""Benchmark workloads: lists of (program, assert tests) that every runner executes identically.

Three shapes, because an engine can look fast on one and slow on another:

- ``tiny``: many small correct programs with 10 asserts each. Nearly all the cost is per-job overhead (fork,
  dispatch, result framing), which is what separates execution harnesses.
- ``mbpp``: real MBPP+ canonical solutions with their own assert tests (3 to 7 each), as in an evaluation run.
- ``mixed``: what an RL reward function sees: mostly passing or failing programs, a few that raise, and a few
  that loop forever in one test and must be stopped by the per-test time limit. Timeouts dominate its wall time,
  so every runner gets the same small limit (``MIXED_TEST_SECONDS``) and pays the same for them.

Every workload carries the per-test time limit (``Workload.test_seconds``) that all runners must apply to it.

Expected values in ``tiny`` and ``mixed`` are computed by running each generated program here, at build time, so
a correct program passes by construction and a test that fails does so on purpose.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

WORKLOADS = ("tiny", "mbpp", "mixed")
TESTS_PER_TINY_PROGRAM = 10
# Per-test time limits, applied by every runner. Where nothing should time out, acecoder's default (also
# AceCoder's released default, max(1 s, 4 x 1 s)), so a loaded machine cannot turn a slow pass into a timeout for
# a wall-clock runner; in ``mixed``, half a second, so each infinite loop costs every runner the same small price.
DEFAULT_TEST_SECONDS = 4.0
MIXED_TEST_SECONDS = 0.5
DEFAULT_JOBS = {"tiny": 1000, "mbpp": 500, "mixed": 500}


@dataclass
class Workload:
    """Jobs to run, and the per-test time limit every runner must apply to them."""

    name: str
    programs: list[str]
    tests: list[list[str]]
    test_seconds: float = field(default=DEFAULT_TEST_SECONDS)

    @property
    def test_count(self) -> int:
        return sum(len(program_tests) for program_tests in self.tests)

    def __len__(self) -> int:
        return len(self.programs)


# ------------------------------------------------------------------------------------------------------- tiny

# Each template: (function name, source with {k} for a per-program constant, argument maker). The constant makes
# every program's text (and most answers) different, so no runner can profit from repeated identical jobs.
_Arguments = Callable[[random.Random], tuple]

_TEMPLATES: list[tuple[str, str, _Arguments]] = [
    (
        "scale",
        "def scale(x):\n    return x * {k} + 1\n",
        lambda rng: (rng.randint(-1000, 1000),),
    ),
    (
        "sum_below",
        "def sum_below(values):\n    return sum(v for v in values if v < {k})\n",
        lambda rng: ([rng.randint(0, 100) for _ in range(rng.randint(0, 12))],),
    ),
    (
        "reverse_words",
        "def reverse_words(text):\n    words = text.split()\n    return ' '.join(reversed(words)) + '!' * {k_small}\n",
        lambda rng: (
            " ".join(rng.choice(["alpha", "beta", "gamma", "delta", "pi"]) for _ in range(rng.randint(1, 6))),
        ),
    ),
    (
        "count_vowels",
        "def count_vowels(text):\n    return sum(1 for c in text.lower() if c in 'aeiou') + {k}\n",
        lambda rng: ("".join(rng.choice("abcdeiouxyzAEI ") for _ in range(rng.randint(0, 20))),),
    ),
    (
        "fibonacci",
        "def fibonacci(n):\n    a, b = 0, {k_small}\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
        lambda rng: (rng.randint(0, 40),),
    ),
    (
        "is_palindrome",
        "def is_palindrome(text):\n    cleaned = [c.lower() for c in text if c.isalnum()]\n"
        "    return cleaned == cleaned[::-1] and len(cleaned) != {k}\n",
        lambda rng: (rng.choice(["Racecar", "level", "A man, a plan", "abcba", "python", "noon", "xyz"]),),
    ),
    (
        "gcd_plus",
        "import math\n\ndef gcd_plus(a, b):\n    return math.gcd(a, b) + {k}\n",
        lambda rng: (rng.randint(0, 10_000), rng.randint(1, 10_000)),
    ),
    (
        "running_max",
        "def running_max(values):\n    result, best = [], None\n    for value in values:\n"
        "        best = value if best is None or value > best else best\n        result.append(best + {k})\n"
        "    return result\n",
        lambda rng: ([rng.randint(-50, 50) for _ in range(rng.randint(0, 8))],),
    ),
    (
        "digit_sum",
        "def digit_sum(n):\n    return sum(int(d) for d in str(abs(n))) * {k_small}\n",
        lambda rng: (rng.randint(-(10**9), 10**9),),
    ),
    (
        "top_letter",
        "from collections import Counter\n\ndef top_letter(text):\n    counts = Counter(text.replace(' ', ''))\n"
        "    return counts.most_common(1)[0][0] * {k_small}\n",
        lambda rng: ("".join(rng.choice("aabbbcd e") for _ in range(rng.randint(2, 15))) + "z",),
    ),
]


def _render_program(template_index: int, constant: int) -> tuple[str, str, _Arguments]:
    name, source, arguments = _TEMPLATES[template_index]
    return name, source.format(k=constant, k_small=constant % 4 + 1), arguments


def _assert_line(name: str, arguments: tuple, expected: object) -> str:
    rendered = ", ".join(repr(argument) for argument in arguments)
    return f"assert {name}({rendered}) == {expected!r}"


def _correct_job(rng: random.Random, tests_per_program: int) -> tuple[str, str, list[tuple], list[object]]:
    """A random correct program, its function name, argument tuples and the answers it gives."""
    name, program, make_arguments = _render_program(rng.randrange(len(_TEMPLATES)), rng.randint(0, 999))
    namespace: dict = {}
    exec(compile(program, "<workload>", "exec"), namespace)  # our own generated code, to get the answers
    function = namespace[name]
    argument_lists = [make_arguments(rng) for _ in range(tests_per_program)]
    return program, name, argument_lists, [function(*arguments) for arguments in argument_lists]


def tiny_workload(count: int, seed: int = 0) -> tuple[list[str], list[list[str]]]:
    """``count`` small correct programs, each with ``TESTS_PER_TINY_PROGRAM`` passing asserts."""
    rng = random.Random(seed)
    programs, tests = [], []
    for _ in range(count):
        program, name, argument_lists, answers = _correct_job(rng, TESTS_PER_TINY_PROGRAM)
        programs.append(program)
        tests.append([_assert_line(name, arguments, answer) for arguments, answer in zip(argument_lists, answers)])
    return programs, tests


# ------------------------------------------------------------------------------------------------------ mixed

LOOP_FRACTION = 0.02  # programs with one test that never ends (`while True: pass`)
ERROR_FRACTION = 0.04  # programs that raise: half at import time, half in every call
FAILING_FRACTION = 0.30  # programs with three wrong answers among their ten tests


def mixed_workload(count: int, seed: int = 0) -> tuple[list[str], list[list[str]]]:
    """Mostly passing and failing programs, ~4% raising errors, ~2% with one infinitely looping test.

    Every kind appears at least once when ``count`` >= 4, so even a small run exercises timeouts and errors.
    """
    rng = random.Random(seed)
    loops = max(1, round(count * LOOP_FRACTION)) if count >= 4 else 0
    errors = max(2, round(count * ERROR_FRACTION)) if count >= 4 else 0
    failing = round(count * FAILING_FRACTION)
    kinds = ["loop"] * loops + ["error"] * errors + ["failing"] * failing
    kinds += ["passing"] * (count - len(kinds))
    rng.shuffle(kinds)
    programs, tests = [], []
    error_number = 0
    for kind in kinds:
        program, name, argument_lists, answers = _correct_job(rng, TESTS_PER_TINY_PROGRAM)
        lines = [_assert_line(name, arguments, answer) for arguments, answer in zip(argument_lists, answers)]
        if kind == "failing":
            for position in rng.sample(range(len(lines)), 3):
                lines[position] = _assert_line(name, argument_lists[position], ("wrong", answers[position]))
        elif kind == "error":
            error_number += 1
            if error_number % 2:
                program += "\nconfiguration = undefined_setting + 1\n"  # NameError at import: nothing runs
            else:
                program += f"\n_original = {name}\n\ndef {name}(*arguments):\n    return _original(*arguments) // 0\n"
        elif kind == "loop":
            program += "\ndef wait_for_ready():\n    while True:\n        pass\n"
            lines[rng.randrange(len(lines))] = "assert wait_for_ready() is None"
        programs.append(program)
        tests.append(lines)
    return programs, tests


# ------------------------------------------------------------------------------------------------------- mbpp


def _mbpp_plus_jobs(path: str | Path) -> list[tuple[str, list[str]]]:
    """(canonical solution, assert tests) for every task of an MBPP+ release file (``MbppPlus.jsonl[.gz]``)."""
    from acecoder.data.tests import split_test_script

    opener = gzip.open if str(path).endswith(".gz") else open
    jobs = []
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                task = json.loads(line)
                jobs.append((task["canonical_solution"], split_test_script(task["assertion"])))
    return jobs


def _bundled_mbpp_jobs() -> list[tuple[str, list[str]]]:
    from acecoder.data.bundled import load_demo_sample

    return [(row["program"], list(row["tests"])) for row in load_demo_sample() if row.get("variant") == "canonical"]


def mbpp_workload(count: int, path: str | Path | None = None) -> tuple[list[str], list[list[str]]]:
    """``count`` MBPP+ canonical solutions with their asserts, cycling through the tasks.

    The tasks come from the bundled sample (120 tasks), or from every task of ``path`` (an MBPP+ release file).
    """
    jobs = _mbpp_plus_jobs(path) if path is not None else _bundled_mbpp_jobs()
    if not jobs:
        raise ValueError(f"no MBPP+ tasks found in {path or 'the bundled sample'}")
    chosen = [jobs[index % len(jobs)] for index in range(count)]
    return [program for program, _ in chosen], [list(tests) for _, tests in chosen]


# ------------------------------------------------------------------------------------------------------ entry


def build_workload(
    name: str, count: int | None = None, *, seed: int = 0, mbpp_path: str | Path | None = None
) -> Workload:
    """The named workload (``tiny``, ``mbpp`` or ``mixed``) with ``count`` jobs (``DEFAULT_JOBS`` if None)."""
    if name not in WORKLOADS:
        raise ValueError(f"unknown workload {name!r}; choose one of {', '.join(WORKLOADS)}")
    if count is None:
        count = DEFAULT_JOBS[name]
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ValueError(f"count must be a positive int, got {count!r}")
    if name == "tiny":
        programs, tests = tiny_workload(count, seed)
    elif name == "mixed":
        programs, tests = mixed_workload(count, seed)
    else:
        programs, tests = mbpp_workload(count, mbpp_path)
    return Workload(name, programs, tests, MIXED_TEST_SECONDS if name == "mixed" else DEFAULT_TEST_SECONDS)
