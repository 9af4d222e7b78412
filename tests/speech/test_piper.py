"""Piper loaded our way: the same voice as Piper's own loader, with threads that don't spin."""

from __future__ import annotations

import numpy as np
import pytest

from bridge.speech.tts.piper import PiperTTS, _bundled_voices, _open

piper = pytest.importorskip("piper")


@pytest.fixture(scope="module")
def model_path():
    paths = _bundled_voices()
    if not paths:
        pytest.skip("no bundled Piper voice")
    return paths[0]


def test_our_loader_speaks_exactly_like_pipers(model_path) -> None:
    """With the random draws off, both loaders' sessions give the same samples and the same
    per-phoneme durations: only the session's threading options differ."""
    quiet = piper.SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    ours = _open(model_path)
    theirs = piper.PiperVoice.load(model_path, include_alignments=True)
    ids = ours.phonemes_to_ids(ours.phonemize("Papa bought a big blue boat.")[0])
    audio, durations = ours.phoneme_ids_to_audio(ids, quiet, include_alignments=True)
    ref_audio, ref_durations = theirs.phoneme_ids_to_audio(ids, quiet, include_alignments=True)
    assert len(audio) > 22050  # over a second of speech
    np.testing.assert_allclose(audio, ref_audio, atol=1e-5)
    np.testing.assert_array_equal(durations, ref_durations)


def test_the_voice_session_does_not_spin() -> None:
    """A server speaks in several threads at once: spinning pool threads burned the cores the
    other sentences, the event loop and the network's batch needed (see the module doc)."""
    tts = PiperTTS()
    voice = tts.voices()[0]
    chunks = list(tts.synthesize("Hello there.", voice))
    options = tts._load(voice).session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    # The alignments still come: the spans cover the audio.
    assert chunks and abs(chunks[0].phonemes[-1].end - chunks[0].duration) < 0.02


class _Recording:
    """Stands in for onnxruntime's session: notes whether each run asked to shrink."""

    def __init__(self) -> None:
        self.shrunk: list[bool] = []

    def run(self, output_names, input_feed, run_options=None):
        self.shrunk.append(run_options is not None and run_options.get_run_config_entry(
            "memory.enable_memory_arena_shrinkage") == "cpu:0")
        return []


def test_the_arena_is_given_back_every_period_and_after_every_long_sentence() -> None:
    """Short sentences keep the arena, except one run per period; a long one always gives
    back what it grew. Timed on a virtual clock."""
    from bridge.speech.tts.piper import _ReleasingSession

    now = [0.0]
    inner = _Recording()
    session = _ReleasingSession(inner, above=256, every=30.0, clock=lambda: now[0])
    short, long = {"input": np.zeros((1, 100), np.int64)}, {"input": np.zeros((1, 300), np.int64)}
    for t in (1.0, 10.0, 29.9, 30.0, 31.0, 45.0, 59.9, 60.0):
        now[0] = t
        session.run(None, short)
    assert inner.shrunk == [False, False, False, True, False, False, False, True]
    now[0] = 61.0
    session.run(None, long)  # long: shrinks whatever the clock says, and restarts the period
    now[0] = 90.5
    session.run(None, short)
    now[0] = 91.0
    session.run(None, short)
    assert inner.shrunk[-3:] == [True, False, True]
    assert sum(inner.shrunk) == 4
    never = _ReleasingSession(_Recording(), above=256, every=None, clock=lambda: 1e9)
    never.run(None, short)
    assert never._session.shrunk == [False]


def test_duration_noise_off_gives_the_same_timing_every_time(model_path) -> None:
    """The corpus turns Piper's duration noise off (``bridge/tools/training.py`` says why): the
    phoneme timings are then the duration predictor's own, the same on every run, while the
    voice's default draws new ones."""
    def timings(tts: PiperTTS) -> list[tuple[str, float, float]]:
        voice = tts.voices()[0]
        return [(s.phoneme, s.start, s.end) for c in tts.synthesize("Maybe Bob will bake bread.", voice)
                for s in c.phonemes]
    steady, default = PiperTTS([model_path], duration_noise=0.0), PiperTTS([model_path])
    assert timings(steady) == timings(steady)
    assert timings(default) != timings(default)
    assert default._load(default.voices()[0]).config.noise_w_scale > 0  # the voice's own, kept
