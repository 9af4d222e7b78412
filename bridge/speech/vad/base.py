"""The seam voice-activity detectors plug into.

A detector only scores audio; deciding when a user's turn starts and ends (minimum speech,
hang-over silence, barge-in) is the dialogue state machine's job, so every detector gets
the same turn-taking behaviour and the policy is tested without audio.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


class VADError(RuntimeError):
    """A detector failed to load or to run; the message says how to fix it."""


@runtime_checkable
class VADStream(Protocol):
    """One microphone's detector state."""

    def push(self, pcm: np.ndarray) -> np.ndarray:
        """Score float32 mono PCM at the provider's ``rate``.

        Returns one speech probability in [0, 1] per complete frame of ``frame_samples``;
        samples left over are kept for the next call, so any chunking gives the same result.
        """
        ...

    def reset(self) -> None:
        """Forget all state (a new conversation on the same stream)."""
        ...


@runtime_checkable
class VADProvider(Protocol):
    """Shared model, per-stream state; blocking, the server calls it from a worker thread."""

    name: str
    rate: int            # the sample rate push() expects (16000)
    frame_samples: int   # samples per probability

    def new_stream(self) -> VADStream:
        ...
