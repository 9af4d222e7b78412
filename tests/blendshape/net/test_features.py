"""Log-mel features: the streaming extractor matches the offline one exactly."""

from __future__ import annotations

import numpy as np
import pytest

from blendshape.net.features import (
    FRAME_RATE,
    HOP,
    N_MELS,
    StreamingLogMel,
    log_mel,
    mel_filterbank,
)


def test_shape_and_rate():
    audio = np.random.default_rng(0).normal(0, 0.1, 16_000).astype(np.float32)
    feats = log_mel(audio)
    assert feats.shape == (100, N_MELS) and FRAME_RATE == 100


@pytest.mark.parametrize("chunk", [1, 37, 160, 320, 999])
def test_streaming_matches_offline(chunk):
    audio = np.random.default_rng(1).normal(0, 0.2, 16_000 + 77).astype(np.float32)
    stream = StreamingLogMel()
    parts = [stream.push(audio[i:i + chunk]) for i in range(0, len(audio), chunk)]
    # Equal up to float rounding (BLAS sums a batch of frames in a different order).
    np.testing.assert_allclose(np.concatenate(parts), log_mel(audio), atol=1e-4, rtol=0)


def test_a_tone_lights_the_right_band():
    t = np.arange(16_000) / 16_000
    low = log_mel(0.5 * np.sin(2 * np.pi * 300 * t)).mean(axis=0)
    high = log_mel(0.5 * np.sin(2 * np.pi * 4000 * t)).mean(axis=0)
    assert np.argmax(low) < 20 < np.argmax(high)


def test_frames_are_causal():
    """Frame i depends on nothing after sample (i + 1) * HOP."""
    audio = np.random.default_rng(2).normal(0, 0.2, 8_000).astype(np.float32)
    changed = audio.copy()
    changed[50 * HOP:] = 0.0
    np.testing.assert_array_equal(log_mel(audio)[:50], log_mel(changed)[:50])


def test_filterbank_covers_the_band():
    fb = mel_filterbank()
    assert fb.shape == (N_MELS, 257) and (fb.sum(axis=1) > 0).all()
