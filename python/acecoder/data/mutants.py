"""Mechanical mutants of correct programs: realistic wrong solutions for demos and benchmarks.

A mutant flips one operator in the program's syntax tree (``+``→``-``, ``<``→``<=``, ``==``→``!=``, ``and``→``or``,
``True``→``False``, an integer constant ``n``→``n + 1``), the classic mutation-testing operators. Most mutants fail
some tests and pass others, which is the spread of pass rates that reward signal is made of.
"""

from __future__ import annotations

import argparse
import ast
import gzip
import json
from collections.abc import Iterator
from pathlib import Path

_BINARY_SWAPS = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.FloorDiv,
    ast.FloorDiv: ast.Mult,
    ast.Mod: ast.FloorDiv,
}
_COMPARE_SWAPS = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
}


def _mutation_sites(tree: ast.AST) -> Iterator[ast.AST]:
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY_SWAPS:
            yield node
        elif isinstance(node, ast.Compare) and type(node.ops[0]) in _COMPARE_SWAPS:
            yield node
        elif isinstance(node, ast.BoolOp):
            yield node
        elif isinstance(node, ast.Constant) and (type(node.value) is int or type(node.value) is bool):
            yield node


def _mutate(node: ast.AST) -> None:
    if isinstance(node, ast.BinOp):
        node.op = _BINARY_SWAPS[type(node.op)]()
    elif isinstance(node, ast.Compare):
        node.ops[0] = _COMPARE_SWAPS[type(node.ops[0])]()
    elif isinstance(node, ast.BoolOp):
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif isinstance(node, ast.Constant):
        node.value = (not node.value) if type(node.value) is bool else node.value + 1  # type: ignore[operator]


def mutants(program: str, limit: int | None = None) -> list[str]:
    """Distinct single-site mutants of ``program`` in source order (at most ``limit``)."""
    count = sum(1 for _ in _mutation_sites(ast.parse(program)))
    results: list[str] = []
    seen = {ast.unparse(ast.parse(program))}
    for site in range(count):
        if limit is not None and len(results) >= limit:
            break
        tree = ast.parse(program)
        node = list(_mutation_sites(tree))[site]
        _mutate(node)
        source = ast.unparse(tree)
        if source not in seen:
            seen.add(source)
            results.append(source)
    return results


def build_mbpp_plus_sample(source: Path, tasks: int) -> list[dict]:
    """Canonical solution plus its first mutant for the first ``tasks`` MBPP+ tasks that have one and whose
    canonical solution passes its own assert tests (one task's tests use ``math`` without importing it)."""
    from acecoder.data.tests import split_test_script
    from acecoder.exec import Engine

    rows = []
    with gzip.open(source, "rt", encoding="utf-8") as handle:
        for line in handle:
            task = json.loads(line)
            program = task["canonical_solution"]
            tests = split_test_script(task["assertion"])
            found = mutants(program, limit=1)
            if not found or not tests:
                continue
            rows.append({"task_id": task["task_id"], "variant": "canonical", "program": program, "tests": tests})
            rows.append({"task_id": task["task_id"], "variant": "mutant", "program": found[0], "tests": tests})
    canonical = rows[0::2]
    with Engine() as engine:
        results = engine.run([row["program"] for row in canonical], [row["tests"] for row in canonical])
    kept = [pair for index, pair in enumerate(zip(rows[0::2], rows[1::2])) if results[index].pass_rate == 1.0]
    return [row for pair in kept[:tasks] for row in pair]


def main() -> None:
    parser = argparse.ArgumentParser(description="Build the bundled MBPP+ demo sample.")
    parser.add_argument(
        "--source", type=Path, default=Path(__file__).parents[3] / ".." / "shared" / "data" / "MbppPlus.jsonl.gz"
    )
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--tasks", type=int, default=120)
    arguments = parser.parse_args()
    rows = build_mbpp_plus_sample(arguments.source, arguments.tasks)
    with open(arguments.output, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    print(f"wrote {len(rows)} rows to {arguments.output}")


if __name__ == "__main__":
    main()
