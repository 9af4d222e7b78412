"""One session's dialogue loop: the asyncio shell around :class:`TurnTaking`.

Microphone audio is resampled to the detector's rate, scored, and fed to the turn machine
frame by frame; its actions open and finish recognizer streams, start replies and stop
them. A reply is a language-model stream cut into sentences as it arrives: the first
sentence goes to TTS (through the session's ordinary utterance queue) while the model is
still writing the second, and a barge-in cancels the model's request as well as the
speech.

Blocking provider calls (detector, recognizer) run in the server's worker pool; each has a
time-out, and any failure becomes an ``error`` to this session only, after which the turn
ends and the conversation goes on.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
from collections import deque
from dataclasses import dataclass
from typing import Any, AsyncIterator

import numpy as np
import soxr

from bridge.dialogue.config import MIC_RATES
from bridge.dialogue.ports import ReplyUtterance, SpeakingSession
from bridge.dialogue.services import DialogueServices
from bridge.dialogue.turns import (
    Action,
    CancelListening,
    FinishListening,
    Interrupt,
    Prefetch,
    Respond,
    StartListening,
    TurnTaking,
    UserSpeaking,
    is_continuation,
)
from bridge.ops import workers
from bridge.protocol import codec
from bridge.protocol import errors as err
from bridge.protocol import messages as m
from bridge.speech.sentences import SentenceStream

log = logging.getLogger(__name__)

_MIN_EMOTION_CONFIDENCE = 0.5


def provider_error(exc: BaseException, provider: str, wanted: str,
                   timeout: float) -> err.TalkbridgeError:
    """A provider's failure as the client hears of it; a time-out says how long was waited."""
    if isinstance(exc, asyncio.TimeoutError):
        return err.ProviderTimeout(f"{provider} gave no {wanted} within {timeout:g} s")
    return err.ProviderError(f"{provider} failed: {exc}")


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


class _Prepared:
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


class Dialogue:
    """Listens to one client's microphone (or typed turns) and answers through its session."""

    def __init__(self, session: SpeakingSession, services: DialogueServices) -> None:
        self.session = session
        self.services = services
        self.config = services.config
        self.turns = TurnTaking(self.config.turn)
        self.user = (session.hello.user if session.hello and session.hello.user
                     else (session.hello.client if session.hello else "default"))
        self.metrics: deque[TurnMetrics] = deque(maxlen=32)
        self._ids = itertools.count(1)
        self._reply: _Reply | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        # microphone
        self._rate: int | None = None
        self._resampler: Any = None
        self._vad_stream: Any = None
        self._vad_t = 0.0                 # mic seconds scored by the detector
        self._ring: deque[np.ndarray] = deque()
        self._ring_start = 0.0            # mic seconds of the ring's first sample
        self._ring_len = 0
        self._mic_end = 0.0               # mic seconds received
        self._mic_clock = 0.0             # wall time the received audio would finish playing
        self._asr_stream: Any = None
        self._asr_pushed = 0.0            # mic seconds given to the recognizer
        self._partial = ""
        self._speech_end_wall: float | None = None
        self._pending_marks: tuple[float | None, float, float] | None = None
        self._prepared: _Prepared | None = None
        self._continue_from: str | None = None  # a turn ended too early: the user went on

    # ---- typed turns -----------------------------------------------------------------

    async def on_chat(self, text: str) -> None:
        await self._act(self.turns.chat(text))

    # ---- microphone ------------------------------------------------------------------

    async def on_mic(self, msg: m.Mic) -> None:
        if msg.rate not in MIC_RATES:
            raise err.InvalidField(
                f"mic.rate {msg.rate} is not supported; send 16000 Hz PCM16 mono (or one of "
                f"{', '.join(map(str, MIC_RATES))})", field="rate")
        if len(msg.data) % 2:
            raise err.InvalidField("mic.data must be 16-bit little-endian PCM: an even number "
                                   "of bytes", field="data")
        listening = await self.services.listening()
        if msg.rate != self._rate or self._vad_stream is None:
            self._rate = msg.rate
            rate = listening.vad.rate
            self._resampler = None if msg.rate == rate else \
                soxr.ResampleStream(msg.rate, rate, 1, dtype="float32")
            if self._vad_stream is None:
                self._vad_stream = listening.vad.new_stream()
        pcm = codec.decode_pcm16(msg.data).astype(np.float32) / 32768.0
        await self._throttle(len(pcm) / msg.rate)
        if self._resampler is not None:
            pcm = self._resampler.resample_chunk(pcm)
        if not len(pcm):
            return
        rate = listening.vad.rate
        self._keep(pcm, rate)
        loop = asyncio.get_running_loop()
        probs = await loop.run_in_executor(self.session.executor, self._vad_stream.push, pcm)
        frame = listening.vad.frame_samples / rate
        chunk_end_wall = self.session.clock()
        for prob in probs:
            self._vad_t += frame
            actions = self.turns.vad(self._vad_t, float(prob), frame)
            for action in actions:
                if isinstance(action, FinishListening):
                    self._speech_end_wall = chunk_end_wall - (self._mic_end - action.t)
            await self._act(actions, listening)
        if self._asr_stream is not None and self.turns.listening:
            await self._feed_asr(listening)

    async def _throttle(self, seconds: float) -> None:
        """Hold the client's reader when its mic runs ahead of real time by more than a burst.

        Awaiting here stops this connection's reads, so TCP pushes back on the client and
        nothing piles up in memory.
        """
        now = self.session.clock()
        self._mic_clock = max(self._mic_clock, now) + seconds
        ahead = self._mic_clock - now - self.config.mic_burst
        if ahead > 0:
            await self.session.sleep(ahead)

    def _keep(self, pcm: np.ndarray, rate: int) -> None:
        """Keep the last second or so of audio: the recognizer's pre-roll comes from here."""
        self._ring.append(pcm)
        self._ring_len += len(pcm)
        self._mic_end += len(pcm) / rate
        keep = int((self.config.turn.preroll + 1.0) * rate)
        while self._ring_len - len(self._ring[0]) >= keep:
            old = self._ring.popleft()
            self._ring_len -= len(old)
            self._ring_start += len(old) / rate

    def _audio_since(self, t: float, rate: int) -> np.ndarray:
        audio = np.concatenate(self._ring) if self._ring else np.zeros(0, np.float32)
        skip = max(0, int(round((t - self._ring_start) * rate)))
        return audio[skip:]

    async def _feed_asr(self, listening: Any) -> None:
        rate = listening.asr.rate
        pcm = self._audio_since(self._asr_pushed, rate)
        self._asr_pushed = self._mic_end
        if not len(pcm):
            return
        try:
            partial = await self._blocking(self._asr_stream.push, pcm)
        except Exception as exc:  # noqa: BLE001 - any provider fault ends this turn only
            await self._asr_failed(exc)
            return
        if partial and partial != self._partial:
            self._partial = partial
            await self.session.send(m.Transcript(text=partial, final=False))

    async def _blocking(self, fn: Any, *args: Any, timeout: float | None = None) -> Any:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.session.executor, fn, *args)
        return await asyncio.wait_for(future, timeout or self.config.asr_timeout)

    async def _asr_failed(self, exc: BaseException) -> None:
        stream, self._asr_stream = self._asr_stream, None
        if stream is not None:
            try:
                stream.cancel()
            except Exception:  # noqa: BLE001 - already failing; report the first fault
                pass
        error = provider_error(exc, "speech recognition", "answer", self.config.asr_timeout)
        log.warning("session %s: %s", self.session.id, error)
        await self.session.send(err.error_message(error))

    # ---- actions ---------------------------------------------------------------------

    async def _act(self, actions: list[Action], listening: Any = None) -> None:
        for action in actions:
            if isinstance(action, StartListening):
                await self._start_listening(action.t, listening)
            elif isinstance(action, CancelListening):
                await self._drop_asr()
            elif isinstance(action, UserSpeaking):
                log.debug("session %s: user speaking at %.2f s", self.session.id, action.t)
            elif isinstance(action, Prefetch):
                await self._prepare(self._partial)
            elif isinstance(action, FinishListening):
                await self._finish_listening(action.t, listening)
            elif isinstance(action, Interrupt):
                await self._interrupt(action.reason)
            elif isinstance(action, Respond):
                await self._respond(action)

    async def _start_listening(self, t: float, listening: Any) -> None:
        await self._drop_asr()
        self._partial = ""
        try:
            self._asr_stream = await self._blocking(listening.asr.new_stream)
        except Exception as exc:  # noqa: BLE001
            await self._asr_failed(exc)
            return
        self._asr_pushed = t
        await self._feed_asr(listening)

    async def _drop_asr(self) -> None:
        stream, self._asr_stream = self._asr_stream, None
        if stream is not None:
            try:
                await self._blocking(stream.cancel)
            except Exception as exc:  # noqa: BLE001 - dropping: nothing left to report to
                log.debug("session %s: ASR cancel failed: %s", self.session.id, exc)

    async def _finish_listening(self, t: float, listening: Any) -> None:
        stream, self._asr_stream = self._asr_stream, None
        turn_end = self.session.clock()
        speech_end = self._speech_end_wall
        if stream is None:  # the recognizer failed earlier in this turn
            await self._act(self.turns.transcript("", t))
            return
        try:
            text = await self._blocking(stream.finish)
        except Exception as exc:  # noqa: BLE001
            await self._asr_failed(exc)
            await self._act(self.turns.transcript("", t))
            return
        text = (text or "").strip()
        asr_final = self.session.clock()
        await self.session.send(m.Transcript(text=text, final=True))
        self._pending_marks = (speech_end, turn_end, asr_final)
        await self._act(self.turns.transcript(text, t))

    # ---- answering ahead -------------------------------------------------------------

    def _preemptive(self, answering: Any) -> bool:
        """Prepare answers ahead? Free for the persona; costs tokens on a real model."""
        wanted = self.config.preemptive
        return answering.llm_is_persona if wanted is None else bool(wanted)

    async def _prepare(self, text: str) -> None:
        text = text.strip()
        if self._prepared is not None:
            if self._prepared.text == text:
                return
            self._prepared.cancel()
            self._prepared = None
        answering = self.services.loaded_answering
        if not text or answering is None or not self._preemptive(answering):
            return
        prepared = _Prepared(text)
        self._prepared = prepared
        prepared.task = self._spawn(self._prepare_run(prepared, answering),
                                    f"{self.session.id}-prepare")

    async def _prepare_run(self, prepared: _Prepared, answering: Any) -> None:
        from bridge.llm.emotion import EmotionTagParser

        messages = self._messages(answering, prepared.text)
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
            async for delta in _within(stream, self.config.llm_timeout):
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

    def _take_prepared(self, text: str) -> _Prepared | None:
        prepared, self._prepared = self._prepared, None
        if prepared is None:
            return None
        if prepared.text == text and not (prepared.finished and prepared.error is not None):
            return prepared
        prepared.cancel()
        return None

    def _messages(self, answering: Any, text: str) -> list[Any]:
        from bridge.llm.registry import build_messages

        history = answering.memory.history(self.user) if answering.memory else []
        return build_messages(answering.persona, history, text,
                              llm_is_persona=answering.llm_is_persona)

    async def _interrupt(self, reason: str) -> None:
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
        onset_ago = self._mic_end - self.turns.onset  # mic seconds since the user began
        if reason == "barge_in" and \
                is_continuation(self.session.played_position(reply.utt), onset_ago):
            # The user was only pausing: nothing of the reply was heard, so the next
            # transcript continues this turn instead of replacing it.
            self._continue_from = reply.user_text
            reply.continued = True
            answering = self.services.loaded_answering
            if answering is not None and answering.memory is not None:
                answering.memory.drop_last(self.user, "user")
        await self.session.interrupt(reply.id, sources=("dialogue",))

    # ---- replies ---------------------------------------------------------------------

    async def _respond(self, action: Respond) -> None:
        answering = await self.services.answering()
        if self._continue_from is not None:
            if action.heard_end is not None:  # spoken: the rest of the interrupted turn
                action = Respond(f"{self._continue_from} {action.text}", action.heard_end)
            self._continue_from = None
        reply_id = f"r{next(self._ids)}"
        metrics = TurnMetrics(reply_id)
        marks = self._pending_marks
        if marks is not None and action.heard_end is not None:
            metrics.speech_end, metrics.turn_end, metrics.asr_final = marks
        self._pending_marks = None
        metrics.llm_start = self.session.clock()
        reply = _Reply(reply_id, action.text, metrics)
        self._reply = reply

        prepared = self._take_prepared(action.text)
        metrics.prepared = prepared is not None
        # The history is read before this turn joins it; a prepared answer already has it.
        deltas = prepared.replay() if prepared is not None else \
            answering.llm.stream(self._messages(answering, action.text))
        if answering.memory:
            answering.memory.add(self.user, "user", action.text)
        session = self.session
        provider, voice = session.tts.resolve(self.config.voice)
        sentences: asyncio.Queue[str | None] = asyncio.Queue()

        utt = session.new_reply(reply_id, provider, voice, _drain(sentences),
                                on_end=self._reply_ended,
                                on_first_audio=lambda t: self._first_audio(reply, t))
        reply.utt = utt
        if prepared is not None and prepared.first_sentence and prepared.audio is not None:
            utt.presynth[prepared.first_sentence] = prepared.audio
        reply.writer = self._spawn(self._write(reply, deltas, sentences, prepared),
                                   f"{session.id}-{reply_id}-llm")
        session.enqueue(utt)

    async def _write(self, reply: _Reply, stream: AsyncIterator[str],
                     sentences: "asyncio.Queue[str | None]",
                     prepared: "_Prepared | None" = None) -> None:
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
            async for delta in _within(stream, self.config.llm_timeout):
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
        asr = self.config.asr.get("provider", "pocketsphinx")
        stages = [("asr", asr, marks.turn_end, marks.asr_final),
                  ("llm_first_token", llm, marks.llm_start, marks.llm_first_token),
                  ("first_audio", "dialogue", marks.speech_end or marks.llm_start,
                   marks.first_audio_sent)]
        for stage, provider, start, end in stages:
            if start is not None and end is not None:
                metrics.observe("talkbridge_provider_latency_seconds", max(0.0, end - start),
                                provider=provider, stage=stage)

    def _reply_ended(self, utt: ReplyUtterance, reason: str) -> None:
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

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> None:
        if self._prepared is not None:
            self._prepared.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        stream, self._asr_stream = self._asr_stream, None
        if stream is not None:
            try:
                stream.cancel()
            except Exception:  # noqa: BLE001 - closing anyway
                pass


async def _within(stream: AsyncIterator[str], timeout: float) -> AsyncIterator[str]:
    """The stream's items, each within ``timeout`` seconds (asyncio.TimeoutError if not)."""
    while True:
        try:
            yield await asyncio.wait_for(anext(stream), timeout)
        except StopAsyncIteration:
            return


async def _drain(queue: "asyncio.Queue[str | None]") -> AsyncIterator[str]:
    while (item := await queue.get()) is not None:
        yield item
