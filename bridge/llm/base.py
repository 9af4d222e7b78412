"""The seam language models plug into: chat messages in, a stream of text deltas out.

Streaming is the point: the first sentence goes to TTS while the model is still writing
the second. Cancelling the consumer (barge-in) must close the request, not just ignore it,
so the model stops spending tokens on an answer nobody will hear.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import AsyncIterator, Literal, Protocol, Sequence, runtime_checkable

Role = Literal["system", "user", "assistant"]


class LLMError(RuntimeError):
    """The model failed (unreachable, credentials, time-out, garbage); the message says why."""


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str


@runtime_checkable
class LLMProvider(Protocol):
    name: str

    def stream(self, messages: Sequence[ChatMessage]) -> AsyncIterator[str]:
        """Text deltas of the assistant's reply to ``messages`` (an async generator).

        Raises LLMError (from inside the iteration) on any provider failure.
        """
        ...
