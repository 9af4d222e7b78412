"""Riva ASR and TTS: the real client code against Riva's own gRPC services on loopback.

The fake server (``fake_riva.py``) is built from the servicer classes nvidia-riva-client
ships, so every byte crosses real HTTP/2 exactly as it would to a Riva deployment. One test
talks to a real Riva when ``TALKBRIDGE_RIVA_SERVER`` is set.
"""

from __future__ import annotations

import os
import socket
import sys
import time

import numpy as np
import pytest

pytest.importorskip("riva.client", reason="the Riva tests need the riva extra: "
                    "pip install talkbridge[riva] (or [dev])")
from riva.client.proto import riva_asr_pb2, riva_audio_pb2  # noqa: E402

from bridge.speech.asr.base import ASRError, ASRProvider, ASRStream  # noqa: E402
from bridge.speech.asr.registry import make_asr  # noqa: E402
from bridge.speech.asr.riva import RivaASR, RivaTranscript  # noqa: E402
from bridge.speech.riva_endpoint import riva_language  # noqa: E402
from bridge.speech.tts.base import TTSError, TTSProvider  # noqa: E402
from bridge.speech.tts.registry import TTSRegistry  # noqa: E402
from bridge.speech.tts.riva import RivaTTS, voice_language  # noqa: E402
from tests.speech.fake_riva import FakeRiva, speech_like  # noqa: E402

RATE = 16000
CHUNK = RATE // 10  # 100 ms, a typical mic message
KEY_ENV = "TALKBRIDGE_TEST_RIVA_KEY"


def _audio(seconds: float) -> np.ndarray:
    return speech_like(int(seconds * RATE), RATE)


def _wait_partial(stream: ASRStream, within: float = 0.3) -> str | None:
    """Poll with empty pushes until the partial changes (responses arrive asynchronously)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        partial = stream.push(np.zeros(0, np.float32))
        if partial is not None:
            return partial
        time.sleep(0.002)
    return None


def _speak(stream: ASRStream, seconds: float, step: int = CHUNK) -> list[str]:
    """Push ``seconds`` of audio in mic-sized chunks; the partials seen along the way."""
    audio = _audio(seconds)
    partials: list[str] = []
    for start in range(0, len(audio), step):
        partial = stream.push(audio[start:start + step]) or _wait_partial(stream, 0.05)
        if partial is not None:
            partials.append(partial)
    return partials


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def fake() -> FakeRiva:
    with FakeRiva() as server:
        yield server


# -- recognition --------------------------------------------------------------------------


def test_partials_grow_then_the_final_joins_every_phrase(fake: FakeRiva) -> None:
    asr = RivaASR(server=fake.address, timeout=2.0)
    assert isinstance(asr, ASRProvider) and asr.rate == RATE
    stream = asr.new_stream()
    assert isinstance(stream, ASRStream)
    partials = _speak(stream, 2.5)
    final = stream.finish()
    assert final == "hello there how are you today"
    assert partials[0] == "hello"
    assert len(partials) >= 4
    assert all(b.startswith(a) for a, b in zip(partials, partials[1:])), partials
    assert stream.finish() == final  # idempotent
    stream.cancel()                  # safe after finish


def test_the_final_holds_only_what_was_heard(fake: FakeRiva) -> None:
    stream = RivaASR(server=fake.address).new_stream()
    _speak(stream, 0.6)  # "hello" at 0.0 s, "there" at 0.25 s, "how" would start at 0.9 s
    assert stream.finish() == "hello there"


def test_the_server_sees_riva_s_streaming_config(fake: FakeRiva) -> None:
    asr = RivaASR(server=fake.address, punctuation=False)
    for lang in (None, "de"):
        stream = asr.new_stream(lang)
        _speak(stream, 0.2)
        stream.finish()
    first, second = fake.seen_configs
    assert first.interim_results is True
    config = first.config
    assert config.encoding == riva_audio_pb2.AudioEncoding.LINEAR_PCM
    assert config.sample_rate_hertz == RATE
    assert (config.language_code, config.max_alternatives, config.audio_channel_count) == \
        ("en-US", 1, 1)
    assert config.enable_automatic_punctuation is False
    assert second.config.language_code == "de-DE"


def test_a_language_the_server_lacks_is_named_in_the_error(fake: FakeRiva) -> None:
    stream = RivaASR(server=fake.address).new_stream("ja")
    with pytest.raises(ASRError) as err:
        _speak(stream, 0.3)
        stream.finish()
    message = str(err.value)
    assert "INVALID_ARGUMENT" in message and "language_code=ja-JP" in message
    assert "check language_code" in message


def test_two_turns_share_one_channel_concurrently(fake: FakeRiva) -> None:
    asr = RivaASR(server=fake.address, timeout=2.0)
    one, two = asr.new_stream(), asr.new_stream()
    audio = _audio(1.0)
    for start in range(0, len(audio), CHUNK):
        one.push(audio[start:start + CHUNK])
        two.push(audio[start:start + CHUNK // 2])  # half as much audio
    assert one.finish() == "hello there how"  # "how" starts at 0.9 s
    assert two.finish() == "hello there"


@pytest.mark.parametrize("key, ok", [("right-key", True), ("wrong-key", False)])
def test_the_api_key_goes_as_a_bearer_token(monkeypatch: pytest.MonkeyPatch, key: str,
                                            ok: bool) -> None:
    monkeypatch.setenv(KEY_ENV, key)
    with FakeRiva(api_key="right-key") as fake:
        asr = RivaASR(server=fake.address, api_key_env=KEY_ENV, function_id="fn-123")
        stream = asr.new_stream()
        if ok:
            _speak(stream, 0.3)
            assert stream.finish() == "hello there"
        else:
            with pytest.raises(ASRError) as err:
                _speak(stream, 0.3)
                stream.finish()
            assert "UNAUTHENTICATED" in str(err.value) and KEY_ENV in str(err.value)
        metadata = fake.seen_metadata[0]
        assert metadata["authorization"] == f"Bearer {key}"
        assert metadata["function-id"] == "fn-123"


def test_an_unset_key_variable_fails_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(ASRError, match=KEY_ENV):
        RivaASR(api_key_env=KEY_ENV)
    with pytest.raises(TTSError, match=KEY_ENV):
        RivaTTS(api_key_env=KEY_ENV)


def test_a_server_that_never_answers_times_out_at_finish() -> None:
    with FakeRiva(fault="hang") as fake:
        stream = RivaASR(server=fake.address, timeout=0.5).new_stream()
        assert _speak(stream, 0.3) == []
        start = time.monotonic()
        with pytest.raises(ASRError, match=r"no final result within 0\.5 s"):
            stream.finish()
        waited = time.monotonic() - start
    assert 0.45 <= waited < 1.5


def test_a_dropped_connection_fails_the_turn() -> None:
    with FakeRiva(fault="drop", fault_after_s=0.5) as fake:
        stream = RivaASR(server=fake.address, timeout=2.0).new_stream()
        with pytest.raises(ASRError) as err:
            _speak(stream, 2.0)
            stream.finish()
    assert "UNAVAILABLE" in str(err.value) and "mid-stream" in str(err.value)


def test_a_stream_the_server_ends_early_fails_the_turn() -> None:
    with FakeRiva(fault="close", fault_after_s=0.5) as fake:
        stream = RivaASR(server=fake.address).new_stream()
        with pytest.raises(ASRError, match="before the end of the turn"):
            _speak(stream, 2.0)
            stream.finish()


def test_no_server_says_how_to_start_one() -> None:
    stream = RivaASR(server=f"127.0.0.1:{_closed_port()}", timeout=2.0).new_stream()
    with pytest.raises(ASRError) as err:
        _speak(stream, 0.2)
        stream.finish()
    assert "UNAVAILABLE" in str(err.value) and "riva_start.sh" in str(err.value)


def test_cancel_stops_the_stream_quietly(fake: FakeRiva) -> None:
    stream = RivaASR(server=fake.address).new_stream()
    _speak(stream, 0.3)
    stream.cancel()
    stream.cancel()
    with pytest.raises(ASRError, match="finished or cancelled"):
        stream.push(_audio(0.1))


def test_the_transcript_folds_riva_responses_like_riva_s_client() -> None:
    def response(*results: tuple[str, bool]) -> riva_asr_pb2.StreamingRecognizeResponse:
        return riva_asr_pb2.StreamingRecognizeResponse(results=[
            riva_asr_pb2.StreamingRecognitionResult(
                alternatives=[riva_asr_pb2.SpeechRecognitionAlternative(transcript=text)],
                is_final=final) for text, final in results])

    transcript = RivaTranscript()
    transcript.feed(response(("what", False)))
    assert transcript.take_partial() == "what"
    transcript.feed(response(("what", False)))
    assert transcript.take_partial() is None  # unchanged
    transcript.feed(response(("what is", False), (" the time", False)))  # stable + unstable
    assert transcript.take_partial() == "what is the time"
    transcript.feed(response(("What is the time? ", True)))
    transcript.feed(riva_asr_pb2.StreamingRecognizeResponse())  # Riva sends empty ones too
    transcript.feed(response(("please", False)))
    assert transcript.take_partial() == "What is the time? please"
    transcript.feed(response(("Please. ", True)))
    assert transcript.final == "What is the time? Please."


def test_language_codes() -> None:
    assert riva_language("en") == "en-US"
    assert riva_language("fr_fr") == "fr-FR"
    assert riva_language("es-US") == "es-US"
    assert voice_language("English-US.Female-1") == "en-US"
    assert voice_language("Magpie-Multilingual.EN-US.Aria") == "en-US"
    assert voice_language("Mandarin-CN.Female-1") == "zh-CN"
    assert voice_language("MyCustomVoice", "de-DE") == "de-DE"


def test_without_the_client_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "riva.client.proto", None)  # not importable
    with pytest.raises(ASRError, match=r"pip install talkbridge\[riva\]"):
        RivaASR()
    with pytest.raises(TTSError, match=r"pip install talkbridge\[riva\]"):
        RivaTTS()


def test_the_asr_registry_builds_riva_with_its_options(fake: FakeRiva) -> None:
    asr = make_asr("riva", {"server": fake.address, "timeout": 0.5})
    assert isinstance(asr, RivaASR) and asr.timeout == 0.5
    with pytest.raises(ValueError, match="valid options"):
        make_asr("riva", {"sever": fake.address})


# -- synthesis ----------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [22050, 44100])
def test_synthesis_returns_each_sentence_at_the_asked_rate(fake: FakeRiva, rate: int) -> None:
    tts = RivaTTS(server=fake.address, sample_rate=rate)
    assert isinstance(tts, TTSProvider)
    voice = tts.voices()[0]
    assert (voice.id, voice.lang) == ("riva:English-US.Female-1", "en-US")
    chunks = list(tts.synthesize("Hello there. How are you today?", voice))
    assert [c.text for c in chunks] == ["Hello there.", "How are you today?"]
    for chunk in chunks:
        assert chunk.rate == rate and chunk.pcm.dtype == np.float32
        assert len(chunk.pcm) == round(len(chunk.text) * fake.seconds_per_char * rate)
        assert chunk.phonemes == []  # no timings: the audio→face network animates it
        assert 0.05 < float(np.sqrt(np.mean(chunk.pcm ** 2))) and np.abs(chunk.pcm).max() <= 1
    request = fake.seen_tts[0]
    assert (request.text, request.voice_name, request.language_code) == \
        ("Hello there.", "English-US.Female-1", "en-US")
    assert request.encoding == riva_audio_pb2.AudioEncoding.LINEAR_PCM
    assert request.sample_rate_hz == rate


def test_synthesis_is_lazy_one_call_per_sentence(fake: FakeRiva) -> None:
    tts = RivaTTS(server=fake.address)
    chunks = tts.synthesize("One. Two. Three!", tts.voices()[0])
    next(chunks)
    assert len(fake.seen_tts) == 1
    chunks.close()


def test_real_speech_from_the_fake_server() -> None:
    with FakeRiva(speech="espeak") as fake:
        tts = RivaTTS(server=fake.address, sample_rate=16000)
        (chunk,) = tts.synthesize("Hello world.", tts.voices()[0])
    assert chunk.rate == 16000 and 0.4 < chunk.duration < 3.0


def test_voices_and_the_tts_registry(fake: FakeRiva) -> None:
    tts = RivaTTS(server=fake.address,
                  voices=["English-US.Male-1", {"name": "Custom-Voice", "lang": "de"}])
    assert [(v.id, v.lang) for v in tts.voices()] == [
        ("riva:English-US.Male-1", "en-US"), ("riva:Custom-Voice", "de-DE")]
    registry = TTSRegistry([tts])
    assert registry.resolve("riva:English-US.Male-1")[0] is tts
    assert registry.resolve(lang="de")[1].name == "Custom-Voice"


def test_a_voice_the_server_lacks_is_named_in_the_error(fake: FakeRiva) -> None:
    tts = RivaTTS(server=fake.address, voices=["English-GB.Female-1"])
    with pytest.raises(TTSError) as err:
        list(tts.synthesize("Hello.", tts.voices()[0]))
    assert "INVALID_ARGUMENT" in str(err.value) and "English-GB.Female-1" in str(err.value)


@pytest.mark.parametrize("fault, status", [("hang", "DEADLINE_EXCEEDED"),
                                           ("drop", "UNAVAILABLE"),
                                           ("unauthenticated", "UNAUTHENTICATED")])
def test_synthesis_faults_become_tts_errors(fault: str, status: str) -> None:
    with FakeRiva(fault=fault) as fake:
        tts = RivaTTS(server=fake.address, timeout=0.5)
        start = time.monotonic()
        with pytest.raises(TTSError) as err:
            list(tts.synthesize("Hello there.", tts.voices()[0]))
        waited = time.monotonic() - start
    assert status in str(err.value)
    assert waited < 1.5


def test_synthesis_with_a_wrong_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "wrong-key")
    with FakeRiva(api_key="right-key") as fake:
        tts = RivaTTS(server=fake.address, api_key_env=KEY_ENV)
        with pytest.raises(TTSError, match=f"UNAUTHENTICATED.*{KEY_ENV}"):
            list(tts.synthesize("Hello.", tts.voices()[0]))


# -- a real Riva --------------------------------------------------------------------------


@pytest.mark.skipif(not os.environ.get("TALKBRIDGE_RIVA_SERVER"),
                    reason="set TALKBRIDGE_RIVA_SERVER=host:port (plus TALKBRIDGE_RIVA_SSL=1, "
                           "TALKBRIDGE_RIVA_API_KEY_ENV, TALKBRIDGE_RIVA_TTS_FUNCTION_ID and "
                           "TALKBRIDGE_RIVA_ASR_FUNCTION_ID for NVIDIA-hosted NIMs) to run "
                           "against a real Riva")
def test_a_real_riva_round_trip() -> None:
    """Riva speaks a sentence, then recognizes its own speech."""
    common = {"server": os.environ["TALKBRIDGE_RIVA_SERVER"],
              "use_ssl": os.environ.get("TALKBRIDGE_RIVA_SSL") == "1",
              "api_key_env": os.environ.get("TALKBRIDGE_RIVA_API_KEY_ENV") or None}
    voice = os.environ.get("TALKBRIDGE_RIVA_VOICE", "English-US.Female-1")
    tts = RivaTTS(voices=[voice], sample_rate=RATE,
                  function_id=os.environ.get("TALKBRIDGE_RIVA_TTS_FUNCTION_ID"), **common)
    chunks = list(tts.synthesize("What is the weather like today?", tts.voices()[0]))
    assert chunks and chunks[0].rate == RATE and chunks[0].duration > 0.5
    asr = RivaASR(function_id=os.environ.get("TALKBRIDGE_RIVA_ASR_FUNCTION_ID"), **common)
    stream = asr.new_stream()
    for chunk in chunks:
        for start in range(0, len(chunk.pcm), CHUNK):
            stream.push(chunk.pcm[start:start + CHUNK])
    stream.push(np.zeros(RATE // 2, np.float32))
    assert "weather" in stream.finish().lower()
