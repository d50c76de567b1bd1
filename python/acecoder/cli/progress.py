"""Progress of the verbs' long stages, drawn by tqdm: a bar redrawn in place on a terminal, a line per tenth in logs.

tqdm does what a hand-written display got wrong: its rate and time left come from a moving window (an exponential
average of the pace between redraws), not from the first item. Three settings keep the first figures honest:

- a stage's clock starts at its first report, and the items counted in that report are the bar's ``initial``
  (items resumed from an earlier run, or the first chunk of a batch): only items finished after it make a rate;
- a pace sample spans at least ``MIN_SECONDS_FOR_RATE`` (tqdm's ``mininterval``), so a burst of results reported
  in the same millisecond (a cache hit, one batch's rows) is averaged over a second instead of read as millions
  per second; until that second has passed no rate is shown at all;
- ``smoothing`` weighs the latest samples over the whole history, so the rate follows a stage that speeds up
  (a warm cache) or slows down (long programs at the end).

Off a terminal (a log file, CI, a pipe) carriage-return redraws would be garbage, and disabling the display
entirely would leave a long job silent. A log gets one plain line at the first report, at each tenth and at the
end: enough to see that a job moves and how fast, few enough to read.

Each stage counts in the unit of its work (``STAGE_UNITS``), so the rate reads "12.5 programs/s", not "12.5 it/s".
The callers keep their ``update(stage, done, total)`` calls; a stage not in the table counts "items".
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from tqdm import tqdm

# The unit of each stage the verbs report (the stage names are the callers'). "sample" and "generation" count
# finished sequences: the generation backends report them as they finish, not when a whole call returns.
STAGE_UNITS = {
    "sample": "sequences",
    "generation": "sequences",
    "pass rates": "questions",
    "reward model": "programs",
    "expected outputs": "programs",  # a driver program per task and split (split again when too large)
    "samples": "samples",
    "graded": "programs",
    "audit": "questions",  # acecoder audit: a question's mutants are done together
    "hardening": "questions",  # synth --harden: a batch of questions at a time
}

# A pace sample shorter than this is noise (tqdm's mininterval: also the least time between two redraws).
MIN_SECONDS_FOR_RATE = 1.0
# The weight of the latest pace sample in the moving average (tqdm's default is 0.3; 0.1 averages ~10 samples).
SMOOTHING = 0.1
# Bars show the bar on a terminal; log lines leave it out (it means nothing as a line of text). The unit is given
# with a leading space: tqdm glues it to the figures ("2.00 programs/s", not "2.00programs/s"). The rate is always
# items per second (tqdm would turn a slow one into "9.91s/ sequences").
_TERMINAL_FORMAT = (
    "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt}{unit} [{elapsed}<{remaining}, {rate_noinv_fmt}]"
)
_LOG_FORMAT = "{desc}: {n_fmt}/{total_fmt}{unit} [{elapsed}<{remaining}, {rate_noinv_fmt}]"


def _bar_class() -> type[tqdm]:
    """tqdm, imported only when a display is made (``import acecoder`` stays light), with two changes: no monitor
    thread (a class setting of tqdm; changed on a subclass so other users of tqdm keep theirs), and no rate before
    ``MIN_SECONDS_FOR_RATE`` have passed since the stage's first report."""
    from tqdm import tqdm

    class Bar(tqdm):
        monitor_interval = 0

        @property
        def format_dict(self) -> dict[str, Any]:
            figures = dict(super().format_dict)
            # Without a smoothed sample yet, tqdm falls back to (n - initial) / elapsed: absurd over microseconds.
            if figures["rate"] is None and figures["elapsed"] < MIN_SECONDS_FOR_RATE:
                figures["initial"] = figures["n"]
            return figures

    return Bar


class _Sink:
    """Where a log's bar draws its carriage-return frames: nowhere (its lines are written apart)."""

    def write(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass


class Progress:
    """Call ``update(stage, done, total)`` as work finishes (``done`` counts the stage's finished items, resumed
    ones included); ``close()`` ends the display. A new stage name ends the previous stage's bar."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.interactive = bool(isatty and isatty())
        self.stage: str | None = None
        self.bar: tqdm | None = None
        self.last_tenth = -1

    def update(self, stage: str, done: int, total: int, unit: str | None = None) -> None:
        if stage != self.stage or self.bar is None:
            self.close()
            self._open(stage, done, total, unit or STAGE_UNITS.get(stage, "items"))
            self._log_line(done, total, force=True)
            return
        bar = self.bar
        if total != bar.total:  # a stage's total may shrink as work turns out not to be needed
            bar.total = total
        bar.update(done - bar.n)
        self._log_line(done, total)

    def _open(self, stage: str, done: int, total: int, unit: str) -> None:
        self.stage = stage
        self.last_tenth = -1
        self.bar = _bar_class()(
            desc=stage, total=total, initial=done, unit=" " + unit, file=self.stream if self.interactive else _Sink(),
            mininterval=MIN_SECONDS_FOR_RATE, miniters=1, smoothing=SMOOTHING, dynamic_ncols=True, leave=True,
            bar_format=_TERMINAL_FORMAT if self.interactive else _LOG_FORMAT,
        )  # fmt: skip

    def _log_line(self, done: int, total: int, force: bool = False) -> None:
        """Off a terminal, one line at the first report, at each new tenth and at the end."""
        if self.interactive or self.bar is None:
            return
        tenth = done * 10 // max(total, 1)  # the end is a tenth of its own (10)
        if force or tenth != self.last_tenth:
            self.last_tenth = tenth
            self.stream.write(str(self.bar) + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.bar = None
        self.stage = None
