"""One client's conversation: hello, utterances streamed on their audio clock, idle life.

The transport hands decoded messages to :meth:`Session.handle` and gives the session a
``send`` coroutine; nothing here touches sockets. Time comes from an injected clock and
sleep, so pacing is tested on a virtual clock.

Utterances run one at a time, in the order their ``say`` arrived. Audio and curves are sent
at most ``lead`` seconds ahead of real time: enough for the client's jitter buffer, little
enough that an interrupt stops speech within one chunk and a long text never piles up in
memory.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hmac
import itertools
import logging
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Iterator

import numpy as np

from blendshape import rig
from blendshape.animator import SpeechAnimator
from blendshape.layers import LifeLayer, UnknownEmotionError, emotion_vector, idle_frames

from blendshape.stream import FrameRateConverter, Stream

from .network import AsyncBatcher
from .outputs import OutputPump
from .protocol import codec
from .protocol import errors as err
from .protocol import messages as m
from .speech.tts.base import SpeechChunk, TTSError, TTSProvider, Voice
from .speech.tts.registry import TTSRegistry, VoiceNotFound
from .streaming import UtteranceChunker, WireChunk, frames_per_chunk

log = logging.getLogger(__name__)

SERVER_NAME = "talkbridge/0.1.0"
Send = Callable[[m.ServerMessage], Awaitable[None]]


@dataclass(frozen=True)
class SessionConfig:
    """Per-server policy every session follows."""

    token: str | None = None
    lead: float = 0.5               # seconds of audio sent ahead of real time
    chunk_seconds: float = 0.05     # span of one audio+curves pair
    max_text_chars: int = 5000
    max_queue: int = 8
    idle: bool = True


@dataclass
class _Utterance:
    id: str
    text: str
    provider: TTSProvider
    voice: Voice
    emotion: str | dict[str, float] | None
    task: asyncio.Task[None] | None = None
    stop: bool = False


@dataclass
class Session:
    """Protocol state and utterance scheduling for one connection."""

    id: str
    send: Send
    tts: TTSRegistry
    config: SessionConfig = field(default_factory=SessionConfig)
    executor: concurrent.futures.Executor | None = None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    seed: int = 0

    hello: m.Hello | None = field(default=None, init=False)
    channels: tuple[str, ...] = field(default=(), init=False)
    _columns: np.ndarray = field(init=False, repr=False)
    _queue: deque[_Utterance] = field(default_factory=deque, init=False)
    _current: _Utterance | None = field(default=None, init=False)
    _worker: asyncio.Task[None] | None = field(default=None, init=False)
    _idle_task: asyncio.Task[None] | None = field(default=None, init=False)
    _wake: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1), init=False)
    _t0: float = field(default=0.0, init=False)
    _life: LifeLayer = field(init=False, repr=False)
    _idle_seq: int = field(default=0, init=False)
    closed: bool = field(default=False, init=False)
    outbox: object | None = field(default=None, init=False)  # set by the transport, for stats
    #: The server's network batcher; None when no weights loaded (audio_in is then refused).
    network: "AsyncBatcher | None" = None
    _inputs: dict[str, "_AudioInput"] = field(default_factory=dict, init=False)
    #: Builds this session's paced UDP outputs (Live Link Face, VMC, …) at hello, if any.
    make_pump: Callable[[int, float], OutputPump | None] | None = None
    pump: OutputPump | None = field(default=None, init=False)
    _pump_task: asyncio.Task[None] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._life = LifeLayer(seed=self.seed)

    # ---- inbound ---------------------------------------------------------------------

    async def handle(self, msg: m.ClientMessage) -> None:
        """Act on one decoded message; raise a TalkbridgeError for the transport to report."""
        if self.hello is None:
            if not isinstance(msg, m.Hello):
                raise err.HelloRequired(f"send hello first (got {msg.TYPE!r})")
            await self._on_hello(msg)
            return
        handler = _HANDLERS.get(type(msg))
        if handler is None:
            raise err.Unsupported(f"{msg.TYPE!r} is not served by this server build yet")
        await handler(self, msg)

    async def _on_hello(self, msg: m.Hello) -> None:
        if msg.protocol != 1:
            raise err.UnsupportedProtocol(f"protocol {msg.protocol} is not supported; use 1")
        token = self.config.token
        if token is not None and not hmac.compare_digest((msg.token or "").encode(), token.encode()):
            raise err.Unauthorized("missing or wrong token")
        try:
            channels = rig.resolve_channels(msg.channels)
        except rig.UnknownChannelError as exc:
            raise err.UnknownChannel(str(exc)) from None
        self.hello, self.channels = msg, channels
        self._columns = rig.column_indices(channels)
        self._t0 = self.clock()
        await self.send(m.Welcome(protocol=1, session=self.id, server=SERVER_NAME, fps=msg.fps,
                                  channels=channels, audio_rate=msg.audio_rate,
                                  encoding=msg.encoding))
        self._worker = asyncio.create_task(self._run_queue(), name=f"{self.id}-utterances")
        if self.make_pump is not None:
            self.pump = self.make_pump(msg.fps, self._t0)
            if self.pump is not None:
                self._pump_task = asyncio.create_task(self.pump.run(), name=f"{self.id}-outputs")
        if self.config.idle:
            self._idle_task = asyncio.create_task(self._run_idle(), name=f"{self.id}-idle")

    async def _on_unexpected_hello(self, msg: m.Hello) -> None:
        raise err.InvalidField("hello was already received on this connection", field="type")

    async def _on_say(self, msg: m.Say) -> None:
        text = msg.text.strip()
        if not text:
            raise err.EmptyText("say.text is empty")
        if len(text) > self.config.max_text_chars:
            raise err.TextTooLong(
                f"say.text has {len(text)} characters; the limit is {self.config.max_text_chars}"
            )
        try:
            provider, voice = self.tts.resolve(msg.voice, msg.lang)
        except VoiceNotFound as exc:
            raise err.UnknownVoice(str(exc)) from None
        try:
            emotion_vector(msg.emotion)
        except UnknownEmotionError as exc:
            raise err.UnknownEmotion(str(exc)) from None
        if len(self._queue) >= self.config.max_queue:
            raise err.QueueFull(f"{len(self._queue)} utterances are already waiting; interrupt or wait")
        utt_id = msg.id or f"u{next(self._ids)}"
        if utt_id == "idle" or any(u.id == utt_id for u in self._pending()):
            raise err.DuplicateId(f"utterance id {utt_id!r} is already in use")
        self._queue.append(_Utterance(utt_id, text, provider, voice, msg.emotion))
        self._wake.set()

    async def _on_interrupt(self, msg: m.Interrupt) -> None:
        """Stop the current utterance (and, without an id, everything queued) at once."""
        for utt_id in [i for i in self._inputs if msg.id in (None, i)]:
            del self._inputs[utt_id]
            await self.send(m.Clear(id=utt_id))
            await self.send(m.Utterance(id=utt_id, state="end", source="audio_in",
                                        reason="interrupted"))
        dropped = [u for u in self._queue if msg.id is None or u.id == msg.id]
        for utt in dropped:
            self._queue.remove(utt)
        current = self._current
        if current is not None and current.task is not None and msg.id in (None, current.id):
            current.stop = True
            current.task.cancel()
            await asyncio.gather(current.task, return_exceptions=True)
            if self.pump is not None:
                self.pump.timeline.clear(current.id)
            await self.send(m.Clear(id=current.id))
            await self.send(m.Utterance(id=current.id, state="end", source="say",
                                        reason="interrupted"))
        for utt in dropped:
            await self.send(m.Utterance(id=utt.id, state="end", source="say", reason="interrupted"))

    async def _on_audio_in(self, msg: m.AudioIn) -> None:
        """Animate audio the client already has: curves only, streamed as the audio arrives."""
        hello = self.hello
        assert hello is not None
        if self.network is None:
            raise err.Unsupported("audio_in needs the network's weights: run `talkbridge train`")
        utt = self._inputs.get(msg.id)
        if utt is None:
            if any(u.id == msg.id for u in self._pending()) or msg.id == "idle":
                raise err.DuplicateId(f"utterance id {msg.id!r} is already in use")
            if len(self._inputs) >= self.config.max_queue:
                raise err.QueueFull(f"{len(self._inputs)} audio_in streams are open; end one first")
            utt = _AudioInput(msg.id, msg.rate, self.network.new_stream(msg.rate),
                              FrameRateConverter(hello.fps), self.clock() - self._t0)
            self._inputs[msg.id] = utt
            await self.send(m.Utterance(id=msg.id, state="start", source="audio_in"))
        elif msg.rate != utt.rate:
            raise err.InvalidField(f"audio_in.rate changed from {utt.rate} to {msg.rate} "
                                   "within one utterance", field="rate")
        pcm = codec.decode_pcm16(msg.data).astype(np.float32) / 32768.0
        weights = await self.network.submit(utt.stream, utt.stream.features(pcm, last=msg.end))
        full = utt.converter.push(weights, last=msg.end)
        if len(full):
            first = utt.converter.next_frame - len(full)
            times = np.arange(first, first + len(full)) / hello.fps
            self._life.apply(full, utt.life_offset + times)
            await self.send(self._curves(msg.id, utt.seq, first / hello.fps, full))
            utt.seq += 1
        if msg.end:
            del self._inputs[msg.id]
            await self.send(m.Utterance(id=msg.id, state="end", source="audio_in", reason="done"))

    async def _on_ping(self, msg: m.Ping) -> None:
        await self.send(m.Pong(t=msg.t, server_t=self.clock() - self._t0))

    async def _on_playback(self, msg: m.Playback) -> None:
        log.debug("session %s playback %s %s %.3f", self.id, msg.id, msg.state, msg.position)

    def _pending(self) -> list[_Utterance]:
        return ([self._current] if self._current else []) + list(self._queue)

    # ---- outbound --------------------------------------------------------------------

    async def _run_queue(self) -> None:
        while True:
            while not self._queue:
                self._wake.clear()
                await self._wake.wait()
            utt = self._queue.popleft()
            self._current = utt
            utt.task = asyncio.create_task(self._speak(utt), name=f"{self.id}-{utt.id}")
            await asyncio.gather(utt.task, return_exceptions=True)
            self._current = None
            self._wake.set()  # let the idle loop resume

    async def _speak(self, utt: _Utterance) -> None:
        """Synthesize sentence by sentence; send audio + curves paced ahead of real time."""
        hello = self.hello
        assert hello is not None
        provider, voice = utt.provider, utt.voice
        animator = SpeechAnimator(fps=hello.fps, emotion=utt.emotion, life=self._life,
                                  life_offset=self.clock() - self._t0)
        chunker = UtteranceChunker(hello.fps, hello.audio_rate,
                                   frames_per_chunk(hello.fps, self.config.chunk_seconds))
        await self.send(m.Utterance(id=utt.id, state="start", source="say", text=utt.text))
        pacer = _Pacer(self.clock, self.sleep, self.config.lead)
        try:
            iterator = iter(provider.synthesize(utt.text, voice))
            while (chunk := await self._next_sentence(iterator, utt)) is not None:
                seg = animator.add(chunk.pcm, chunk.rate, chunk.phonemes, chunk.lang, chunk.alphabet)
                for wire in chunker.push(seg.pcm, seg.rate, seg.frames):
                    await self._send_chunk(utt.id, wire, pacer)
            for wire in chunker.finish():
                await self._send_chunk(utt.id, wire, pacer)
        except (TTSError, ValueError) as exc:
            log.warning("session %s utterance %s: TTS failed: %s", self.id, utt.id, exc)
            await self.send(err.error_message(err.ProviderError(f"speech synthesis failed: {exc}"),
                                              ref=utt.id))
            await self.send(m.Utterance(id=utt.id, state="end", source="say", reason="error"))
            return
        await self.send(m.Utterance(id=utt.id, state="end", source="say", reason="done"))

    async def _next_sentence(self, iterator: Iterator[SpeechChunk],
                             utt: _Utterance) -> SpeechChunk | None:
        """Run the blocking provider for one sentence in the TTS worker pool."""
        if utt.stop:
            return None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, next, iterator, None)

    async def _send_chunk(self, utt_id: str, wire: WireChunk, pacer: "_Pacer") -> None:
        await pacer.wait_until(wire.audio_t)
        if len(wire.pcm):
            await self.send(m.Audio(id=utt_id, seq=wire.audio_seq, t=wire.audio_t,
                                    data=codec.encode_pcm16(wire.pcm)))
        if len(wire.frames):
            await self.send(self._curves(utt_id, wire.curves_seq, wire.curves_t, wire.frames))
            if self.pump is not None and pacer.start is not None:
                fps = self.pump.fps
                self.pump.timeline.utterance(utt_id, pacer.start, round(wire.curves_t * fps),
                                             wire.frames, fps)

    def _curves(self, utt_id: str, seq: int, t: float, full: np.ndarray) -> m.Curves:
        hello = self.hello
        assert hello is not None
        frames = full[:, self._columns]
        return m.Curves(id=utt_id, seq=seq, t=t, fps=hello.fps, n=len(frames),
                        data=codec.encode_curves(frames, hello.encoding))

    async def _run_idle(self) -> None:
        """Between utterances, keep the face alive: idle curves paced at fps in real time."""
        hello = self.hello
        assert hello is not None
        n = frames_per_chunk(hello.fps, self.config.chunk_seconds)
        next_frame = 0
        while True:
            if self._current is not None or self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            # Continue the frame grid where the last chunk ended; after a pause (an
            # utterance, a slow client) jump to the present instead of catching up.
            now_frame = (self.clock() - self._t0) * hello.fps
            first = next_frame if next_frame >= math.floor(now_frame) else math.ceil(now_frame)
            times = np.arange(first, first + n, dtype=np.float64) / hello.fps
            full = idle_frames(self._life, times)
            await self.send(self._curves("idle", self._idle_seq, times[0], full))
            if self.pump is not None:
                self.pump.timeline.idle(self._t0 + times, full)
            self._idle_seq += 1
            next_frame = first + n
            await self.sleep(max(0.0, next_frame / hello.fps - (self.clock() - self._t0)))

    async def close(self) -> None:
        """Stop everything this session runs; safe to call twice."""
        if self.closed:
            return
        self.closed = True
        tasks = [t for t in (self._worker, self._idle_task, self._pump_task) if t is not None]
        if self._current is not None and self._current.task is not None:
            self._current.stop = True
            tasks.append(self._current.task)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.pump is not None:
            self.pump.close()


@dataclass
class _AudioInput:
    """One ``audio_in`` utterance: its network stream and frame-rate conversion."""

    id: str
    rate: int
    stream: Stream
    converter: FrameRateConverter
    life_offset: float
    seq: int = 0


class _Pacer:
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


_HANDLERS: dict[type, Callable[[Session, m.ClientMessage], Awaitable[None]]] = {
    m.Hello: Session._on_unexpected_hello,  # type: ignore[dict-item]
    m.Say: Session._on_say,  # type: ignore[dict-item]
    m.AudioIn: Session._on_audio_in,  # type: ignore[dict-item]
    m.Interrupt: Session._on_interrupt,  # type: ignore[dict-item]
    m.Ping: Session._on_ping,  # type: ignore[dict-item]
    m.Playback: Session._on_playback,  # type: ignore[dict-item]
}
