"""PocketSphinx on real synthesized speech (Piper, espeak-ng, flite), its decoder pool, its
errors, and the ASR registry (Whisper is the default where it is installed, PocketSphinx
otherwise)."""

from __future__ import annotations

import importlib
import shutil
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest
import soxr

from bridge.speech.asr import pocketsphinx as ps_module
from bridge.speech.asr.base import ASRError, ASRProvider, ASRStream
from bridge.speech.asr.pocketsphinx import PocketSphinxASR
from bridge.speech.asr.registry import ASR_NAMES, default_asr_name, make_asr
from bridge.tools.asr_compare import word_errors
from bridge.tools.evaluation import flite

RATE = 16000
CHUNK = 1600  # 100 ms, a typical mic message
PHRASES = ["hello what is your name", "tell me about the weather", "what time is it",
           "can you help me please"]


@pytest.fixture(scope="module")
def asr() -> PocketSphinxASR:
    return PocketSphinxASR()


def _to_16k(pcm: np.ndarray, rate: int) -> np.ndarray:
    return soxr.resample(np.asarray(pcm, dtype=np.float32), rate, RATE).astype(np.float32)


def _tts_16k(tts, voice, text: str) -> np.ndarray:
    chunks = list(tts.synthesize(text, voice))
    return _to_16k(np.concatenate([c.pcm for c in chunks]), chunks[0].rate)


def _flite_16k(text: str, tmp_path: Path) -> np.ndarray:
    pcm, rate, _ = flite(text, "slt", tmp_path)
    return _to_16k(pcm, rate)


@pytest.fixture(scope="module")
def piper_audio(piper) -> dict[str, np.ndarray]:
    """Piper's voice with its sampling noise off: the same audio in every run.

    With the noise on (the default), each synthesis differs, and a recognizer at the edge
    of its accuracy on this voice heard "only about the web" for "tell me about the weather"
    in one CI run: a test must not depend on that draw."""
    from piper import SynthesisConfig

    model = piper._load(piper.voices()[0])
    still = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)

    def speak(text: str) -> np.ndarray:
        chunks = list(model.synthesize(text, syn_config=still))
        pcm = np.concatenate([c.audio_float_array for c in chunks])
        return _to_16k(pcm, chunks[0].sample_rate)

    return {text: speak(text) for text in PHRASES}


def recognize(asr: PocketSphinxASR, audio: np.ndarray) -> tuple[str, list[str]]:
    stream = asr.new_stream("en")
    partials = [p for pos in range(0, len(audio), CHUNK)
                if (p := stream.push(audio[pos:pos + CHUNK])) is not None]
    return stream.finish(), partials


def _error_rate(asr: PocketSphinxASR, audio_by_text: dict[str, np.ndarray], source: str) -> float:
    errors = words = 0
    for text, audio in audio_by_text.items():
        got, _ = recognize(asr, audio)
        errors, words = errors + word_errors(text, got), words + len(text.split())
        print(f"{source}: {text!r} -> {got!r}")
    print(f"{source}: word error rate {errors / words:.0%}")
    return errors / words


def test_piper_speech_is_recognized(asr: PocketSphinxASR, piper_audio: dict[str, np.ndarray]) -> None:
    """Piper samples noise, so its audio (and the result) varies a little between runs:
    measured word error rates 5-26% over the set; the worst phrase lost 3 of 5 words."""
    assert _error_rate(asr, piper_audio, "piper") <= 0.4
    for text, audio in piper_audio.items():
        got, _ = recognize(asr, audio)
        assert word_errors(text, got) <= 0.6 * len(text.split()), (text, got)


def test_espeak_speech_is_partly_recognized(asr: PocketSphinxASR, espeak) -> None:
    """espeak-ng's formant voice is far from PocketSphinx's training data: a loose bound."""
    voice = next(v for v in espeak.voices() if v.id == "espeak:en-us")
    audio = {text: _tts_16k(espeak, voice, text) for text in PHRASES}
    assert _error_rate(asr, audio, "espeak-ng") < 0.95  # measured: 84%


def test_flite_speech_is_recognized(asr: PocketSphinxASR, tmp_path: Path) -> None:
    if shutil.which("flite") is None:
        pytest.skip("flite is not installed (apt-get install flite)")
    audio = {text: _flite_16k(text, tmp_path) for text in PHRASES}
    assert _error_rate(asr, audio, "flite") <= 0.5


def test_partials_come_before_finish(asr: PocketSphinxASR, piper_audio: dict[str, np.ndarray]) -> None:
    final, partials = recognize(asr, piper_audio["tell me about the weather"])
    print("partials:", partials)
    assert len(partials) >= 2 and partials[0]
    assert len(set(partials)) == len(partials)  # only changes are reported
    assert any("tell" in p.split() for p in partials) and "weather" in final


def test_silence_gives_an_empty_final(asr: PocketSphinxASR) -> None:
    stream = asr.new_stream()
    for _ in range(10):
        assert stream.push(np.zeros(CHUNK, dtype=np.float32)) is None
    assert stream.finish() == ""
    quiet = np.random.default_rng(0).normal(0, 1e-3, 2 * RATE).astype(np.float32)  # -60 dBFS
    assert recognize(asr, quiet)[0] == ""


def test_reused_decoders_do_not_remember_the_last_turn(
        asr: PocketSphinxASR, piper_audio: dict[str, np.ndarray]) -> None:
    """A decoder that heard other turns answers exactly as a brand-new one does.

    Noisy speech sits near the decision boundary, where a carried-over cepstral mean or
    noise floor changes the words (it did: "oh what should they" vs "oh what is today").
    """
    name = piper_audio["hello what is your name"]
    rng = np.random.default_rng(5)
    new = PocketSphinxASR(preload=0, keep_idle=0)
    for noise in (0.02, 0.04):
        noisy = (name + rng.normal(0, noise, len(name))).astype(np.float32)
        fresh = recognize(new, noisy)[0]
        for seed in range(3):
            recognize(asr, piper_audio["what time is it"])
            recognize(asr, np.random.default_rng(seed).normal(0, 0.05, RATE).astype(np.float32))
            assert recognize(asr, noisy)[0] == fresh, f"noise {noise}, after {seed + 1} turns"
    assert recognize(asr, name)[0] == recognize(asr, name)[0]


def test_stream_lifecycle(asr: PocketSphinxASR, piper_audio: dict[str, np.ndarray]) -> None:
    stream = asr.new_stream()
    assert isinstance(stream, ASRStream) and isinstance(asr, ASRProvider)
    stream.push(piper_audio["what time is it"])
    final = stream.finish()
    assert stream.finish() == final  # idempotent
    stream.cancel()  # safe after finish
    with pytest.raises(ASRError, match="new one"):
        stream.push(np.zeros(CHUNK, dtype=np.float32))
    cancelled = asr.new_stream()
    cancelled.push(piper_audio["what time is it"][:RATE])
    cancelled.cancel()
    cancelled.cancel()
    with pytest.raises(ASRError):
        cancelled.finish()


def test_max_decoders_bounds_concurrent_turns() -> None:
    small = PocketSphinxASR(preload=0, max_decoders=1)
    first = small.new_stream()
    with pytest.raises(ASRError, match="max_decoders"):
        small.new_stream()
    first.cancel()
    small.new_stream().finish()


def test_languages_without_a_model_say_what_to_install(asr: PocketSphinxASR) -> None:
    with pytest.raises(ASRError, match="hmm=, lm=, dictionary="):
        asr.new_stream("fr")
    asr.new_stream("en-GB").cancel()  # same language, another accent: accepted
    with pytest.raises(ASRError, match="cmusphinx"):
        PocketSphinxASR(lang="de", preload=0)


def test_bad_model_paths(tmp_path: Path) -> None:
    with pytest.raises(ASRError, match="not found"):
        PocketSphinxASR(lm=tmp_path / "missing.lm.bin", preload=0)
    junk = tmp_path / "junk.lm"
    junk.write_text("not a language model")
    with pytest.raises(ASRError, match="could not load"):
        PocketSphinxASR(lm=junk, preload=1)


def test_recognition_works_without_portaudio(asr: PocketSphinxASR,
                                            piper_audio: dict[str, np.ndarray]) -> None:
    """Servers have no sound device: pocketsphinx must import and decode without PortAudio."""
    try:
        importlib.import_module("sounddevice")
        portaudio = "present"
    except OSError:  # "PortAudio library not found": the case that matters
        portaudio = "missing"
    got, _ = recognize(asr, piper_audio["what time is it"])
    print(f"PortAudio {portaudio}; recognized {got!r}")
    assert got


def test_import_retries_with_a_sounddevice_stub_on_portaudio_errors(monkeypatch) -> None:
    calls: list[object] = []
    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)

    def importer(name: str) -> object:
        calls.append(sys.modules.get("sounddevice"))
        if len(calls) == 1:
            raise OSError("PortAudio library not found")
        with pytest.raises(OSError):
            sys.modules["sounddevice"].RawInputStream  # the stub fails only when used
        return types.SimpleNamespace(name=name)

    assert ps_module.import_pocketsphinx(importer).name == "pocketsphinx"
    assert calls[0] is None and isinstance(calls[1], types.ModuleType)
    assert "sounddevice" not in sys.modules  # later imports try the real one again


def test_timings(asr: PocketSphinxASR, piper_audio: dict[str, np.ndarray]) -> None:
    audio = np.concatenate([piper_audio["tell me about the weather"],
                            np.zeros(RATE // 5, dtype=np.float32)])[: 2 * RATE]
    audio = np.pad(audio, (0, 2 * RATE - len(audio)))  # exactly 2 s
    recognize(asr, audio)  # warm
    start = time.perf_counter()
    stream = asr.new_stream()
    created = time.perf_counter() - start
    for pos in range(0, len(audio), CHUNK):
        stream.push(audio[pos:pos + CHUNK])
    pushed = time.perf_counter()
    final = stream.finish()
    done = time.perf_counter()
    rtf = (done - start) / (len(audio) / RATE)
    print(f"pocketsphinx: new_stream {created * 1e3:.2f} ms, real-time factor {rtf:.3f}, "
          f"finish() {(done - pushed) * 1e3:.1f} ms after the last chunk of 2 s; {final!r}")
    cold = time.perf_counter()
    PocketSphinxASR(preload=1)
    print(f"pocketsphinx: a cold decoder (provider with preload=1) {time.perf_counter() - cold:.2f} s")
    assert created < 0.05 and rtf < 1.0 and done - pushed < 1.0


def test_registry_builds_providers_lazily(monkeypatch) -> None:
    assert ASR_NAMES == ("pocketsphinx", "whisper", "azure", "riva", "tencent")
    assert isinstance(make_asr("pocketsphinx", {"preload": 0}), PocketSphinxASR)
    monkeypatch.setitem(sys.modules, "faster_whisper", None)  # as without talkbridge's Whisper
    assert default_asr_name() == "pocketsphinx"
    assert isinstance(make_asr(None, {"preload": 0}), PocketSphinxASR)
    monkeypatch.delitem(sys.modules, "faster_whisper")
    assert default_asr_name() == "whisper"  # talkbridge installs it and its weights
    with pytest.raises(ValueError, match="pocketsphinx, whisper, azure, riva, tencent"):
        make_asr("vosk", {})
    with pytest.raises(ValueError, match="partial_interval"):
        make_asr("pocketsphinx", {"partial_every": 1})
    riva = types.ModuleType("bridge.speech.asr.riva")

    class RivaASR:  # stands in for the real module, written elsewhere
        def __init__(self, **options: object) -> None:
            self.options = options

    riva.RivaASR = RivaASR  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bridge.speech.asr.riva", riva)
    assert make_asr("riva", {"uri": "localhost:50051"}).options == {"uri": "localhost:50051"}
