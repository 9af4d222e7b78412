"""The seam every text-to-speech provider plugs into.

A provider turns text into speech one sentence at a time, so the first audio can leave
before the last sentence is synthesized, and reports where each phoneme falls in the audio,
because that timing is what drives the face.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Protocol, runtime_checkable

import numpy as np

from blendshape.phonemes import PhonemeSpan


@dataclass(frozen=True, slots=True)
class Voice:
    """One voice a provider offers; ``id`` is what clients put in ``say.voice``."""

    id: str
    provider: str
    name: str
    lang: str
    aliases: tuple[str, ...] = ()
    description: str = ""


@dataclass(slots=True)
class SpeechChunk:
    """One sentence of speech: mono float32 PCM in [-1, 1] and its phoneme timings.

    Phoneme times are seconds from the chunk's first sample.
    """

    pcm: np.ndarray
    rate: int
    phonemes: list[PhonemeSpan]
    text: str = ""
    alphabet: str = "ipa"
    lang: str | None = None
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return len(self.pcm) / float(self.rate)


@runtime_checkable
class TTSProvider(Protocol):
    """Blocking synthesis; the server runs it in a worker thread."""

    name: str

    def voices(self) -> list[Voice]:
        """The voices this provider can speak with right now."""
        ...

    def synthesize(self, text: str, voice: Voice) -> Iterator[SpeechChunk]:
        """Yield one chunk per sentence, lazily: the caller may stop early."""
        ...


class TTSError(RuntimeError):
    """A provider failed to load or to synthesize; the message says how to fix it."""
