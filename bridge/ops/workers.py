"""The server's blocking-work pool, which takes the most urgent job first.

Speech synthesis is the scarce resource of a busy server: a neural voice on two cores makes
a few tens of seconds of speech per second, shared by every session. A first-come pool lets
a burst of new requests delay the *second* sentence of an utterance that is already playing,
and the listener hears a gap. This pool orders its queue instead:

1. ``URGENT``: short real-time work (VAD and ASR pushes, warm-up), first come first served.
2. ``CONTINUE``: the next sentence of an utterance that is playing, earliest deadline first
   (the deadline is when the audio already sent runs out).
3. ``START``: the first sentence of a new utterance (and speculative work), in arrival order.

So overload shows up as a later start, never as a stutter in the middle of a sentence.

The threads may also run at a lower OS priority (``nice``): then a saturated CPU serves the
event loop and the network's batch first (frames due in milliseconds) and synthesis (due in
seconds) with what is left. Threads that a library starts from a worker (onnxruntime's
pool, built when a voice loads there) inherit it.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import heapq
import itertools
import logging
import os
import threading
import time
import weakref
from typing import Any, Callable, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)

#: Seconds an admitted utterance holds its place in the estimate before its first sentence
#: is queued: a chat's reply is still being written meanwhile. One that never queues (it
#: was interrupted first) stops counting after this.
RESERVATION_S = 10.0
#: Seconds in which admission control's learnt lateness halves when nothing new is learnt:
#: a server that refuses everything learns nothing, and must admit again once it drains.
BIAS_HALF_LIFE_S = 10.0
#: The quantile of its recent misses that admission control adds to its queue's estimate.
#: ``max_wait`` is a bound that users hold us to at the 99th percentile, so the correction is
#: that percentile of how late first audio came, not the mean (broken for half of them) nor
#: the 90th (which the load test showed leaves 1 s broken for one admitted turn in twenty).
BIAS_QUANTILE = 0.99
#: The misses it is taken from: the last this many, of the last ``BIAS_WINDOW_S`` seconds
#: (the load changes; an old miss says little about the queue now).
BIAS_SAMPLES = 200
BIAS_WINDOW_S = 60.0
#: Seconds of recent running time that tell how much of the workers the playing utterances'
#: next sentences take: what is left of them is what first sentences get.
LOAD_WINDOW_S = 10.0

URGENT = 0
CONTINUE = 1
START = 2


#: Every executor not yet garbage: at interpreter exit each is shut down, its queue dropped,
#: so its (non-daemon) workers end and the process can exit. Without it, one executor that
#: nobody shut down (a server whose start failed, a test whose fixture failed before its
#: teardown) kept the process alive forever after its last line: the stdlib's pools do the
#: same through the same hook.
_LIVE: weakref.WeakSet[PriorityExecutor] = weakref.WeakSet()


def _close_all_at_exit() -> None:
    for executor in list(_LIVE):
        executor.shutdown(wait=False, cancel_futures=True)


threading._register_atexit(_close_all_at_exit)  # type: ignore[attr-defined]  # before the joins


class PriorityExecutor(concurrent.futures.Executor):
    """``workers`` threads; ``submit`` is URGENT, ``submit_with`` takes a (class, key)."""

    def __init__(self, workers: int, name: str = "worker", nice: int = 0,
                 start_limit: int | None = None) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self.nice = nice
        # START jobs running at once; the other workers stay free for sentences that are due.
        self._start_limit = workers if start_limit is None else max(1, start_limit)
        self._starts = 0
        self._heap: list[tuple[tuple[int, float], int, concurrent.futures.Future, Callable,
                               tuple, dict]] = []
        self._ready = threading.Condition()
        self._order = itertools.count()
        self._closed = False
        # (finished at, submitted → finished) of recent CONTINUE jobs: how long a playing
        # utterance's next sentence takes to come back now.
        self._due: collections.deque[tuple[float, float]] = collections.deque(maxlen=64)
        # Seconds a START job (an utterance's first sentence) took to run, smoothed: with the
        # queue ahead of it, what a new utterance would wait now (admission control).
        self._start_service = 0.0
        # Seconds a CONTINUE job took to run, smoothed: these run before any START.
        self._continue_service = 0.0
        # (finished at, seconds run) of recent CONTINUE jobs: the share of the workers that
        # the playing utterances take, ahead of any first sentence.
        self._due_runs: collections.deque[tuple[float, float]] = collections.deque(maxlen=512)
        # When each admitted utterance whose first sentence isn't queued yet was admitted.
        self._reserved: collections.deque[float] = collections.deque()
        # (when, seconds) that admitted utterances' first audio came later than the queue's
        # estimate: the time outside this pool (writing the reply, framing, sending) and
        # what two busy cores add to each job.
        self._misses: collections.deque[tuple[float, float]] = collections.deque(
            maxlen=BIAS_SAMPLES)
        self._threads = [threading.Thread(target=self._work, name=f"{name}_{i}")
                         for i in range(workers)]
        _LIVE.add(self)
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> "concurrent.futures.Future[T]":
        return self.submit_with((URGENT, 0.0), fn, *args, **kwargs)

    def submit_with(self, priority: tuple[int, float], fn: Callable[..., T], /, *args: Any,
                    **kwargs: Any) -> "concurrent.futures.Future[T]":
        """Queue ``fn``; lower ``priority`` runs first, ties in submission order."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        if priority[0] == CONTINUE:
            submitted = time.monotonic()
            future.add_done_callback(lambda _: self.observe(time.monotonic() - submitted))
        with self._ready:
            if self._closed:
                raise RuntimeError("cannot schedule new work after shutdown")
            if priority[0] == START and self._reserved:
                self._reserved.popleft()  # an admitted utterance's first sentence is here
            heapq.heappush(self._heap, (priority, next(self._order), future, fn, args, kwargs))
            self._ready.notify()
        return future

    def observe(self, seconds: float, at: float | None = None) -> None:
        """Note how long a CONTINUE job took from submission to its result."""
        self._due.append((time.monotonic() if at is None else at, seconds))

    def continue_latency(self, window: float = 30.0, now: float | None = None) -> float:
        """The 90th percentile of the last ``window`` seconds' CONTINUE jobs, submission to
        result (0 when there were none): how long the next sentence of an utterance that
        starts now would take to come back."""
        now = time.monotonic() if now is None else now
        recent = sorted(s for at, s in list(self._due) if now - at <= window)
        return recent[min(len(recent) - 1, int(0.9 * len(recent)))] if recent else 0.0

    def pending(self) -> int:
        with self._ready:
            return len(self._heap)

    def reserve(self, now: float | None = None) -> None:
        """An utterance was admitted: count its first sentence as queued until it is.

        Without this a burst is admitted whole: a chat queues its first sentence only once
        its reply is written, and every request in between saw the queue as it was."""
        with self._ready:
            self._reserved.append(time.monotonic() if now is None else now)

    def start_wait(self, now: float | None = None) -> float:
        """Seconds a new utterance's first sentence would wait to start: the playing
        utterances' next sentences queued (they go first, on every worker), the first
        sentences queued or admitted ahead of it, and those running (half done, on
        average), each at its kind's recent running time."""
        now = time.monotonic() if now is None else now
        with self._ready:
            while self._reserved and now - self._reserved[0] > RESERVATION_S:
                self._reserved.popleft()
            kinds = [entry[0][0] for entry in self._heap]
            starts = kinds.count(START) + len(self._reserved) + 0.5 * self._starts
            due = len(kinds) - kinds.count(START)
            busy = sum(ran for at, ran in self._due_runs if now - at <= LOAD_WINDOW_S)
        # Sentences of playing utterances keep arriving while this one waits, and each goes
        # first: first sentences get what they leave of the workers (a priority queue's
        # low class waits 1 / (1 - the high class's load) times longer).
        left = max(0.25, 1.0 - busy / (LOAD_WINDOW_S * len(self._threads)))
        return (starts * self._start_service / self._start_limit / left
                + due * self._continue_service / len(self._threads))

    def queue_estimate(self, now: float | None = None) -> float:
        """Seconds until a new utterance's first audio, by this pool's queue alone: its wait
        to start and then its own first sentence, at what one takes now."""
        return self.start_wait(now) + self._start_service

    def first_audio_wait(self, now: float | None = None) -> float:
        """The queue's estimate, plus how much later first audio has been coming than that
        estimate (what ``[scale] max_wait`` bounds)."""
        return self.estimates(now)[1]

    def estimates(self, now: float | None = None) -> tuple[float, float]:
        """:meth:`queue_estimate` and :meth:`first_audio_wait` from one look at the queue:
        what admission control compares and what it later calibrates."""
        now = time.monotonic() if now is None else now
        queued = self.queue_estimate(now)
        return queued, queued + max(0.0, self._lateness(now))

    def calibrate(self, estimated: float, actual: float, now: float | None = None) -> None:
        """An admitted utterance's first audio came ``actual`` seconds after its admission,
        when :meth:`queue_estimate` said ``estimated``. An estimate of nothing (no first
        sentence timed yet, on a cold start) teaches nothing."""
        if estimated <= 0.0:
            return
        with self._ready:
            self._misses.append((time.monotonic() if now is None else now, actual - estimated))

    def _lateness(self, now: float) -> float:
        """The ``BIAS_QUANTILE`` quantile of the recent misses (with fewer than 100, about
        their largest), halved every ``BIAS_HALF_LIFE_S`` since the latest was learnt."""
        with self._ready:
            recent = sorted(s for at, s in self._misses if now - at <= BIAS_WINDOW_S)
            latest = self._misses[-1][0] if self._misses else now
        if not recent:
            return 0.0
        value = recent[min(len(recent) - 1, int(BIAS_QUANTILE * len(recent)))]
        return value * 0.5 ** (max(0.0, now - latest) / BIAS_HALF_LIFE_S)

    def _work(self) -> None:
        if self.nice:
            try:  # Linux: a thread's own nice value (its native id is a task id)
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.nice)
            except (AttributeError, OSError) as exc:  # another OS: same priority as the loop
                log.debug("worker priority unchanged: %s", exc)
        while True:
            with self._ready:
                while not self._runnable():
                    if self._closed and not self._heap:
                        return
                    self._ready.wait()
                priority, _, future, fn, args, kwargs = heapq.heappop(self._heap)
                starting, due = priority[0] == START, priority[0] == CONTINUE
                self._starts += starting
            began, ran = time.monotonic(), False
            try:
                if not future.set_running_or_notify_cancel():
                    continue
                ran = True
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:  # noqa: BLE001 - handed to the waiter, as a pool does
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            finally:
                took = time.monotonic() - began
                if due and ran:
                    with self._ready:
                        self._continue_service = _smoothed(self._continue_service, took)
                        self._due_runs.append((began + took, took))
                if starting:
                    with self._ready:
                        self._starts -= 1
                        if ran:
                            self._start_service = _smoothed(self._start_service, took)
                        self._ready.notify_all()

    def _runnable(self) -> bool:
        """Work is queued that this worker may take (the lock is held). The heap's head is
        the most urgent job: when it is a START, nothing more urgent waits."""
        if not self._heap:
            return False
        return self._heap[0][0][0] != START or self._starts < self._start_limit

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._ready:
            self._closed = True
            if cancel_futures:
                for item in self._heap:
                    item[2].cancel()
                self._heap.clear()
            self._ready.notify_all()
        if wait:
            for thread in self._threads:
                if thread is not threading.current_thread():
                    thread.join()


def _smoothed(mean: float, sample: float) -> float:
    """A running time's exponential mean; the first sample stands alone."""
    return sample if mean == 0.0 else 0.8 * mean + 0.2 * sample


def start_wait(executor: concurrent.futures.Executor | None) -> float:
    """Seconds a new utterance would wait to start on ``executor`` (0 for a plain pool, which
    keeps no such account): what ``/healthz`` reports."""
    return executor.start_wait() if isinstance(executor, PriorityExecutor) else 0.0


def first_audio_wait(executor: concurrent.futures.Executor | None) -> float:
    """Seconds until a new utterance's first audio on ``executor`` (0 for a plain pool):
    what admission control holds to ``max_wait``."""
    return executor.first_audio_wait() if isinstance(executor, PriorityExecutor) else 0.0


def estimates(executor: concurrent.futures.Executor | None) -> tuple[float, float]:
    """(The queue's own estimate of a new utterance's first audio, and that with the learnt
    lateness, which admission control holds to ``max_wait``); zeros for a plain pool."""
    return executor.estimates() if isinstance(executor, PriorityExecutor) else (0.0, 0.0)


def calibrate(executor: concurrent.futures.Executor | None, estimated: float, actual: float) -> None:
    """Tell ``executor`` when an admitted utterance's first audio came (see ``calibrate``)."""
    if isinstance(executor, PriorityExecutor):
        executor.calibrate(estimated, actual)


def reserve(executor: concurrent.futures.Executor | None) -> None:
    """Count an admitted utterance's first sentence ahead of the next request's."""
    if isinstance(executor, PriorityExecutor):
        executor.reserve()


async def run(executor: concurrent.futures.Executor | None, priority: tuple[int, float],
              fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in ``executor`` at ``priority`` (plain pools ignore the priority)."""
    if isinstance(executor, PriorityExecutor):
        return await asyncio.wrap_future(executor.submit_with(priority, fn, *args))
    return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)
