"""Voice-activity detectors by name, built from a config's options."""

from __future__ import annotations

import inspect
from typing import Any, Mapping

from .base import VADProvider

#: Valid names; the first one is the default.
VAD_NAMES = ("silero",)


def make_vad(name: str | None = "silero", options: Mapping[str, Any] | None = None) -> VADProvider:
    """Build the detector ``name`` with ``options`` as keyword arguments.

    Raises ValueError for an unknown name (listing the valid ones) and VADError when the
    detector cannot load.
    """
    key = (name or VAD_NAMES[0]).strip().lower()
    if key == "silero":
        from .silero import SileroVAD

        return _build(SileroVAD, options or {}, key)
    raise ValueError(f"unknown VAD {name!r}; valid: {', '.join(VAD_NAMES)}")


def _build(provider_class: Any, options: Mapping[str, Any], name: str) -> Any:
    """Construct with config options, turning a misspelt option into a helpful ValueError."""
    kwargs = dict(options)
    signature = inspect.signature(provider_class)
    try:
        signature.bind(**kwargs)
    except TypeError as exc:
        valid = ", ".join(signature.parameters)
        raise ValueError(f"bad options for VAD {name!r}: {exc}; valid options: {valid}") from exc
    return provider_class(**kwargs)
