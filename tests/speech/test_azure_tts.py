"""Azure TTS: viseme events → phoneme spans, blend-shape chunks → ARKit frames, the SDK glue.

The conversions are pure and tested on event payloads in the exact form the Speech SDK
delivers them (``SpeechSynthesisVisemeEventArgs``: ``audio_offset`` in 100-ns ticks,
``viseme_id``, ``animation``). The sequences below follow what the SDK logs for "Hello
world." with en-US-JennyNeural at 24 kHz (a 50 ms lead silence, about 0.7 s of trailing
silence after the last viseme, and, in FacialExpression mode, the blend-shape chunks on
extra events with offset 0 and viseme 0 after the visemes). They were transcribed into
that form, not captured in this repository: the live test (``TALKBRIDGE_AZURE_LIVE=1``)
checks the same invariants against the service.
"""

from __future__ import annotations

import json
import os
import sys
import types
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from blendshape.phonemes import ipa_visemes, to_viseme_spans
from blendshape.procedural import animate, frame_times
from blendshape.rig import ARKIT52, ARKIT_INDEX
from bridge.speech.tts.azure import (
    AZURE_BLENDSHAPES,
    AZURE_VISEME_IPA,
    AzureTTS,
    VisemeEvent,
    arkit_frames,
    blendshape_frames,
    build_ssml,
    chunk_from_synthesis,
    event_from_sdk,
    frames_for,
    viseme_spans,
    voice_for,
)
from bridge.speech.tts.base import TTSError, TTSProvider

RATE = 24000
DURATION = 1.4  # seconds of audio Azure returned for the sentence
#: (audio_offset ticks, viseme_id) for "Hello world.": sil h ɛ l oʊ w ɝ l d sil
HELLO_WORLD = [(500_000, 0), (1_000_000, 12), (1_500_000, 4), (2_125_000, 14),
               (2_750_000, 8), (4_000_000, 7), (4_625_000, 5), (5_750_000, 14),
               (6_500_000, 19), (7_375_000, 0)]
#: Microsoft's table: viseme ID → the IPA symbols it stands for.
MICROSOFT_GROUPS = {0: [""], 1: ["æ", "ə", "ʌ"], 2: ["ɑ"], 3: ["ɔ"], 4: ["ɛ", "ʊ"], 5: ["ɝ"],
                    6: ["j", "i", "ɪ"], 7: ["w", "u"], 8: ["o"], 9: ["aʊ"], 10: ["ɔɪ"],
                    11: ["aɪ"], 12: ["h"], 13: ["ɹ"], 14: ["l"], 15: ["s", "z"],
                    16: ["ʃ", "tʃ", "dʒ", "ʒ"], 17: ["ð"], 18: ["f", "v"],
                    19: ["d", "t", "n", "θ"], 20: ["k", "g", "ŋ"], 21: ["p", "b", "m"]}
#: The documented order of the 55 values of a ``BlendShapes`` frame.
DOCUMENTED_ORDER = """eyeBlinkLeft eyeLookDownLeft eyeLookInLeft eyeLookOutLeft eyeLookUpLeft
eyeSquintLeft eyeWideLeft eyeBlinkRight eyeLookDownRight eyeLookInRight eyeLookOutRight
eyeLookUpRight eyeSquintRight eyeWideRight jawForward jawLeft jawRight jawOpen mouthClose
mouthFunnel mouthPucker mouthLeft mouthRight mouthSmileLeft mouthSmileRight mouthFrownLeft
mouthFrownRight mouthDimpleLeft mouthDimpleRight mouthStretchLeft mouthStretchRight
mouthRollLower mouthRollUpper mouthShrugLower mouthShrugUpper mouthPressLeft mouthPressRight
mouthLowerDownLeft mouthLowerDownRight mouthUpperUpLeft mouthUpperUpRight browDownLeft
browDownRight browInnerUp browOuterUpLeft browOuterUpRight cheekPuff cheekSquintLeft
cheekSquintRight noseSneerLeft noseSneerRight tongueOut headRoll leftEyeRoll
rightEyeRoll""".split()
#: jawOpen and mouthPucker of the 45 frames Azure sent (two chunks: 24 + 21 frames).
JAW_OPEN = [0.0, 0.004, 0.011, 0.02, 0.05, 0.081, 0.113, 0.132, 0.141, 0.128, 0.104, 0.09,
            0.118, 0.164, 0.211, 0.247, 0.268, 0.281, 0.293, 0.302, 0.309, 0.297, 0.262, 0.21,
            0.151, 0.102, 0.071, 0.06, 0.081, 0.12, 0.155, 0.171, 0.166, 0.141, 0.12, 0.104,
            0.097, 0.088, 0.064, 0.041, 0.026, 0.014, 0.007, 0.003, 0.001]
PUCKER = [0.0] * 20 + [0.08, 0.19, 0.33, 0.46, 0.55, 0.58, 0.51, 0.39, 0.25, 0.14, 0.08,
                       0.05, 0.04, 0.03, 0.02, 0.02, 0.01, 0.01, 0.0, 0.0, 0.0, 0.0, 0.0,
                       0.0, 0.0]


def _frame(k: int) -> list[float]:
    row = [0.0] * 55
    row[ARKIT_INDEX["eyeSquintLeft"]] = row[ARKIT_INDEX["eyeSquintRight"]] = 0.043
    row[ARKIT_INDEX["jawOpen"]] = JAW_OPEN[k]
    row[ARKIT_INDEX["mouthPucker"]] = PUCKER[k]
    row[52] = 0.5  # headRoll: Azure's neutral
    return row


def _animation(first: int, count: int) -> str:
    """One ``animation`` payload as the SDK hands it over: compact JSON text."""
    return json.dumps({"FrameIndex": first,
                       "BlendShapes": [_frame(k) for k in range(first, first + count)]},
                      separators=(",", ":"))


VISEME_EVENTS = [VisemeEvent(offset, vid) for offset, vid in HELLO_WORLD]
BLENDSHAPE_EVENTS = VISEME_EVENTS + [VisemeEvent(0, 0, _animation(0, 24)),
                                     VisemeEvent(0, 0, _animation(24, 21))]


def _pcm_bytes(seconds: float) -> bytes:
    t = np.arange(int(seconds * RATE)) / RATE
    return (np.sin(2 * np.pi * 180 * t) * 8000).astype("<i2").tobytes()


# -- viseme IDs → phonemes -----------------------------------------------------------------


def test_every_viseme_id_speaks_for_its_microsoft_group() -> None:
    assert len(AZURE_VISEME_IPA) == 22
    for vid, group in MICROSOFT_GROUPS.items():
        symbol = AZURE_VISEME_IPA[vid]
        assert symbol in group, (vid, symbol)
        # The representative moves the mouth as the group's first symbol does.
        assert ipa_visemes(symbol, "en-US") == ipa_visemes(group[0], "en-US"), vid


def test_viseme_events_become_contiguous_phoneme_spans() -> None:
    spans = viseme_spans(VISEME_EVENTS, DURATION)
    assert [s.phoneme for s in spans] == ["", "", "h", "ɛ", "l", "o", "u", "ɝ", "l", "t", ""]
    assert spans[0].start == 0.0 and spans[-1].end == DURATION
    assert all(a.end == b.start for a, b in zip(spans, spans[1:]))
    assert (spans[4].start, spans[4].end) == (0.2125, 0.275)  # ticks / 10^7
    visemes = [v.viseme for v in to_viseme_spans(spans, "ipa", "en-US")]
    assert visemes == ["sil", "sil", "E", "nn", "oh", "ou", "RR", "nn", "DD", "sil"]


def test_blend_shape_carriers_are_not_visemes() -> None:
    assert viseme_spans(BLENDSHAPE_EVENTS, DURATION) == viseme_spans(VISEME_EVENTS, DURATION)


def test_spans_stop_at_the_audio_end_and_tolerate_odd_events() -> None:
    events = [VisemeEvent(2_000_000, 21), VisemeEvent(1_000_000, 6), VisemeEvent(1_000_000, 7),
              VisemeEvent(3_000_000, 99)]
    spans = viseme_spans(events, 0.25)
    assert [(s.phoneme, s.start, s.end) for s in spans] == [
        ("", 0.0, 0.1), ("u", 0.1, 0.2), ("p", 0.2, 0.25)]
    assert viseme_spans([], 1.0) == []


def test_the_procedural_animator_drives_the_face_from_azure_timings() -> None:
    spans = viseme_spans(VISEME_EVENTS, DURATION)
    times = frame_times(0, frames_for(DURATION), 60)
    frames = animate(to_viseme_spans(spans, "ipa", "en-US"), times)
    jaw = frames[:, ARKIT_INDEX["jawOpen"]]
    assert jaw[int(0.33 * 60)] > 0.1 > jaw[int(1.2 * 60)]  # open on "o", closed after


# -- blend shapes → ARKit frames --------------------------------------------------------


def test_azure_s_55_values_start_with_arkit_52_in_our_order() -> None:
    assert list(AZURE_BLENDSHAPES) == DOCUMENTED_ORDER
    assert AZURE_BLENDSHAPES[:52] == ARKIT52


def test_chunks_assemble_in_frame_index_order_and_pad_to_the_audio() -> None:
    animations = [e.animation for e in reversed(BLENDSHAPE_EVENTS)]  # any arrival order
    frames = blendshape_frames(animations, frames_for(DURATION))
    assert frames.shape == (84, 55) and frames.dtype == np.float32
    arkit = arkit_frames(frames)
    assert arkit.shape == (84, 52)
    np.testing.assert_allclose(arkit[:45, ARKIT_INDEX["jawOpen"]], JAW_OPEN, atol=1e-6)
    np.testing.assert_allclose(arkit[:45, ARKIT_INDEX["mouthPucker"]], PUCKER, atol=1e-6)
    np.testing.assert_array_equal(arkit[45:], np.repeat(arkit[44:45], 39, axis=0))  # held


def test_frames_and_visemes_share_the_chunk_clock() -> None:
    """Frame k is at k/60 s from the chunk's first sample, as viseme offsets are."""
    chunk = chunk_from_synthesis(_pcm_bytes(DURATION), RATE, BLENDSHAPE_EVENTS, "Hello world.",
                                 "en-US", blendshapes=True)
    arkit = chunk.meta["arkit60"]
    assert isinstance(arkit, np.ndarray) and arkit.shape == (frames_for(chunk.duration), 52)
    peak = int(np.argmax(arkit[:, ARKIT_INDEX["jawOpen"]])) / 60.0
    (o_span,) = [s for s in chunk.phonemes if s.phoneme == "o"]
    assert o_span.start <= peak < o_span.end  # the jaw opens widest on "o"
    pucker = int(np.argmax(arkit[:, ARKIT_INDEX["mouthPucker"]])) / 60.0
    (w_span,) = [s for s in chunk.phonemes if s.phoneme == "u"]
    assert w_span.start <= pucker < w_span.end  # the lips round on "w"


def test_gaps_hold_the_frame_before_and_bad_chunks_are_refused() -> None:
    frames = blendshape_frames([_animation(0, 2), _animation(4, 1)])
    assert frames.shape == (5, 55)
    np.testing.assert_array_equal(frames[2], frames[1])
    np.testing.assert_array_equal(frames[3], frames[1])
    with pytest.raises(ValueError, match="malformed"):
        blendshape_frames(['{"FrameIndex": 0'])
    with pytest.raises(ValueError, match="expected"):
        blendshape_frames([json.dumps({"FrameIndex": 0, "BlendShapes": [[0.1] * 52]})])
    assert blendshape_frames(["", json.dumps({"FrameIndex": 3, "BlendShapes": []})]).shape == \
        (0, 55)


def test_viseme_mode_chunks_carry_no_frames() -> None:
    chunk = chunk_from_synthesis(_pcm_bytes(DURATION), RATE, VISEME_EVENTS, "Hello world.",
                                 "en-US", blendshapes=False)
    assert chunk.rate == RATE and len(chunk.pcm) == int(DURATION * RATE)
    assert "arkit60" not in chunk.meta and chunk.phonemes and chunk.alphabet == "ipa"


def test_ssml_asks_for_blend_shapes_only_when_told() -> None:
    ssml = build_ssml("Fish & <chips>", "en-US-JennyNeural", "en-US", blendshapes=True)
    root = ET.fromstring(ssml)
    voice = root.find("{http://www.w3.org/2001/10/synthesis}voice")
    assert voice is not None and voice.get("name") == "en-US-JennyNeural"
    viseme = voice.find("{http://www.w3.org/2001/mstts}viseme")
    assert viseme is not None and viseme.get("type") == "FacialExpression"
    assert "".join(voice.itertext()) == "Fish & <chips>"
    plain = ET.fromstring(build_ssml("Hi.", "en-US-JennyNeural", "en-US", blendshapes=False))
    assert plain.find(".//{http://www.w3.org/2001/mstts}viseme") is None


# -- the SDK glue, with a stand-in SDK replaying the recorded events --------------------


class _Signal:
    def __init__(self) -> None:
        self.handlers: list = []

    def connect(self, handler) -> None:
        self.handlers.append(handler)


class _FakeSynthesizer:
    ssml: list[str] = []
    cancel: str | None = None

    def __init__(self, speech_config, audio_config) -> None:
        assert audio_config is None  # never the speakers
        self.viseme_received = _Signal()

    def speak_ssml_async(self, ssml: str):
        type(self).ssml.append(ssml)
        events = BLENDSHAPE_EVENTS if "FacialExpression" in ssml else VISEME_EVENTS
        for event in events:
            for handler in self.viseme_received.handlers:
                handler(types.SimpleNamespace(audio_offset=event.audio_offset,
                                              viseme_id=event.viseme_id,
                                              animation=event.animation))
        if self.cancel:
            details = types.SimpleNamespace(error_code=self.cancel, error_details="401 Unauthorized")
            result = types.SimpleNamespace(reason="ResultReason.Canceled",
                                           cancellation_details=details)
        else:
            result = types.SimpleNamespace(reason="ResultReason.SynthesizingAudioCompleted",
                                           audio_data=_pcm_bytes(DURATION))
        return types.SimpleNamespace(get=lambda: result)


@pytest.fixture
def sdk(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    module = types.ModuleType("azure.cognitiveservices.speech")
    formats = types.SimpleNamespace(Raw24Khz16BitMonoPcm="raw24", Raw48Khz16BitMonoPcm="raw48")

    class SpeechConfig:
        def __init__(self, **kwargs: str) -> None:
            self.kwargs, self.format = kwargs, None

        def set_speech_synthesis_output_format(self, value: str) -> None:
            self.format = value

    module.SpeechConfig, module.SpeechSynthesisOutputFormat = SpeechConfig, formats
    module.SpeechSynthesizer = _FakeSynthesizer
    _FakeSynthesizer.ssml, _FakeSynthesizer.cancel = [], None
    parent, root = types.ModuleType("azure.cognitiveservices"), types.ModuleType("azure")
    parent.speech, root.cognitiveservices = module, parent
    for name, mod in (("azure", root), ("azure.cognitiveservices", parent),
                      ("azure.cognitiveservices.speech", module)):
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.setenv("AZURE_SPEECH_KEY", "test-key")
    return module


def test_the_provider_speaks_sentence_by_sentence(sdk: types.ModuleType) -> None:
    tts = AzureTTS(region="westeurope", animation="blendshapes")
    assert isinstance(tts, TTSProvider)
    assert tts._config.kwargs == {"subscription": "test-key", "region": "westeurope"}
    assert tts._config.format == "raw24"
    (voice,) = tts.voices()
    assert (voice.id, voice.lang) == ("azure:en-US-JennyNeural", "en-US")
    chunks = list(tts.synthesize("Hello world. Hello again!", voice))
    assert [c.text for c in chunks] == ["Hello world.", "Hello again!"]
    assert len(_FakeSynthesizer.ssml) == 2 and "FacialExpression" in _FakeSynthesizer.ssml[0]
    for chunk in chunks:  # each sentence's events are its own, on its own clock
        assert chunk.phonemes == viseme_spans(VISEME_EVENTS, DURATION)
        assert chunk.meta["arkit60"].shape == (84, 52)


def test_a_canceled_synthesis_says_what_to_fix(sdk: types.ModuleType) -> None:
    _FakeSynthesizer.cancel = "AuthenticationFailure"
    tts = AzureTTS(region="westeurope")
    with pytest.raises(TTSError, match="AuthenticationFailure.*check the key and the region"):
        list(tts.synthesize("Hello.", tts.voices()[0]))


def test_configuration_errors_are_actionable(sdk: types.ModuleType,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(TTSError, match="animation"):
        AzureTTS(region="westeurope", animation="svg")
    with pytest.raises(TTSError, match="44100"):
        AzureTTS(region="westeurope", rate=12345)
    monkeypatch.delenv("AZURE_SPEECH_REGION", raising=False)
    with pytest.raises(TTSError, match="region"):
        AzureTTS()
    monkeypatch.delenv("MY_AZURE_KEY", raising=False)
    with pytest.raises(TTSError, match="MY_AZURE_KEY"):
        AzureTTS(region="westeurope", key_env="MY_AZURE_KEY")


def test_without_the_sdk_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_SPEECH_KEY", "test-key")
    monkeypatch.setitem(sys.modules, "azure.cognitiveservices.speech", None)  # not importable
    with pytest.raises(TTSError, match=r"pip install talkbridge\[azure\]"):
        AzureTTS(region="westeurope")


def test_sdk_events_and_voice_names() -> None:
    evt = types.SimpleNamespace(audio_offset=2_750_000, viseme_id=8, animation=None)
    assert event_from_sdk(evt) == VisemeEvent(2_750_000, 8, "")
    assert voice_for("zh-CN-XiaoxiaoNeural").lang == "zh-CN"
    assert voice_for("en-US-AndrewMultilingualNeural").id == "azure:en-US-AndrewMultilingualNeural"


# -- the real service ---------------------------------------------------------------------


@pytest.mark.skipif(os.environ.get("TALKBRIDGE_AZURE_LIVE") != "1",
                    reason="calls Azure (costs quota): set TALKBRIDGE_AZURE_LIVE=1 with "
                           "AZURE_SPEECH_KEY, AZURE_SPEECH_REGION and "
                           "pip install talkbridge[azure]")
def test_live_azure_blend_shapes() -> None:
    tts = AzureTTS(animation="blendshapes")
    (chunk,) = tts.synthesize("Hello world.", tts.voices()[0])
    assert chunk.rate == 24000 and chunk.duration > 0.5
    assert chunk.phonemes and chunk.phonemes[-1].end == pytest.approx(chunk.duration)
    arkit = chunk.meta["arkit60"]
    assert arkit.shape == (frames_for(chunk.duration), 52)
    assert float(arkit[:, ARKIT_INDEX["jawOpen"]].max()) > 0.05
