"""An append-only JSON-lines file of finished rows: what makes long jobs resumable.

Every long step (synthesis, sampling, pass rates) appends each finished row to a journal the moment it is done and
flushes it, so a run killed at any point keeps all finished rows (the OS holds flushed data even when the process
dies; ``sync`` additionally forces it to disk). A rerun loads the journal, skips the rows it holds, and continues.
A kill in the middle of a write leaves at most one torn last line: loading cuts it off, so the next append starts
on a clean line and no row is ever half-kept or duplicated.

Ids are not always unique (a dataset with repeated ids, the same question sampled twice), so a journaled row is
matched to an input position, not only to an id: the n-th journaled row with an id is the n-th input row with that
id (``load_by_position``). That holds because rows with one id are journaled in input order (``OrderedAppender``).
A row with no usable id (an error record for an unreadable line) is keyed by its row number instead.

The steps do not use these pieces one by one: ``acecoder.data.resume`` puts them together once for all of them.
"""

from __future__ import annotations

import collections
import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

# The key of a row without a usable id: its row number, behind a character no real id starts with.
_NUMBERED = "\0row "


def json_line(row: dict) -> bytes:
    """``row`` as one UTF-8 JSON line. Non-ASCII text stays readable; a row holding a lone surrogate is written
    with ``\\u`` escapes instead, which ``json.loads`` turns back into the same string."""
    line = json.dumps(row, ensure_ascii=False) + "\n"
    try:
        return line.encode("utf-8")
    except UnicodeEncodeError:
        return (json.dumps(row) + "\n").encode("ascii")


def row_key(row: object, number: int, key: str = "id") -> str:
    """What matches input row ``number`` (1-based) with its journaled row: its ``key`` when that is a string or a
    number, else the row number."""
    identifier = row.get(key) if isinstance(row, dict) else None
    if isinstance(identifier, (str, int, float)) and not isinstance(identifier, bool):
        return str(identifier)
    return f"{_NUMBERED}{number}"


class RowJournal:
    """Rows keyed by ``key`` (a field of each row), appended to ``path``."""

    def __init__(self, path: str | Path, key: str = "id") -> None:
        self.path = Path(path)
        self.key = key

    def rows(self) -> list[dict]:
        """The journaled rows in the order written. Cuts off a torn last line."""
        rows: list[dict] = []
        if not self.path.exists():
            return rows
        complete = 0
        with open(self.path, "rb") as handle:
            for line in handle:
                if not line.endswith(b"\n"):
                    break  # torn by a kill mid-write
                complete += len(line)
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if isinstance(row, dict):
                    rows.append(row)
        if complete < self.path.stat().st_size:
            os.truncate(self.path, complete)
        return rows

    def load(self) -> dict[str, dict]:
        """The journaled rows by key (a later row with the same key wins). Cuts off a torn last line."""
        return {str(row[self.key]): row for row in self.rows() if self.key in row}

    def load_by_position(self, keys: Sequence[str], accept: Callable[[dict], bool] | None = None) -> dict[int, dict]:
        """The journaled rows by input position, given each input row's ``row_key``: the n-th journaled row with a
        key belongs to the n-th position with that key. Rows ``accept`` refuses (written under other settings) are
        passed over, as if absent. Cuts off a torn last line."""
        positions: dict[str, collections.deque[int]] = collections.defaultdict(collections.deque)
        for position, key in enumerate(keys):
            positions[key].append(position)
        found: dict[int, dict] = {}
        for row in self.rows():
            if accept is not None and not accept(row):
                continue
            number = row.get("row")  # an error record's row number: its key when it has no id
            waiting = positions.get(row_key(row, number if isinstance(number, int) else 0, self.key))
            if waiting:
                found[waiting.popleft()] = row
        return found

    def append(self, rows: Iterable[dict], sync: bool = False) -> int:
        """Appends ``rows`` (one line each) and flushes them; ``sync`` also fsyncs. Returns how many."""
        count = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as handle:
            for row in rows:
                handle.write(json_line(row))
                count += 1
            handle.flush()
            if sync:
                os.fsync(handle.fileno())
        return count


class OrderedAppender:
    """Appends the rows of one batch to a journal in batch order, each the moment it and every row before it are
    done.

    Requests finish out of order (a server answers several at once); holding a finished row back until the rows
    before it are written keeps the journal in input order, so a run that was interrupted and resumed writes the
    same file as one that never stopped. What a kill can lose is the rows still in flight and the finished ones
    waiting behind them: at most one batch, and the response cache still holds the waiting ones. A row given up on
    (``None``: its request failed) is skipped without holding back the rows after it.
    """

    def __init__(self, journal: RowJournal, count: int) -> None:
        self.journal = journal
        self._rows: list[dict | None] = [None] * count
        self._done = [False] * count
        self._next = 0  # the first position not yet written or skipped

    def finish(self, position: int, row: dict | None) -> int:
        """Marks ``position`` done with ``row`` (``None``: nothing to write) and appends every row that is now
        ready; returns how many rows it appended. A position finished twice keeps its first row."""
        if not self._done[position]:
            self._done[position] = True
            self._rows[position] = row
        ready: list[dict] = []
        while self._next < len(self._done) and self._done[self._next]:
            kept = self._rows[self._next]
            if kept is not None:
                ready.append(kept)
            self._rows[self._next] = None
            self._next += 1
        return self.journal.append(ready) if ready else 0

    @property
    def complete(self) -> bool:
        """Whether every position is done (and so every row written)."""
        return self._next == len(self._done)


def journal_path(output: str | Path) -> Path:
    """Where the journal of an output that is not its own journal lives: ``OUTPUT.journal.jsonl`` beside it."""
    output = Path(output)
    return output.with_name(output.name + ".journal.jsonl")


def output_journal(output: str | Path, key: str = "id", separate: bool = False) -> RowJournal:
    """The journal behind an output file. A JSON-lines output whose rows are the journaled rows is its own journal
    (rows in completion order); any other format (Parquet), or a step that journals records other than its output
    rows (``separate``), keeps ``journal_path(output)`` and writes the output from it when the run ends."""
    if Path(output).suffix == ".jsonl" and not separate:
        return RowJournal(output, key)
    return RowJournal(journal_path(output), key)
