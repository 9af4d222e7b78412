"""The worker pool's order (urgent, then playing utterances by deadline, then new ones) and the
one-ahead sentence prefetch."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import numpy as np
import pytest

from bridge.ops import workers
from bridge.ops.workers import (
    BIAS_HALF_LIFE_S,
    BIAS_SAMPLES,
    BIAS_WINDOW_S,
    CONTINUE,
    LOAD_WINDOW_S,
    RESERVATION_S,
    START,
    URGENT,
    PriorityExecutor,
)
from bridge.session.speech import Ahead as _Ahead


def test_most_urgent_first_then_earliest_deadline_then_arrival():
    pool = PriorityExecutor(1, "test")
    gate, started, ran = threading.Event(), threading.Event(), []
    try:
        busy = pool.submit(lambda: started.set() or gate.wait(10))
        assert started.wait(10)  # the only worker is busy while the queue fills
        futures = [pool.submit_with((START, 1.0), ran.append, "start a"),
                   pool.submit_with((CONTINUE, 5.0), ran.append, "continue due 5"),
                   pool.submit_with((START, 2.0), ran.append, "start b"),
                   pool.submit_with((CONTINUE, 3.0), ran.append, "continue due 3"),
                   pool.submit(ran.append, "urgent")]
        assert pool.pending() == 5
        gate.set()
        for future in [busy, *futures]:
            future.result(timeout=10)
        assert ran == ["urgent", "continue due 3", "continue due 5", "start a", "start b"]
    finally:
        gate.set()
        pool.shutdown()


def test_errors_reach_the_caller_and_the_worker_goes_on():
    pool = PriorityExecutor(2)
    try:
        with pytest.raises(ZeroDivisionError):
            pool.submit(lambda: 1 / 0).result(timeout=10)
        assert pool.submit_with((START, 0.0), sum, [1, 2]).result(timeout=10) == 3
    finally:
        pool.shutdown()


def test_shutdown_cancels_what_waits_and_refuses_more():
    pool = PriorityExecutor(1)
    gate, started = threading.Event(), threading.Event()
    running = pool.submit(lambda: started.set() or gate.wait(10))
    assert started.wait(10)
    queued = pool.submit_with((START, 0.0), print, "never")
    pool.shutdown(wait=False, cancel_futures=True)
    assert queued.cancelled()
    with pytest.raises(RuntimeError, match="shutdown"):
        pool.submit(print)
    gate.set()
    assert running.result(timeout=10) is True
    with pytest.raises(ValueError):
        PriorityExecutor(0)


async def test_run_uses_the_priority_or_a_plain_pool():
    pool = PriorityExecutor(1)
    try:
        assert await workers.run(pool, (CONTINUE, 1.0), max, 3, 4) == 4
        assert await workers.run(None, (URGENT, 0.0), min, 3, 4) == 3
    finally:
        pool.shutdown()


async def test_ahead_pulls_exactly_one_item_ahead_and_closes_its_source():
    pulled, closed = [], asyncio.Event()

    async def sentences():
        try:
            for k in range(5):
                pulled.append(k)
                yield k
        finally:
            closed.set()

    ahead = _Ahead(sentences())
    await asyncio.sleep(0.01)
    assert pulled == [0]            # the first, ready before anyone asks
    assert await ahead.__anext__() == 0
    await asyncio.sleep(0.01)
    assert pulled == [0, 1]         # the next one is made while 0 is in use, no more
    assert await ahead.__anext__() == 1
    await asyncio.sleep(0.01)
    assert pulled == [0, 1, 2]
    await ahead.close()             # an interrupt: the generator is closed at once
    assert closed.is_set() and pulled == [0, 1, 2]


async def test_ahead_passes_the_source_error_after_the_items_before_it():
    async def failing():
        yield "one"
        raise ValueError("voice broke")

    ahead = _Ahead(failing())
    assert [await ahead.__anext__()] == ["one"]
    with pytest.raises(ValueError, match="voice broke"):
        await ahead.__anext__()
    await ahead.close()


class _Recorded:
    """espeak-ng speech, sentence by sentence, that notes the order sentences are made in and
    holds the first one until the test lets it go (so the queue can fill behind it)."""

    name = "recorded"

    def __init__(self, espeak) -> None:
        self.espeak, self.order, self.gate = espeak, [], threading.Event()
        self.second_may_start = lambda: True
        self.voice = next(v for v in espeak.voices() if v.id == "espeak:en-us")

    def voices(self):
        from bridge.speech.tts.base import Voice

        return [Voice(id="recorded", provider="recorded", name="recorded", lang="en-us")]

    def synthesize(self, text, voice):
        from bridge.speech.sentences import streaming_pieces

        for piece in streaming_pieces(text):
            self.order.append(piece)
            if len(self.order) == 1:
                self.gate.wait(10)
            if len(self.order) == 2:  # let the event loop queue what it asks for meanwhile
                for _ in range(500):
                    if self.second_may_start():
                        break
                    time.sleep(0.01)
            yield from self.espeak.synthesize(piece, self.voice)


async def test_a_playing_utterance_gets_its_next_sentence_before_new_utterances_start(espeak):
    from bridge.server.host import Server, ServerConfig
    from bridge.session.config import SessionConfig
    from bridge.speech.tts.registry import TTSRegistry
    from tests.support.wsclient import Client

    tts = _Recorded(espeak)
    server = Server(ServerConfig(port=0, warm_up=False, session=SessionConfig(idle=False)),
                    tts=TTSRegistry([tts]))
    server.executor.shutdown()
    server.executor = PriorityExecutor(1, "test")  # one synthesis at a time: a busy server
    await server.start()
    try:
        a, b, c, d = [(await Client.open(server.port))[0] for _ in range(4)]
        await a.send({"type": "say", "id": "a", "text": "Alpha one is here. Alpha two follows."})
        for _ in range(200):  # A's first sentence is being made...
            if tts.order:
                break
            await asyncio.sleep(0.01)
        await b.send({"type": "say", "id": "b", "text": "Bravo starts now."})
        await c.send({"type": "say", "id": "c", "text": "Charlie starts now."})
        await d.send({"type": "say", "id": "d", "text": "Delta starts now."})
        for _ in range(200):  # ...while B's, C's and D's first sentences queue behind it
            if server.executor.pending() == 3:
                break
            await asyncio.sleep(0.01)
        # Whichever sentence the freed worker takes next, the other three are queued by then.
        tts.second_may_start = lambda: server.executor.pending() == 3
        tts.gate.set()
        for client, utt in ((a, "a"), (b, "b"), (c, "c"), (d, "d")):
            assert (await client.utterance(utt))[-1]["reason"] == "done"
        # A's second sentence is asked for the moment its first is in hand; the freed worker
        # may take B's first in that instant, but never C's or D's. First come, first served
        # would make A's listeners wait for all three.
        assert tts.order[0] == "Alpha one is here." and len(tts.order) == 5
        assert tts.order.index("Alpha two follows.") in (1, 2)
        assert tts.order[3:] == ["Charlie starts now.", "Delta starts now."]
        for client in (a, b, c, d):
            await client.close()
    finally:
        await server.stop()


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="no per-thread nice on this OS")
def test_workers_run_at_the_nice_value_asked_for():
    pool = PriorityExecutor(1, nice=7)
    try:
        me = pool.submit(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        assert me.result(timeout=10) == min(19, base + 7)  # the caller's thread is untouched
    finally:
        pool.shutdown()


def test_first_sentences_leave_one_worker_for_sentences_that_are_due():
    pool = PriorityExecutor(2, start_limit=1)
    gate, started, ran = threading.Event(), threading.Event(), []
    try:
        first = pool.submit_with((START, 1.0), lambda: started.set() or gate.wait(10))
        assert started.wait(10)
        second = pool.submit_with((START, 2.0), ran.append, "second start")
        time.sleep(0.1)
        assert ran == [] and pool.pending() == 1  # the free worker does not take it...
        due = pool.submit_with((CONTINUE, 5.0), ran.append, "due")
        due.result(timeout=10)                    # ...but takes the sentence that is due
        assert ran == ["due"]
        gate.set()
        first.result(timeout=10)
        second.result(timeout=10)
        assert ran == ["due", "second start"]
    finally:
        gate.set()
        pool.shutdown()


def test_continue_latency_is_the_recent_90th_percentile_of_due_jobs():
    pool = PriorityExecutor(1)
    try:
        assert pool.continue_latency() == 0.0  # nothing measured: an idle server
        for k in range(10):
            pool.observe(0.1 * (k + 1), at=100.0)
        assert pool.continue_latency(now=101.0) == pytest.approx(1.0)
        assert pool.continue_latency(now=131.0) == 0.0  # older than the window: forgotten
        # Real jobs measure themselves, from submission to result; other classes don't count.
        pool.submit_with((START, 0.0), time.sleep, 0.05).result(5)
        pool.submit_with((CONTINUE, 0.0), time.sleep, 0.05).result(5)
        assert 0.05 <= pool.continue_latency() < 1.0
    finally:
        pool.shutdown()


class _SlowSecond:
    """espeak-ng speech whose second sentence takes ``delay`` seconds to make; notes when it
    was done."""

    name = "slow"

    def __init__(self, espeak, delay: float) -> None:
        self.espeak, self.delay = espeak, delay
        self.voice = next(v for v in espeak.voices() if v.id == "espeak:en-us")
        self.second_done: float | None = None

    def voices(self):
        from bridge.speech.tts.base import Voice

        return [Voice(id="slow", provider="slow", name="slow", lang="en-us")]

    def synthesize(self, text, voice):
        from bridge.speech.sentences import streaming_pieces

        for k, piece in enumerate(streaming_pieces(text)):
            chunks = list(self.espeak.synthesize(piece, self.voice))
            if k == 1:
                time.sleep(self.delay)
                self.second_done = time.monotonic()
            yield from chunks


@pytest.mark.parametrize("busy", [False, True])
async def test_a_busy_server_starts_a_short_first_sentence_once_the_next_is_made(espeak, busy):
    """"Hi." lasts a third of a second. When the pool has lately taken 2 s to return a
    playing utterance's next sentence, playback waits for the second sentence instead of
    running dry after the first; an idle pool starts at once."""
    from bridge.server.host import Server, ServerConfig
    from bridge.session.config import SessionConfig
    from bridge.speech.tts.registry import TTSRegistry
    from tests.support.wsclient import Client

    tts = _SlowSecond(espeak, delay=0.5)
    server = Server(ServerConfig(port=0, warm_up=False, session=SessionConfig(idle=False)),
                    tts=TTSRegistry([tts]))
    await server.start()
    try:
        if busy:  # three due sentences, a second's work each, on the server's two workers
            jobs = [server.executor.submit_with((CONTINUE, float(k)), time.sleep, 1.0)
                    for k in range(3)]
            for job in jobs:
                job.result(10)
            assert server.executor.continue_latency() >= 1.9  # the third waited a second
        client, _ = await Client.open(server.port)
        await client.send({"type": "say", "id": "u", "text": "Hi. This second sentence takes a while."})
        first = (await client.until(lambda m: m["type"] == "audio"))[-1]
        first_at = time.monotonic()
        assert first["seq"] == 0
        await client.utterance("u")
        assert tts.second_done is not None
        if busy:
            assert first_at >= tts.second_done
        else:
            assert first_at < tts.second_done - 0.3
        await client.close()
    finally:
        await server.stop()


def test_start_wait_counts_the_first_sentences_queued_at_their_running_time():
    """Admission control's estimate: START jobs ahead of a new one, at what one takes now."""
    pool = PriorityExecutor(1)
    try:
        assert pool.start_wait() == 0.0  # nothing known yet: nothing to refuse
        pool.submit_with((START, 0.0), time.sleep, 0.05).result(timeout=10)
        gate, started = threading.Event(), threading.Event()
        pool.submit(lambda: started.set() or gate.wait(10))  # the worker is busy elsewhere
        assert started.wait(10)
        queued = [pool.submit_with((START, float(k)), time.sleep, 0.05) for k in range(4)]
        assert 0.15 <= pool.start_wait() <= 0.4  # four of ~0.05 s each
        gate.set()
        for future in queued:
            future.result(timeout=10)
        assert pool.start_wait() == 0.0
    finally:
        pool.shutdown()


def test_the_estimate_counts_due_sentences_admitted_replies_and_its_own_sentence():
    """What admission control holds to max_wait: the playing utterances' next sentences go
    first, an admitted chat still writing its reply holds its place, and the new utterance's
    first audio needs its own first sentence made."""
    pool = PriorityExecutor(2, start_limit=1)
    try:
        for kind in (START, CONTINUE):  # one of each measured: 0.1 s and 0.2 s
            pool.submit_with((kind, 0.0), time.sleep, 0.1 if kind == START else 0.2).result(10)
        assert pool.start_wait() == 0.0
        assert 0.08 <= pool.first_audio_wait() <= 0.3  # its own first sentence
        gate, started = threading.Event(), threading.Event()
        blockers = [pool.submit(lambda: started.set() or gate.wait(10)) for _ in range(2)]
        assert started.wait(10)
        due = [pool.submit_with((CONTINUE, float(k)), time.sleep, 0.2) for k in range(4)]
        alone = pool.start_wait()
        assert 0.3 <= alone <= 0.8  # four due sentences of ~0.2 s on two workers
        t0 = time.monotonic()
        pool.reserve(t0)
        pool.reserve(t0)
        assert pool.start_wait(t0) >= alone + 0.15  # two admitted replies of ~0.1 s each
        first = pool.submit_with((START, 0.0), time.sleep, 0.1)  # one of them queues its sentence
        assert pool.start_wait(t0) < alone + 0.25
        assert pool.start_wait(t0 + RESERVATION_S + 1) <= alone + 0.15  # the other expired
        gate.set()
        for future in [*blockers, *due, first]:
            future.result(timeout=10)
        assert pool.start_wait(t0 + RESERVATION_S + 1) == 0.0
    finally:
        pool.shutdown()


def test_first_sentences_wait_longer_the_more_of_the_workers_playing_utterances_take():
    """A priority queue's low class waits 1 / (1 - the high class's load) times longer: the
    next sentences of playing utterances keep arriving while a first sentence waits."""
    pool = PriorityExecutor(1)
    try:
        pool.submit_with((START, 0.0), time.sleep, 0.1).result(timeout=10)
        gate, started = threading.Event(), threading.Event()
        pool.submit(lambda: started.set() or gate.wait(10))
        assert started.wait(10)
        queued = pool.submit_with((START, 1.0), time.sleep, 0.01)
        now = time.monotonic()
        idle = pool.start_wait(now)
        pool._due_runs.extend([(now - 1.0, 2.5), (now - 2.0, 2.5)])  # 5 s of the last 10 s run
        assert abs(pool.start_wait(now) - 2 * idle) < 1e-9
        assert abs(pool.start_wait(now + LOAD_WINDOW_S + 3) - idle) < 1e-9  # out of the window
        gate.set()
        queued.result(timeout=10)
    finally:
        pool.shutdown()


def test_first_audio_later_than_estimated_raises_the_estimate_until_it_fades():
    """Admission control learns what its queue can't see (the reply being written, the
    framing, two busy cores) from admitted utterances' real first audio: the 99th
    percentile of how late it came in the last minute, so the bound holds for 99 in 100;
    and it forgets when nothing new is learnt, since a server that refused everyone must
    admit again."""
    pool = PriorityExecutor(1)
    try:
        pool.calibrate(0.0, 2.0, now=0.0)  # cold start: nothing was estimated, nothing learnt
        pool.submit_with((START, 0.0), time.sleep, 0.05).result(timeout=10)
        t = time.monotonic()
        raw = pool.queue_estimate(t)
        assert pool.first_audio_wait(t) == raw
        pool.calibrate(raw, raw + 0.5, now=t)  # the first miss, as it is
        assert abs(pool.first_audio_wait(t) - (raw + 0.5)) < 1e-9
        assert abs(pool.first_audio_wait(t + BIAS_HALF_LIFE_S) - (raw + 0.25)) < 1e-9
        rng = np.random.default_rng(0)
        misses = rng.uniform(0.0, 1.0, BIAS_SAMPLES)  # late by 0-1 s
        for miss in misses:
            pool.calibrate(raw, raw + miss, now=t)
        assert abs(pool.first_audio_wait(t) - raw - np.sort(misses)[int(0.99 * BIAS_SAMPLES)]) < 1e-9
        assert pool.first_audio_wait(t) - raw > 0.97  # the 99th percentile, not the 90th
        for _ in range(BIAS_SAMPLES):  # then it comes on time: what was late is forgotten
            pool.calibrate(raw, raw, now=t)
        assert pool.first_audio_wait(t) == pool.queue_estimate(t)
        pool.calibrate(raw, raw + 0.5, now=t)
        later = t + BIAS_WINDOW_S + 1
        assert pool.first_audio_wait(later) == pool.queue_estimate(later)  # too old to count
    finally:
        pool.shutdown()


class _Slow:
    """espeak-ng whose every sentence takes 0.3 s more: a synthesis-bound server's load."""

    name = "slow"

    def __init__(self, espeak) -> None:
        self.espeak = espeak
        self.voice = next(v for v in espeak.voices() if v.id == "espeak:en-us")

    def voices(self):
        from bridge.speech.tts.base import Voice

        return [Voice(id="slow", provider="slow", name="slow", lang="en-us")]

    def synthesize(self, text, voice):
        time.sleep(0.3)
        yield from self.espeak.synthesize(text, self.voice)


async def test_an_overloaded_server_answers_busy_at_once_and_admits_again_when_it_drains(espeak):
    import json
    import urllib.request

    from bridge.server.host import Server, ServerConfig
    from bridge.session.config import SessionConfig
    from bridge.speech.tts.registry import TTSRegistry
    from tests.support.wsclient import Client

    server = Server(ServerConfig(port=0, warm_up=False,
                                 session=SessionConfig(idle=False, lead=30.0, max_wait=0.5)),
                    tts=TTSRegistry([_Slow(espeak)]))
    server.executor.shutdown()
    server.executor = PriorityExecutor(1, "test")  # one synthesis at a time
    await server.start()
    try:
        crowd = [(await Client.open(server.port))[0] for _ in range(6)]
        for k, client in enumerate(crowd):
            await client.send({"type": "say", "id": f"c{k}", "text": "Hello there."})
        await crowd[0].until(lambda m: m["type"] == "audio")  # one first sentence timed
        late, _ = await Client.open(server.port)
        await late.send({"type": "say", "id": "late", "text": "Me too, please."})
        refused = (await late.until(lambda m: m["type"] in ("error", "utterance")))[-1]
        assert refused["type"] == "error" and refused["code"] == "busy", refused
        assert "retry" in refused["message"] and refused["fatal"] is False

        def healthz() -> dict:
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz") as response:
                return json.load(response)

        load = (await asyncio.to_thread(healthz))["load"]
        assert load["first_audio_s"] > load["max_wait_s"] == 0.5 and load["synthesis_queue"] >= 1
        assert load["first_audio_s"] >= load["start_wait_s"] + 0.3  # its own sentence, too
        for k, client in enumerate(crowd):  # everyone admitted is served
            assert (await client.utterance(f"c{k}", timeout=30))[-1]["reason"] == "done"
        await late.send({"type": "say", "id": "again", "text": "Me too, please."})
        assert (await late.utterance("again", timeout=30))[-1]["reason"] == "done"
        assert (await asyncio.to_thread(healthz))["load"]["start_wait_s"] == 0.0
        for client in [*crowd, late]:
            await client.close()
    finally:
        await server.stop()


def test_a_process_whose_executor_was_never_shut_down_still_exits():
    """A server whose start failed, or a test whose fixture failed before its teardown,
    leaves its pool running; the process must still end after its last line (a suite once
    printed its summary and hung there), its queued work dropped."""
    import subprocess
    import sys

    script = (
        "import time\n"
        "from bridge.ops.workers import PriorityExecutor\n"
        "pool = PriorityExecutor(1, name='tts')\n"
        "pool.submit(time.sleep, 0.5)\n"  # running at exit: it finishes
        "for _ in range(20):\n"
        "    pool.submit(time.sleep, 30)\n"  # queued behind it: dropped, not waited for
        "print('last line')\n"
    )
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "last line\n"
    assert time.monotonic() - start < 30  # not one queued job ran
