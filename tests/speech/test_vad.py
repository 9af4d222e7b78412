"""Silero VAD on real synthesized speech: speech scores high, silence and low noise low,
and the scores do not depend on how the microphone audio was chunked."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soxr

from bridge.speech.vad.base import VADError, VADProvider, VADStream
from bridge.speech.vad.registry import VAD_NAMES, make_vad
from bridge.speech.vad.silero import SileroVAD
from bridge.tools.evaluation import flite

RATE = 16000
FRAME = 512
TEXT = "Hello, what is your name? Tell me about the weather."
PAD = RATE  # one second of silence either side of the speech


@pytest.fixture(scope="module")
def vad() -> SileroVAD:
    return SileroVAD()


def _to_16k(pcm: np.ndarray, rate: int) -> np.ndarray:
    return soxr.resample(np.asarray(pcm, dtype=np.float32), rate, RATE).astype(np.float32)


def _padded(speech: np.ndarray) -> np.ndarray:
    silence = np.zeros(PAD, dtype=np.float32)
    return np.concatenate([silence, speech, silence])


@pytest.fixture(scope="module")
def piper_speech(piper) -> np.ndarray:
    chunks = list(piper.synthesize(TEXT, piper.voices()[0]))
    return _to_16k(np.concatenate([c.pcm for c in chunks]), chunks[0].rate)


@pytest.fixture(scope="module")
def espeak_speech(espeak) -> np.ndarray:
    voice = next(v for v in espeak.voices() if v.id == "espeak:en-us")
    chunks = list(espeak.synthesize(TEXT, voice))
    return _to_16k(np.concatenate([c.pcm for c in chunks]), chunks[0].rate)


def _flite_speech(tmp_path: Path) -> np.ndarray:
    if shutil.which("flite") is None:
        pytest.skip("flite is not installed (apt-get install flite)")
    pcm, rate, _ = flite(TEXT, "slt", tmp_path)
    return _to_16k(pcm, rate)


def _check_speech_and_silence(vad: SileroVAD, speech: np.ndarray) -> None:
    audio = _padded(speech)
    probs = vad.new_stream().push(audio)
    assert len(probs) == len(audio) // FRAME
    frames = audio[: len(probs) * FRAME].reshape(-1, FRAME)
    loud = np.sqrt((frames ** 2).mean(axis=1)) > 0.02  # clearly voiced frames
    share = float((probs[loud] > 0.5).mean())
    print(f"speech frames above 0.5: {share:.0%} of {int(loud.sum())}")
    assert share >= 0.8
    lead = probs[: PAD // FRAME - 1]
    tail = probs[(PAD + len(speech)) // FRAME + 10:]  # after the model's ~0.3 s decay
    assert lead.max() < 0.2 and tail.max() < 0.2, (lead.max(), tail.max())


def test_piper_speech_scores_high_and_silence_low(vad: SileroVAD, piper_speech: np.ndarray) -> None:
    _check_speech_and_silence(vad, piper_speech)


def test_espeak_speech_scores_high_and_silence_low(vad: SileroVAD, espeak_speech: np.ndarray) -> None:
    _check_speech_and_silence(vad, espeak_speech)


def test_flite_speech_scores_high_and_silence_low(vad: SileroVAD, tmp_path: Path) -> None:
    _check_speech_and_silence(vad, _flite_speech(tmp_path))


@pytest.mark.parametrize("kind", ["white -50 dBFS", "white -40 dBFS", "50 Hz hum", "brown"])
def test_low_noise_scores_low(vad: SileroVAD, kind: str) -> None:
    rng = np.random.default_rng(7)
    t = np.arange(3 * RATE) / RATE
    noise = {"white -50 dBFS": rng.normal(0, 0.003, t.size),
             "white -40 dBFS": rng.normal(0, 0.01, t.size),
             "50 Hz hum": 0.02 * np.sin(2 * np.pi * 50 * t),
             "brown": np.cumsum(rng.normal(0, 1e-4, t.size))}[kind]
    probs = vad.new_stream().push(noise.astype(np.float32))
    assert np.percentile(probs, 95) < 0.2 and probs.mean() < 0.1, probs.max()


def test_any_chunking_gives_identical_probabilities(vad: SileroVAD, piper_speech: np.ndarray) -> None:
    audio = _padded(piper_speech)[: 3 * RATE + 300]  # a ragged tail that never completes a frame
    whole = vad.new_stream().push(audio)
    rng = np.random.default_rng(3)
    patterns = [[1, 37, 511, 512, 513, 4000], [FRAME], [160], [RATE], list(rng.integers(1, 700, 50))]
    for sizes in patterns:
        stream, parts, pos, i = vad.new_stream(), [], 0, 0
        while pos < len(audio):
            step = int(sizes[i % len(sizes)])
            parts.append(stream.push(audio[pos:pos + step]))
            pos, i = pos + step, i + 1
        np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_push_shorter_than_a_frame_returns_nothing_yet(vad: SileroVAD) -> None:
    stream = vad.new_stream()
    assert stream.push(np.zeros(FRAME - 1, dtype=np.float32)).shape == (0,)
    assert stream.push(np.zeros(1, dtype=np.float32)).shape == (1,)
    with pytest.raises(ValueError):
        stream.push(np.zeros((2, FRAME), dtype=np.float32))


def test_streams_share_the_model_but_not_the_state(vad: SileroVAD, piper_speech: np.ndarray) -> None:
    speech = _padded(piper_speech)[: 2 * RATE]
    silence = np.zeros(2 * RATE, dtype=np.float32)
    alone_speech = vad.new_stream().push(speech)
    alone_silence = vad.new_stream().push(silence)
    a, b = vad.new_stream(), vad.new_stream()
    got_a, got_b = [], []
    for pos in range(0, 2 * RATE, 1000):  # interleaved, as two sessions would be
        got_a.append(a.push(speech[pos:pos + 1000]))
        got_b.append(b.push(silence[pos:pos + 1000]))
    np.testing.assert_array_equal(np.concatenate(got_a), alone_speech)
    np.testing.assert_array_equal(np.concatenate(got_b), alone_silence)


def test_threads_on_one_model_get_their_own_results(vad: SileroVAD, piper_speech: np.ndarray) -> None:
    audio = _padded(piper_speech)[: 2 * RATE]
    expected = vad.new_stream().push(audio)
    results: list[np.ndarray] = [np.zeros(0)] * 3

    def run(k: int) -> None:
        stream = vad.new_stream()
        results[k] = np.concatenate([stream.push(audio[p:p + 800]) for p in range(0, len(audio), 800)])

    threads = [threading.Thread(target=run, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got in results:
        np.testing.assert_array_equal(got, expected)


def test_reset_forgets_everything(vad: SileroVAD, piper_speech: np.ndarray) -> None:
    audio = piper_speech[: RATE]
    stream = vad.new_stream()
    first = stream.push(audio)
    stream.push(np.ones(100, dtype=np.float32) * 0.3)  # leaves a partial frame behind
    stream.reset()
    np.testing.assert_array_equal(stream.push(audio), first)


def test_batched_step_matches_streams(vad: SileroVAD, piper_speech: np.ndarray) -> None:
    """``step`` is a pure function batched over streams (the shape a batcher would use)."""
    frames = np.zeros((2, 64 + FRAME), dtype=np.float32)
    frames[0, 64:] = piper_speech[RATE // 2: RATE // 2 + FRAME]
    probs, state = vad.step(frames, SileroVAD.initial_state(2))
    assert probs.shape == (2,) and state.shape == (2, 2, 128)
    single = vad.new_stream().push(frames[0, 64:])
    assert probs[0] == pytest.approx(single[0], abs=1e-5)


def test_time_per_frame(vad: SileroVAD, piper_speech: np.ndarray) -> None:
    stream = vad.new_stream()
    stream.push(piper_speech[: 10 * FRAME])  # warm
    audio = np.tile(piper_speech, 2)[: 200 * FRAME]
    start = time.perf_counter()
    probs = stream.push(audio)
    per_frame = (time.perf_counter() - start) / len(probs)
    print(f"silero: {per_frame * 1e3:.3f} ms per 512-sample frame (32 ms of audio), "
          f"real-time factor {per_frame / (FRAME / RATE):.4f}")
    assert per_frame < 0.010  # far below the 32 ms of audio a frame holds


def test_protocols_and_registry() -> None:
    vad = make_vad("silero", {})
    assert isinstance(vad, VADProvider) and isinstance(vad.new_stream(), VADStream)
    assert (vad.rate, vad.frame_samples, vad.name) == (16000, 512, "silero")
    assert isinstance(make_vad(), SileroVAD)
    with pytest.raises(ValueError, match="silero"):
        make_vad("webrtc")
    with pytest.raises(ValueError, match="threads"):
        make_vad("silero", {"thread": 2})
    assert VAD_NAMES[0] == "silero"


def test_missing_model_file_is_a_vad_error(tmp_path: Path) -> None:
    with pytest.raises(VADError, match="not found"):
        SileroVAD(model=tmp_path / "nope.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(VADError, match="cannot load"):
        SileroVAD(model=bad)
