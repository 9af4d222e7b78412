"""The eval's audio degradations, measured from their output: SNR, band, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from blendshape.train.degrade import (
    DEGRADATIONS,
    UnknownDegradation,
    add_noise,
    clip_seed,
    parse_names,
    telephone,
)


def vowel(rate: int, seconds: float = 0.6, pause: float = 0.4) -> tuple[np.ndarray, slice]:
    """A voiced 'vowel' (120 Hz harmonics, formant-ish weights) between two silent pauses,
    and where it is: the SNR must be taken over the speech, not the pauses."""
    t = np.arange(int(seconds * rate)) / rate
    voiced = sum(np.sin(2 * np.pi * 120 * k * t) / k for k in range(1, 25)) * 0.1
    gap = np.zeros(int(pause * rate))
    return np.concatenate([gap, voiced, gap]).astype(np.float32), slice(len(gap), len(gap) + len(t))


def band_share(x: np.ndarray, rate: int, lo: float, hi: float) -> float:
    power = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    return float(power[(freqs >= lo) & (freqs < hi)].sum() / power.sum())


@pytest.mark.parametrize("rate", [8000, 16000, 22050])
def test_noise10_sits_10_db_under_the_speech_not_under_the_pauses(rate):
    clean, speech = vowel(rate)
    noisy = DEGRADATIONS["noise10"](clean, rate, clip_seed("kal", "Papa"))
    noise = noisy.astype(np.float64) - clean
    snr = 10 * np.log10(np.mean(clean[speech].astype(np.float64) ** 2) / np.mean(noise ** 2))
    assert snr == pytest.approx(10.0, abs=0.5)
    assert noisy.dtype == np.float32 and len(noisy) == len(clean)


def test_the_noise_is_pink_and_reproducible_per_clip():
    clean, _ = vowel(16000)
    seed = clip_seed("noise10", "slt", "Papa bought a big blue boat.")
    assert seed == clip_seed("noise10", "slt", "Papa bought a big blue boat.")
    one, again = add_noise(clean, 16000, seed, 10.0), add_noise(clean, 16000, seed, 10.0)
    other = add_noise(clean, 16000, clip_seed("noise10", "kal", "Papa bought a big blue boat."), 10.0)
    assert np.array_equal(one, again) and not np.array_equal(one, other)
    noise = one - clean
    # 1/f: each octave holds the same power, so 250-500 Hz carries as much as 4-8 kHz.
    assert band_share(noise, 16000, 250, 500) == pytest.approx(band_share(noise, 16000, 4000, 8000),
                                                               rel=0.3)


@pytest.mark.parametrize("rate", [16000, 22050, 44100])
def test_phone8k_keeps_only_the_telephone_band(rate):
    x = np.random.default_rng(1).standard_normal(rate).astype(np.float32) * 0.1
    out = telephone(x, rate)
    assert out.dtype == np.float32 and len(out) == len(x)
    assert band_share(out, rate, 4000, rate / 2) < 1e-6
    assert band_share(out, rate, 0, 200) < 1e-6
    # In the band the speech passes: a 1 kHz tone keeps its level (μ-law adds ~-38 dB noise).
    tone = (0.3 * np.sin(2 * np.pi * 1000 * np.arange(rate) / rate)).astype(np.float32)
    assert np.sqrt(np.mean(telephone(tone, rate) ** 2)) == pytest.approx(0.3 / np.sqrt(2), rel=0.05)
    assert np.array_equal(telephone(x, rate), out)


def test_phone8k_on_audio_already_at_8k():
    """flite's kal speaks at 8 kHz: the band-pass alone applies, the length is kept."""
    x = np.random.default_rng(2).standard_normal(8000).astype(np.float32) * 0.1
    out = telephone(x, 8000)
    assert len(out) == len(x) and band_share(out, 8000, 0, 200) < 1e-6
    assert band_share(out, 8000, 3600, 4000) < 1e-6


def test_names_parse_and_an_unknown_one_lists_the_valid_ones():
    assert parse_names("noise10,phone8k") == ("noise10", "phone8k")
    assert parse_names("clean, phone8k,phone8k") == ("phone8k",)
    with pytest.raises(UnknownDegradation, match=r"'reverb'; choose from noise10, phone8k") as err:
        parse_names("noise10,reverb")
    assert "\n" not in str(err.value)
