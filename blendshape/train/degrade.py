"""Degraded copies of speech audio, for measuring animators on the audio a game really hears.

A face driven by a microphone or a voice chat rarely gets studio audio: there is noise under
the voice, and a telephone or VoIP codec cuts the band to 300–3400 Hz. ``talkbridge eval
--degrade`` feeds these copies to the animators while the reference stays the teacher on
the clean audio's true timings, so the drop from ``clean`` is what the degradation costs.

Every function here is pure numpy, ``(pcm, rate, seed) -> pcm`` at the same rate and
length: the same seed gives the same samples on every run, so evaluations are reproducible.
"""

from __future__ import annotations

import zlib
from typing import Callable

import numpy as np

Degradation = Callable[[np.ndarray, int, int], np.ndarray]

#: Frames of 20 ms within this many dB of the loudest count as speech (the active level,
#: in the spirit of ITU-T P.56): the pauses around a sentence must not lower its power.
_ACTIVE_DB = 30.0
_FRAME_S = 0.02
#: Telephone band (ITU-T G.712) and the narrowband codec's rate.
PHONE_BAND = (300.0, 3400.0)
PHONE_RATE = 8000
_MU = 255.0


class UnknownDegradation(ValueError):
    """A degradation name not in :data:`DEGRADATIONS`."""


def clip_seed(*parts: str) -> int:
    """A seed from a clip's identity (voice, text…), the same in every process (not ``hash``)."""
    return zlib.crc32("\x1f".join(parts).encode())


def speech_power(pcm: np.ndarray, rate: int) -> float:
    """Mean power over the frames that carry speech (see ``_ACTIVE_DB``)."""
    x = np.asarray(pcm, dtype=np.float64)
    hop = max(1, int(_FRAME_S * rate))
    n = len(x) // hop
    if n == 0:
        return float(np.mean(x * x)) if len(x) else 0.0
    power = (x[:n * hop].reshape(n, hop) ** 2).mean(axis=1)
    if power.max() <= 0.0:
        return 0.0
    active = power >= power.max() * 10.0 ** (-_ACTIVE_DB / 10.0)
    return float(power[active].mean())


def pink_noise(n: int, rate: int, seed: int) -> np.ndarray:
    """``n`` samples of unit-power 1/f noise (flat below 50 Hz, no DC)."""
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / rate)
    spectrum *= 1.0 / np.sqrt(np.maximum(freqs, 50.0))
    spectrum[0] = 0.0
    noise = np.fft.irfft(spectrum, n)
    rms = np.sqrt(np.mean(noise * noise))
    return noise / rms if rms > 0 else noise


def add_noise(pcm: np.ndarray, rate: int, seed: int, snr_db: float) -> np.ndarray:
    """Pink noise at ``snr_db`` below the speech's active power: a fan, a room, a street.

    Pink rather than white because real background noise, like speech, carries most of its
    power low; white noise at the same SNR would mostly hiss above the formants.
    """
    x = np.asarray(pcm, dtype=np.float32)
    if len(x) == 0:
        return x.copy()
    gain = np.sqrt(speech_power(x, rate) / 10.0 ** (snr_db / 10.0))
    return (x + gain * pink_noise(len(x), rate, seed)).astype(np.float32)


def _resample_band(x: np.ndarray, rate: int, out_rate: int, band: tuple[float, float]
                   ) -> np.ndarray:
    """FFT resampling to ``out_rate`` that keeps only ``band`` Hz (a brick-wall band-pass)."""
    n_out = max(1, int(round(len(x) * out_rate / rate)))
    spectrum = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(len(x), 1.0 / rate)
    spectrum[(freqs < band[0]) | (freqs > band[1])] = 0.0
    bins = n_out // 2 + 1
    spectrum = spectrum[:bins] if len(spectrum) >= bins else np.pad(spectrum, (0, bins - len(spectrum)))
    return np.fft.irfft(spectrum, n_out) * (n_out / len(x))


def mu_law(x: np.ndarray, levels: int = 256) -> np.ndarray:
    """G.711 μ-law round trip (8 bits): the quantization noise a telephone codec adds."""
    y = np.sign(x) * np.log1p(_MU * np.minimum(np.abs(x), 1.0)) / np.log1p(_MU)
    half = levels // 2 - 1
    y = np.round(y * half) / half
    return np.sign(y) * np.expm1(np.abs(y) * np.log1p(_MU)) / _MU


def telephone(pcm: np.ndarray, rate: int, seed: int = 0) -> np.ndarray:
    """A narrowband call: down to 8 kHz within 300–3400 Hz, μ-law, and back to ``rate``.

    The band-pass runs again after the codec, as the receiving end's filter does, so the
    quantization noise stays inside the band too. ``seed`` is unused (nothing is random).
    """
    x = np.asarray(pcm, dtype=np.float64)
    if len(x) == 0:
        return np.zeros(0, np.float32)
    narrow = mu_law(_resample_band(x, rate, PHONE_RATE, PHONE_BAND))
    return _resample_band(narrow, PHONE_RATE, rate, PHONE_BAND)[:len(x)].astype(np.float32)


def _noise10(pcm: np.ndarray, rate: int, seed: int) -> np.ndarray:
    return add_noise(pcm, rate, seed, 10.0)


#: The conditions ``talkbridge eval --degrade`` knows, by name.
DEGRADATIONS: dict[str, Degradation] = {"noise10": _noise10, "phone8k": telephone}


def parse_names(text: str) -> tuple[str, ...]:
    """``noise10,phone8k`` → the names in order, duplicates and ``clean`` dropped."""
    names: list[str] = []
    for name in (part.strip() for part in text.split(",")):
        if not name or name == "clean" or name in names:
            continue
        if name not in DEGRADATIONS:
            raise UnknownDegradation(f"unknown degradation {name!r}; choose from "
                                     f"{', '.join(DEGRADATIONS)} (comma-separated)")
        names.append(name)
    return tuple(names)
