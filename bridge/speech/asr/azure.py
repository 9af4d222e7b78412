"""Azure AI Speech: cloud recognition through the Speech SDK's continuous recognition.

Audio goes into a ``PushAudioInputStream``; the SDK answers on its own threads with
``recognizing`` (partial), ``recognized`` (one final phrase; a long turn has several) and
``canceled`` (an error, or the end of our stream). Those events are turned into plain
:class:`AzureEvent` values and folded by :class:`AzureTranscript`, a small pure class that
is tested with recorded payloads; the SDK glue around it stays thin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bridge.speech.asr.base import ASRError, PhraseTranscript
from bridge.speech.azure_sdk import connect
from bridge.speech.locale import locale_code

_RATE = 16000
#: Bare language codes → the locale Azure expects.
_LOCALES = {"en": "en-US", "fr": "fr-FR", "de": "de-DE", "es": "es-ES", "it": "it-IT",
            "pt": "pt-BR", "ja": "ja-JP", "ko": "ko-KR", "zh": "zh-CN", "cmn": "zh-CN",
            "yue": "zh-HK", "nl": "nl-NL", "ru": "ru-RU", "hi": "hi-IN", "ar": "ar-SA"}


def azure_locale(lang: str) -> str:
    """``en`` → ``en-US``; ``fr-fr`` → ``fr-FR``; anything else is passed through."""
    return locale_code(lang, _LOCALES)


def _enum_name(value: Any) -> str:
    """``ResultReason.RecognizedSpeech`` (an SDK enum or its string) → ``RecognizedSpeech``."""
    if value is None:
        return ""
    name = getattr(value, "name", None)
    return name if isinstance(name, str) else str(value).rsplit(".", 1)[-1]


@dataclass(frozen=True, slots=True)
class AzureEvent:
    """One SDK event, reduced to the fields recognition depends on."""

    kind: str                      # recognizing | recognized | canceled | session_stopped
    text: str = ""
    reason: str = ""               # ResultReason name, e.g. RecognizedSpeech, NoMatch
    cancellation_reason: str = ""  # CancellationReason name: Error, EndOfStream, CancelledByUser
    error_code: str = ""           # CancellationErrorCode name, e.g. AuthenticationFailure
    error_details: str = ""


def event_from_sdk(kind: str, evt: Any) -> AzureEvent:
    """Read an SDK event object (``SpeechRecognitionEventArgs`` and friends) by duck typing."""
    result = getattr(evt, "result", None)
    text = getattr(result, "text", "") or ""
    reason = _enum_name(getattr(result, "reason", None))
    details = getattr(evt, "cancellation_details", None) if kind == "canceled" else None
    if details is None:
        return AzureEvent(kind, text, reason)
    code = getattr(details, "code", None) or getattr(details, "error_code", None)
    return AzureEvent(kind, text, reason, _enum_name(getattr(details, "reason", None)),
                      _enum_name(code), getattr(details, "error_details", "") or "")


class AzureTranscript(PhraseTranscript):
    """Events in → the partial, the final text, or the error out. Thread-safe.

    The final transcript is every ``recognized`` phrase of the turn joined; the partial is
    those phrases plus the phrase being recognized now. ``done`` is set once the service
    has said all it will (the session stopped, our stream ended, or an error).
    """

    def feed(self, event: AzureEvent) -> None:
        with self._lock:
            if event.kind == "recognizing":
                self._current = event.text.strip()
            elif event.kind == "recognized":
                self._current = ""
                if event.reason == "RecognizedSpeech" and event.text.strip():
                    self._phrases.append(event.text.strip())
            elif event.kind == "canceled":
                if event.cancellation_reason not in ("EndOfStream", "CancelledByUser"):
                    self.error = _cancel_error(event)
                self.done.set()
            elif event.kind == "session_stopped":
                self.done.set()

def _cancel_error(event: AzureEvent) -> ASRError:
    code = event.error_code or event.cancellation_reason or "unknown"
    hint = {"AuthenticationFailure": " (check the key and the region)",
            "ConnectionFailure": " (check the network, the region or the endpoint)",
            "TooManyRequests": " (quota exceeded: retry later or raise the tier)"}.get(code, "")
    return ASRError(f"Azure speech recognition canceled: {code}{hint}: "
                    f"{event.error_details or 'no details'}")


class AzureASR:
    """Azure AI Speech recognition; one recognizer (and one service connection) per turn.

    Args:
        region: the Speech resource's region (or env ``region_env``), unless ``endpoint``.
        key_env: the environment variable holding the key (never put keys in config files).
        endpoint: a custom endpoint URL instead of a region.
        lang: default locale when a stream gives none.
        timeout: seconds finish() waits for the service's last result.
        region_env: the environment variable read when ``region`` is not given.
    """

    name = "azure"
    rate = _RATE

    def __init__(self, region: str | None = None, key_env: str = "AZURE_SPEECH_KEY",
                 endpoint: str | None = None, lang: str = "en-US", timeout: float = 10.0,
                 region_env: str = "AZURE_SPEECH_REGION") -> None:
        self._sdk, self._new_config = connect(key_env, region, region_env, endpoint, ASRError)
        self.lang = lang
        self.timeout = timeout

    def _speech_config(self, locale: str) -> Any:
        config = self._new_config()
        config.speech_recognition_language = locale
        return config

    def new_stream(self, lang: str | None = None) -> "AzureStream":
        try:
            return AzureStream(self._sdk, self._speech_config(azure_locale(lang or self.lang)),
                               self.timeout)
        except ASRError:
            raise
        except Exception as exc:  # the SDK raises RuntimeError with its own messages
            raise ASRError(f"cannot start Azure speech recognition: {exc}") from exc


class AzureStream:
    """One turn: a push stream feeding a continuously recognizing ``SpeechRecognizer``."""

    def __init__(self, sdk: Any, speech_config: Any, timeout: float) -> None:
        fmt = sdk.audio.AudioStreamFormat(samples_per_second=_RATE, bits_per_sample=16, channels=1)
        self._push = sdk.audio.PushAudioInputStream(stream_format=fmt)
        self._recognizer = sdk.SpeechRecognizer(
            speech_config=speech_config, audio_config=sdk.audio.AudioConfig(stream=self._push))
        self._timeout = timeout
        self._closed = False
        self._cancelled = False
        self._final: str | None = None
        self.transcript = AzureTranscript()
        for kind in ("recognizing", "recognized", "canceled", "session_stopped"):
            getattr(self._recognizer, kind).connect(self._handler(kind))
        # Not waited on: the connection opens while the user speaks; failures arrive as
        # ``canceled`` events.
        self._recognizer.start_continuous_recognition_async()

    def _handler(self, kind: str) -> Any:
        def handle(evt: Any) -> None:
            try:
                self.transcript.feed(event_from_sdk(kind, evt))
            except Exception as exc:  # the SDK would swallow it silently
                self.transcript.error = ASRError(f"bad Azure {kind} event: {exc}")
                self.transcript.done.set()
        return handle

    def push(self, pcm: np.ndarray) -> str | None:
        if self._closed:
            raise ASRError("this recognition stream is finished or cancelled; start a new one")
        self._raise_error()
        samples = np.asarray(pcm, dtype=np.float32).reshape(-1)
        self._push.write((np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes())
        return self.transcript.take_partial()

    def finish(self) -> str:
        if self._final is not None:
            return self._final
        if self._cancelled:
            raise ASRError("this recognition stream was cancelled")
        if not self._closed:
            self._closed = True
            self._push.close()  # the service finalizes the last phrase, then ends the session
        ended = self.transcript.done.wait(self._timeout)
        self._stop()
        self._raise_error()
        if not ended:
            raise ASRError(f"Azure gave no final result within {self._timeout:.0f} s of the "
                           f"end of speech; check the network or raise the timeout option")
        self._final = self.transcript.final
        return self._final

    def cancel(self) -> None:
        self._cancelled = self._final is None
        if not self._closed:
            self._closed = True
            self._push.close()
        self._stop()

    def _stop(self) -> None:
        try:
            self._recognizer.stop_continuous_recognition_async()
        except Exception:  # already stopped or the connection is gone: nothing to release
            pass

    def _raise_error(self) -> None:
        if self.transcript.error is not None:
            raise self.transcript.error
