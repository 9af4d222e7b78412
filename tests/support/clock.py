"""Virtual time for every timing test: seconds of streaming run in milliseconds, no wall clock.

Code under test takes ``clock`` (a callable returning seconds) and ``sleep`` (an async
callable) instead of reading ``time.monotonic``; these two clocks are what the tests inject.

* :class:`InstantClock`: ``sleep`` advances time at once and yields to the loop. Enough when
  one task paces itself (a session's output pump, an idle loop).
* :class:`VirtualClock`: a discrete-event clock. Time moves only when every task sleeps, and
  the earliest sleeper wakes next, so several paced tasks interleave as they would in real
  time. Drive it with :meth:`VirtualClock.run`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools


class InstantClock:
    """``sleep`` advances time instantly; ``now`` is what the code under test reads."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)


class VirtualClock:
    """Time that moves only when every task sleeps: the earliest sleeper wakes next."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._sleepers: list[tuple[float, int, asyncio.Future]] = []
        self._seq = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds), next(self._seq), future))
        await future

    async def run(self, coro, each=lambda: None):
        """Run ``coro`` to its end, waking sleepers in time order; ``each`` runs every step."""
        task = asyncio.ensure_future(coro)
        while not task.done():
            for _ in range(8):  # let every woken task run on to its next sleep
                await asyncio.sleep(0)
            each()
            if task.done() or not self._sleepers:
                continue
            wake, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, wake)
            if not future.done():
                future.set_result(None)
        return task.result()
