"""Resuming a long step (synthesis, sampling, pass rates) after Ctrl-C or a kill: the one place that knows how.

Each of these steps works through a list of input rows and must survive a kill at any moment without losing
finished rows or writing one twice. The mechanism is the journal (``acecoder.data.journal``); what every step also
needs around it used to be written out three times and had started to drift (synthesis re-derived the journal's
path rule): find the journal of an output, match what it holds to input positions, list the positions still to do,
count the resumed ones, append finished rows in input order, and write the final output from the journal. This
module is that skeleton, once.

A step describes each input row by its ``row_key`` (its id, or its row number when it has none); the n-th journaled
row with a key belongs to the n-th input row with that key, so repeated ids each keep their own result. A step
whose result depends on settings (synthesis: models, thresholds) passes ``accept``: journaled rows it refuses are
treated as absent and recomputed, never mixed in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from acecoder.data.acecode import output_format, write_rows
from acecoder.data.journal import OrderedAppender, RowJournal, output_journal, row_key


class ResumableOutput:
    """The output of one run over ``keys`` (each input row's ``row_key``, in input order) and its journal.

    On creation it loads what the journal already holds (cutting off a torn last line): ``done`` maps input
    positions to their journaled rows, ``pending`` lists the rest in input order. ``journal`` defaults to the
    output's own (``output_journal``): the output itself for JSON lines, ``OUTPUT.journal.jsonl`` otherwise.
    """

    def __init__(
        self,
        output: str | Path,
        keys: Sequence[str],
        journal: RowJournal | None = None,
        accept: Callable[[dict], bool] | None = None,
    ) -> None:
        output_format(output)
        self.output = Path(output)
        self.keys = list(keys)
        self.journal = journal if journal is not None else output_journal(output)
        self.accept = accept
        self.done: dict[int, dict] = self.journal.load_by_position(self.keys, accept)
        self.pending: list[int] = [position for position in range(len(self.keys)) if position not in self.done]

    @classmethod
    def of_rows(cls, output: str | Path, rows: Sequence[object], key: str = "id") -> ResumableOutput:
        """The output of a run over ``rows`` (dicts matched by their ``key`` field, anything else by row number)."""
        return cls(output, [row_key(row, number, key) for number, row in enumerate(rows, start=1)])

    @property
    def resumed(self) -> int:
        """How many input rows the journal already held when the run started."""
        return len(self.done)

    def appender(self, count: int) -> OrderedAppender:
        """Appends ``count`` rows to the journal in the order of their places ``0 .. count - 1`` (a caller's batch
        of pending positions), each as soon as it and the rows before it are finished."""
        return OrderedAppender(self.journal, count)

    def completed(self) -> list[dict]:
        """Every journaled row that belongs to an input row, in input order, as the journal holds them now."""
        found = self.journal.load_by_position(self.keys, self.accept)
        return [found[position] for position in sorted(found)]

    def finish(self, rows: Sequence[dict] | None = None) -> int:
        """Writes the output (atomically) and returns how many rows it holds: ``rows`` when given (a step whose
        journal holds records rather than output rows), else ``completed()``. An output that is its own journal
        is already complete and is left as it is."""
        if rows is None:
            rows = self.completed()
            if self.output == self.journal.path:
                return len(rows)
        return write_rows(rows, self.output)
