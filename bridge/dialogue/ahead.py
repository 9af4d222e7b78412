"""Answering ahead: while the user pauses, the reply to the partial transcript is started.

If the final transcript equals that partial, the reply replays the model's deltas (then goes
on live) and its first sentence is already synthesized; otherwise the prepared answer is
cancelled, model request included. Free for the offline persona; it costs tokens on a real
model, so ``[dialogue] preemptive`` decides there.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Callable, Sequence

from bridge.dialogue.config import DialogueConfig
from bridge.dialogue.ports import SpeakingSession
from bridge.dialogue.seeing import Sight
from bridge.dialogue.services import DialogueServices
from bridge.ops import workers
from bridge.speech.sentences import SentenceStream

Spawn = Callable[[Any, str], "asyncio.Task[Any]"]


async def messages_for(answering: Any, user: str, text: str,
                       images: Sequence[Any] = ()) -> list[Any]:
    """The model's messages for ``text``: the persona, ``user``'s history, the new turn (with
    ``images``, the camera's picture, if any).

    The history is read in a worker thread: a shared PostgreSQL memory is a network round
    trip (and, while it goes down, a connect time-out) that must not stall every session's
    event loop."""
    from bridge.llm.registry import build_messages

    history = await asyncio.to_thread(answering.memory.history, user) if answering.memory else []
    return build_messages(answering.persona, history, text,
                          llm_is_persona=answering.llm_is_persona, images=images)


class Prepared:
    """An answer prepared while the user paused: the model's deltas and the first sentence.

    If the final transcript equals the partial it was prepared for, the reply replays these
    deltas (then continues live) and its first sentence is already synthesized; otherwise
    it is cancelled, model request included.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.deltas: list[str] = []
        self.finished = False
        self.error: BaseException | None = None
        self.first_sentence: str | None = None
        self.audio: "asyncio.Future[Any] | None" = None
        self.task: asyncio.Task[None] | None = None
        self._new = asyncio.Event()

    def add(self, delta: str) -> None:
        self.deltas.append(delta)
        self._new.set()

    def finish(self, error: BaseException | None = None) -> None:
        self.finished, self.error = True, error
        self._new.set()

    async def replay(self) -> AsyncIterator[str]:
        i = 0
        while True:
            while i < len(self.deltas):
                yield self.deltas[i]
                i += 1
            if self.finished:
                if self.error is not None:
                    raise self.error
                return
            self._new.clear()
            await self._new.wait()

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
        if self.audio is not None:
            self.audio.cancel()


class AnswerAhead:
    """The one answer being prepared for a session's user, if any."""

    def __init__(self, session: SpeakingSession, services: DialogueServices,
                 config: DialogueConfig, user: str, spawn: Spawn, sight: Sight) -> None:
        self.session, self.services, self.config, self.user = session, services, config, user
        self._spawn, self.sight = spawn, sight
        self._current: Prepared | None = None

    def _wanted(self, answering: Any) -> bool:
        """Prepare answers ahead? Free for the persona; costs tokens on a real model."""
        wanted = self.config.preemptive
        return answering.llm_is_persona if wanted is None else bool(wanted)

    async def prepare(self, text: str) -> None:
        """Start answering ``text`` (the partial transcript at a pause), replacing another."""
        text = text.strip()
        if self._current is not None:
            if self._current.text == text:
                return
            self._current.cancel()
            self._current = None
        answering = self.services.loaded_answering
        if not text or answering is None or not self._wanted(answering):
            return
        prepared = Prepared(text)
        self._current = prepared
        prepared.task = self._spawn(self._run(prepared, answering), f"{self.session.id}-prepare")

    async def _run(self, prepared: Prepared, answering: Any) -> None:
        from bridge.llm.emotion import EmotionTagParser

        messages = await messages_for(answering, self.user, prepared.text,
                                self.sight.for_turn(prepared.text, self.session.clock()))
        provider, voice = self.session.tts.resolve(self.config.voice)
        parser, splitter = EmotionTagParser(), SentenceStream()

        def first(pieces: list[str]) -> None:
            if pieces and prepared.first_sentence is None:
                prepared.first_sentence = pieces[0]
                prepared.audio = asyncio.ensure_future(workers.run(  # a guess: after real work
                    self.session.executor, (workers.START, self.session.clock()),
                    lambda: list(provider.synthesize(pieces[0], voice))))

        stream = answering.llm.stream(messages)
        try:
            async for delta in within(stream, self.config.llm_timeout):
                prepared.add(delta)
                if prepared.first_sentence is None:
                    first(splitter.push(parser.push(delta)))
            if prepared.first_sentence is None:
                first(splitter.push(parser.flush()) + splitter.flush())
            prepared.finish()
        except asyncio.CancelledError:
            prepared.finish(asyncio.CancelledError())
            raise
        except BaseException as exc:  # noqa: BLE001 - replayed to the reply that uses it
            prepared.finish(exc)
        finally:
            close = getattr(stream, "aclose", None)
            if close is not None:
                await close()

    def take(self, text: str) -> Prepared | None:
        """The answer prepared for exactly ``text`` (and not failed), or None; any other is
        cancelled."""
        prepared, self._current = self._current, None
        if prepared is None:
            return None
        if prepared.text == text and not (prepared.finished and prepared.error is not None):
            return prepared
        prepared.cancel()
        return None

    def cancel(self) -> None:
        if self._current is not None:
            self._current.cancel()


async def within(stream: AsyncIterator[str], timeout: float) -> AsyncIterator[str]:
    """The stream's items, each within ``timeout`` seconds (asyncio.TimeoutError if not)."""
    while True:
        try:
            yield await asyncio.wait_for(anext(stream), timeout)
        except StopAsyncIteration:
            return
