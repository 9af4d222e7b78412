"""The utterances a character speaks, one at a time, in the order they were asked for."""

from __future__ import annotations

import asyncio
from collections import deque

from bridge.protocol import messages as m
from bridge.session.outlet import Outlet
from bridge.session.speech import SpeechPipeline
from bridge.session.utterance import Utterance


class UtteranceQueue:
    """Waiting utterances and the one speaking; ``end`` goes out once for each, whatever ends it."""

    def __init__(self, session_id: str, out: Outlet, speech: SpeechPipeline,
                 wake: asyncio.Event) -> None:
        self.id, self.out, self.speech = session_id, out, speech
        self._wake = wake  # set when the queue changes: the idle loop and the runner look again
        self._waiting: deque[Utterance] = deque()
        self.current: Utterance | None = None

    def __len__(self) -> int:
        """Utterances waiting (the one speaking not counted)."""
        return len(self._waiting)

    def append(self, utt: Utterance) -> None:
        self._waiting.append(utt)
        self._wake.set()

    def pending(self) -> list[Utterance]:
        """The one speaking, then those waiting."""
        return ([self.current] if self.current else []) + list(self._waiting)

    async def run(self) -> None:
        """Speak each utterance as it comes, until cancelled."""
        while True:
            while not self._waiting:
                self._wake.clear()
                await self._wake.wait()
            utt = self._waiting.popleft()
            self.current = utt
            utt.task = asyncio.create_task(self._speak(utt), name=f"{self.id}-{utt.id}")
            await asyncio.gather(utt.task, return_exceptions=True)
            self.current = None
            self._wake.set()  # let the idle loop resume

    async def _speak(self, utt: Utterance) -> None:
        await self.end(utt, await self.speech.speak(utt))

    async def end(self, utt: Utterance, reason: str) -> None:
        """Send the utterance's ``end`` once and tell its owner (the dialogue's memory)."""
        if utt.ended:
            return
        utt.ended = True
        await self.out.send(m.Utterance(id=utt.id, state="end", source=utt.source, reason=reason))
        if utt.on_end is not None:
            utt.on_end(utt, reason)

    async def interrupt(self, utt_id: str | None, sources: tuple[str, ...]) -> None:
        """Stop the one speaking and drop those waiting, if ``utt_id`` (None: any) and their
        source match: a ``clear`` for the one cut off, then an ``end`` for each."""
        def chosen(u: Utterance) -> bool:
            return utt_id in (None, u.id) and u.source in sources

        dropped = [u for u in self._waiting if chosen(u)]
        for utt in dropped:
            self._waiting.remove(utt)
        current = self.current
        if current is not None and current.task is not None and chosen(current) \
                and not current.ended:
            current.stop = True
            current.task.cancel()
            await asyncio.gather(current.task, return_exceptions=True)
            if self.out.pump is not None:
                self.out.pump.timeline.clear(current.id)
            await self.out.send(m.Clear(id=current.id))
            await self.end(current, "interrupted")
        for utt in dropped:
            await self.end(utt, "interrupted")

    async def abandon(self) -> None:
        """The client left: stop speaking; every owner hears its utterance was interrupted
        (what the client heard is all it will hear), with no message sent."""
        current = self.current
        if current is not None and current.task is not None:
            current.stop = True
            current.task.cancel()
            await asyncio.gather(current.task, return_exceptions=True)
        for utt in self.pending():
            if not utt.ended:
                utt.ended = True
                if utt.on_end is not None:
                    utt.on_end(utt, "interrupted")
