"""Speech recognizers by name, built from a config's options.

Each provider module is imported only when chosen, so an optional SDK that is not installed
costs nothing until someone asks for it (and then fails with its install hint).
"""

from __future__ import annotations

import importlib
from typing import Any, Mapping

from bridge.speech.asr.base import ASRProvider
from bridge.speech.options import build_provider

#: name → (module, class).
_PROVIDERS = {
    "pocketsphinx": ("bridge.speech.asr.pocketsphinx", "PocketSphinxASR"),
    "whisper": ("bridge.speech.asr.whisper", "WhisperASR"),
    "azure": ("bridge.speech.asr.azure", "AzureASR"),
    "riva": ("bridge.speech.asr.riva", "RivaASR"),
    "tencent": ("bridge.speech.asr.tencent", "TencentASR"),
}
ASR_NAMES = tuple(_PROVIDERS)


def default_asr_name() -> str:
    """Whisper tiny.en where faster-whisper and its bundled weights are installed (a
    talkbridge dependency), else PocketSphinx.

    Why Whisper: on voices neither was tuned on (flite's four, 20 turns each, `talkbridge
    bench --asr`), it heard 4.6 % of words wrong against PocketSphinx's 32.7 %, and 22 %
    against 96 % at 10 dB SNR; the price is about 0.4 s more from the end of speech to the
    final transcript (its encoder always hears 30 s) and that CPU a turn. A character that
    answers a question it misheard is slower to a useful answer than one that waits 0.4 s.
    """
    from importlib.util import find_spec

    if find_spec("faster_whisper") is None:
        return "pocketsphinx"
    from bridge.speech.asr.whisper import bundled_model_dir

    return "whisper" if bundled_model_dir() is not None else "pocketsphinx"


def make_asr(name: str | None = None, options: Mapping[str, Any] | None = None) -> ASRProvider:
    """Build the recognizer ``name`` (None: :func:`default_asr_name`) with ``options`` as
    keyword arguments.

    Raises ValueError for an unknown name (listing the valid ones) and ASRError when the
    recognizer cannot load (a missing SDK, model or key; the message says which).
    """
    key = (name or default_asr_name()).strip().lower()
    if key not in _PROVIDERS:
        raise ValueError(f"unknown ASR {name!r}; valid: {', '.join(ASR_NAMES)}")
    module_name, class_name = _PROVIDERS[key]
    provider_class = getattr(importlib.import_module(module_name), class_name)
    return build_provider(provider_class, options or {}, "ASR", key)

