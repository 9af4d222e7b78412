"""The seam language models plug into: chat messages in, a stream of text deltas out.

Streaming is the point: the first sentence goes to TTS while the model is still writing
the second. Cancelling the consumer (barge-in) must close the request, not just ignore it,
so the model stops spending tokens on an answer nobody will hear.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import AsyncIterator, Literal, Protocol, Sequence, runtime_checkable

Role = Literal["system", "user", "assistant"]


class LLMError(RuntimeError):
    """The model failed (unreachable, credentials, time-out, garbage); the message says why."""


@dataclass(frozen=True, slots=True)
class ImagePart:
    """A picture a user message carries: what the camera saw, and how long ago.

    ``shown`` means the user sent it with this turn's words (an ``image`` with a ``prompt``):
    the turn is about the picture, rather than the camera merely being on.
    """

    data: bytes
    media_type: str          # "image/jpeg" or "image/png"
    age: float               # seconds between the picture being taken and this turn
    shown: bool = False

    @property
    def data_url(self) -> str:
        """The picture as OpenAI-compatible APIs take it inline: ``data:<type>;base64,...``."""
        return f"data:{self.media_type};base64,{base64.b64encode(self.data).decode('ascii')}"

    @property
    def caption(self) -> str:
        """The short text that tells a model how old the picture is."""
        if self.age < 1.0:
            return "(camera image from just now)"
        if self.age < 90.0:
            return f"(camera image from {self.age:.0f} s ago)"
        return f"(camera image from {self.age / 60.0:.0f} min ago)"


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str
    #: Pictures that go with a user message; never stored in memory (memory keeps text).
    images: tuple[ImagePart, ...] = ()


@runtime_checkable
class LLMProvider(Protocol):
    name: str

    def stream(self, messages: Sequence[ChatMessage]) -> AsyncIterator[str]:
        """Text deltas of the assistant's reply to ``messages`` (an async generator).

        Raises LLMError (from inside the iteration) on any provider failure.
        """
        ...
