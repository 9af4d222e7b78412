"""Time Python's garbage collections: a full collection stops every thread of the server.

With a hundred sessions the heap holds millions of objects, and a generation-2 pass walks
them all while no frame can be sent. The pauses go to ``/metrics``
(``talkbridge_gc_pause_seconds`` by generation) so that a late frame in a load test can be
matched with — or cleared of — a collection.

The callback runs inside whatever allocation set the collection off, possibly while that
thread holds the metrics lock; so it only appends to a deque, and :meth:`drain` hands the
pauses over later, outside any lock.
"""

from __future__ import annotations

import collections
import gc
import time
from typing import Callable


class PauseWatch:
    """Registered in ``gc.callbacks`` while started; keeps each collection's duration."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter, keep: int = 10_000) -> None:
        self._clock = clock
        self._started: float | None = None
        self._pauses: collections.deque[tuple[float, int]] = collections.deque(maxlen=keep)

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = self._clock()
        elif phase == "stop" and self._started is not None:
            self._pauses.append((self._clock() - self._started, int(info.get("generation", -1))))
            self._started = None

    def drain(self) -> list[tuple[float, int]]:
        """(seconds, generation) of the collections since the last drain, oldest first."""
        out = []
        while self._pauses:
            out.append(self._pauses.popleft())
        return out

    def start(self) -> "PauseWatch":
        if self not in gc.callbacks:
            gc.callbacks.append(self)
        return self

    def stop(self) -> None:
        if self in gc.callbacks:
            gc.callbacks.remove(self)
