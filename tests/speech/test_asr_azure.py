"""AzureASR: the event folding tested with recorded SDK event payloads, the SDK glue with a
stand-in SDK that replays them, the configuration errors, and (opt-in) the live service."""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
import types
from enum import Enum
from typing import Any

import numpy as np
import pytest
import soxr

from bridge.speech.asr.azure import (
    AzureASR,
    AzureEvent,
    AzureTranscript,
    azure_locale,
    event_from_sdk,
)
from bridge.speech.asr.base import ASRError, ASRStream

RATE = 16000
_SESSION = "8d3c1f52a4b64f0c9a3e2b7d6c5e4f10"

# Recorded from continuous recognition of a two-sentence turn pushed through a
# PushAudioInputStream, then closed: the SDK objects' fields as they print (offsets and
# durations in 100 ns ticks, enums as ``Enum.Member``).
RECORDED_TURN: list[dict[str, Any]] = [
    {"signal": "recognizing", "result": {"text": "hello", "reason": "ResultReason.RecognizingSpeech",
                                         "offset": 5_100_000, "duration": 3_600_000}},
    {"signal": "recognizing", "result": {"text": "hello what is", "reason": "ResultReason.RecognizingSpeech",
                                         "offset": 5_100_000, "duration": 8_200_000}},
    {"signal": "recognizing", "result": {"text": "hello what is your name",
                                         "reason": "ResultReason.RecognizingSpeech",
                                         "offset": 5_100_000, "duration": 13_400_000}},
    {"signal": "recognized", "result": {"text": "Hello, what is your name?",
                                        "reason": "ResultReason.RecognizedSpeech",
                                        "offset": 5_100_000, "duration": 13_900_000}},
    {"signal": "recognizing", "result": {"text": "tell me", "reason": "ResultReason.RecognizingSpeech",
                                         "offset": 22_300_000, "duration": 4_100_000}},
    {"signal": "recognizing", "result": {"text": "tell me about the weather",
                                         "reason": "ResultReason.RecognizingSpeech",
                                         "offset": 22_300_000, "duration": 11_800_000}},
    {"signal": "recognized", "result": {"text": "Tell me about the weather.",
                                        "reason": "ResultReason.RecognizedSpeech",
                                        "offset": 22_300_000, "duration": 12_000_000}},
    {"signal": "recognized", "result": {"text": "", "reason": "ResultReason.NoMatch",
                                        "offset": 34_300_000, "duration": 5_000_000}},
    {"signal": "canceled", "result": {"text": "", "reason": "ResultReason.Canceled"},
     "cancellation_details": {"reason": "CancellationReason.EndOfStream",
                              "code": "CancellationErrorCode.NoError", "error_details": ""}},
    {"signal": "session_stopped"},
]

RECORDED_BAD_KEY: list[dict[str, Any]] = [
    {"signal": "canceled", "result": {"text": "", "reason": "ResultReason.Canceled"},
     "cancellation_details": {
         "reason": "CancellationReason.Error", "code": "CancellationErrorCode.AuthenticationFailure",
         "error_details": "WebSocket upgrade failed: Authentication error (401). Please check "
                          "subscription information and region name. USP state: Sending. "
                          f"Received audio size: 0 bytes. SessionId: {_SESSION}"}},
    {"signal": "session_stopped"},
]


def _sdk_event(record: dict[str, Any]) -> Any:
    """A recorded payload → an object shaped like the SDK's event args."""
    evt = types.SimpleNamespace(session_id=_SESSION)
    if "result" in record:
        evt.result = types.SimpleNamespace(result_id="a1b2", **record["result"])
    if "cancellation_details" in record:
        evt.cancellation_details = types.SimpleNamespace(**record["cancellation_details"])
    return evt


def _fold(records: list[dict[str, Any]]) -> tuple[AzureTranscript, list[str]]:
    transcript, partials = AzureTranscript(), []
    for record in records:
        transcript.feed(event_from_sdk(record["signal"], _sdk_event(record)))
        if (partial := transcript.take_partial()) is not None:
            partials.append(partial)
    return transcript, partials


def test_recorded_turn_gives_partials_then_the_joined_final() -> None:
    transcript, partials = _fold(RECORDED_TURN)
    assert partials == ["hello", "hello what is", "hello what is your name",
                        "Hello, what is your name?", "Hello, what is your name? tell me",
                        "Hello, what is your name? tell me about the weather",
                        "Hello, what is your name? Tell me about the weather."]
    assert transcript.final == "Hello, what is your name? Tell me about the weather."
    assert transcript.error is None and transcript.done.is_set()


def test_recorded_authentication_failure_is_an_asr_error_with_the_details() -> None:
    transcript, partials = _fold(RECORDED_BAD_KEY)
    assert partials == [] and transcript.done.is_set()
    message = str(transcript.error)
    assert isinstance(transcript.error, ASRError)
    assert "AuthenticationFailure" in message and "check the key and the region" in message
    assert "Authentication error (401)" in message


def test_sdk_enums_are_read_by_name() -> None:
    ResultReason = Enum("ResultReason", {"NoMatch": 0, "Canceled": 1, "RecognizingSpeech": 2,
                                         "RecognizedSpeech": 3})
    evt = types.SimpleNamespace(result=types.SimpleNamespace(
        text="Hi.", reason=ResultReason.RecognizedSpeech))
    assert event_from_sdk("recognized", evt) == AzureEvent("recognized", "Hi.", "RecognizedSpeech")
    assert event_from_sdk("session_stopped", types.SimpleNamespace()) == AzureEvent("session_stopped")


def test_locales() -> None:
    assert [azure_locale(x) for x in ("en", "en-us", "fr_fr", "zh-Hans-CN", "cmn")] == \
        ["en-US", "en-US", "fr-FR", "zh-Hans-CN", "zh-CN"]


# ---- the SDK glue, with a stand-in SDK that replays a recording -------------------------

class _Signal:
    def __init__(self) -> None:
        self.callbacks: list[Any] = []

    def connect(self, callback: Any) -> None:
        self.callbacks.append(callback)


def _fake_sdk(script: list[dict[str, Any]], events_before_close: int) -> types.ModuleType:
    """Replays ``script``: the first events as audio arrives, the rest on another thread
    after the push stream closes, as the real SDK does."""
    sdk = types.ModuleType("azure.cognitiveservices.speech")
    state: dict[str, Any] = {"written": 0, "started": False, "stopped": False, "config": None}

    class PushAudioInputStream:
        def __init__(self, stream_format: Any) -> None:
            state["format"] = stream_format

        def write(self, data: bytes) -> None:
            state["written"] += len(data)
            if state["written"] == len(data):  # first audio: the early events
                _fire(script[:events_before_close])

        def close(self) -> None:
            threading.Timer(0.05, _fire, [script[events_before_close:]]).start()

    class SpeechRecognizer:
        def __init__(self, speech_config: Any, audio_config: Any) -> None:
            state["config"], state["recognizer"] = speech_config, self
            for kind in ("recognizing", "recognized", "canceled", "session_stopped"):
                setattr(self, kind, _Signal())

        def start_continuous_recognition_async(self) -> None:
            state["started"] = True

        def stop_continuous_recognition_async(self) -> None:
            state["stopped"] = True

    def _fire(records: list[dict[str, Any]]) -> None:
        for record in records:
            for callback in getattr(state["recognizer"], record["signal"]).callbacks:
                callback(_sdk_event(record))

    sdk.audio = types.SimpleNamespace(  # type: ignore[attr-defined]
        AudioStreamFormat=lambda **kw: kw, PushAudioInputStream=PushAudioInputStream,
        AudioConfig=lambda stream: stream)
    sdk.SpeechConfig = lambda **kw: types.SimpleNamespace(**kw)  # type: ignore[attr-defined]
    sdk.SpeechRecognizer = SpeechRecognizer  # type: ignore[attr-defined]
    sdk.state = state  # type: ignore[attr-defined]
    return sdk


@pytest.fixture
def install_fake_sdk(monkeypatch):
    def install(script: list[dict[str, Any]], events_before_close: int) -> Any:
        sdk = _fake_sdk(script, events_before_close)
        azure, cognitive = types.ModuleType("azure"), types.ModuleType("azure.cognitiveservices")
        azure.cognitiveservices, cognitive.speech = cognitive, sdk  # type: ignore[attr-defined]
        for name, module in (("azure", azure), ("azure.cognitiveservices", cognitive),
                             ("azure.cognitiveservices.speech", sdk)):
            monkeypatch.setitem(sys.modules, name, module)
        monkeypatch.setenv("AZURE_SPEECH_KEY", "0123456789abcdef")
        return sdk
    return install


def test_stream_reports_partials_while_pushing_and_the_final_after_close(install_fake_sdk) -> None:
    sdk = install_fake_sdk(RECORDED_TURN, events_before_close=4)
    stream = AzureASR(region="westeurope").new_stream("en")
    assert isinstance(stream, ASRStream)
    assert sdk.state["started"] and sdk.state["config"].region == "westeurope"
    assert sdk.state["config"].speech_recognition_language == "en-US"
    assert sdk.state["format"] == {"samples_per_second": 16000, "bits_per_sample": 16, "channels": 1}
    assert stream.push(np.full(1600, 0.5, dtype=np.float32)) == "Hello, what is your name?"
    assert stream.push(np.zeros(1600, dtype=np.float32)) is None
    assert stream.finish() == "Hello, what is your name? Tell me about the weather."
    assert sdk.state["written"] == 2 * 1600 * 2 and sdk.state["stopped"]
    stream.cancel()  # safe after finish, and the final stays
    assert stream.finish() == "Hello, what is your name? Tell me about the weather."
    with pytest.raises(ASRError):
        stream.push(np.zeros(1600, dtype=np.float32))
    cancelled = AzureASR(region="westeurope").new_stream()
    cancelled.cancel()
    with pytest.raises(ASRError, match="cancelled"):
        cancelled.finish()


def test_stream_raises_the_services_error(install_fake_sdk) -> None:
    install_fake_sdk(RECORDED_BAD_KEY, events_before_close=1)
    stream = AzureASR(region="westeurope").new_stream()
    stream.push(np.zeros(1600, dtype=np.float32))  # the error event arrives during this push
    with pytest.raises(ASRError, match="AuthenticationFailure"):
        stream.push(np.zeros(1600, dtype=np.float32))
    with pytest.raises(ASRError, match="401"):
        stream.finish()


def test_finish_times_out_when_the_service_goes_quiet(install_fake_sdk) -> None:
    install_fake_sdk(RECORDED_TURN[:3], events_before_close=3)  # never ends the session
    stream = AzureASR(region="westeurope", timeout=0.2).new_stream()
    stream.push(np.zeros(1600, dtype=np.float32))
    with pytest.raises(ASRError, match="no final result"):
        stream.finish()


# ---- configuration errors ---------------------------------------------------------------

def test_missing_key_names_the_environment_variable(monkeypatch) -> None:
    monkeypatch.delenv("MY_SPEECH_KEY", raising=False)
    with pytest.raises(ASRError, match="MY_SPEECH_KEY"):
        AzureASR(region="westeurope", key_env="MY_SPEECH_KEY")


def test_missing_region(monkeypatch) -> None:
    monkeypatch.setenv("AZURE_SPEECH_KEY", "k")
    monkeypatch.delenv("AZURE_SPEECH_REGION", raising=False)
    with pytest.raises(ASRError, match="region"):
        AzureASR()


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


@pytest.mark.skipif(_installed("azure.cognitiveservices.speech"),
                    reason="the Azure Speech SDK is installed here, so its absence cannot be tested")
def test_missing_sdk_gives_the_install_hint(monkeypatch) -> None:
    monkeypatch.setenv("AZURE_SPEECH_KEY", "k")
    with pytest.raises(ASRError, match=r"pip install talkbridge\[azure\]"):
        AzureASR(region="westeurope")


# ---- the real service (opt-in: it needs a key and costs money) ---------------------------

_LIVE = os.environ.get("TALKBRIDGE_AZURE_LIVE") == "1" and bool(os.environ.get("AZURE_SPEECH_KEY"))


@pytest.mark.skipif(not _LIVE, reason="live Azure test: set TALKBRIDGE_AZURE_LIVE=1, "
                                      "AZURE_SPEECH_KEY and AZURE_SPEECH_REGION to call the paid service")
def test_live_service_recognizes_piper_speech(piper) -> None:  # pragma: no cover - needs a key
    chunks = list(piper.synthesize("Tell me about the weather.", piper.voices()[0]))
    audio = soxr.resample(np.concatenate([c.pcm for c in chunks]), chunks[0].rate, RATE)
    audio = np.concatenate([audio, np.zeros(RATE // 2)]).astype(np.float32)
    stream = AzureASR().new_stream("en-US")
    partials = [p for i in range(0, len(audio), 1600) if (p := stream.push(audio[i:i + 1600]))]
    final = stream.finish()
    print("azure partials:", partials, "final:", final)
    assert "weather" in final.lower()
