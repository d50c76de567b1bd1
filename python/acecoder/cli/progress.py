"""A one-line progress display on stderr: redrawn in place on a terminal, a line per tenth otherwise (logs)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Call ``update(stage, done, total)`` as work finishes; ``close()`` ends the line."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty()
        self.stage: str | None = None
        self.started = time.monotonic()
        self.last_tenth = -1

    def update(self, stage: str, done: int, total: int) -> None:
        if stage != self.stage:
            self.close()
            self.stage, self.started, self.last_tenth = stage, time.monotonic(), -1
        elapsed = time.monotonic() - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        line = f"{stage}: {done}/{total} ({rate:,.1f}/s, {elapsed:,.1f} s)"
        if self.interactive:
            self.stream.write("\r" + line)
            self.stream.flush()
        elif done * 10 // max(total, 1) != self.last_tenth or done == total:
            self.last_tenth = done * 10 // max(total, 1)
            self.stream.write(line + "\n")

    def close(self) -> None:
        if self.stage is not None and self.interactive:
            self.stream.write("\n")
            self.stream.flush()
        self.stage = None
