"""Mechanical mutants of correct programs: realistic wrong solutions for demos, benchmarks and test audits.

A mutant flips one operator in the program's syntax tree (``+``→``-``, ``<``→``<=``, ``==``→``!=``, ``and``→``or``,
``True``→``False``, an integer constant ``n``→``n + 1``), the classic mutation-testing operators. Most mutants fail
some tests and pass others, which is the spread of pass rates that reward signal is made of.

``mutants`` gives the first mutants in walk order (what the bundled demo sample was built with; kept as it was).
``mutant_set`` is for measuring tests (``acecoder.audit``): a larger operator set (several replacements per site,
``not``/unary minus dropped, ``break``↔``continue``, augmented assignments), ``count`` distinct mutants spread over
the whole program rather than its first lines, the same ones on every run and machine (the choice is seeded by the
program's own hash), each with the unified diff a person reads to judge it.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import gzip
import hashlib
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


# mutant_set's operators: each site's replacements, the first of each as in ``mutants``.
_BINARY_VARIANTS: dict[type, tuple[type, ...]] = {
    ast.Add: (ast.Sub, ast.Mult), ast.Sub: (ast.Add,), ast.Mult: (ast.FloorDiv, ast.Add),
    ast.FloorDiv: (ast.Mult, ast.Mod), ast.Div: (ast.FloorDiv, ast.Mult), ast.Mod: (ast.FloorDiv,),
    ast.Pow: (ast.Mult,), ast.BitAnd: (ast.BitOr,), ast.BitOr: (ast.BitAnd,), ast.BitXor: (ast.BitOr,),
    ast.LShift: (ast.RShift,), ast.RShift: (ast.LShift,),
}  # fmt: skip
_COMPARE_VARIANTS: dict[type, tuple[type, ...]] = {
    ast.Lt: (ast.LtE, ast.Gt), ast.LtE: (ast.Lt, ast.GtE), ast.Gt: (ast.GtE, ast.Lt), ast.GtE: (ast.Gt, ast.LtE),
    ast.Eq: (ast.NotEq,), ast.NotEq: (ast.Eq,), ast.In: (ast.NotIn,), ast.NotIn: (ast.In,),
    ast.Is: (ast.IsNot,), ast.IsNot: (ast.Is,),
}  # fmt: skip
_SYMBOLS: dict[type, str] = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.FloorDiv: "//", ast.Div: "/", ast.Mod: "%", ast.Pow: "**",
    ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.LShift: "<<", ast.RShift: ">>", ast.Lt: "<",
    ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=", ast.In: "in", ast.NotIn: "not in",
    ast.Is: "is", ast.IsNot: "is not", ast.And: "and", ast.Or: "or",
}  # fmt: skip


# Names and methods replaced by their opposites (``max``→``min``, ``.upper()``→``.lower()``): MBPP-style programs are
# often one call deep, with no operator to flip.
_NAME_SWAPS = {
    "max": "min", "min": "max", "any": "all", "all": "any", "ceil": "floor", "floor": "ceil",
    "upper": "lower", "lower": "upper", "isupper": "islower", "islower": "isupper", "startswith": "endswith",
    "endswith": "startswith", "lstrip": "rstrip", "rstrip": "lstrip", "find": "rfind", "rfind": "find",
    "index": "rindex", "rindex": "index", "extend": "append",
    "search": "match", "match": "search", "findall": "split", "isdigit": "isalpha", "isalpha": "isdigit",
    "sum": "max", "sorted": "list", "nlargest": "nsmallest", "nsmallest": "nlargest", "keys": "values",
    "values": "keys", "intersection": "union", "union": "intersection", "issubset": "issuperset",
    "issuperset": "issubset", "most_common": "elements",
}  # fmt: skip


@dataclass(frozen=True)
class Mutant:
    """One mutant: its source, the unified diff from the reference (both as ``ast.unparse`` writes them, so the
    diff shows the one changed line), what was changed (``"< → <="``) and its line in the program as given."""

    source: str
    diff: str
    operator: str
    line: int


def _changes(node: ast.AST) -> list[tuple[str, Any]]:
    """The replacements ``mutant_set`` makes at ``node`` as (description, what ``_apply`` puts there); empty
    when ``node`` is not a mutation site."""
    changes: list[tuple[str, Any]] = []
    if isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in _BINARY_VARIANTS:
        for new_op in _BINARY_VARIANTS[type(node.op)]:
            changes.append((f"{_SYMBOLS[type(node.op)]} → {_SYMBOLS[new_op]}", new_op))
    elif isinstance(node, ast.Compare):
        for position, current in enumerate(node.ops):
            for new_op in _COMPARE_VARIANTS.get(type(current), ()):
                changes.append((f"{_SYMBOLS[type(current)]} → {_SYMBOLS[new_op]}", (position, new_op)))
    elif isinstance(node, ast.BoolOp):
        new_op = ast.Or if isinstance(node.op, ast.And) else ast.And
        changes.append((f"{_SYMBOLS[type(node.op)]} → {_SYMBOLS[new_op]}", new_op))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
        changes.append(("not dropped" if isinstance(node.op, ast.Not) else "unary - dropped", "operand"))
    elif isinstance(node, ast.Constant) and type(node.value) is bool:
        changes.append((f"{node.value} → {not node.value}", not node.value))
    elif isinstance(node, ast.Constant) and type(node.value) is int:
        changes += [(f"{node.value} → {node.value + step}", node.value + step) for step in (1, -1)]
    elif isinstance(node, ast.Constant) and type(node.value) is str:
        changes.append((f"{node.value[:20]!r} → {'X' if not node.value else ''!r}", "X" if not node.value else ""))
    elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in _NAME_SWAPS:
        changes.append((f"{node.id} → {_NAME_SWAPS[node.id]}", _NAME_SWAPS[node.id]))
    elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load) and node.attr in _NAME_SWAPS:
        changes.append((f".{node.attr} → .{_NAME_SWAPS[node.attr]}", _NAME_SWAPS[node.attr]))
    elif isinstance(node, ast.Call) and node.keywords:
        changes += [
            (f"{keyword.arg}= dropped", ("keyword", position)) for position, keyword in enumerate(node.keywords)
        ]
    elif isinstance(node, ast.Break):
        changes.append(("break → continue", ast.Continue))
    elif isinstance(node, ast.Continue):
        changes.append(("continue → break", ast.Break))
    return changes


def _apply(node: ast.AST, parent: ast.AST, field_name: str, index: int | None, replacement: Any) -> None:
    """Makes one change of ``_changes(node)`` in place."""
    if isinstance(node, ast.Compare):
        position, new_op = replacement
        node.ops[position] = new_op()
    elif isinstance(node, (ast.BinOp, ast.AugAssign, ast.BoolOp)):
        node.op = replacement()
    elif isinstance(node, ast.Call):
        del node.keywords[replacement[1]]
    elif isinstance(node, ast.Constant):
        node.value = replacement
    elif isinstance(node, ast.Name):
        node.id = replacement
    elif isinstance(node, ast.Attribute):
        node.attr = replacement
    else:  # the node itself is replaced: by its operand, or by the other loop statement
        new = node.operand if isinstance(node, ast.UnaryOp) else replacement()
        if index is None:
            setattr(parent, field_name, new)
        else:
            getattr(parent, field_name)[index] = new


def _sites(tree: ast.AST) -> Iterator[tuple[ast.AST, ast.AST, str, int | None]]:
    """Every node with its parent, the parent's field holding it and its index there, in walk order."""
    for parent in ast.walk(tree):
        if isinstance(parent, ast.Expr) and isinstance(parent.value, ast.Constant):
            continue  # a docstring or a bare constant: changing it changes nothing a test sees
        for field_name, value in ast.iter_fields(parent):
            if isinstance(value, ast.AST):
                yield value, parent, field_name, None
            elif isinstance(value, list):
                for index, item in enumerate(value):
                    if isinstance(item, ast.AST):
                        yield item, parent, field_name, index


def mutant_set(program: str, count: int) -> list[Mutant]:
    """Up to ``count`` distinct mutants of ``program``, each differing from it by one change, in site order.

    When the program has more than ``count``, they are drawn at random with a seed taken from the program's text,
    so the same program always gets the same mutants. A change that does not alter the unparsed source (or
    repeats another's) is not a mutant. Raises ``SyntaxError`` for a program that does not parse."""
    if count < 1:
        return []
    tree = ast.parse(program)
    reference = ast.unparse(tree)
    plan = [(site, change) for site, (node, *_) in enumerate(_sites(tree)) for change in range(len(_changes(node)))]
    found: dict[str, tuple[int, str, int]] = {}  # source -> (order, operator, line)
    for order, (site, change) in enumerate(plan):
        fresh = ast.parse(program)
        node, parent, field_name, index = next(item for number, item in enumerate(_sites(fresh)) if number == site)
        text, replacement = _changes(node)[change]
        _apply(node, parent, field_name, index, replacement)
        try:
            source = ast.unparse(fresh)
            compile(source, "<mutant>", "exec")
        except (SyntaxError, ValueError, TypeError):  # e.g. `break` turned `continue` in a finally (3.7) or worse
            continue
        if source != reference and source not in found:
            found[source] = (order, text, getattr(node, "lineno", 0))
    chosen = sorted(found.items(), key=lambda item: item[1][0])
    if len(chosen) > count:
        seed = int.from_bytes(hashlib.sha256(program.encode("utf-8", "surrogatepass")).digest()[:8], "big")
        picked = sorted(random.Random(seed).sample(range(len(chosen)), count))
        chosen = [chosen[index] for index in picked]
    return [Mutant(source, unified_diff(reference, source), operator, line) for source, (_, operator, line) in chosen]


def unified_diff(reference: str, mutant: str) -> str:
    """The unified diff from ``reference`` to ``mutant``, one line of context."""
    lines = difflib.unified_diff(
        reference.splitlines(keepends=True), mutant.splitlines(keepends=True), "reference", "mutant", n=1
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


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
