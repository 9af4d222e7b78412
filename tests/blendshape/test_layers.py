"""Life and emotion layers: deterministic, chunk-independent, within the ARKit ranges."""

from __future__ import annotations

import numpy as np
import pytest

from blendshape import rig
from blendshape.layers import LifeLayer, UnknownEmotionError, apply_emotion, emotion_vector, idle_frames

A = rig.ARKIT_INDEX


def test_blinks_every_two_to_six_seconds():
    life = LifeLayer(seed=7)
    times = np.arange(0, 120, 1 / 60)
    blink = life.blink(times)
    onsets = times[1:][(blink[1:] > 0.5) & (blink[:-1] <= 0.5)]
    gaps = np.diff(onsets)
    assert 15 <= len(onsets) <= 60
    assert gaps.min() >= 1.9 and gaps.max() <= 6.1
    assert blink.max() == pytest.approx(1.0)


def test_chunked_queries_match_one_query():
    times = np.arange(0, 20, 1 / 60)
    whole = idle_frames(LifeLayer(seed=1), times)
    life = LifeLayer(seed=1)
    parts = np.concatenate([idle_frames(life, times[i:i + 3]) for i in range(0, len(times), 3)])
    np.testing.assert_allclose(whole, parts, atol=1e-6)


def test_idle_frames_are_in_range_and_move():
    frames = idle_frames(LifeLayer(seed=2), np.arange(0, 10, 1 / 60))
    assert frames[:, :52].min() >= 0 and frames[:, :52].max() <= 1
    head = rig.select(frames, rig.HEAD)
    assert np.abs(head).max() < 0.1 and head.std(axis=0).min() > 1e-3
    assert rig.select(frames, rig.VISEME_CHANNELS)[:, 0].min() == 1.0


def test_emotions():
    happy = emotion_vector("happy")
    assert happy[A["mouthSmileLeft"]] > 0.3
    mix = emotion_vector({"happy": 0.5, "sad": 0.5})
    assert mix[A["browInnerUp"]] > 0 and mix[A["mouthSmileLeft"]] > 0
    with pytest.raises(UnknownEmotionError, match="known: "):
        emotion_vector("bored")
    full = np.zeros((30, len(rig.ALL_CHANNELS)), np.float32)
    out = apply_emotion(full, happy, np.arange(30) / 60)
    assert out[0, A["mouthSmileLeft"]] == 0  # fades in
    assert out[-1, A["mouthSmileLeft"]] == pytest.approx(happy[A["mouthSmileLeft"]])
