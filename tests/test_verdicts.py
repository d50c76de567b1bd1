"""Verdict integrity against attacks on the judge itself: `tests/hostile/verdicts.jsonl`, exact counts.

Issue 17: while the judge (test code, comparisons, expected values, the record channel) shares an interpreter with
the program it judges, a program can read or rewrite the judge and forge passes. This corpus holds such attacks,
ten classes of them, each with the exact set of tests that pass under un-gameable judging (the program's honest
part passes, the attack gains nothing). The counts do not describe the engine of today: run this module as a
script to record which attacks succeed against the engine installed (`hostile/verdicts_today.json`).

The whole corpus runs as one batch per test kind (assert statements, CallTests, IOTests) through one
`Engine(workers=2, limits=FAST_LIMITS)` in a separate caller process, started the way a user would start a
trainer: a script in a directory of its own (`{CALLER_DIR}`, holding a 0600 `.env` with an API key and answers),
from another working directory (`{CALLER_CWD}`), with its own HOME (`{CALLER_HOME}`) and a PYTHONPATH entry
(`{CALLER_PATH_DIR}`), each holding the answers to the `add` tests, so that the answers_on_disk class can look for
them where a real caller keeps files.

Attacks the proxy design could forward to the program by construction are here too, closed: predicate methods
of plain types asked of a program object (``title_case(x).startswith('Hello')``), module names the program binds
to stand-ins, arguments emptied by a call that returns its answer, and HumanEval helpers of the prompt (the test
carries them, so they are the judge's).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from conftest import SHARED

HOSTILE = Path(__file__).parent / "hostile"
CORPUS = HOSTILE / "verdicts.jsonl"
TODAY = HOSTILE / "verdicts_today.json"
CLASSES = frozenset(
    {"harness_globals", "answer_reading", "record_channel", "ctypes", "test_shapes", "monkeypatching",
     "float_tolerance", "answers_on_disk", "exceptions", "handles"}
)  # fmt: skip
KINDS = ("tests", "call_tests", "io_tests")  # exactly one per case: a job's tests are of one kind
PLACEHOLDERS = ("{SHARED}", "{SITE_PACKAGES}", "{CALLER_DIR}", "{CALLER_CWD}", "{CALLER_HOME}", "{CALLER_PATH_DIR}")
FIELDS = {"name", "class", "program", "expected_passed", "passing_tests", "why"}
# The answers the answers_on_disk cases look for (add is answered honestly only below 10).
ANSWERS = {"1,2": 3, "20,1": 21, "30,4": 34}
ANSWERS_MODULE = "acecoder_verdicts_answers"

# The caller of the engine, in its own process and directory (see the module docstring). Prints one JSON object.
CALLER = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from conftest import FAST_LIMITS
from acecoder.exec import CallTest, Engine, IOTest

jobs = json.load(sys.stdin)
builders = {
    "tests": lambda test: test,
    "call_tests": lambda test: CallTest(
        test["entry_point"], test["arguments"], test["expected"], test.get("atol", 0.0)
    ),
    "io_tests": lambda test: IOTest(test["stdin"], test["stdout"], test.get("float_tolerance")),
}
results = {}
with Engine(workers=2, limits=FAST_LIMITS) as engine:
    for kind, batch in jobs.items():
        tests = [[builders[kind](test) for test in case_tests] for case_tests in batch["tests"]]
        results[kind] = [result.to_dict() for result in engine.run(batch["programs"], tests)]
json.dump(results, sys.stdout)
"""


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def kind_of(case: dict) -> str:
    return next(kind for kind in KINDS if kind in case)


def substitute(value: object, values: dict[str, str]) -> object:
    """`value` with every placeholder replaced, through lists and dicts (plain text replacement in strings)."""
    if isinstance(value, str):
        for placeholder, replacement in values.items():
            value = value.replace(placeholder, replacement)
        return value
    if isinstance(value, list):
        return [substitute(item, values) for item in value]
    if isinstance(value, dict):
        return {key: substitute(item, values) for key, item in value.items()}
    return value


def run_corpus(cases: list[dict]) -> dict[str, dict]:
    """Runs `cases` through a caller process set up as the module docstring says; result dicts by case name."""
    root = Path(tempfile.mkdtemp(prefix="acecoder-verdicts-"))
    try:
        directories = {name: root / name for name in ("caller", "cwd", "home", "path")}
        for directory in directories.values():
            directory.mkdir()
        api_key = f"sk-{secrets.token_hex(16)}"
        dotenv = directories["caller"] / ".env"
        dotenv.write_text(f"OPENAI_API_KEY={api_key}\nACECODER_ANSWERS={json.dumps(ANSWERS)}\n")
        dotenv.chmod(0o600)
        for directory in (directories["cwd"], directories["home"]):
            (directory / "answers.json").write_text(json.dumps(ANSWERS))
        (directories["path"] / f"{ANSWERS_MODULE}.py").write_text(f"ANSWERS = {ANSWERS!r}\n")
        script = directories["caller"] / "caller.py"
        script.write_text(CALLER)
        values = {
            "{SHARED}": str(SHARED),
            "{SITE_PACKAGES}": sysconfig.get_paths()["purelib"],
            "{CALLER_DIR}": str(directories["caller"]),
            "{CALLER_CWD}": str(directories["cwd"]),
            "{CALLER_HOME}": str(directories["home"]),
            "{CALLER_PATH_DIR}": str(directories["path"]),
        }
        jobs: dict[str, dict[str, list]] = {}
        names: dict[str, list[str]] = {}
        for case in cases:
            kind = kind_of(case)
            batch = jobs.setdefault(kind, {"programs": [], "tests": []})
            batch["programs"].append(substitute(case["program"], values))
            batch["tests"].append(substitute(case[kind], values))
            names.setdefault(kind, []).append(case["name"])
        python_path = os.pathsep.join(filter(None, [str(directories["path"]), os.environ.get("PYTHONPATH")]))
        environment = {**os.environ, "HOME": str(directories["home"]), "PYTHONPATH": python_path}
        completed = subprocess.run(
            [sys.executable, str(script), str(Path(__file__).parent)],
            input=json.dumps(jobs),
            capture_output=True,
            text=True,
            cwd=directories["cwd"],
            env=environment,
            timeout=600,
            check=False,
        )
        assert completed.returncode == 0, f"the caller process failed:\n{completed.stderr[-4000:]}"
        report = json.loads(completed.stdout)
        results = {}
        for kind, kind_names in names.items():
            for name, result in zip(kind_names, report[kind]):
                result["api_key_leaked"] = api_key in json.dumps(result)
                results[name] = result
        return results
    finally:
        shutil.rmtree(root, ignore_errors=True)


def passed_indices(result: dict) -> list[int]:
    return [index for index, test in enumerate(result["tests"]) if test["status"] == "passed"]


def describe(result: dict) -> str:
    lines = [f"status={result['status']} passed={result['passed']}/{result['total']}"]
    if result.get("exception_type"):
        lines.append(f"program: {result['exception_type']}: {(result.get('message') or '')[:200]}")
    for index, test in enumerate(result["tests"]):
        message = (test.get("message") or "")[:160]
        lines.append(f"  test {index}: {test['status']} {test.get('exception_type') or ''} {message}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def verdicts() -> dict[str, dict]:
    return run_corpus(load(CORPUS))


def test_cases_are_well_formed():
    cases = load(CORPUS)
    names = [case["name"] for case in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    for case in cases:
        kinds = [kind for kind in KINDS if kind in case]
        assert len(kinds) == 1, f"{case['name']}: exactly one of {KINDS}"
        assert set(case) == FIELDS | set(kinds), case["name"]
        assert case["class"] in CLASSES, case["name"]
        tests = case[kinds[0]]
        assert tests, case["name"]
        assert case["passing_tests"] == sorted(set(case["passing_tests"])), case["name"]
        assert all(0 <= index < len(tests) for index in case["passing_tests"]), case["name"]
        assert case["expected_passed"] == len(case["passing_tests"]), case["name"]
        for text in re.findall(r"\{[A-Z_]+\}", json.dumps([case["program"], tests])):
            assert text in PLACEHOLDERS, f"{case['name']}: unknown placeholder {text}"
    per_class = Counter(case["class"] for case in cases)
    assert len(cases) >= 70 and set(per_class) == CLASSES and min(per_class.values()) >= 5, per_class
    # Honest tests inside hostile programs: a defence that throws them away must fail the count.
    assert sum(case["expected_passed"] > 0 for case in cases) == len(cases)
    assert {kind_of(case) for case in cases} == set(KINDS)


@pytest.mark.parametrize("name", [case["name"] for case in load(CORPUS)])
def test_exactly_the_honest_tests_pass(verdicts, name):
    case = next(case for case in load(CORPUS) if case["name"] == name)
    result = verdicts[name]
    assert result["total"] == len(case[kind_of(case)])
    assert passed_indices(result) == case["passing_tests"], f"{case['why']}\n{describe(result)}"
    assert not result["api_key_leaked"], "the caller's API key reached a result"


# --------------------------------------------------------------------------------------------- today's record


def record_today(path: Path = TODAY) -> dict:
    """Runs the corpus against the engine installed and writes, per case, the tests that passed against the tests
    that should: `forged` (passed, should not), `lost` (should pass, did not)."""
    corpus = load(CORPUS)
    results = run_corpus(corpus)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent, check=False
    ).stdout.strip()
    cases = {}
    for source, source_cases in (("corpus", corpus),):
        for case in source_cases:
            result = results[case["name"]]
            passed = passed_indices(result)
            entry = {
                "source": source,
                "class": case["class"],
                "kind": kind_of(case),
                "expected_passed": case["expected_passed"],
                "passed": len(passed),
                "forged": [index for index in passed if index not in case["passing_tests"]],
                "lost": [index for index in case["passing_tests"] if index not in passed],
                "status": result["status"],
                "statuses": [test["status"] for test in result["tests"]],
            }
            if result["api_key_leaked"]:
                entry["api_key_leaked"] = True
            cases[case["name"]] = entry
    corpus_entries = [entry for entry in cases.values() if entry["source"] == "corpus"]
    by_class: dict[str, dict[str, int]] = {}
    for entry in corpus_entries:
        counts = by_class.setdefault(entry["class"], {"cases": 0, "forging": 0, "forged_tests": 0, "losing": 0})
        counts["cases"] += 1
        counts["forging"] += bool(entry["forged"])
        counts["forged_tests"] += len(entry["forged"])
        counts["losing"] += bool(entry["lost"])
    document = {
        "engine_commit": commit,
        "python": sys.version.split()[0],
        "euid": os.geteuid(),
        "summary": {
            "cases": len(corpus_entries),
            "cases_forging_a_pass": sum(bool(entry["forged"]) for entry in corpus_entries),
            "forged_tests": sum(len(entry["forged"]) for entry in corpus_entries),
            "cases_losing_an_honest_pass": sum(bool(entry["lost"]) for entry in corpus_entries),
            "exact": sum(not entry["forged"] and not entry["lost"] for entry in corpus_entries),
            "by_class": dict(sorted(by_class.items())),
        },
        "cases": cases,
    }
    path.write_text(json.dumps(document, indent=1) + "\n")
    return document


if __name__ == "__main__":
    summary = record_today(Path(sys.argv[1]) if len(sys.argv) > 1 else TODAY)["summary"]
    print(json.dumps(summary, indent=1))
