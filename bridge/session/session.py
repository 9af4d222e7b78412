"""One client's conversation: hello, utterances streamed on their audio clock, idle life.

The transport hands decoded messages to :meth:`Session.handle` and gives the session a
``send`` coroutine; nothing here touches sockets. Time comes from an injected clock and
sleep, so pacing is tested on a virtual clock.

The session routes messages and keeps the utterance queue: utterances run one at a time, in
the order their ``say`` arrived. Its parts do the work — :mod:`~bridge.session.speech` speaks
an utterance, :mod:`~bridge.session.audio_in` animates the client's own audio,
:mod:`~bridge.session.idle` keeps the face alive in between, all through one
:class:`~bridge.session.outlet.Outlet` — and :mod:`~bridge.session.lifecycle` is the table of
what each phase of the connection takes.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import itertools
import logging
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, AsyncIterator, Awaitable, Callable, Iterator

from blendshape import rig
from blendshape.layers.emotion import UnknownEmotionError, emotion_vector
from blendshape.layers.life import LifeLayer
from bridge.dialogue.seeing import SeenImage
from bridge.ops import security, workers
from bridge.protocol import errors as err
from bridge.protocol import messages as m
from bridge.protocol.images import media_type
from bridge.session import lifecycle
from bridge.session.audio_in import AudioInputs
from bridge.session.config import SERVER_NAME, FaceNetwork, Send, SessionConfig
from bridge.session.idle import IdleLoop
from bridge.session.lifecycle import Event, Phase
from bridge.session.outlet import Outlet
from bridge.session.queue import UtteranceQueue
from bridge.session.speech import SpeechPipeline
from bridge.session.utterance import Utterance
from bridge.speech.tts.base import TTSProvider, Voice
from bridge.speech.tts.registry import TTSRegistry, VoiceNotFound
from bridge.transports.outbox import Outbox
from bridge.transports.pacing import OutputPump

if TYPE_CHECKING:
    from bridge.dialogue.runner import Dialogue

log = logging.getLogger(__name__)

__all__ = ["Session"]


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
    #: The server's network batcher; None when no weights loaded (audio_in is then refused).
    network: FaceNetwork | None = None
    #: Builds this session's paced UDP outputs (Live Link Face, VMC, …) at hello, if any.
    make_pump: Callable[[int, float], OutputPump | None] | None = None
    #: Builds this session's dialogue loop at its first ``mic``, ``chat`` or ``image``;
    #: None: those are refused.
    make_dialogue: Callable[["Session"], "Dialogue"] | None = None

    phase: Phase = field(default=Phase.AWAITING_HELLO, init=False)
    outbox: Outbox | None = field(default=None, init=False)  # set by the transport, for stats
    dialogue: "Dialogue | None" = field(default=None, init=False)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list, init=False)
    _wake: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1), init=False)
    _played: dict[str, float] = field(default_factory=dict, init=False)
    _playback_seen: bool = field(default=False, init=False)
    # (when, the queue's estimate) of each admitted chat or image turn whose reply isn't
    # speaking yet: its reply's first audio calibrates admission control as a say's does.
    _turns_admitted: collections.deque[tuple[float, float]] = field(
        default_factory=lambda: collections.deque(maxlen=8), init=False)

    def __post_init__(self) -> None:
        self.out = Outlet(self.send, self.clock, self.sleep,
                          LifeLayer(seed=self.seed, config=self.config.life))
        self._speech = SpeechPipeline(self.id, self.out, self.config, self.executor, self.network)
        self._inputs = AudioInputs(self.id, self.out, self.config, self.network, self._wake)
        self._queue = UtteranceQueue(self.id, self.out, self._speech, self._wake)

    @property
    def hello(self) -> m.Hello | None:
        return self.out.hello

    @property
    def channels(self) -> tuple[str, ...]:
        return self.out.channels

    @property
    def pump(self) -> OutputPump | None:
        return self.out.pump

    @property
    def closed(self) -> bool:
        return self.phase is Phase.CLOSED

    @property
    def busy(self) -> bool:
        """Speaking, with utterances waiting, or animating an ``audio_in``."""
        return bool(self._queue.pending() or len(self._inputs))

    # ---- inbound ---------------------------------------------------------------------

    async def handle(self, msg: m.ClientMessage) -> None:
        """Act on one decoded message; raise a TalkbridgeError for the transport to report."""
        event = Event.HELLO if isinstance(msg, m.Hello) else Event.MESSAGE
        after = lifecycle.step(self.phase, event, msg.TYPE)
        if after is None:
            return  # the client is gone: nothing is served any more
        if isinstance(msg, m.Hello):
            await self._on_hello(msg)
        else:
            handler = _HANDLERS.get(type(msg))
            if handler is None:
                raise err.Unsupported(f"{msg.TYPE!r} is not served by this server build yet")
            await handler(self, msg)
        if not self.closed:
            self.phase = after

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
        self.out.greet(msg, channels)
        await self.send(m.Welcome(protocol=1, session=self.id, server=SERVER_NAME, fps=msg.fps,
                                  channels=channels, audio_rate=msg.audio_rate,
                                  encoding=msg.encoding))
        self._start(self._queue.run(), "utterances")
        if self.make_pump is not None:
            self.out.pump = self.make_pump(msg.fps, self.out.t0)
            if self.out.pump is not None:
                self._start(self.out.pump.run(), "outputs")
        if self.config.idle:
            idle = IdleLoop(self.out, self.config.chunk_seconds, lambda: self.busy, self._wake)
            self._start(idle.run(), "idle")

    def _start(self, job: Awaitable[None], name: str) -> None:
        self._tasks.append(asyncio.create_task(job, name=f"{self.id}-{name}"))  # type: ignore[arg-type]

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
        estimated = self._admit()
        self.enqueue(Utterance(utt_id, text, provider, voice, msg.emotion,
                               admitted=(self.clock(), estimated)))

    def _admit(self) -> float:
        """Admission control: what couldn't start within ``max_wait`` is refused at once, so
        an overloaded server says so instead of growing slower for everyone. Returns the
        queue's own estimate, which the utterance's real first audio then calibrates."""
        estimated, wait = workers.estimates(self.executor)
        if wait > self.config.max_wait:
            raise err.Busy(f"the server is busy: this would wait about {wait:.1f} s to start "
                           f"(the limit is {self.config.max_wait:g} s); retry in a moment, or "
                           "connect to another server")
        workers.reserve(self.executor)
        return estimated

    def _check_free(self, utt_id: str) -> None:
        """Refuse an id already naming something on this connection: ``idle``, a queued or
        playing utterance, or an open ``audio_in`` (two ``utterance start`` for one id
        would leave the client unable to tell their messages apart)."""
        if utt_id == "idle" or utt_id in self._inputs \
                or any(u.id == utt_id for u in self._queue.pending()):
            raise err.DuplicateId(f"utterance id {utt_id!r} is already in use")

    async def _on_audio_in(self, msg: m.AudioIn) -> None:
        await self._inputs.push(msg, self._check_free)

    async def _on_interrupt(self, msg: m.Interrupt) -> None:
        await self.interrupt(msg.id)

    async def _on_mic(self, msg: m.Mic) -> None:
        await self._dialogue().on_mic(msg)

    async def _on_chat(self, msg: m.Chat) -> None:
        text = self._text("chat.text", msg.text)
        self._turns_admitted.append((self.clock(), self._admit()))
        await self._dialogue().on_chat(text)

    async def _on_image(self, msg: m.Image) -> None:
        """Hand the camera's picture to the dialogue; a ``prompt`` (not blank) starts a turn
        about it, checked and admitted like a ``chat``."""
        prompt = self._text("image.prompt", msg.prompt) if msg.prompt and msg.prompt.strip() \
            else None
        if prompt is not None:
            self._turns_admitted.append((self.clock(), self._admit()))
        arrived = self.clock()
        # ``t`` is on the session clock; a client clock ahead of ours can't make it newer.
        taken = arrived if msg.t is None else min(arrived, self.out.t0 + msg.t)
        image = SeenImage(msg.data, media_type(msg.data), taken, prompt)
        await self._dialogue().on_image(image)

    def _dialogue(self) -> "Dialogue":
        if self.dialogue is None:
            if self.make_dialogue is None:
                raise err.Unsupported("this server runs without the dialogue loop")
            self.dialogue = self.make_dialogue(self)
        return self.dialogue

    async def _on_ping(self, msg: m.Ping) -> None:
        await self.send(m.Pong(t=msg.t, server_t=self.clock() - self.out.t0))

    async def _on_playback(self, msg: m.Playback) -> None:
        self._playback_seen = True
        heard = math.inf if msg.state == "finished" and not msg.interrupted else msg.position
        self._played[msg.id] = max(heard, self._played.get(msg.id, 0.0))
        while len(self._played) > 64:  # ids the engine never finished: keep the newest
            self._played.pop(next(iter(self._played)))
        if self.dialogue is not None:
            self.dialogue.on_playback(msg)

    # ---- the utterance queue ---------------------------------------------------------

    def new_reply(self, reply_id: str, provider: TTSProvider, voice: Voice,
                  sentences: AsyncIterator[str], on_end: Callable[[Utterance, str], None],
                  on_first_audio: Callable[[float], None]) -> Utterance:
        """A dialogue reply, its sentences still being written; speak it with :meth:`enqueue`.

        It carries the admission of the oldest chat turn still waiting (one admitted within
        the reservation's time), whose first audio it then is."""
        now = self.clock()
        while self._turns_admitted and now - self._turns_admitted[0][0] > workers.RESERVATION_S:
            self._turns_admitted.popleft()
        admitted = self._turns_admitted.popleft() if self._turns_admitted else None
        return Utterance(reply_id, "", provider, voice, None, source="dialogue",
                         sentences=sentences, on_end=on_end, on_first_audio=on_first_audio,
                         admitted=admitted)

    def enqueue(self, utt: Utterance) -> None:
        """Queue an utterance (a ``say``'s, or a dialogue reply after the ``say``s before it)."""
        self._queue.append(utt)

    async def interrupt(self, utt_id: str | None = None,
                        sources: tuple[str, ...] = ("say", "dialogue", "audio_in")) -> None:
        """Stop the current utterance (and, without an id, everything queued) at once.

        ``sources`` narrows what is stopped: a barge-in stops the character's speech
        (``say`` and ``dialogue``) but not a performer's ``audio_in`` stream.
        """
        if "audio_in" in sources:
            await self._inputs.interrupt(utt_id)

        await self._queue.interrupt(utt_id, sources)

    def played_position(self, utt: Utterance) -> float:
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

    async def close(self) -> None:
        """Stop everything this session runs; safe to call twice."""
        if self.closed:
            return
        self.phase = Phase.CLOSED
        tasks = self._tasks + self._inputs.tasks()
        if self._queue.current is not None:  # no new synthesis for it from here on
            self._queue.current.stop = True
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._queue.abandon()
        if self.dialogue is not None:
            await self.dialogue.close()
        if self.out.pump is not None:
            self.out.pump.close()


_HANDLERS: dict[type, Callable[[Session, m.ClientMessage], Awaitable[None]]] = {
    m.Say: Session._on_say,  # type: ignore[dict-item]
    m.AudioIn: Session._on_audio_in,  # type: ignore[dict-item]
    m.Interrupt: Session._on_interrupt,  # type: ignore[dict-item]
    m.Ping: Session._on_ping,  # type: ignore[dict-item]
    m.Mic: Session._on_mic,  # type: ignore[dict-item]
    m.Chat: Session._on_chat,  # type: ignore[dict-item]
    m.Image: Session._on_image,  # type: ignore[dict-item]
    m.Playback: Session._on_playback,  # type: ignore[dict-item]
}
