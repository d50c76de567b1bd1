"""A one-line progress display on stderr: redrawn in place on a terminal, a line per tenth otherwise (logs).

A stage's clock starts at its first report, which comes when its first item has already finished (or when resumed
items are counted at once), so the rate counts only the items finished after that first report, over the time
since: the first line shows no rate rather than "400,962.3/s", and resumed work does not inflate it. The estimate
of the time left follows from that rate.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

# Below this much time since a stage's first report, a rate is noise.
_MIN_SECONDS_FOR_RATE = 1.0


class Progress:
    """Call ``update(stage, done, total)`` as work finishes; ``close()`` ends the line."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty()
        self.stage: str | None = None
        self.started = time.monotonic()
        self.done_at_start = 0
        self.last_tenth = -1

    def update(self, stage: str, done: int, total: int) -> None:
        if stage != self.stage:
            self.close()
            self.stage, self.started, self.done_at_start, self.last_tenth = stage, time.monotonic(), done, -1
        line = f"{stage}: {done}/{total} ({self._pace(done, total)})"
        if self.interactive:
            self.stream.write("\r" + line)
            self.stream.flush()
        elif done * 10 // max(total, 1) != self.last_tenth or done == total:
            self.last_tenth = done * 10 // max(total, 1)
            self.stream.write(line + "\n")

    def _pace(self, done: int, total: int) -> str:
        """``"2.5/s, 12.0 s, about 30 s left"``; the rate and the time left only once they mean something."""
        elapsed = time.monotonic() - self.started
        finished = done - self.done_at_start
        if elapsed < _MIN_SECONDS_FOR_RATE or finished <= 0:
            return f"{elapsed:,.1f} s"
        rate = finished / elapsed
        left = f", about {(total - done) / rate:,.0f} s left" if done < total else ""
        return f"{rate:,.2f}/s, {elapsed:,.1f} s{left}"

    def close(self) -> None:
        if self.stage is not None and self.interactive:
            self.stream.write("\n")
            self.stream.flush()
        self.stage = None
