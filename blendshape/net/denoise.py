"""Spectral subtraction for whole clips: the steady noise under a voice, taken out before the
offline model hears it. Pure numpy.

Why: at 10 dB of noise the lips of the offline model stayed open through a third of the
p/b/m closures (closure 0.667 on the flite set), because a closure is a short silence and
noise fills it. Its floor is steady, so a whole clip tells it apart from the voice: in every
frequency bin the quietest tenth of the frames is the noise, and 2.5 times that magnitude is
subtracted from every frame (never below 5 % of it, which keeps the residue from "musical"
chirps). Measured on the flite set at 10 dB, closure 0.667 → 0.765, viseme 0.499 → 0.527,
jaw 0.784 → 0.809 with the shipped weights (model card). Audio that is clean already
passes untouched, so studio speech and TTS lose nothing: its louder frames stand 55 dB or
more over that floor, speech in 10 dB of noise about 20 dB, and the gate is at 35.
"""

from __future__ import annotations

import numpy as np

#: Times the noise floor subtracted, the floor kept (share of a bin's magnitude), the
#: quantile of frames that estimates the noise, and the level over that floor (dB, see
#: :func:`over_floor_db`) from which audio counts as clean and is left alone.
ALPHA, FLOOR, QUANTILE, CLEAN_OVER_FLOOR_DB = 2.5, 0.05, 10.0, 35.0
_N, _HOP = 512, 128  # 32 ms Hann windows, 75 % overlap, at 16 kHz


def over_floor_db(power: np.ndarray, noise: np.ndarray) -> float:
    """How far the louder half of an STFT's frames (where the voice is) stands over a per-bin
    noise floor, in dB. Not an SNR: a low quantile sits under the noise's mean, so this reads
    some 10 dB above the true ratio; the gate is set on this scale."""
    frames = power.sum(axis=1)
    loud = frames[frames >= np.median(frames)].mean() if len(frames) else 0.0
    floor = float((noise ** 2).sum()) + 1e-20
    return float(10 * np.log10(max(loud, 1e-20) / floor))


def spectral_gate(audio: np.ndarray, alpha: float = ALPHA, floor: float = FLOOR,
                  quantile: float = QUANTILE,
                  clean_over_floor_db: float = CLEAN_OVER_FLOOR_DB) -> np.ndarray:
    """``audio`` (16 kHz mono float) with its steady noise subtracted; the same length."""
    x = np.asarray(audio, np.float64)
    if len(x) < 4 * _N:
        return np.asarray(audio, np.float32)
    window = np.hanning(_N)
    padded = np.concatenate([np.zeros(_N), x, np.zeros(_N)])
    starts = np.arange(0, len(padded) - _N + 1, _HOP)
    spec = np.fft.rfft(padded[starts[:, None] + np.arange(_N)] * window, axis=1)
    mag = np.abs(spec)
    noise = np.percentile(mag, quantile, axis=0)
    if over_floor_db(mag ** 2, noise) >= clean_over_floor_db:
        return np.asarray(audio, np.float32)
    gain = np.maximum(mag - alpha * noise, floor * mag) / np.maximum(mag, 1e-12)
    frames = np.fft.irfft(spec * gain, n=_N, axis=1) * window
    out = np.zeros(len(padded))
    weight = np.zeros(len(padded))
    index = (starts[:, None] + np.arange(_N)).ravel()
    np.add.at(out, index, frames.ravel())
    np.add.at(weight, index, np.tile(window ** 2, len(starts)))
    return (out / np.maximum(weight, 1e-9))[_N:_N + len(x)].astype(np.float32)
