"""The published hostile corpus (`../shared/hostile/cases.jsonl`): exact pass counts, run in one batch, and the
machine left as it was. Defences that belong to the sandbox issue (strict equality) are marked xfail(strict)."""

from __future__ import annotations

import os

import pytest
from acecoder.exec import Engine
from conftest import FAST_LIMITS, hostile_cases, strays

# Cases whose defence is not built yet; strict, so the marker must come off when it is.
NOT_YET_DEFENDED: dict[str, str] = {}
# Published cases whose count changed by design, with why (see SECURITY.md): the count this engine must give.
REDESIGNED = {
    "cross_job_state": (
        1,
        "the program's patch of math.pi stays in its own process: the test's `import math` is the judge's own math "
        "(were it the program's, `math.pi = 0` would pass every circle-area test), so only the honest test passes",
    ),
}


def expected_passed(case: dict) -> int:
    return REDESIGNED[case["name"]][0] if case["name"] in REDESIGNED else case["expected_passed"]


@pytest.fixture(scope="module")
def batch_results():
    cases = hostile_cases()
    with Engine(workers=2, limits=FAST_LIMITS) as engine:
        results = engine.run([case["program"] for case in cases], [case["tests"] for case in cases])
        workers = engine.worker_pids()
        leftovers = strays(os.getpid(), workers)
    return {case["name"]: (case, result) for case, result in zip(cases, results)}, leftovers


def _case_names() -> list:
    try:
        cases = hostile_cases()
    except pytest.skip.Exception:
        return []
    parameters = []
    for case in cases:
        marks = []
        if case["name"] in NOT_YET_DEFENDED:
            marks.append(pytest.mark.xfail(strict=True, reason=NOT_YET_DEFENDED[case["name"]]))
        parameters.append(pytest.param(case["name"], marks=marks, id=case["name"]))
    return parameters


@pytest.mark.parametrize("name", _case_names())
def test_hostile_case_pass_count_is_exact(batch_results, name):
    results, _ = batch_results
    case, result = results[name]
    assert result.passed == expected_passed(case), f"{case['why']}: {result}"
    assert result.total == len(case["tests"])


def test_no_process_outlives_the_batch(batch_results):
    _, leftovers = batch_results
    assert leftovers == set()


def test_honest_jobs_next_to_hostile_ones_are_unaffected(batch_results):
    results, _ = batch_results
    assert results["honest_pass"][1].passed == 3
    assert results["cross_job_state_check"][1].passed == 1
