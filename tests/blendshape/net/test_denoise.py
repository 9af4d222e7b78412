"""Spectral subtraction before the offline model: noise out of the gaps, speech kept, clean
audio untouched — on real speech (espeak-ng) under the eval's own pink noise."""

from __future__ import annotations

import numpy as np
import pytest

from blendshape.net import denoise
from blendshape.net.denoise import spectral_gate
from blendshape.net.features import resample
from blendshape.train.degrade import add_noise

RATE = 16000


@pytest.fixture(scope="module")
def speech(espeak) -> np.ndarray:
    """'Papa bought a big blue boat.' between 0.4 s silences, at 16 kHz."""
    voice = next(v for v in espeak.voices() if v.id == "espeak:en-us")
    chunk = next(iter(espeak.synthesize("Papa bought a big blue boat.", voice)))
    pcm = resample(chunk.pcm, chunk.rate)
    gap = np.zeros(int(0.4 * RATE), np.float32)
    return np.concatenate([gap, pcm, gap])


def _power_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2) + 1e-20))


def test_clean_speech_passes_untouched(speech):
    assert np.array_equal(spectral_gate(speech), speech)


def test_noise_in_the_gaps_drops_and_the_speech_stays(speech):
    noisy = add_noise(speech, RATE, seed=7, snr_db=10.0)
    cleaned = spectral_gate(noisy)
    assert cleaned.shape == noisy.shape and cleaned.dtype == np.float32
    gap = slice(int(0.05 * RATE), int(0.35 * RATE))  # before the voice starts
    voiced = slice(int(0.4 * RATE), len(speech) - int(0.4 * RATE))
    # The noise alone (the lead-in) falls by more than 6 dB ...
    assert _power_db(cleaned[gap]) < _power_db(noisy[gap]) - 6
    # ... while the voice keeps most of its power, and follows the clean speech more closely.
    assert _power_db(cleaned[voiced]) > _power_db(speech[voiced]) - 3
    err_before = np.mean((noisy[voiced] - speech[voiced]) ** 2)
    err_after = np.mean((cleaned[voiced] - speech[voiced]) ** 2)
    assert err_after < 0.6 * err_before


def test_audio_too_short_to_estimate_a_floor_is_left_alone():
    short = np.random.default_rng(0).normal(0, 0.1, 1000).astype(np.float32)
    assert np.array_equal(spectral_gate(short), short)


def test_a_long_recording_taken_in_blocks_is_cleaned_as_in_one(speech, monkeypatch):
    """Both passes go BLOCK frames at a time (an hour's show fits in memory) and the frames
    are added back hop by hop: the output is the one block's, bit for bit, at any size."""
    noisy = add_noise(np.tile(speech, 3), RATE, seed=8, snr_db=10.0)
    whole = spectral_gate(noisy)
    assert not np.array_equal(whole, noisy)  # the gate works on it
    for block in (1, 7, 64):
        monkeypatch.setattr(denoise, "BLOCK", block)
        assert np.array_equal(spectral_gate(noisy), whole)
