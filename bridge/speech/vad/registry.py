"""Voice-activity detectors by name, built from a config's options."""

from __future__ import annotations

from typing import Any, Mapping

from bridge.speech.options import build_provider
from bridge.speech.vad.base import VADProvider

#: Valid names; the first one is the default.
VAD_NAMES = ("silero",)


def make_vad(name: str | None = "silero", options: Mapping[str, Any] | None = None) -> VADProvider:
    """Build the detector ``name`` with ``options`` as keyword arguments.

    Raises ValueError for an unknown name (listing the valid ones) and VADError when the
    detector cannot load.
    """
    key = (name or VAD_NAMES[0]).strip().lower()
    if key == "silero":
        from bridge.speech.vad.silero import SileroVAD

        return build_provider(SileroVAD, options or {}, "VAD", key)
    raise ValueError(f"unknown VAD {name!r}; valid: {', '.join(VAD_NAMES)}")

