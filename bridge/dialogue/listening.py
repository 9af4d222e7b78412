"""Listening: microphone audio in, voice activity and a recognizer's transcripts out.

Audio is resampled to the detector's rate, scored frame by frame and fed to the turn
machine (:class:`~bridge.dialogue.turns.TurnTaking`), whose actions come back to the
dialogue; while a turn is open the recognizer hears it, from a short pre-roll kept in a
ring. Blocking provider calls run in the server's worker pool, each with a time-out, and a
failure is an ``error`` to this session only: the turn ends, the conversation goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import soxr

from bridge.dialogue.config import MIC_RATES, DialogueConfig
from bridge.dialogue.ports import SpeakingSession
from bridge.dialogue.services import DialogueServices, provider_error
from bridge.dialogue.turns import Action, FinishListening, TurnTaking
from bridge.protocol import codec
from bridge.protocol import errors as err
from bridge.protocol import messages as m

log = logging.getLogger(__name__)

#: Where the turn machine's actions go (the dialogue), with the loaded listening services.
Act = Callable[[list[Action], Any], Awaitable[None]]


class Listener:
    """One session's microphone: the detector's stream, the pre-roll ring, the recognizer."""

    def __init__(self, session: SpeakingSession, services: DialogueServices,
                 config: DialogueConfig, turns: TurnTaking) -> None:
        self.session, self.services, self.config, self.turns = session, services, config, turns
        self._rate: int | None = None
        self._resampler: Any = None
        self._vad_stream: Any = None
        self._vad_t = 0.0                 # mic seconds scored by the detector
        self._ring: deque[np.ndarray] = deque()
        self._ring_start = 0.0            # mic seconds of the ring's first sample
        self._ring_len = 0
        self.mic_end = 0.0                # mic seconds received
        self._mic_clock = 0.0             # wall time the received audio would finish playing
        self._asr_stream: Any = None
        self._asr_pushed = 0.0            # mic seconds given to the recognizer
        self.partial = ""                 # the turn's latest partial transcript
        self._speech_end_wall: float | None = None
        #: When the last finished turn's speech, turn and final transcript ended (wall).
        self.marks: tuple[float | None, float, float] | None = None

    def take_marks(self) -> tuple[float | None, float, float] | None:
        marks, self.marks = self.marks, None
        return marks

    async def on_mic(self, msg: m.Mic, act: Act) -> None:
        """Score one chunk of the microphone; the turn machine's actions go to ``act``."""
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
                    self._speech_end_wall = chunk_end_wall - (self.mic_end - action.t)
            await act(actions, listening)
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
        self.mic_end += len(pcm) / rate
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
        self._asr_pushed = self.mic_end
        if not len(pcm):
            return
        try:
            partial = await self._blocking(self._asr_stream.push, pcm)
        except Exception as exc:  # noqa: BLE001 - any provider fault ends this turn only
            await self._asr_failed(exc)
            return
        if partial and partial != self.partial:
            self.partial = partial
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

    async def start(self, t: float, listening: Any) -> None:
        """A turn began at mic time ``t``: a new recognizer stream, fed from there."""
        await self.drop()
        self.partial = ""
        try:
            self._asr_stream = await self._blocking(listening.asr.new_stream)
        except Exception as exc:  # noqa: BLE001
            await self._asr_failed(exc)
            return
        self._asr_pushed = t
        await self._feed_asr(listening)

    def prepare(self) -> None:
        """The user paused: a recognizer that can, starts its final pass now (non-blocking)."""
        prepare = getattr(self._asr_stream, "prepare", None)
        if prepare is not None:
            try:
                prepare()
            except Exception as exc:  # noqa: BLE001 - only a head start: finish() still works
                log.debug("session %s: ASR prepare failed: %s", self.session.id, exc)

    async def drop(self) -> None:
        """Forget the turn being recognized (a noise, not speech)."""
        stream, self._asr_stream = self._asr_stream, None
        if stream is not None:
            try:
                await self._blocking(stream.cancel)
            except Exception as exc:  # noqa: BLE001 - dropping: nothing left to report to
                log.debug("session %s: ASR cancel failed: %s", self.session.id, exc)

    async def finish(self, t: float, act: Act) -> None:
        """The turn ended at mic time ``t``: its final transcript goes to the turn machine."""
        stream, self._asr_stream = self._asr_stream, None
        turn_end = self.session.clock()
        speech_end = self._speech_end_wall
        if stream is None:  # the recognizer failed earlier in this turn
            await act(self.turns.transcript("", t), None)
            return
        try:
            text = await self._blocking(stream.finish)
        except Exception as exc:  # noqa: BLE001
            await self._asr_failed(exc)
            await act(self.turns.transcript("", t), None)
            return
        text = (text or "").strip()
        asr_final = self.session.clock()
        await self.session.send(m.Transcript(text=text, final=True))
        self.marks = (speech_end, turn_end, asr_final)
        await act(self.turns.transcript(text, t), None)

    def close(self) -> None:
        stream, self._asr_stream = self._asr_stream, None
        if stream is not None:
            try:
                stream.cancel()
            except Exception:  # noqa: BLE001 - closing anyway
                pass
