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


class PartialGate:
    """When a stream that decodes on its own cadence (PocketSphinx, Whisper) reports a partial.

    Each partial costs a decode, so one is due only every ``every`` samples of pushed audio
    (``None``: never), after the first ``first`` samples; and a hypothesis is reported only
    when its text changed since the last one.
    """

    def __init__(self, every: int | None, first: int = 0) -> None:
        self._every, self._first = every, first
        self._samples = 0
        self._last_at = 0
        self._reported = ""

    def due(self, pushed: int) -> bool:
        """Count ``pushed`` more samples; True when a new hypothesis should be decoded now."""
        self._samples += pushed
        if self._every is None or self._samples < self._first \
                or self._samples - self._last_at < self._every:
            return False
        self._last_at = self._samples
        return True

    def changed(self, text: str) -> str | None:
        """``text`` if it differs from the last partial reported, else None."""
        if text == self._reported:
            return None
        self._reported = text
        return text


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

    # Optional: ``prepare()``, non-blocking, called when the user pauses, so a recognizer
    # whose final pass is slow (Whisper) can start it early (see WhisperStream.prepare).


@runtime_checkable
class ASRProvider(Protocol):
    """Loaded once per server, shared by all sessions."""

    name: str
    rate: int  # the sample rate push() expects

    def new_stream(self, lang: str | None = None) -> ASRStream:
        ...
