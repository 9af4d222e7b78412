"""One utterance the character speaks: what it says, how far it got, and who hears of its end."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import AsyncIterator, Callable

from blendshape.layers.gestures import GestureConfig
from bridge.dialogue.heard import SpokenReply
from bridge.speech.tts.base import SpeechChunk, TTSProvider, Voice


@dataclass
class Utterance:
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
    on_end: Callable[["Utterance", str], None] | None = None
    on_first_audio: Callable[[float], None] | None = None
    #: (when, the queue's estimate of its first audio) at admission: its real first audio
    #: calibrates admission control (``workers.calibrate``).
    admitted: tuple[float, float] | None = None
    #: The speaking character's gesture style (a persona's), over the server's [gestures].
    gestures: GestureConfig | None = None
    spoken: SpokenReply = field(default_factory=SpokenReply)
    #: Sentences synthesized ahead (while the user paused), by text.
    presynth: dict[str, "asyncio.Future[list[SpeechChunk]]"] = field(default_factory=dict)
    wall_start: float | None = None  # when its clock started (first chunk sent)
    synthesized: float = 0.0  # seconds of its audio synthesized so far
    task: asyncio.Task[None] | None = None
    stop: bool = False
    ended: bool = False
