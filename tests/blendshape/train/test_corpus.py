"""Training data from real espeak-ng and Piper speech: aligned, augmentable, storable."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from blendshape.net.features import FRAME_RATE, log_mel
from blendshape.train import augment
from blendshape.train.corpus import TARGET_CHANNELS, build_clip, load_shard, save_shard
from blendshape.train.texts import COVERAGE, sentences

A = TARGET_CHANNELS.index


@pytest.mark.parametrize("lang", ["en-us", "cmn", "es", "de", "fr-fr", "ja", "it", "pt"])
def test_texts_are_seeded_and_varied(lang):
    first = list(itertools.islice(sentences(lang, seed=3), 40))
    again = list(itertools.islice(sentences(lang, seed=3), 40))
    assert first == again and len(set(first)) == 40


def test_unknown_language_is_refused():
    with pytest.raises(KeyError, match="have en"):
        next(sentences("xx"))


@pytest.mark.parametrize("lang", ["en-us", "cmn", "de"])
def test_espeak_clip_aligns_audio_and_targets(espeak, registry, lang):
    _, voice = registry.resolve(voice=f"espeak:{lang}")
    text = COVERAGE[lang.split("-")[0]][0]
    clip = build_clip(espeak.synthesize(text, voice), voice.id, lang, text)
    assert abs(len(clip.targets) - clip.duration * FRAME_RATE) <= 1
    assert len(log_mel(clip.audio)) >= len(clip.targets)
    assert clip.targets.shape[1] == 67
    # The teacher closes the lips somewhere (every sample text has a bilabial) and opens the jaw.
    assert clip.targets[:, A("mouthPressLeft")].max() > 0.6
    assert clip.targets[:, A("jawOpen")].max() > 0.3


def test_piper_clip_and_shard_round_trip(piper, tmp_path):
    voice = piper.voices()[0]
    text = "Papa bought a big blue boat."
    clip = build_clip(piper.synthesize(text, voice), voice.id, "en-us", text)
    save_shard(str(tmp_path / "s.npz"), [clip, clip])
    back = load_shard(str(tmp_path / "s.npz"))
    assert len(back) == 2 and back[1].text == text and back[0].voice == voice.id
    np.testing.assert_allclose(back[0].targets, clip.targets, atol=1e-3)
    np.testing.assert_allclose(back[0].audio, clip.audio, atol=1e-3)


def test_augmentations_keep_length_and_sync():
    rng = np.random.default_rng(0)
    t = np.arange(32_000) / 16_000
    audio = (0.3 * np.sin(2 * np.pi * 220 * t) * (t % 0.5 < 0.25)).astype(np.float32)
    targets = (t[::160] % 0.5 < 0.25).astype(np.float32)[:, None] * np.ones((1, 67), np.float32)
    noisy = augment.add_noise(audio, rng, snr_db=10)
    snr = 10 * np.log10(np.mean(audio ** 2) / np.mean((noisy - audio) ** 2))
    assert snr == pytest.approx(10, abs=0.5) and len(noisy) == len(audio)
    assert len(augment.add_reverb(audio, rng, 0.4)) == len(audio)
    phone = augment.telephone(audio)
    spectrum = np.abs(np.fft.rfft(phone))
    assert spectrum[np.fft.rfftfreq(len(phone), 1 / 16_000) > 3500].max() < 1e-3
    fast_audio, fast_targets = augment.change_speed(audio, targets, 1.25)
    assert len(fast_audio) == pytest.approx(len(audio) / 1.25, abs=1)
    assert len(fast_targets) == pytest.approx(len(targets) / 1.25, abs=1)
    # Still in sync: the targets switch where the (faster) tone bursts switch.
    env = np.abs(fast_audio).reshape(-1, 128).max(axis=1) > 0.1
    on_audio = np.flatnonzero(np.diff(env.astype(int)) == 1)[0] * 128 / 16_000
    on_targets = np.flatnonzero(np.diff(fast_targets[:, 0]) > 0.5)[0] / 100
    assert on_audio == pytest.approx(on_targets, abs=0.02)
    out_audio, out_targets, applied = augment.random_chain(audio, targets, rng)
    assert applied and abs(len(out_audio) / 160 - len(out_targets)) <= 2


def test_vocal_tract_warp_moves_a_formant_as_a_shorter_tract_would():
    """warp_mel(f, 1/1.1) must look like the same sound 10 % higher: a 1 kHz tone's frames,
    warped, peak in the band of a 1.1 kHz tone's; 1.0 changes nothing; timing is untouched."""
    t = np.arange(16_000) / 16_000
    tone = lambda hz: log_mel((0.3 * np.sin(2 * np.pi * hz * t) * (t < 0.5)).astype(np.float32))
    low, high = tone(1000.0), tone(1100.0)
    assert low[40].argmax() != high[40].argmax()
    warped = augment.warp_mel(low, 1 / 1.1)
    assert warped[40].argmax() == high[40].argmax()
    assert warped.shape == low.shape and np.array_equal(augment.warp_mel(low, 1.0), low)
    loud = lambda f: f.max(axis=1) > 0.5 * (low.max() + low.min())
    assert np.flatnonzero(loud(warped))[-1] == np.flatnonzero(loud(low))[-1] == 51  # 0.5 s + window
