"""The seam speech recognizers plug into.

Recognition is streaming: audio goes in as the user speaks, partial hypotheses come back
for the ``transcript`` messages, and the final one is ready moments after the user's turn
ends, because the recognizer has already seen all but the last chunk.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol, runtime_checkable

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


class WholeTurnStream:
    """A turn whose recognizer hears it at once (Whisper, a cloud sentence API): the audio is
    kept as it comes, :meth:`finish` runs :meth:`_final_pass` on all of it once, and
    :meth:`cancel` drops it. Subclasses may give partials (:meth:`_partial`)."""

    def __init__(self) -> None:
        self._chunks: list[np.ndarray] = []
        self._final: str | None = None
        self._closed = False
        self._lock = threading.Lock()  # push() in a worker thread, a snapshot from another

    def push(self, pcm: np.ndarray) -> str | None:
        if self._closed:
            raise ASRError("this recognition stream is finished or cancelled; start a new one")
        samples = np.asarray(pcm, dtype=np.float32).reshape(-1)
        with self._lock:
            self._chunks.append(samples.copy())
        return self._partial(len(samples))

    def finish(self) -> str:
        if self._final is not None:
            return self._final
        if self._closed:
            raise ASRError("this recognition stream was cancelled")
        self._closed = True
        audio = self._audio()
        self._chunks = []
        self._final = self._final_pass(audio) if len(audio) else ""
        return self._final

    def cancel(self) -> None:
        self._closed = True
        self._chunks = []

    def hear_whole(self, audio: np.ndarray) -> str:
        """The final transcript of a whole turn given at once, with no partials on the way:
        what a recognizer on another machine is asked, one call a turn
        (:mod:`bridge.server.scale_asr`)."""
        if self._closed:
            raise ASRError("this recognition stream is finished or cancelled; start a new one")
        self._closed = True
        samples = np.asarray(audio, dtype=np.float32).reshape(-1)
        self._final = self._final_pass(samples) if len(samples) else ""
        return self._final

    def hear_partial(self, audio: np.ndarray) -> str:
        """A quick hypothesis of a turn so far, given at once, the stream left open: what a
        recognizer on another machine is asked for a partial. "" for one that gives none."""
        return ""

    def _partial(self, pushed: int) -> str | None:
        """A new partial transcript after ``pushed`` more samples, or None (the default)."""
        return None

    def _final_pass(self, audio: np.ndarray) -> str:
        raise NotImplementedError

    def _audio(self) -> np.ndarray:
        """The turn's audio so far (arrays are never changed in place: a snapshot is safe)."""
        with self._lock:
            if len(self._chunks) > 1:
                self._chunks = [np.concatenate(self._chunks)]
            return self._chunks[0] if self._chunks else np.zeros(0, dtype=np.float32)


#: Audio after a prepared final pass that may still be left out of it: the silence between
#: the dialogue's pause (``prefetch_silence``, 0.1 s) and the turn's end (``end_silence``,
#: 0.25 s), with a margin. Any more, and the user spoke again: the final is heard anew.
PREPARED_TAIL_S = 0.3


class PreparedWholeTurn(WholeTurnStream):
    """A whole turn whose final pass is slow (Whisper's encoder always hears 30 s; a turn
    sent to another machine): :meth:`prepare` starts it over the audio so far when the user
    pauses, and the end of the turn takes that result when no more than
    :data:`PREPARED_TAIL_S` of audio (the rest of the pause) came after it.

    Subclasses say how a pass runs: :meth:`_start_pass` (in the background; a handle with
    ``cancel()``), :meth:`_whole_pass` (now) and, when a handle's result needs more than
    ``result()``, :meth:`_prepared_result`. ``rate`` is the pushed audio's sample rate.
    """

    rate: int = 16000

    def __init__(self) -> None:
        super().__init__()
        self._prepared: tuple[int, Any] | None = None

    def prepare(self) -> None:
        """The user paused: start the final pass over the audio so far, in the background."""
        if self._closed:
            return
        audio = self._audio()  # the event loop's thread, while push() may run in a worker's
        if len(audio) and (self._prepared is None or self._prepared[0] != len(audio)):
            self._drop_prepared()
            self._prepared = (len(audio), self._start_pass(audio))

    def cancel(self) -> None:
        super().cancel()
        self._drop_prepared()

    def _drop_prepared(self) -> None:
        prepared, self._prepared = self._prepared, None
        if prepared is not None:
            prepared[1].cancel()

    def _final_pass(self, audio: np.ndarray) -> str:
        prepared, self._prepared = self._prepared, None
        if prepared is not None and len(audio) - prepared[0] <= PREPARED_TAIL_S * self.rate:
            return self._prepared_result(prepared[1], audio)
        if prepared is not None:
            prepared[1].cancel()
        return self._whole_pass(audio)

    def _start_pass(self, audio: np.ndarray) -> Any:
        raise NotImplementedError

    def _whole_pass(self, audio: np.ndarray) -> str:
        raise NotImplementedError

    def _prepared_result(self, handle: Any, audio: np.ndarray) -> str:
        """The prepared pass's transcript of (nearly) all of ``audio``."""
        return handle.result()
