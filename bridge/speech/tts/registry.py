"""All TTS voices of the process behind one lookup, with actionable errors."""

from __future__ import annotations

import logging
from typing import Iterable

from bridge.speech.tts.base import TTSError, TTSProvider, Voice

log = logging.getLogger(__name__)

#: What users type → the language code voices are listed under.
_LANG_ALIASES = {"zh": "cmn", "zh-cn": "cmn", "mandarin": "cmn", "en": "en-us", "fr": "fr-fr",
                 "pt-pt": "pt", "zh-hk": "yue", "cantonese": "yue"}


class VoiceNotFound(LookupError):
    """No installed voice matches; the message lists the voices there are."""


class TTSRegistry:
    """Maps voice ids (and aliases, and languages) to the provider that speaks them."""

    def __init__(self, providers: Iterable[TTSProvider], default_voice: str | None = None) -> None:
        self._providers = {p.name: p for p in providers}
        self._by_key: dict[str, tuple[TTSProvider, Voice]] = {}
        self._voices: list[Voice] = []
        for provider in self._providers.values():
            try:
                voices = provider.voices()
            except TTSError as exc:
                log.warning("TTS provider %s unavailable: %s", provider.name, exc)
                continue
            for voice in voices:
                self._voices.append(voice)
                for key in (voice.id, *voice.aliases):
                    self._by_key.setdefault(key.lower(), (provider, voice))
        self.default_voice = default_voice or (self._voices[0].id if self._voices else None)

    def voices(self) -> list[Voice]:
        return list(self._voices)

    def providers(self) -> list[TTSProvider]:
        return list(self._providers.values())

    def provider(self, name: str) -> TTSProvider | None:
        return self._providers.get(name)

    def resolve(self, voice: str | None = None, lang: str | None = None) -> tuple[TTSProvider, Voice]:
        """The provider and voice for a ``say``: an explicit voice, else the best for ``lang``.

        For a language, a neural (Piper) voice wins over espeak-ng; ``en`` matches ``en-us``.
        """
        if voice:
            found = self._by_key.get(voice.lower())
            if found is None:
                raise VoiceNotFound(f"unknown voice {voice!r}; available: {self._listing()}")
            return found
        if lang:
            return self._for_language(lang)
        if self.default_voice is None:
            raise VoiceNotFound("no TTS voice is installed: pip install talkbridge (Piper voice)")
        return self._by_key[self.default_voice.lower()]

    def _for_language(self, lang: str) -> tuple[TTSProvider, Voice]:
        want = lang.lower().replace("_", "-")
        want = _LANG_ALIASES.get(want, want)
        ranked = sorted(self._voices, key=lambda v: v.provider != "piper")
        for match in (lambda v: v.lang.lower() == want,
                      lambda v: v.lang.lower().split("-")[0] == want.split("-")[0]):
            for v in ranked:
                if match(v):
                    return self._by_key[v.id.lower()]
        raise VoiceNotFound(f"no voice for language {lang!r}; available: {self._listing()}")

    def _listing(self) -> str:
        return ", ".join(v.id for v in self._voices)
