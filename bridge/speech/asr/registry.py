"""Speech recognizers by name, built from a config's options.

Each provider module is imported only when chosen, so an optional SDK that is not installed
costs nothing until someone asks for it (and then fails with its install hint).
"""

from __future__ import annotations

import inspect
import importlib
from typing import Any, Mapping

from .base import ASRProvider

#: name → (module, class); the first one is the default.
_PROVIDERS = {
    "pocketsphinx": ("bridge.speech.asr.pocketsphinx", "PocketSphinxASR"),
    "whisper": ("bridge.speech.asr.whisper", "WhisperASR"),
    "azure": ("bridge.speech.asr.azure", "AzureASR"),
    "riva": ("bridge.speech.asr.riva", "RivaASR"),
}
ASR_NAMES = tuple(_PROVIDERS)


def make_asr(name: str | None = "pocketsphinx", options: Mapping[str, Any] | None = None) -> ASRProvider:
    """Build the recognizer ``name`` with ``options`` as keyword arguments.

    Raises ValueError for an unknown name (listing the valid ones) and ASRError when the
    recognizer cannot load (a missing SDK, model or key; the message says which).
    """
    key = (name or ASR_NAMES[0]).strip().lower()
    if key not in _PROVIDERS:
        raise ValueError(f"unknown ASR {name!r}; valid: {', '.join(ASR_NAMES)}")
    module_name, class_name = _PROVIDERS[key]
    provider_class = getattr(importlib.import_module(module_name), class_name)
    return _build(provider_class, options or {}, key)


def _build(provider_class: Any, options: Mapping[str, Any], name: str) -> Any:
    """Construct with config options, turning a misspelt option into a helpful ValueError."""
    kwargs = dict(options)
    signature = inspect.signature(provider_class)
    try:
        signature.bind(**kwargs)
    except TypeError as exc:
        valid = ", ".join(signature.parameters)
        raise ValueError(f"bad options for ASR {name!r}: {exc}; valid options: {valid}") from exc
    return provider_class(**kwargs)
