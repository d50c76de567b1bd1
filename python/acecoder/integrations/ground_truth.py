"""The tests a dataset row carries in another trainer's label column, as engine tests.

verl keeps a row's answer in ``reward_model.ground_truth`` and OpenRLHF in the ``--label_key`` column; for code both
are whatever the dataset's author stored there, and the common shapes are:

- a list of assert statements (AceCode-87K's ``test_cases``), or the JSON text of one;
- stdin/stdout cases as ``{"inputs": [...], "outputs": [...]}``, or its JSON text: the APPS / TACO / PRIME layout
  that verl's own ``prime_code`` and ``sandbox_fusion`` scorers read (``json.loads`` of the ground truth, then
  ``inputs`` and ``outputs``; verl/utils/reward_score/sandbox_fusion/__init__.py in
  https://github.com/volcengine/verl);
- a list of ``{"input": ..., "output": ...}`` cases (LiveCodeBench's ``public_test_cases`` layout);
- any other text: one test, a block of Python statements run after the program (e.g. a HumanEval ``check``).

Each becomes ``str`` tests (run in the judge after the program) or ``acecoder.exec.IOTest``s. A row's shape that fits
none of these raises ``ValueError``: a wrong label column is the dataset's bug, and a reward of 0.0 for every row
would hide it for a whole run. APPS's call-based rows (with ``fn_name``) raise too: their expected values are
sometimes wrapped in a list and sometimes not, so turn them into asserts when the dataset is built.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from acecoder.exec import IOTest, Test

__all__ = ["tests_from_ground_truth"]


def tests_from_ground_truth(ground_truth: object) -> list[Test]:
    """The engine tests in ``ground_truth`` (see the module doc); ``[]`` for None or an empty list."""
    if ground_truth is None:
        return []
    if isinstance(ground_truth, bytes):
        ground_truth = ground_truth.decode("utf-8")
    if isinstance(ground_truth, str):
        text = ground_truth.strip()
        if not text:
            return []
        if text[0] in "[{":
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError as error:
                raise ValueError(f"ground truth starts like JSON but does not parse: {error}") from None
            return tests_from_ground_truth(parsed)
        return [ground_truth]
    if not isinstance(ground_truth, (Mapping, Sequence)) and hasattr(ground_truth, "tolist"):
        # verl hands each row's non-tensor fields over as numpy values (a list column arrives as an array).
        return tests_from_ground_truth(ground_truth.tolist())
    if isinstance(ground_truth, Mapping):
        return _from_mapping(ground_truth)
    if isinstance(ground_truth, Sequence):
        items = list(ground_truth)
        if all(isinstance(item, str) for item in items):
            return [item for item in items if item.strip()]
        if all(isinstance(item, Mapping) for item in items):
            return [_case(item, f"case {position}") for position, item in enumerate(items)]
        raise ValueError("a ground-truth list must hold only assert strings or only {'input', 'output'} cases")
    kind = type(ground_truth).__name__
    raise ValueError(f"ground truth must be tests (a list, a dict or their JSON text), got {kind}")


def _from_mapping(ground_truth: Mapping) -> list[Test]:
    for name in ("test_cases", "tests"):
        if name in ground_truth:  # a whole AceCode-style row, or a wrapper around its tests
            return tests_from_ground_truth(ground_truth[name])
    if "inputs" not in ground_truth or "outputs" not in ground_truth:
        keys = sorted(ground_truth)
        raise ValueError(f"ground truth dict needs 'inputs' and 'outputs' (stdin/stdout cases), got keys {keys}")
    if ground_truth.get("fn_name"):
        raise ValueError(
            "call-based ground truth (fn_name) is not supported: write its cases as assert statements instead"
        )
    inputs, outputs = ground_truth["inputs"], ground_truth["outputs"]
    if not isinstance(inputs, Sequence) or not isinstance(outputs, Sequence) or len(inputs) != len(outputs):
        raise ValueError("ground truth 'inputs' and 'outputs' must be lists of the same length")
    pairs = enumerate(zip(inputs, outputs))
    return [_io_test(stdin, stdout, f"case {position}") for position, (stdin, stdout) in pairs]


def _case(case: Mapping, where: str) -> IOTest:
    if case.get("testtype", "stdin") != "stdin":
        raise ValueError(f"{where}: only stdin cases are supported, got testtype {case.get('testtype')!r}")
    if "input" not in case or "output" not in case:
        raise ValueError(f"{where}: a case needs 'input' and 'output', got keys {sorted(case)}")
    return _io_test(case["input"], case["output"], where)


def _io_test(stdin: object, stdout: object, where: str) -> IOTest:
    if not isinstance(stdin, str) or not isinstance(stdout, str):
        raise ValueError(
            f"{where}: stdin and stdout must be strings, got {type(stdin).__name__} and {type(stdout).__name__}"
        )
    return IOTest(stdin, stdout)
