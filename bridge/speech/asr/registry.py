"""Speech recognizers by name, built from a config's options.

Each provider module is imported only when chosen, so an optional SDK that is not installed
costs nothing until someone asks for it (and then fails with its install hint).
"""

from __future__ import annotations

import importlib
from typing import Any, Mapping

from bridge.speech.asr.base import ASRProvider
from bridge.speech.options import build_provider

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
    return build_provider(provider_class, options or {}, "ASR", key)

