"""Seed code for test-case synthesis: rows with ``id``, ``program`` and an optional ``instruction``.

Seeds come from JSON-lines (optionally gzip-compressed), Parquet, or a dataset directory saved with HF
``datasets`` (``save_to_disk``). Bad seed files fail before any model is called, naming the rows at fault: a
pipeline that paid for generations and then met a malformed row would waste them. The bundled default is MBPP's
train split (tasks 601-974, ``text`` as the instruction, ``code`` as the program). It never touches MBPP's test
split, but MBPP+ is drawn from every split of sanitized MBPP and holds 108 of these 374 train tasks: anything judged
on MBPP+ (best-of-N, a trained policy) must train on ``mbpp_train_questions(disjoint_from_mbpp_plus=True)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from acecoder.data.benchmarks import load_mbpp, load_mbpp_plus, read_jsonl

DEFAULT_SEEDS = "mbpp-train"


@dataclass(frozen=True)
class Seed:
    id: str
    program: str
    instruction: str | None = None
    source: str = "seeds"


def default_seeds() -> list[Seed]:
    """MBPP train tasks 601-974 as seeds ``mbpp/<task_id>``."""
    return [
        Seed(id=f"mbpp/{row['task_id']}", program=row["code"], instruction=row["text"], source="mbpp")
        for row in load_mbpp("train")
    ]


def read_rows(path: str | Path) -> list[dict]:
    """Rows of a JSON-lines, Parquet or saved-dataset file, as dicts."""
    path = Path(path)
    if path.is_dir():
        import datasets

        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            split = "train" if "train" in loaded else next(iter(loaded))
            loaded = loaded[split]
        return [dict(row) for row in loaded]
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if path.suffix == ".parquet":
        import pyarrow.parquet

        return pyarrow.parquet.read_table(path).to_pylist()
    return read_jsonl(path)


def load_seeds(path: str | Path | None = None, fields: Mapping[str, str] | None = None) -> list[Seed]:
    """Seeds from ``path`` (the bundled MBPP train seeds when None or ``"mbpp-train"``). ``fields`` renames
    columns, e.g. ``{"program": "code", "instruction": "text", "id": "task_id"}``. Raises ``ValueError`` listing
    malformed rows (not a mapping, no ``id`` or ``program``, empty program, duplicate id)."""
    if path is None or str(path) == DEFAULT_SEEDS:
        return default_seeds()
    names = {"id": "id", "program": "program", "instruction": "instruction", "source": "source"}
    names.update(fields or {})
    rows = read_rows(path)
    default_source = Path(path).name.split(".")[0]
    seeds: list[Seed] = []
    problems: list[str] = []
    seen: set[str] = set()
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, Mapping):
            problems.append(f"row {number}: not an object")
            continue
        identifier, program = row.get(names["id"]), row.get(names["program"])
        instruction = row.get(names["instruction"])
        if identifier is None or isinstance(identifier, (bool, float)) or str(identifier).strip() == "":
            problems.append(f"row {number}: no {names['id']!r}")
        elif not isinstance(program, str) or not program.strip():
            problems.append(f"row {number}: {names['program']!r} is not a non-empty string")
        elif instruction is not None and not isinstance(instruction, str):
            problems.append(f"row {number}: {names['instruction']!r} is not a string")
        elif str(identifier) in seen:
            problems.append(f"row {number}: duplicate id {identifier!r}")
        else:
            seen.add(str(identifier))
            source = row.get(names["source"])
            seeds.append(
                Seed(str(identifier), program, instruction, source if isinstance(source, str) else default_source)
            )
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise ValueError(f"{path}: {len(problems)} malformed seed rows: {shown}")
    return seeds


def mbpp_train_questions(disjoint_from_mbpp_plus: bool = False) -> list[dict]:
    """MBPP train tasks 601-974 as AceCode rows: the task's text as the question, its asserts (after any setup
    code) as ``test_cases``. The bundled default for sampling and pass rates: real tests, no synthesis needed.
    ``disjoint_from_mbpp_plus`` leaves out the 108 tasks MBPP+ also holds (266 remain), for data whose model is
    then evaluated on MBPP+."""
    excluded: set[int] = set()
    if disjoint_from_mbpp_plus:
        excluded = {int(task_id.split("/")[1]) for task_id in load_mbpp_plus()}
    rows = []
    for task in load_mbpp("train"):
        if task["task_id"] in excluded:
            continue
        setup = (task.get("test_setup_code") or "").strip()
        tests = [f"{setup}\n{test}" if setup else test for test in task["test_list"]]
        rows.append(
            {
                "id": f"mbpp/{task['task_id']}",
                "source": "mbpp",
                "question": task["text"],
                "test_cases": tests,
                "context_messages": [{"role": "user", "content": task["text"]}],
            }
        )
    return rows
