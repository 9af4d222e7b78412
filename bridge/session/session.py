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
import itertools
import logging
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, AsyncIterator, Awaitable, Callable, Iterator, Protocol

import numpy as np

from blendshape import rig
from blendshape.animator import ANIMATORS, SpeechAnimator, wants_network
from blendshape.layers.emotion import UnknownEmotionError, emotion_vector
from blendshape.layers.life import LIFE_MEMORY, LifeConfig, LifeLayer, idle_frames
from blendshape.net.engine import Engine
from blendshape.net.stream import FrameRateConverter, Stream
from bridge.dialogue.heard import SpokenReply
from bridge.ops import security, workers
from bridge.protocol import codec
from bridge.protocol import errors as err
from bridge.protocol import messages as m
from bridge.session.streaming import UtteranceChunker, WireChunk, frames_per_chunk
from bridge.speech.tts.base import SpeechChunk, TTSError, TTSProvider, Voice
from bridge.speech.tts.registry import TTSRegistry, VoiceNotFound
from bridge.transports.outbox import Outbox
from bridge.transports.pacing import OutputPump

if TYPE_CHECKING:
    from bridge.dialogue.runner import Dialogue

log = logging.getLogger(__name__)

SERVER_NAME = "talkbridge/0.1.0"
_ARKIT_COLUMNS = rig.column_indices(rig.ARKIT52)
Send = Callable[[m.ServerMessage], Awaitable[None]]


class FaceNetwork(Protocol):
    """The network every session's ``audio_in`` streams share (the server's batcher).

    Typed by shape, not by the server's class: the server is above the session, and a
    batcher running elsewhere (Ray Serve, DESIGN §8) only has to offer these members.
    """

    executor: concurrent.futures.Executor
    engine: Engine

    def new_stream(self, rate: int) -> Stream: ...

    async def submit(self, stream: Stream, pcm: np.ndarray, last: bool = False) -> np.ndarray: ...


@dataclass(frozen=True)
class SessionConfig:
    """Per-server policy every session follows."""

    #: The token(s) hello must carry; any one of a set is accepted (compared in constant time).
    token: str | frozenset[str] | None = None
    lead: float = 0.5               # seconds of audio sent ahead of real time
    chunk_seconds: float = 0.05     # span of one audio+curves pair
    max_text_chars: int = 5000
    max_queue: int = 8
    #: Seconds of ``audio_in`` audio a stream may run ahead of its animation (a file sent
    #: all at once is fine up to this; past it the client gets ``queue_full``).
    max_audio_in_backlog: float = 60.0
    idle: bool = True
    life: LifeConfig = field(default_factory=LifeConfig)  # blinks, gaze, head, breathing
    animator: str = "auto"  # one of blendshape.animator.ANIMATORS (what animates speech)

    def __post_init__(self) -> None:
        if self.animator not in ANIMATORS:
            raise ValueError(f"animator must be one of {', '.join(ANIMATORS)}, not {self.animator!r}")


@dataclass
class _Utterance:
    """One queued or speaking utterance: a ``say``'s text, or a dialogue reply's sentences.

    A reply's sentences arrive while the language model writes them (``sentences``), and
    its emotion may be decided by the first of them, so the animator is built only when
    the first sentence is in hand. ``spoken`` records where each sentence fell on the
    audio clock, so what the user heard can be recovered after a barge-in.
    """

    id: str
    text: str
    provider: TTSProvider
    voice: Voice
    emotion: str | dict[str, float] | None
    source: str = "say"
    sentences: AsyncIterator[str] | None = None
    on_end: Callable[["_Utterance", str], None] | None = None
    on_first_audio: Callable[[float], None] | None = None
    spoken: SpokenReply = field(default_factory=SpokenReply)
    #: Sentences synthesized ahead (while the user paused), by text.
    presynth: dict[str, "asyncio.Future[list[SpeechChunk]]"] = field(default_factory=dict)
    wall_start: float | None = None  # when its clock started (first chunk sent)
    synthesized: float = 0.0  # seconds of its audio synthesized so far
    task: asyncio.Task[None] | None = None
    stop: bool = False
    ended: bool = False


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
    outbox: Outbox | None = field(default=None, init=False)  # set by the transport, for stats
    #: The server's network batcher; None when no weights loaded (audio_in is then refused).
    network: FaceNetwork | None = None
    _inputs: dict[str, "_AudioInput"] = field(default_factory=dict, init=False)
    #: Builds this session's paced UDP outputs (Live Link Face, VMC, …) at hello, if any.
    make_pump: Callable[[int, float], OutputPump | None] | None = None
    pump: OutputPump | None = field(default=None, init=False)
    _pump_task: asyncio.Task[None] | None = field(default=None, init=False)
    #: Builds this session's dialogue loop at its first ``mic`` or ``chat``; None: refused.
    make_dialogue: Callable[["Session"], "Dialogue"] | None = None
    dialogue: "Dialogue | None" = field(default=None, init=False)
    _played: dict[str, float] = field(default_factory=dict, init=False)
    _playback_seen: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self._life = LifeLayer(seed=self.seed, config=self.config.life)

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
        if token is not None and not security.token_matches(msg.token, token):
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

    def _text(self, field: str, raw: str) -> str:
        """``raw`` stripped, or the typed error naming ``field`` (say.text, chat.text)."""
        text = raw.strip()
        if not text:
            raise err.EmptyText(f"{field} is empty")
        if len(text) > self.config.max_text_chars:
            raise err.TextTooLong(
                f"{field} has {len(text)} characters; the limit is {self.config.max_text_chars}")
        return text

    async def _on_say(self, msg: m.Say) -> None:
        text = self._text("say.text", msg.text)
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
        self._check_free(utt_id)
        self._queue.append(_Utterance(utt_id, text, provider, voice, msg.emotion))
        self._wake.set()

    async def _on_interrupt(self, msg: m.Interrupt) -> None:
        await self.interrupt(msg.id)

    async def interrupt(self, utt_id: str | None = None,
                        sources: tuple[str, ...] = ("say", "dialogue", "audio_in")) -> None:
        """Stop the current utterance (and, without an id, everything queued) at once.

        ``sources`` narrows what is stopped: a barge-in stops the character's speech
        (``say`` and ``dialogue``) but not a performer's ``audio_in`` stream.
        """
        if "audio_in" in sources:
            for in_id in [i for i in self._inputs if utt_id in (None, i)]:
                stopped = self._inputs[in_id]
                if stopped.task is not None:
                    stopped.task.cancel()
                    await asyncio.gather(stopped.task, return_exceptions=True)
                await self.send(m.Clear(id=in_id))
                await self._end_input(in_id, "interrupted")

        def chosen(u: _Utterance) -> bool:
            return utt_id in (None, u.id) and u.source in sources

        dropped = [u for u in self._queue if chosen(u)]
        for utt in dropped:
            self._queue.remove(utt)
        current = self._current
        if current is not None and current.task is not None and chosen(current) \
                and not current.ended:
            current.stop = True
            current.task.cancel()
            await asyncio.gather(current.task, return_exceptions=True)
            if self.pump is not None:
                self.pump.timeline.clear(current.id)
            await self.send(m.Clear(id=current.id))
            await self._end(current, "interrupted")
        for utt in dropped:
            await self._end(utt, "interrupted")

    async def _end(self, utt: _Utterance, reason: str) -> None:
        """Send the utterance's ``end`` once and tell its owner (the dialogue's memory)."""
        if utt.ended:
            return
        utt.ended = True
        await self.send(m.Utterance(id=utt.id, state="end", source=utt.source, reason=reason))
        if utt.on_end is not None:
            utt.on_end(utt, reason)

    def new_reply(self, reply_id: str, provider: TTSProvider, voice: Voice,
                  sentences: AsyncIterator[str], on_end: Callable[[_Utterance, str], None],
                  on_first_audio: Callable[[float], None]) -> _Utterance:
        """A dialogue reply, its sentences still being written; speak it with :meth:`enqueue`."""
        return _Utterance(reply_id, "", provider, voice, None, source="dialogue",
                          sentences=sentences, on_end=on_end, on_first_audio=on_first_audio)

    def enqueue(self, utt: _Utterance) -> None:
        """Queue an utterance built by the dialogue loop (after the ``say``s before it)."""
        self._queue.append(utt)
        self._wake.set()

    def played_position(self, utt: _Utterance) -> float:
        """How far the user has heard ``utt``, in seconds of its audio.

        The engine's ``playback`` reports are the truth. A client that never sends them
        gets an estimate from the server's pacing: real time since the first chunk left,
        which is right within the client's jitter buffer.
        """
        if utt.id in self._played:
            return self._played[utt.id]
        if self._playback_seen or utt.wall_start is None:
            return 0.0
        return max(0.0, min(utt.spoken.duration, self.clock() - utt.wall_start))

    async def _on_audio_in(self, msg: m.AudioIn) -> None:
        """Animate audio the client already has: curves only, streamed as the audio arrives."""
        hello = self.hello
        assert hello is not None
        if self.network is None:
            raise err.Unsupported("audio_in needs the network's weights: run `talkbridge train`")
        utt = self._inputs.get(msg.id)
        if utt is None:
            self._check_free(msg.id)
            if len(self._inputs) >= self.config.max_queue:
                raise err.QueueFull(f"{len(self._inputs)} audio_in streams are open; end one first")
            utt = _AudioInput(msg.id, msg.rate, self.network.new_stream(msg.rate),
                              FrameRateConverter(hello.fps), self._life_time())
            self._inputs[msg.id] = utt
            await self.send(m.Utterance(id=msg.id, state="start", source="audio_in"))
        elif msg.rate != utt.rate:
            raise err.InvalidField(f"audio_in.rate changed from {utt.rate} to {msg.rate} "
                                   "within one utterance", field="rate")
        if utt.ended:
            raise err.InvalidField(f"audio_in {msg.id!r} already ended; use a new id", field="id")
        pcm = codec.decode_pcm16(msg.data).astype(np.float32) / 32768.0
        backlog = sum(map(len, utt.audio)) / utt.rate
        if len(pcm) and backlog > self.config.max_audio_in_backlog:  # an end is always taken
            raise err.QueueFull(f"audio_in {msg.id!r} is {backlog:.0f} s of audio ahead of the "
                                "animation; send it in real time or wait for its curves")
        utt.audio.append(pcm)
        utt.ended = msg.end
        # The reader never waits for the network: one task per stream feeds it, a tick's
        # worth of messages at a time, so a busy batch only makes the next submission longer.
        # Features are computed in the network's thread, off the loop every connection shares.
        if utt.task is None:
            utt.task = asyncio.create_task(self._animate_input(utt), name=f"{self.id}-{msg.id}")

    async def _animate_input(self, utt: "_AudioInput") -> None:
        hello, network = self.hello, self.network
        assert hello is not None and network is not None
        most = round(_MAX_SUBMIT * utt.rate)
        while utt.audio:
            pcm = _take(utt.audio, most)
            done = utt.ended and not utt.audio
            try:
                weights = await network.submit(utt.stream, pcm, last=done)
            except Exception as exc:  # the network failed this batch: end this stream only
                log.warning("session %s audio_in %s: network failed: %s", self.id, utt.id, exc)
                await self.send(err.error_message(
                    err.ServerError(f"the network failed on this audio: {exc}"), ref=utt.id))
                await self._end_input(utt.id, "error")
                return
            full = utt.converter.push(weights, last=done)
            if len(full):
                first = utt.converter.next_frame - len(full)
                times = np.arange(first, first + len(full)) / hello.fps
                self._life.apply(full, utt.life_offset + times)
                await self.send(self._curves(utt.id, utt.seq, first / hello.fps, full))
                utt.seq += 1
            if done:
                await self._end_input(utt.id, "done")
        utt.task = None

    async def _end_input(self, in_id: str, reason: str) -> None:
        """Forget an ``audio_in`` stream, tell the client, and let the idle loop resume."""
        self._inputs.pop(in_id, None)
        await self.send(m.Utterance(id=in_id, state="end", source="audio_in", reason=reason))
        self._wake.set()  # idle frames follow the end, never precede it

    async def _on_mic(self, msg: m.Mic) -> None:
        await self._dialogue().on_mic(msg)

    async def _on_chat(self, msg: m.Chat) -> None:
        await self._dialogue().on_chat(self._text("chat.text", msg.text))

    def _dialogue(self) -> "Dialogue":
        if self.dialogue is None:
            if self.make_dialogue is None:
                raise err.Unsupported("this server runs without the dialogue loop")
            self.dialogue = self.make_dialogue(self)
        return self.dialogue

    async def _on_ping(self, msg: m.Ping) -> None:
        await self.send(m.Pong(t=msg.t, server_t=self.clock() - self._t0))

    async def _on_playback(self, msg: m.Playback) -> None:
        self._playback_seen = True
        heard = math.inf if msg.state == "finished" and not msg.interrupted else msg.position
        self._played[msg.id] = max(heard, self._played.get(msg.id, 0.0))
        while len(self._played) > 64:  # ids the engine never finished: keep the newest
            self._played.pop(next(iter(self._played)))
        if self.dialogue is not None:
            self.dialogue.on_playback(msg)

    def _check_free(self, utt_id: str) -> None:
        """Refuse an id already naming something on this connection: ``idle``, a queued or
        playing utterance, or an open ``audio_in`` (two ``utterance start`` for one id
        would leave the client unable to tell their messages apart)."""
        if utt_id == "idle" or utt_id in self._inputs or any(u.id == utt_id for u in self._pending()):
            raise err.DuplicateId(f"utterance id {utt_id!r} is already in use")

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
        chunker = UtteranceChunker(hello.fps, hello.audio_rate,
                                   frames_per_chunk(hello.fps, self.config.chunk_seconds))
        await self.send(m.Utterance(id=utt.id, state="start", source=utt.source,
                                    text=utt.text or None))
        pacer = _Pacer(self.clock, self.sleep, self.config.lead)
        animator: SpeechAnimator | None = None
        # The next sentence is synthesized while this one plays, not in its last `lead`.
        chunks = _Ahead(self._chunks(utt))
        try:
            async for chunk in chunks:
                if animator is None:  # a reply's emotion is known once its first sentence is
                    await self._hold_start(chunk, chunks)
                    animator = SpeechAnimator(fps=hello.fps, emotion=utt.emotion, life=self._life,
                                              life_offset=self._life_time())
                start = animator.duration
                curves, fps, columns = await self._curves_source(chunk, hello.fps)
                seg = animator.add(chunk.pcm, chunk.rate, chunk.phonemes, chunk.lang,
                                   chunk.alphabet, curves=curves, curves_fps=fps,
                                   columns=columns)
                utt.spoken.add(start, animator.duration, chunk.text)
                for wire in chunker.push(seg.pcm, seg.rate, seg.frames):
                    await self._send_chunk(utt, wire, pacer)
            for wire in chunker.finish():
                await self._send_chunk(utt, wire, pacer)
        except (TTSError, ValueError) as exc:
            log.warning("session %s utterance %s: TTS failed: %s", self.id, utt.id, exc)
            await self.send(err.error_message(err.ProviderError(f"speech synthesis failed: {exc}"),
                                              ref=utt.id))
            await self._end(utt, "error")
            return
        finally:
            await chunks.close()
        await self._end(utt, "done")

    async def _hold_start(self, first: SpeechChunk, chunks: "_Ahead") -> None:
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
        timer = asyncio.ensure_future(self.sleep(shortfall))
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
        "network"``, is animated from its audio by the network; without weights it falls back
        to the timings, or for a voice without them to the loudness-driven jaw.
        """
        arkit = chunk.meta.get("arkit60")
        if isinstance(arkit, np.ndarray) and arkit.ndim == 2 and arkit.shape[1] == 52:
            return arkit, 60.0, _ARKIT_COLUMNS
        if wants_network(self.config.animator, bool(chunk.phonemes)) and self.network is not None \
                and len(chunk.pcm):
            from blendshape.net.stream import animate_clip

            loop = asyncio.get_running_loop()
            frames = await loop.run_in_executor(self.network.executor, animate_clip,
                                                self.network.engine, chunk.pcm, chunk.rate, fps)
            return frames, float(fps), None
        return None, 0.0, None

    async def _chunks(self, utt: _Utterance) -> AsyncIterator[SpeechChunk]:
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

    async def _prepared(self, utt: _Utterance, text: str) -> list[SpeechChunk] | None:
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
                             utt: _Utterance) -> SpeechChunk | None:
        """Run the blocking provider for one sentence in the worker pool.

        A sentence of an utterance that is already under way is due when the audio
        synthesized before it runs out; it goes ahead of every first sentence, so a busy
        server starts new utterances later instead of breaking the ones playing.
        """
        if utt.stop:
            return None
        return await workers.run(self.executor, self._priority(utt), next, iterator, None)

    def _priority(self, utt: _Utterance) -> tuple[int, float]:
        """A first sentence queues in arrival order; a later one is due when the audio
        synthesized before it runs out (``workers``)."""
        now = self.clock()
        if utt.synthesized == 0.0:
            return (workers.START, now)
        return (workers.CONTINUE, (utt.wall_start or now) + utt.synthesized)

    async def _send_chunk(self, utt: _Utterance, wire: WireChunk, pacer: "_Pacer") -> None:
        await pacer.wait_until(wire.audio_t)
        if utt.wall_start is None:
            utt.wall_start = pacer.start
            if utt.on_first_audio is not None:
                utt.on_first_audio(self.clock())
        if len(wire.pcm):
            await self.send(m.Audio(id=utt.id, seq=wire.audio_seq, t=wire.audio_t,
                                    data=codec.encode_pcm16(wire.pcm)))
        if len(wire.frames):
            await self.send(self._curves(utt.id, wire.curves_seq, wire.curves_t, wire.frames))
            if self.pump is not None and pacer.start is not None:
                fps = self.pump.fps
                self.pump.timeline.utterance(utt.id, pacer.start, round(wire.curves_t * fps),
                                             wire.frames, fps)

    def _curves(self, utt_id: str, seq: int, t: float, full: np.ndarray) -> m.Curves:
        hello = self.hello
        assert hello is not None
        frames = full[:, self._columns]
        return m.Curves(id=utt_id, seq=seq, t=t, fps=hello.fps, n=len(frames),
                        data=codec.encode_curves(frames, hello.encoding))

    def _life_time(self) -> float:
        """Now on the life layer's clock; what lies ``LIFE_MEMORY`` behind is forgotten."""
        now = self.clock() - self._t0
        self._life.forget_before(now - LIFE_MEMORY)
        return now

    async def _run_idle(self) -> None:
        """Between utterances, keep the face alive: idle curves paced at fps in real time."""
        hello = self.hello
        assert hello is not None
        n = frames_per_chunk(hello.fps, self.config.chunk_seconds)
        next_frame = 0
        while True:
            if self._current is not None or self._queue or self._inputs:
                self._wake.clear()
                await self._wake.wait()
                continue
            # Continue the frame grid where the last chunk ended; after a pause (an
            # utterance, a slow client) jump to the present instead of catching up.
            now_frame = (self.clock() - self._t0) * hello.fps
            first = next_frame if next_frame >= math.floor(now_frame) else math.ceil(now_frame)
            times = np.arange(first, first + n, dtype=np.float64) / hello.fps
            self._life.forget_before(times[0] - LIFE_MEMORY)
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
        tasks += [u.task for u in self._inputs.values() if u.task is not None]
        if self._current is not None and self._current.task is not None:
            self._current.stop = True
            tasks.append(self._current.task)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for utt in self._pending():  # the client left: what it heard is all it will hear
            if not utt.ended:
                utt.ended = True
                if utt.on_end is not None:
                    utt.on_end(utt, "interrupted")
        if self.dialogue is not None:
            await self.dialogue.close()
        if self.pump is not None:
            self.pump.close()


async def _one(text: str) -> AsyncIterator[str]:
    yield text


def _synthesize_piece(provider: TTSProvider, text: str, voice: Voice) -> list[SpeechChunk]:
    return list(provider.synthesize(text, voice))


#: Seconds of audio one stream gives one batch: an ``audio_in`` sent all at once is animated
#: in slices, so it cannot stall the tick every other stream shares.
_MAX_SUBMIT = 0.25


def _take(chunks: deque[np.ndarray], most: int) -> np.ndarray:
    """Up to ``most`` samples from the front of ``chunks``, removed from it.

    Only what is taken is copied: a minute of audio sent at once is sliced in 240 steps
    without copying the rest of it each time."""
    parts, size = [], 0
    while chunks and size < most:
        chunk = chunks.popleft()
        if size + len(chunk) > most:
            cut = most - size
            chunks.appendleft(chunk[cut:])
            chunk = chunk[:cut]
        parts.append(chunk)
        size += len(chunk)
    return np.concatenate(parts) if len(parts) != 1 else parts[0]


@dataclass
class _AudioInput:
    """One ``audio_in`` utterance: its network stream and frame-rate conversion."""

    id: str
    rate: int
    stream: Stream
    converter: FrameRateConverter
    life_offset: float
    seq: int = 0
    audio: deque[np.ndarray] = field(default_factory=deque)  # waiting for the network
    ended: bool = False  # the client sent end=true
    task: "asyncio.Task[None] | None" = None  # feeding the network, while audio waits


class _Ahead:
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

    def __aiter__(self) -> "_Ahead":
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
    m.Mic: Session._on_mic,  # type: ignore[dict-item]
    m.Chat: Session._on_chat,  # type: ignore[dict-item]
    m.Playback: Session._on_playback,  # type: ignore[dict-item]
}
