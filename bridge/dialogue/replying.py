"""Replying: a language-model stream cut into sentences as it arrives, spoken through the
session's utterance queue, and what the user heard of it kept in memory.

The first sentence goes to TTS while the model is still writing the second; a barge-in
cancels the model's request as well as the speech; a user who only paused continues their
turn instead of starting a new one (:func:`~bridge.dialogue.turns.is_continuation`).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
from collections import deque
from dataclasses import dataclass
from typing import AsyncIterator

from bridge.dialogue.ahead import AnswerAhead, Prepared, Spawn, messages_for, within
from bridge.dialogue.config import DialogueConfig
from bridge.dialogue.ports import ReplyUtterance, SpeakingSession
from bridge.dialogue.seeing import Sight
from bridge.dialogue.services import DialogueServices, provider_error
from bridge.dialogue.turns import Respond, TurnTaking, is_continuation
from bridge.protocol import errors as err
from bridge.protocol import messages as m
from bridge.speech.sentences import SentenceStream

log = logging.getLogger(__name__)

_MIN_EMOTION_CONFIDENCE = 0.5


@dataclass
class TurnMetrics:
    """Wall-clock marks of one turn, for the log and ``talkbridge bench``."""

    reply: str
    speech_end: float | None = None   # when the user stopped speaking (None: typed)
    turn_end: float | None = None     # when the turn machine decided the turn was over
    asr_final: float | None = None
    llm_start: float | None = None
    llm_first_token: float | None = None
    first_sentence: float | None = None
    first_audio_sent: float | None = None
    prepared: bool = False            # answered from what was prepared during the pause

    def breakdown(self) -> dict[str, float]:
        """Milliseconds from the end of the user's speech (or the typed turn) to each mark."""
        origin = self.speech_end if self.speech_end is not None else self.llm_start
        out: dict[str, float] = {}
        if origin is None:
            return out
        for name in ("turn_end", "asr_final", "llm_first_token", "first_sentence",
                     "first_audio_sent"):
            value = getattr(self, name)
            if value is not None:
                out[name + "_ms"] = round((value - origin) * 1000.0, 1)
        return out


@dataclass
class _Reply:
    id: str
    user_text: str
    metrics: TurnMetrics
    utt: "ReplyUtterance | None" = None
    writer: asyncio.Task[None] | None = None
    tail: asyncio.Task[None] | None = None
    heard_recorded: bool = False
    continued: bool = False  # the user went on talking: this reply never happened


class Replier:
    """The reply a session's dialogue is speaking (at most one), and the answer prepared next."""

    def __init__(self, session: SpeakingSession, services: DialogueServices,
                 config: DialogueConfig, turns: TurnTaking, user: str, spawn: Spawn,
                 sight: Sight) -> None:
        self.session, self.services, self.config = session, services, config
        self.turns, self.user, self._spawn, self.sight = turns, user, spawn, sight
        self.ahead = AnswerAhead(session, services, config, user, spawn, self.sight)
        self.metrics: deque[TurnMetrics] = deque(maxlen=32)
        self.continue_from: str | None = None  # a turn ended too early: the user went on
        self._ids = itertools.count(1)
        self._reply: _Reply | None = None

    async def interrupt(self, reason: str, onset_ago: float) -> None:
        """Stop the reply; ``onset_ago``: mic seconds since the user began to speak."""
        reply = self._reply
        if reply is None or reply.utt is None:
            return
        log.info("session %s: %s interrupts reply %s", self.session.id, reason, reply.id)
        if reply.utt.ended:  # sent in full, still playing at the client
            if reply.tail is not None:
                reply.tail.cancel()
            await self.session.send(m.Clear(id=reply.id))
            self._record_heard(reply, self.session.played_position(reply.utt), replace=True)
            return
        if reason == "barge_in" and \
                is_continuation(self.session.played_position(reply.utt), onset_ago):
            # The user was only pausing: nothing of the reply was heard, so the next
            # transcript continues this turn instead of replacing it.
            self.continue_from = reply.user_text
            reply.continued = True
            answering = self.services.loaded_answering
            if answering is not None and answering.memory is not None:
                answering.memory.drop_last(self.user, "user")
        await self.session.interrupt(reply.id, sources=("dialogue",))

    async def respond(self, action: Respond,
                      marks: tuple[float | None, float, float] | None) -> None:
        """Answer a finished turn; ``marks``: when its speech, turn and transcript ended."""
        answering = await self.services.answering()
        if self.continue_from is not None:
            if action.heard_end is not None:  # spoken: the rest of the interrupted turn
                action = Respond(f"{self.continue_from} {action.text}", action.heard_end)
            self.continue_from = None
        reply_id = f"r{next(self._ids)}"
        metrics = TurnMetrics(reply_id)
        if marks is not None and action.heard_end is not None:
            metrics.speech_end, metrics.turn_end, metrics.asr_final = marks
        metrics.llm_start = self.session.clock()
        reply = _Reply(reply_id, action.text, metrics)

        prepared = self.ahead.take(action.text)
        metrics.prepared = prepared is not None
        # The history is read before this turn joins it; a prepared answer already has it.
        # The camera's picture goes with the turn; memory gets the turn's text alone.
        images = self.sight.for_turn(action.text, self.session.clock())
        deltas = prepared.replay() if prepared is not None else \
            answering.llm.stream(await messages_for(answering, self.user, action.text, images))
        self._reply = reply  # after the history's read: nothing is waited for from here on
        if answering.memory:
            answering.memory.add(self.user, "user", action.text)
        session = self.session
        provider, voice = session.tts.resolve(self.config.voice)
        sentences: asyncio.Queue[str | None] = asyncio.Queue()

        utt = session.new_reply(reply_id, provider, voice, _drain(sentences),
                                on_end=self.reply_ended,
                                on_first_audio=lambda t: self._first_audio(reply, t))
        reply.utt = utt
        utt.gestures = getattr(answering.persona, "gestures", None)  # the character's style
        if prepared is not None and prepared.first_sentence and prepared.audio is not None:
            utt.presynth[prepared.first_sentence] = prepared.audio
        reply.writer = self._spawn(self._write(reply, deltas, sentences, prepared),
                                   f"{session.id}-{reply_id}-llm")
        session.enqueue(utt)

    async def _write(self, reply: _Reply, stream: AsyncIterator[str],
                     sentences: "asyncio.Queue[str | None]",
                     prepared: Prepared | None = None) -> None:
        """Stream the model's reply into sentences for TTS and ``reply`` messages."""
        from bridge.llm.base import LLMError
        from bridge.llm.emotion import EmotionTagParser, classify_emotion

        assert reply.utt is not None
        utt = reply.utt
        parser = EmotionTagParser()
        splitter = SentenceStream()
        text = ""
        emotion: str | None = None

        async def emit(pieces: list[str]) -> None:
            nonlocal emotion
            for piece in pieces:
                if reply.metrics.first_sentence is None:
                    reply.metrics.first_sentence = self.session.clock()
                    if emotion is None:
                        name, confidence = classify_emotion(piece)
                        if confidence >= _MIN_EMOTION_CONFIDENCE and name != "neutral":
                            emotion = name
                    utt.emotion = emotion
                await sentences.put(piece)

        try:
            async for delta in within(stream, self.config.llm_timeout):
                if reply.metrics.llm_first_token is None:
                    reply.metrics.llm_first_token = self.session.clock()
                clean = parser.push(delta)
                if parser.emotion and emotion is None:
                    emotion = parser.emotion
                if clean:
                    text += clean
                    await self.session.send(m.Reply(id=reply.id, text=text.strip(), final=False,
                                                    emotion=emotion))
                    await emit(splitter.push(clean))
            rest = parser.flush()
            if rest:
                text += rest
                await emit(splitter.push(rest))
            await emit(splitter.flush())
            await self.session.send(m.Reply(id=reply.id, text=text.strip(), final=True,
                                            emotion=emotion))
        except (LLMError, asyncio.TimeoutError) as exc:
            error = provider_error(exc, "the language model", "text", self.config.llm_timeout)
            log.warning("session %s reply %s: %s", self.session.id, reply.id, error)
            await self.session.send(err.error_message(error, ref=reply.id))
        finally:
            await sentences.put(None)
            close = getattr(stream, "aclose", None)
            if close is not None:
                await close()
            if prepared is not None and prepared.task is not None:
                prepared.task.cancel()  # its model stream, if the reply stopped early

    def _first_audio(self, reply: _Reply, wall: float) -> None:
        reply.metrics.first_audio_sent = wall
        self.metrics.append(reply.metrics)
        log.info("session %s turn %s: %s", self.session.id, reply.id, reply.metrics.breakdown())
        self._export(reply.metrics)

    def _export(self, marks: TurnMetrics) -> None:
        """Per-stage latencies for /metrics: ASR final, model first token, first audio."""
        from bridge.ops import metrics

        answering = self.services.loaded_answering
        llm = answering.llm.name if answering is not None else "?"
        listening = self.services.loaded_listening
        asr = listening.asr.name if listening is not None else self.config.asr.get("provider", "?")
        stages = [("asr", asr, marks.turn_end, marks.asr_final),
                  ("llm_first_token", llm, marks.llm_start, marks.llm_first_token),
                  ("first_audio", "dialogue", marks.speech_end or marks.llm_start,
                   marks.first_audio_sent)]
        for stage, provider, start, end in stages:
            if start is not None and end is not None:
                metrics.observe("talkbridge_provider_latency_seconds", max(0.0, end - start),
                                provider=provider, stage=stage)

    def reply_ended(self, utt: ReplyUtterance, reason: str) -> None:
        """The session finished, interrupted or failed a reply: settle memory and turns."""
        reply = self._reply if self._reply is not None and self._reply.id == utt.id else None
        if reply is None:
            return
        if reply.writer is not None and not reply.writer.done():
            reply.writer.cancel()
        if reason == "done":
            self._record_heard(reply, math.inf)
            remaining = (utt.wall_start or self.session.clock()) + utt.spoken.duration \
                - self.session.clock()
            reply.tail = self._spawn(self._playing_tail(reply, remaining), f"{utt.id}-tail")
            return
        if reason == "interrupted":
            self._record_heard(reply, self.session.played_position(utt))
        self._settle(reply)

    async def _playing_tail(self, reply: _Reply, remaining: float) -> None:
        """The reply is sent but still playing at the client: barge-in stays possible."""
        if remaining > 0:
            await self.session.sleep(remaining)
        self._settle(reply)

    def on_playback(self, msg: m.Playback) -> None:
        reply = self._reply
        if reply is not None and reply.id == msg.id and msg.state == "finished" \
                and reply.utt is not None and reply.utt.ended and reply.tail is not None:
            reply.tail.cancel()
            self._settle(reply)

    def _settle(self, reply: _Reply) -> None:
        if self._reply is reply:
            self._reply = None
            self.turns.reply_ended()

    def _record_heard(self, reply: _Reply, position: float, replace: bool = False) -> None:
        """Memory keeps what the user heard, so the assistant knows where it was cut off."""
        answering = self.services.loaded_answering
        if answering is None or answering.memory is None or reply.utt is None or reply.continued:
            return
        heard = reply.utt.spoken.heard(position)
        if replace and reply.heard_recorded:
            answering.memory.replace_last_assistant(self.user, heard)
        elif heard:
            answering.memory.add(self.user, "assistant", heard)
        reply.heard_recorded = reply.heard_recorded or bool(heard)


async def _drain(queue: "asyncio.Queue[str | None]") -> AsyncIterator[str]:
    while (item := await queue.get()) is not None:
        yield item
