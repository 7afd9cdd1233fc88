"""A minimal progress line on stderr, shown only on a terminal and for long batches."""

from __future__ import annotations

import sys
import time
from typing import Self, TextIO


class Progress:
    """Counts finished items and redraws one stderr line at most ten times a second."""

    def __init__(self, label: str, total: int | None = None, stream: TextIO | None = None, min_items: int = 20) -> None:
        self.label, self.total, self.done = label, total, 0
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() and (total is None or total >= min_items)
        self._last = 0.0

    def advance(self, n: int = 1) -> None:
        """Record n finished items and redraw if due."""
        self.done += n
        now = time.monotonic()
        if self.enabled and (now - self._last > 0.1 or self.done == self.total):
            self._last = now
            of = f"/{self.total}" if self.total else ""
            self.stream.write(f"\r{self.label}: {self.done}{of}")
            self.stream.flush()

    def close(self) -> None:
        """Finish the line."""
        if self.enabled and self.done:
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self) -> Self:
        """The progress line itself, closed when the block ends."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Finish the line, whether the work ended or failed."""
        self.close()

    def on_item(self, done: int, total: int) -> None:
        """Callback form for work that reports (done, total so far, 0 when unknown), as video watermarking does."""
        self.total = total or self.total
        self.advance(done - self.done)
