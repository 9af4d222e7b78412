"""Speaking one utterance: sentences synthesized in the worker pool, animated, cut into wire
chunks and paced on the utterance's audio clock.

The next sentence is synthesized while the current one is sent and plays (:class:`Ahead`),
and audio and curves leave at most ``lead`` seconds ahead of real time (:class:`Pacer`):
enough for the client's jitter buffer, little enough that an interrupt stops speech within
one chunk and a long text never piles up in memory.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from typing import AsyncIterator, Awaitable, Callable, Iterator

import numpy as np

from blendshape import rig
from blendshape.animator import SpeechAnimator, wants_network
from bridge.ops import workers
from bridge.protocol import codec
from bridge.protocol import errors as err
from bridge.protocol import messages as m
from bridge.session.config import FaceNetwork, SessionConfig
from bridge.session.outlet import Outlet
from bridge.session.streaming import UtteranceChunker, WireChunk, frames_per_chunk
from bridge.session.utterance import Utterance
from bridge.speech.tts.base import SpeechChunk, TTSError, TTSProvider, Voice

log = logging.getLogger(__name__)

_ARKIT_COLUMNS = rig.column_indices(rig.ARKIT52)


class SpeechPipeline:
    """Speaks utterances to one client: synthesis, animation, chunking, pacing."""

    def __init__(self, session_id: str, out: Outlet, config: SessionConfig,
                 executor: concurrent.futures.Executor | None,
                 network: FaceNetwork | None) -> None:
        self.id, self.out, self.config = session_id, out, config
        self.executor, self.network = executor, network

    async def speak(self, utt: Utterance) -> str:
        """Synthesize sentence by sentence; send audio + curves paced ahead of real time.

        Returns how it ended, ``done`` or ``error`` (the error already sent to the client);
        an interrupt cancels it instead.
        """
        out = self.out
        hello = out.hello
        assert hello is not None
        chunker = UtteranceChunker(hello.fps, hello.audio_rate,
                                   frames_per_chunk(hello.fps, self.config.chunk_seconds))
        await out.send(m.Utterance(id=utt.id, state="start", source=utt.source,
                                   text=utt.text or None))
        pacer = Pacer(out.clock, out.sleep, self.config.lead)
        gestures = self.config.gestures.styled(utt.gestures)
        animator: SpeechAnimator | None = None
        # The next sentence is synthesized while this one plays, not in its last `lead`.
        chunks = Ahead(self._chunks(utt))
        try:
            async for chunk in chunks:
                if animator is None:  # a reply's emotion is known once its first sentence is
                    await self._hold_start(chunk, chunks)
                    animator = SpeechAnimator(fps=hello.fps, emotion=utt.emotion, life=out.life,
                                              life_offset=out.life_time(), gestures=gestures)
                start = animator.duration
                curves, fps, columns = await self._curves_source(chunk, hello.fps)
                seg = animator.add(chunk.pcm, chunk.rate, chunk.phonemes, chunk.lang,
                                   chunk.alphabet, curves=curves, curves_fps=fps,
                                   columns=columns, text=chunk.text)
                utt.spoken.add(start, animator.duration, chunk.text)
                if gestures.messages:  # before the audio they land on
                    for g in seg.gestures:
                        await out.send(m.Gesture(id=utt.id, t=g.t, name=g.name,
                                                 duration=g.duration, strength=g.strength))
                for wire in chunker.push(seg.pcm, seg.rate, seg.frames):
                    await self._send_chunk(utt, wire, pacer)
            for wire in chunker.finish():
                await self._send_chunk(utt, wire, pacer)
        except (TTSError, ValueError) as exc:
            log.warning("session %s utterance %s: TTS failed: %s", self.id, utt.id, exc)
            await out.send(err.error_message(err.ProviderError(f"speech synthesis failed: {exc}"),
                                             ref=utt.id))
            return "error"
        finally:
            await chunks.close()
        return "done"

    async def _hold_start(self, first: SpeechChunk, chunks: Ahead) -> None:
        """On a busy server, start a short first sentence only once the next is in hand.

        A playing utterance's next sentence comes back from the worker pool in about
        ``continue_latency`` (measured over the last jobs). When that is longer than the
        first sentence lasts ("My name is Ada." is a second), the listener would hear the
        gap: playback waits instead, at most the shortfall, for the next sentence (or the
        end). An idle server has a latency far below a sentence and never waits here.
        """
        measure = getattr(self.executor, "continue_latency", None)
        shortfall = (measure() if measure is not None else 0.0) - len(first.pcm) / first.rate
        if shortfall <= 0:
            return
        ready = asyncio.ensure_future(chunks.ready())
        timer = asyncio.ensure_future(self.out.sleep(shortfall))
        try:
            await asyncio.wait({ready, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
            timer.cancel()

    async def _curves_source(self, chunk: SpeechChunk, fps: int
                             ) -> tuple[np.ndarray | None, float, np.ndarray | None]:
        """Frames for a voice that brings its own face, or none to report timings.

        Azure can send ARKit blendshapes (``meta["arkit60"]``): they drive the 52 ARKit
        columns. A voice with no phoneme timings (Riva), or every voice with ``animator =
        "network"``, is animated from its audio by the network — the offline quality model,
        since a sentence arrives whole; without weights it falls back to the timings, or for a
        voice without them to the loudness-driven jaw.
        """
        arkit = chunk.meta.get("arkit60")
        if isinstance(arkit, np.ndarray) and arkit.ndim == 2 and arkit.shape[1] == 52:
            return arkit, 60.0, _ARKIT_COLUMNS
        if wants_network(self.config.animator, bool(chunk.phonemes)) and self.network is not None \
                and len(chunk.pcm):
            frames = await self.network.animate_sentence(chunk.pcm, chunk.rate, fps)
            return frames, float(fps), None
        return None, 0.0, None

    async def _chunks(self, utt: Utterance) -> AsyncIterator[SpeechChunk]:
        """The utterance's speech, sentence by sentence, synthesized in the worker pool."""
        texts = utt.sentences if utt.sentences is not None else _one(utt.text)
        async for text in texts:
            chunks = await self._prepared(utt, text)
            if chunks is None and utt.sentences is not None:
                # A reply arrives one piece at a time (``SentenceStream`` has cut it), and a
                # provider makes one chunk of a piece. One job makes it whole: asking the
                # provider's iterator for a second chunk would cost a second wait in a busy
                # pool's queue only to learn there is none, and the next sentence would be
                # asked for that much later.
                if utt.stop:
                    return
                chunks = await workers.run(self.executor, self._priority(utt),
                                           _synthesize_piece, utt.provider, text, utt.voice)
            if chunks is not None:
                for chunk in chunks:
                    utt.synthesized += len(chunk.pcm) / chunk.rate
                    yield chunk
                continue
            iterator = iter(utt.provider.synthesize(text, utt.voice))
            # Ask for sentence k+1 the moment k is in hand, before the event loop animates k.
            ahead = asyncio.ensure_future(self._next_sentence(iterator, utt))
            try:
                while (chunk := await ahead) is not None:
                    utt.synthesized += len(chunk.pcm) / chunk.rate
                    ahead = asyncio.ensure_future(self._next_sentence(iterator, utt))
                    yield chunk
            finally:
                ahead.cancel()

    async def _prepared(self, utt: Utterance, text: str) -> list[SpeechChunk] | None:
        """The sentence as synthesized ahead (while the user paused), or None when it wasn't
        or that failed (then it is synthesized again, now)."""
        ready = utt.presynth.pop(text, None)
        if ready is None:
            return None
        try:
            return await ready
        except (TTSError, ValueError) as exc:
            log.info("session %s: prepared sentence failed (%s); retrying", self.id, exc)
            return None

    async def _next_sentence(self, iterator: Iterator[SpeechChunk],
                             utt: Utterance) -> SpeechChunk | None:
        """Run the blocking provider for one sentence in the worker pool.

        A sentence of an utterance that is already under way is due when the audio
        synthesized before it runs out; it goes ahead of every first sentence, so a busy
        server starts new utterances later instead of breaking the ones playing.
        """
        if utt.stop:
            return None
        return await workers.run(self.executor, self._priority(utt), next, iterator, None)

    def _priority(self, utt: Utterance) -> tuple[int, float]:
        """A first sentence queues in arrival order; a later one is due when the audio
        synthesized before it runs out (``workers``)."""
        now = self.out.clock()
        if utt.synthesized == 0.0:
            return (workers.START, now)
        return (workers.CONTINUE, (utt.wall_start or now) + utt.synthesized)

    async def _send_chunk(self, utt: Utterance, wire: WireChunk, pacer: Pacer) -> None:
        await pacer.wait_until(wire.audio_t)
        if utt.wall_start is None:
            utt.wall_start = pacer.start
            if utt.on_first_audio is not None:
                utt.on_first_audio(self.out.clock())
            if utt.admitted is not None:
                admitted_at, estimated = utt.admitted
                workers.calibrate(self.executor, estimated, self.out.clock() - admitted_at)
        out = self.out
        if len(wire.pcm):
            await out.send(m.Audio(id=utt.id, seq=wire.audio_seq, t=wire.audio_t,
                                   data=codec.encode_pcm16(wire.pcm)))
        if len(wire.frames):
            await out.send(out.curves(utt.id, wire.curves_seq, wire.curves_t, wire.frames))
            if out.pump is not None and pacer.start is not None:
                fps = out.pump.fps
                out.pump.timeline.utterance(utt.id, pacer.start, round(wire.curves_t * fps),
                                            wire.frames, fps)


async def _one(text: str) -> AsyncIterator[str]:
    yield text


def _synthesize_piece(provider: TTSProvider, text: str, voice: Voice) -> list[SpeechChunk]:
    return list(provider.synthesize(text, voice))


class Ahead:
    """Pulls one item ahead of its consumer from an async iterator, in a task of its own.

    An utterance's next sentence is then synthesized while the current one is sent and
    plays (seconds of slack), instead of when the pacer has sent it all (``lead``). At most
    one item waits: an interrupted utterance wastes at most one sentence of work.
    """

    _DONE = object()

    def __init__(self, source: AsyncIterator[SpeechChunk]) -> None:
        self._items: asyncio.Queue[tuple[object, BaseException | None]] = asyncio.Queue()
        self._room = asyncio.Semaphore(1)
        self._put = asyncio.Event()
        self._task = asyncio.create_task(self._fill(source))

    async def _fill(self, source: AsyncIterator[SpeechChunk]) -> None:
        try:
            await self._pull(source)
        finally:  # cancelled between sentences: close the generator now, not at GC
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _pull(self, source: AsyncIterator[SpeechChunk]) -> None:
        try:
            while True:
                await self._room.acquire()
                try:
                    item = await source.__anext__()
                except StopAsyncIteration:
                    break
                self._deliver((item, None))
        except Exception as exc:  # re-raised in the consumer, where it is handled
            self._deliver((self._DONE, exc))
            return
        self._deliver((self._DONE, None))

    def _deliver(self, entry: tuple[object, BaseException | None]) -> None:
        self._items.put_nowait(entry)
        self._put.set()

    async def ready(self) -> None:
        """Until the next item (or the end) is in hand, without taking it."""
        while self._items.empty():
            self._put.clear()
            await self._put.wait()

    def __aiter__(self) -> "Ahead":
        return self

    async def __anext__(self) -> SpeechChunk:
        item, exc = await self._items.get()
        if item is self._DONE:
            if exc is not None:
                raise exc
            raise StopAsyncIteration
        self._room.release()
        return item  # type: ignore[return-value]

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


class Pacer:
    """Holds an utterance at most ``lead`` seconds of audio ahead of real time.

    The utterance clock starts when its first chunk goes out; chunk t may leave at
    ``start + t - lead``.
    """

    def __init__(self, clock: Callable[[], float], sleep: Callable[[float], Awaitable[None]],
                 lead: float) -> None:
        self._clock, self._sleep, self._lead = clock, sleep, lead
        self.start: float | None = None

    async def wait_until(self, t: float) -> None:
        now = self._clock()
        if self.start is None:
            self.start = now
        delay = t - self._lead - (now - self.start)
        if delay > 0:
            await self._sleep(delay)
