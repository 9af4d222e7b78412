"""The session as the dialogue sees it: the narrow seam between listening/replying and the
connection that carries the speech.

The session owns the dialogue (it starts one on the first ``mic`` or ``chat``), so the
dialogue must not import the session back: it speaks through these structural types, and
any object with these members (a test double, a future session kind) can host it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import AsyncIterator, Awaitable, Callable, Protocol

from blendshape.layers.gestures import GestureConfig
from bridge.dialogue.heard import SpokenReply
from bridge.protocol import messages as m
from bridge.speech.tts.base import SpeechChunk, TTSProvider, Voice
from bridge.speech.tts.registry import TTSRegistry


class ReplyUtterance(Protocol):
    """A reply the session is speaking: where its sentences fell, and whether it is sent."""

    id: str
    emotion: str | dict[str, float] | None
    gestures: GestureConfig | None  # the speaking character's style
    presynth: dict[str, asyncio.Future[list[SpeechChunk]]]
    spoken: SpokenReply
    wall_start: float | None
    ended: bool


class SpeakingSession(Protocol):
    """What a dialogue needs from its session: time, a worker pool, voices, and a mouth."""

    id: str
    hello: m.Hello | None
    tts: TTSRegistry
    executor: concurrent.futures.Executor | None
    clock: Callable[[], float]
    sleep: Callable[[float], Awaitable[None]]
    send: Callable[[m.ServerMessage], Awaitable[None]]

    def new_reply(self, reply_id: str, provider: TTSProvider, voice: Voice,
                  sentences: AsyncIterator[str],
                  on_end: Callable[[ReplyUtterance, str], None],
                  on_first_audio: Callable[[float], None]) -> ReplyUtterance: ...

    def enqueue(self, utt: ReplyUtterance) -> None: ...

    def played_position(self, utt: ReplyUtterance) -> float: ...

    async def interrupt(self, utt_id: str | None = None,
                        sources: tuple[str, ...] = ("say", "dialogue", "audio_in")) -> None: ...
