"""Tencent Cloud TTS against a local fake of its wire protocol: signed requests, PCM audio,
per-character pinyin timings driving the lips; its errors in one line."""

from __future__ import annotations

import numpy as np
import pytest

from blendshape import rig
from blendshape.phonemes import to_viseme_spans
from blendshape.pinyin import UnknownSyllable, syllable_phonemes
from bridge.speech.tts.base import TTSError
from bridge.speech.tts.tencent import TencentTTS, subtitle_phonemes
from tests.speech.fake_tencent import CHAR_S, SECRET_ID, SECRET_KEY, FakeTencent


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", SECRET_ID)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", SECRET_KEY)
    server = FakeTencent()
    yield server
    server.close()


@pytest.mark.parametrize("syllable, phones", [
    ("ba4", ["p", "a"]), ("mai3", ["m", "a", "i"]), ("shu1", ["ʂ", "u"]), ("nv3", ["n", "y"]),
    ("ju4", ["tɕ", "y"]), ("xue2", ["ɕ", "ɥ", "ɛ"]), ("si4", ["s", "i̪"]), ("shi4", ["ʂ", "ɻ̩"]),
    ("er2", ["ɚ"]), ("wo3", ["w", "o"]), ("yu2", ["y"]), ("he1", ["x", "ɤ"]), ("yi1", ["i"]),
])
def test_pinyin_syllables_become_their_initial_and_final(syllable, phones):
    assert syllable_phonemes(syllable) == phones


def test_what_is_not_pinyin_is_refused():
    for junk in ("", "，", "abc1x", "qz3"):
        with pytest.raises(UnknownSyllable):
            syllable_phonemes(junk)


def test_subtitles_share_each_characters_time_between_its_initial_and_final():
    spans = subtitle_phonemes([{"BeginTime": 100, "EndTime": 300, "Phoneme": "ba4"},
                               {"BeginTime": 300, "EndTime": 400, "Phoneme": "，"},
                               {"BeginTime": 400, "EndTime": 600, "Phoneme": "wu3"}], 0.7)
    assert [(s.phoneme, round(s.start, 3), round(s.end, 3)) for s in spans] == [
        ("_", 0.0, 0.1), ("p", 0.1, 0.17), ("a", 0.17, 0.3), ("_", 0.3, 0.4), ("u", 0.4, 0.6),
        ("_", 0.6, 0.7)]


def test_a_signed_request_gets_audio_and_lip_timings(fake):
    tts = TencentTTS(endpoint=fake.url, voices=[101001])
    (voice,) = tts.voices()
    assert voice.id == "tencent:101001" and voice.lang == "zh-cn"
    (chunk,) = list(tts.synthesize("爸爸买了一本书。", voice))
    request = fake.requests[-1]
    assert request["VoiceType"] == 101001 and request["EnableSubtitle"] is True
    assert request["Codec"] == "pcm" and request["SampleRate"] == 16000
    assert chunk.rate == 16000 and chunk.duration == pytest.approx(7 * CHAR_S, abs=0.01)
    visemes = to_viseme_spans(chunk.phonemes, alphabet=chunk.alphabet, lang=chunk.lang)
    closures = [v for v in visemes if v.closure]
    assert len(closures) == 4  # 爸 爸 买 本: b b m b (书 is sh)
    first = closures[0]
    assert first.start == pytest.approx(0.0) and first.end == pytest.approx(CHAR_S * 0.35)
    # the closure sits where the fake's audio is silent (its first 60 ms of 爸)
    assert np.abs(chunk.pcm[: int(0.05 * 16000)]).max() == 0.0


def test_wrong_keys_and_a_dead_endpoint_are_one_line_errors(fake, monkeypatch):
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", "not-the-key")
    tts = TencentTTS(endpoint=fake.url)
    with pytest.raises(TTSError, match="AuthFailure.SignatureFailure") as caught:
        list(tts.synthesize("你好。", tts.voices()[0]))
    assert "\n" not in str(caught.value)
    dead = TencentTTS(endpoint="http://127.0.0.1:1")
    with pytest.raises(TTSError, match="unreachable"):
        list(dead.synthesize("你好。", dead.voices()[0]))
    monkeypatch.delenv("TENCENTCLOUD_SECRET_ID")
    with pytest.raises(TTSError, match=r"\$TENCENTCLOUD_SECRET_ID"):
        TencentTTS(endpoint=fake.url)


def test_a_slow_service_times_out_in_one_line(monkeypatch):
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", SECRET_ID)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", SECRET_KEY)
    slow = FakeTencent(delay=2.0)
    try:
        tts = TencentTTS(endpoint=slow.url, timeout=0.5)
        with pytest.raises(TTSError, match="no answer within 0.5 s"):
            list(tts.synthesize("你好。", tts.voices()[0]))
    finally:
        slow.close()


async def test_a_mandarin_say_through_the_server_closes_the_lips(fake):
    from bridge.server.host import Server, ServerConfig
    from bridge.session.config import SessionConfig
    from bridge.speech.tts.config import make_registry
    from tests.support.wsclient import Client, curves_array

    registry = make_registry({"tencent": {"endpoint": fake.url, "voices": [101001]}})
    server = Server(ServerConfig(port=0, warm_up=False, session=SessionConfig(idle=False)),
                    tts=registry)
    await server.start()
    try:
        client, _ = await Client.open(server.port, channels=["arkit52"])
        await client.send({"type": "say", "id": "t", "text": "爸爸不怕。", "voice": "tencent:101001"})
        msgs = await client.utterance("t", timeout=30)
        await client.close()
    finally:
        await server.stop()
    assert msgs[-1]["reason"] == "done"
    frames = np.concatenate([curves_array(m, 52) for m in msgs if m["type"] == "curves"])
    press = frames[:, rig.ARKIT_INDEX["mouthPressLeft"]]
    assert (press > 0.5).sum() >= 3


@pytest.mark.skipif(not __import__("os").environ.get("TALKBRIDGE_TENCENT_LIVE"),
                    reason="calls Tencent Cloud (costs quota): set TALKBRIDGE_TENCENT_LIVE=1 with "
                           "TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY")
def test_the_real_service_times_each_character():
    tts = TencentTTS(region="ap-guangzhou", voices=[101001])
    (chunk,) = list(tts.synthesize("爸爸买了一本书。", tts.voices()[0]))
    assert chunk.duration > 1.0
    assert sum(v.closure for v in to_viseme_spans(chunk.phonemes, "ipa", "cmn")) >= 4


async def _say(port: int, text: str, voice: str | None = None, id_: str = "u") -> list[dict]:
    from tests.support.wsclient import Client

    client, _ = await Client.open(port)
    try:
        msg = {"type": "say", "id": id_, "text": text, **({"voice": voice} if voice else {})}
        await client.send(msg)
        return await client.until(lambda m: m["type"] == "utterance" and m.get("state") == "end"
                                  and m.get("id") == id_, timeout=30)
    finally:
        await client.close()


async def test_a_refused_key_or_a_time_out_ends_that_utterance_and_the_session_goes_on(
        monkeypatch, registry):
    """A wrong key: one `error` naming Tencent's code, `utterance end` reason error, and the
    embedded default voice still speaks. A service that stops answering mid-sentence: the
    utterance ends with reason error after the provider's time-out."""
    from bridge.server.host import Server, ServerConfig
    from bridge.session.config import SessionConfig
    from bridge.speech.tts.registry import TTSRegistry

    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", SECRET_ID)
    for key, delay, timeout in (("expired-or-wrong", 0.0, 10.0), (SECRET_KEY, 3.0, 0.5)):
        monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", key)
        fake = FakeTencent(delay=delay)
        tts = TTSRegistry([TencentTTS(endpoint=fake.url, timeout=timeout), *registry.providers()],
                          default_voice=registry.default_voice)
        server = Server(ServerConfig(port=0, warm_up=False, session=SessionConfig(idle=False)),
                        tts=tts)
        await server.start()
        try:
            failed = await _say(server.port, "你好。", "tencent:101001", "a")
            errors = [m for m in failed if m["type"] == "error"]
            assert len(errors) == 1 and failed[-1]["reason"] == "error"
            assert ("AuthFailure.SignatureFailure" if delay == 0 else "no answer within 0.5 s") \
                in errors[0]["message"]
            spoken = await _say(server.port, "Still talking.", None, "b")  # the embedded default
            assert spoken[-1]["reason"] == "done" and any(m["type"] == "audio" for m in spoken)
        finally:
            await server.stop()
            fake.close()


def test_recognition_sends_the_turn_whole_and_returns_tencents_result(fake):
    from bridge.speech.asr.registry import make_asr

    asr = make_asr("tencent", {"endpoint": fake.url, "engine": "16k_zh"})
    stream = asr.new_stream("zh-cn")
    tone = (0.2 * np.sin(2 * np.pi * 220 * np.arange(16000) / 16000)).astype(np.float32)
    assert stream.push(tone[:8000]) is None and stream.push(tone[8000:]) is None  # no partials
    assert stream.finish() == "你好"
    request = fake.requests[-1]
    assert request["EngSerViceType"] == "16k_zh" and request["SourceType"] == 1
    assert request["DataLen"] == 32000 and len(fake.heard[-1]) == 16000
    np.testing.assert_allclose(fake.heard[-1] / 32767, tone, atol=1e-4)


def test_recognition_errors_are_one_line(fake, monkeypatch):
    from bridge.speech.asr.base import ASRError
    from bridge.speech.asr.tencent import TencentASR

    with pytest.raises(ASRError, match="16k_ engine"):
        TencentASR(engine="8k_zh", endpoint=fake.url)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", "wrong")
    stream = TencentASR(endpoint=fake.url).new_stream()
    stream.push(np.zeros(1600, np.float32))
    with pytest.raises(ASRError, match="tencent ASR refused: AuthFailure.SignatureFailure"):
        stream.finish()


async def test_a_spoken_turn_is_recognized_by_tencent_in_the_dialogue(fake, registry, tmp_path):
    """The dialogue loop with `[asr] provider = "tencent"`: a user's turn (flite's voice as a
    mic stream) goes to Tencent whole at its end, and its result is the final transcript."""
    from bridge.dialogue.config import DialogueConfig
    from bridge.server.host import Server, ServerConfig
    from bridge.session.config import SessionConfig
    from tests.dialogue.conftest import flite_speech, silence, stream_mic
    from tests.support.wsclient import Client

    server = Server(ServerConfig(port=0, session=SessionConfig(idle=False), dialogue=DialogueConfig(
        memory=":memory:", asr={"provider": "tencent", "endpoint": fake.url})), tts=registry)
    await server.start()
    try:
        client, _ = await Client.open(server.port, user="li")
        speech = np.concatenate([silence(0.3), flite_speech("Hello there.", tmp_path), silence(1.0)])
        await stream_mic(client, speech)
        final = (await client.until(lambda m: m["type"] == "transcript" and m.get("final"),
                                    timeout=30))[-1]
        await client.close()
    finally:
        await server.stop()
    assert final["text"] == "你好"
    assert 0.5 < len(fake.heard[-1]) / 16000 < 3.0  # the turn, not the silence around it
