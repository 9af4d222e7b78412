"""The seam speech recognizers plug into.

Recognition is streaming: audio goes in as the user speaks, partial hypotheses come back
for the ``transcript`` messages, and the final one is ready moments after the user's turn
ends, because the recognizer has already seen all but the last chunk.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


class ASRError(RuntimeError):
    """A recognizer failed (load, credentials, time-out, dropped stream); the message says why."""


@runtime_checkable
class ASRStream(Protocol):
    """One user turn. Blocking calls; the server runs them in a worker thread."""

    def push(self, pcm: np.ndarray) -> str | None:
        """Feed float32 mono PCM at the provider's ``rate``; the new partial text if it changed."""
        ...

    def finish(self) -> str:
        """End of the turn: the final transcript ("" when nothing was recognized)."""
        ...

    def cancel(self) -> None:
        """Abandon the turn and release its resources; safe after finish()."""
        ...


@runtime_checkable
class ASRProvider(Protocol):
    """Loaded once per server, shared by all sessions."""

    name: str
    rate: int  # the sample rate push() expects

    def new_stream(self, lang: str | None = None) -> ASRStream:
        ...
