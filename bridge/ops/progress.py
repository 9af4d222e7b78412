"""A progress bar for long CLI jobs (``talkbridge train``) with no dependency.

On a terminal it redraws one line in place; in a log file or CI (not a TTY) it prints a
plain line every ``every`` percent instead, so a captured log stays readable.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, TextIO


def _clock_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


class ProgressBar:
    """``bar(done, total, note)``: draw the state; the estimate counts from the first call."""

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 30, every: int = 10,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.label, self.width, self.every, self.clock = label, width, every, clock
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._start: tuple[float, float] | None = None  # (time, done) at the first call
        self._printed = -1  # last percentage step printed (not a TTY)

    def line(self, done: float, total: float, note: str = "") -> str:
        now = self.clock()
        if self._start is None:
            self._start = (now, done)
        fraction = min(1.0, done / total) if total else 1.0
        filled = int(round(self.width * fraction))
        t0, d0 = self._start
        rate = (done - d0) / (now - t0) if now > t0 and done > d0 else 0.0
        left = f"{_clock_text((total - done) / rate)} left" if rate and done < total else ""
        parts = [f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}]",
                 f"{done:g}/{total:g}", f"{100 * fraction:3.0f}%", _clock_text(now - t0), left, note]
        return " ".join(p for p in parts if p)

    def __call__(self, done: float, total: float, note: str = "") -> None:
        text = self.line(done, total, note)
        if self.tty:
            self.stream.write("\r" + text + ("\n" if done >= total else ""))
        else:
            step = int(100 * min(1.0, done / total) // self.every) if total else 0
            if step == self._printed:
                return
            self._printed = step
            self.stream.write(text + "\n")
        self.stream.flush()
