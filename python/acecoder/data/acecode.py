"""The AceCode-87K row format, and writing rows as JSON lines or Parquet.

AceCode rows (TIGER-Lab's AceCode-87K): ``id``, ``source``, ``question``, ``test_cases`` (a list of ``assert``
statements) and ``context_messages`` (the chat a policy answers: ``[{"role": "user", "content": question}]``).
Later steps add ``inferences`` (sampled programs) and pass rates to the same rows. Files are written to a
temporary name and renamed, so a reader never sees half a file (``acecoder.files``: with ``open``'s permissions).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from acecoder.data.seeds import read_rows
from acecoder.files import atomic_path

ACECODE_COLUMNS = ("id", "source", "question", "test_cases", "context_messages")
OUTPUT_FORMATS = (".jsonl", ".parquet")


def output_format(path: str | Path) -> str:
    suffix = Path(path).suffix
    if suffix not in OUTPUT_FORMATS:
        raise ValueError(f"{path}: choose an output ending in {' or '.join(OUTPUT_FORMATS)}")
    return suffix


def write_rows(rows: Iterable[dict], path: str | Path) -> int:
    """Writes ``rows`` to ``path`` (``.jsonl``, or ``.parquet`` through HF ``datasets``) atomically; returns the
    number of rows."""
    path = Path(path)
    suffix = output_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = list(rows)
    with atomic_path(path) as temporary:
        if suffix == ".jsonl":
            with open(temporary, "w", encoding="utf-8") as handle:
                for row in rows:
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            import datasets

            datasets.Dataset.from_list(rows).to_parquet(str(temporary))
    return len(rows)


def read_acecode(path: str | Path) -> list[dict]:
    """AceCode rows from JSON lines or Parquet; ``ValueError`` names rows that lack the AceCode columns."""
    rows = read_rows(path)
    for number, row in enumerate(rows, start=1):
        missing = [column for column in ("id", "question", "test_cases") if column not in row]
        if missing:
            raise ValueError(f"{path}: row {number} lacks {', '.join(missing)}")
    return rows
