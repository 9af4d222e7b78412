"""Make clean TTS speech sound like the audio the network will meet: pure numpy.

Every transform takes audio at 16 kHz and a seeded generator, and returns audio of the same
length except :func:`change_speed`, which also warps the targets so they stay in sync.
"""

from __future__ import annotations

import numpy as np

RATE = 16_000


def warp_mel(feats: np.ndarray, factor: float) -> np.ndarray:
    """Log-mel frames of a vocal tract ``factor`` times as long (VTLP): every formant moves
    to ``1 / factor`` of its frequency, as between a man's and a child's voice, while the
    timing, and so the targets, stay put. Band k reads the spectrum at the frequency of its
    centre times ``factor``, interpolated between neighbouring bands; the edges are held.
    """
    from blendshape.net.features import FMAX, FMIN, N_MELS, _hz_to_mel, _mel_to_hz

    mels = np.linspace(_hz_to_mel(FMIN), _hz_to_mel(FMAX), N_MELS + 2)[1:-1]
    source = _hz_to_mel(_mel_to_hz(mels) * factor)
    pos = np.clip((source - mels[0]) / (mels[1] - mels[0]), 0, N_MELS - 1)
    lo = np.minimum(np.floor(pos).astype(int), N_MELS - 2)
    w = (pos - lo).astype(np.float32)
    return (feats[:, lo] * (1 - w) + feats[:, lo + 1] * w).astype(np.float32)


def add_noise(audio: np.ndarray, rng: np.random.Generator, snr_db: float) -> np.ndarray:
    """White or pink noise at ``snr_db`` relative to the speech's power."""
    power = float(np.mean(audio ** 2)) + 1e-12
    noise = rng.normal(0.0, 1.0, len(audio))
    if rng.random() < 0.5:  # pink: integrate white noise in the frequency domain (1/f power)
        spectrum = np.fft.rfft(noise)
        spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1.0))
        noise = np.fft.irfft(spectrum, n=len(audio))
    noise *= np.sqrt(power / (np.mean(noise ** 2) + 1e-12) / 10 ** (snr_db / 10))
    return (audio + noise).astype(np.float32)


def add_reverb(audio: np.ndarray, rng: np.random.Generator, rt60: float) -> np.ndarray:
    """Convolve with a synthetic room: exponentially decaying noise, direct path first."""
    n = max(1, int(rt60 * RATE))
    t = np.arange(n) / RATE
    rir = rng.normal(0.0, 1.0, n) * np.exp(-6.9 * t / rt60)
    rir[0] = 1.0 / (0.3 + rng.random())  # direct-to-reverberant ratio varies
    rir /= np.sqrt(np.sum(rir ** 2))
    size = 1 << int(np.ceil(np.log2(len(audio) + n)))  # FFT convolution: a 1 s room is 16k taps
    wet = np.fft.irfft(np.fft.rfft(audio, size) * np.fft.rfft(rir, size), size)[: len(audio)]
    return (wet * (np.abs(audio).max() / (np.abs(wet).max() + 1e-9))).astype(np.float32)


def telephone(audio: np.ndarray) -> np.ndarray:
    """8 kHz telephone band: 300–3400 Hz, the upper half of the spectrum gone."""
    spectrum = np.fft.rfft(audio)
    freqs = np.fft.rfftfreq(len(audio), 1.0 / RATE)
    spectrum[(freqs < 300) | (freqs > 3400)] = 0.0
    return np.fft.irfft(spectrum, n=len(audio)).astype(np.float32)


def gain(audio: np.ndarray, db: float) -> np.ndarray:
    return (audio * 10 ** (db / 20)).astype(np.float32)


def clip(audio: np.ndarray, ceiling: float) -> np.ndarray:
    """Hard clipping at ``ceiling`` of the peak, as an overdriven microphone does."""
    peak = float(np.abs(audio).max()) + 1e-9
    return np.clip(audio, -ceiling * peak, ceiling * peak).astype(np.float32)


def change_speed(audio: np.ndarray, targets: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """Play ``factor`` times faster (pitch moves with it, like tape), targets warped to match.

    ``targets`` are frames at a fixed rate over the audio; both are resampled by linear
    interpolation on the same time axis.
    """
    n_out = max(1, int(round(len(audio) / factor)))
    src = np.linspace(0, len(audio) - 1, n_out)
    out_audio = np.interp(src, np.arange(len(audio)), audio).astype(np.float32)
    m_out = max(1, int(round(len(targets) / factor)))
    pos = np.linspace(0, len(targets) - 1, m_out)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(targets) - 1)
    w = (pos - lo)[:, None]
    out_targets = ((1 - w) * targets[lo] + w * targets[hi]).astype(np.float32)
    return out_audio, out_targets


#: How often the chain adds noise (and at what SNR, dB) or the telephone band, by profile.
#: ``light`` trained the shipped realtime weights; their lips stayed open through most
#: closures at 10 dB (closure 0.25 on flite with ``eval --degrade noise10``), and a fine-tune
#: of them on ``noisy`` did not move that (0.23). ``noisy`` trained the offline model.
PROFILES: dict[str, dict] = {
    "light": {"noise": 0.6, "snr": (5.0, 30.0), "telephone": 0.15},
    "noisy": {"noise": 0.75, "snr": (0.0, 30.0), "telephone": 0.25},
}


def random_chain(audio: np.ndarray, targets: np.ndarray, rng: np.random.Generator,
                 profile: str = "light") -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A random mix of the transforms above; returns what was applied, for the logs."""
    noisy = PROFILES[profile]
    applied: list[str] = []
    if rng.random() < 0.4:
        factor = float(rng.uniform(0.85, 1.2))
        audio, targets = change_speed(audio, targets, factor)
        applied.append(f"speed {factor:.2f}")
    if rng.random() < 0.3:
        rt60 = float(rng.uniform(0.15, 0.8))
        audio = add_reverb(audio, rng, rt60)
        applied.append(f"reverb {rt60:.2f}s")
    if rng.random() < noisy["telephone"]:
        audio = telephone(audio)
        applied.append("telephone")
    if rng.random() < noisy["noise"]:
        snr = float(rng.uniform(*noisy["snr"]))
        audio = add_noise(audio, rng, snr)
        applied.append(f"noise {snr:.0f}dB")
    if rng.random() < 0.1:
        ceiling = float(rng.uniform(0.3, 0.8))
        audio = clip(audio, ceiling)
        applied.append(f"clip {ceiling:.2f}")
    db = float(rng.uniform(-20, 3))
    audio = gain(audio, db)
    applied.append(f"gain {db:.0f}dB")
    return audio, targets, applied
