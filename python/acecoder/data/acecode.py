"""The AceCode-87K row format, and writing rows as JSON lines or Parquet.

AceCode rows (TIGER-Lab's AceCode-87K): ``id``, ``source``, ``question``, ``test_cases`` (a list of ``assert``
statements) and ``context_messages`` (the chat a policy answers: ``[{"role": "user", "content": question}]``).
Later steps add ``inferences`` (sampled programs) and pass rates to the same rows. Files are written to a
temporary name and renamed, so a reader never sees half a file (``acecoder.files``: with ``open``'s permissions).

Input comes from anywhere, so reading never lets one row decide for the rest: ``read_acecode_rows`` gives every
line either its row or an ``UnreadableRow`` naming the line and why (not UTF-8, not JSON, not an object), and the
step decides what to do with it (``passrate`` writes an error record for it and goes on). ``read_acecode`` is the
strict reader for steps that need every row, and names the first line at fault. Text that UTF-8 cannot carry (a
lone surrogate, which JSON's ``"\\udcff"`` escape produces) is written escaped, never a crash: JSON lines with
``\\u`` escapes that read back to the same string, Parquet with the escape spelled out (its strings must be UTF-8).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from acecoder.data.journal import json_line
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
            with open(temporary, "wb") as handle:
                for row in rows:
                    handle.write(json_line(row))
        else:
            import datasets

            datasets.Dataset.from_list(_uniform(rows)).to_parquet(str(temporary))
    return len(rows)


def _uniform(rows: list[dict]) -> list[dict]:
    """Rows with every column any row has (``None`` where a row lacks it: an error record has no ``inferences``)
    and lone surrogates spelled out as ``\\udcff``: ``Dataset.from_list`` takes its columns from the first row
    and Parquet strings must be UTF-8."""
    columns = list(dict.fromkeys(column for row in rows for column in row))
    return [{column: _escaped(row.get(column)) for column in columns} for row in rows]


def _escaped(value: object) -> object:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value
    if isinstance(value, dict):
        return {key: _escaped(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_escaped(item) for item in value]
    return value


@dataclass(frozen=True)
class UnreadableRow:
    """A line of the input that holds no row: ``number`` is its row number (1-based, blank lines not counted) and
    ``reason`` names the line."""

    number: int
    reason: str


def read_acecode_rows(path: str | Path) -> list[dict | UnreadableRow]:
    """Every row of a JSON-lines (optionally gzip-compressed) or Parquet file in order, an ``UnreadableRow`` in
    place of each line that is not UTF-8, not JSON or not an object. Blank lines are not rows. ``OSError`` when the
    file cannot be read at all."""
    path = Path(path)
    if path.is_dir() or path.suffix == ".parquet":
        return [row if isinstance(row, dict) else UnreadableRow(number, "not an object")
                for number, row in enumerate(read_rows(path), start=1)]  # fmt: skip
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    return list(_json_rows(path))


def _json_rows(path: Path) -> Iterator[dict | UnreadableRow]:
    rows = 0
    with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as handle:
        for line_number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            rows += 1
            try:
                row = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as error:
                yield UnreadableRow(rows, f"line {line_number}: not UTF-8 (byte {error.start + 1} of the line)")
                continue
            except json.JSONDecodeError as error:
                yield UnreadableRow(rows, f"line {line_number}: not valid JSON ({error.msg})")
                continue
            if isinstance(row, dict):
                yield row
            else:
                kind = {"list": "an array", "str": "a string"}.get(type(row).__name__, f"a {type(row).__name__}")
                yield UnreadableRow(rows, f"line {line_number}: {kind}, not an object")


def question_problem(row: dict) -> str | None:
    """Why ``row`` is no question a step can prompt with or test against (``question`` not a string, ``test_cases``
    not a list of strings), or ``None``."""
    if not isinstance(row.get("question"), str):
        return "no 'question'"
    tests = row.get("test_cases")
    if not isinstance(tests, list) or not all(isinstance(test, str) for test in tests):
        return "'test_cases' is not a list of strings"
    return None


def check_questions(rows: list[dict], source: object) -> None:
    """``ValueError`` naming the first row that is no question (``question_problem``)."""
    for number, row in enumerate(rows, start=1):
        problem = question_problem(row)
        if problem is not None:
            raise ValueError(f"{source}: row {number} (id {row.get('id')!r}): {problem}")


def read_acecode(path: str | Path, error_records: list[dict] | None = None) -> list[dict]:
    """AceCode rows from JSON lines or Parquet, all or nothing: ``ValueError`` names the first line that holds no
    row and the rows that lack the AceCode columns. Given an ``error_records`` list, the error records an earlier
    step wrote in place of rows it could not use (rows with an ``error``) are moved there instead of refused, for
    steps that read its output and say how many they left out."""
    rows = []
    for number, row in enumerate(read_acecode_rows(path), start=1):
        if isinstance(row, UnreadableRow):
            raise ValueError(f"{path}: {row.reason}")
        if error_records is not None and row.get("error") is not None:
            error_records.append(row)
            continue
        missing = [column for column in ("id", "question", "test_cases") if column not in row]
        if missing:
            raise ValueError(f"{path}: row {number} lacks {', '.join(missing)}")
        rows.append(row)
    return rows
