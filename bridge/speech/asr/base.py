"""The seam speech recognizers plug into.

Recognition is streaming: audio goes in as the user speaks, partial hypotheses come back
for the ``transcript`` messages, and the final one is ready moments after the user's turn
ends, because the recognizer has already seen all but the last chunk.
"""

from __future__ import annotations

import threading
from typing import Protocol, runtime_checkable

import numpy as np


class ASRError(RuntimeError):
    """A recognizer failed (load, credentials, time-out, dropped stream); the message says why."""


class PhraseTranscript:
    """A turn's text from a service that endpoints phrases itself (Riva, Azure). Thread-safe.

    The service's thread folds results in; the caller's thread takes the partial (the final
    phrases so far plus the one being recognized) and, at the end, the final text.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._phrases: list[str] = []
        self._current = ""
        self._reported = ""
        self.error: ASRError | None = None
        self.done = threading.Event()

    def take_partial(self) -> str | None:
        """The partial text if it changed since the last call, else None."""
        with self._lock:
            text = " ".join([*self._phrases, self._current] if self._current else self._phrases)
            if text == self._reported:
                return None
            self._reported = text
            return text

    @property
    def final(self) -> str:
        with self._lock:
            return " ".join(self._phrases)


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
