"""Log-mel features at 16 kHz, 100 frames a second, identical offline and streaming.

Frame i summarizes the 25 ms window that *ends* at sample (i + 1) * 160: it is complete as
soon as that sample arrives, so a streaming extractor never waits for the future, and the
network's look-ahead is the only delay it adds. The first windows see zeros before the
audio starts, in both modes, so the two agree to float rounding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

SAMPLE_RATE = 16_000
HOP = 160            # 10 ms
WINDOW = 400         # 25 ms
N_FFT = 512
N_MELS = 80
FMIN, FMAX = 50.0, 8_000.0
FRAME_RATE = SAMPLE_RATE // HOP  # 100 frames per second
LOG_FLOOR = 1e-6


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel) / 2595.0) - 1.0)


def mel_filterbank(n_mels: int = N_MELS, n_fft: int = N_FFT, rate: int = SAMPLE_RATE,
                   fmin: float = FMIN, fmax: float = FMAX) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular filters, HTK mel scale, area-normalized."""
    bins = np.fft.rfftfreq(n_fft, 1.0 / rate)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    lower, center, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lower) / (center - lower)
    falling = (upper - bins[None, :]) / (upper - center)
    filters = np.maximum(0.0, np.minimum(rising, falling))
    return (filters * (2.0 / (upper - lower))).astype(np.float32)


_FILTERS = mel_filterbank()
_WINDOW_FN = np.hanning(WINDOW + 2)[1:-1].astype(np.float32)


def _frames_to_logmel(frames: np.ndarray) -> np.ndarray:
    spectrum = np.fft.rfft(frames * _WINDOW_FN, n=N_FFT, axis=-1)
    power = (spectrum.real ** 2 + spectrum.imag ** 2).astype(np.float32)
    return np.log(power @ _FILTERS.T + LOG_FLOOR).astype(np.float32)


@dataclass
class NoiseFloor:
    """Causal noise subtraction on log-mel frames, for the realtime network: the same frames
    whether they come a chunk at a time or all at once.

    Why: a p/b/m closure is a short silence, and steady noise fills it; at 10 dB the
    realtime network kept the lips open through three closures in four (model card). The
    offline model subtracts a floor it takes from the whole clip (:mod:`denoise`); a stream
    has only its past, so here each band's floor is the lowest power of the last
    ``window`` frames (smoothed over ``smooth``: "minimum statistics"), ``alpha`` times it
    is taken off (the minimum sits under the noise's mean), and never more than leaves
    ``keep`` of the band. In clean speech the floor is the near-silence between words, so
    little changes. The first ``smooth − 1`` frames (windows still partly before the audio)
    never count as floor.
    """

    alpha: float = 4.0
    window: int = 100  # frames: 1 s of the past
    smooth: int = 4
    keep: float = 0.01
    _power: np.ndarray = field(default_factory=lambda: np.zeros((0, N_MELS)))
    _smoothed: np.ndarray = field(default_factory=lambda: np.zeros((0, N_MELS)))

    def __post_init__(self) -> None:
        self._power = np.full((self.smooth - 1, N_MELS), np.inf)
        self._smoothed = np.full((self.window - 1, N_MELS), np.inf)

    def push(self, logmel: np.ndarray) -> np.ndarray:
        """Log-mel frames → the same frames with the floor taken off (float32)."""
        if len(logmel) == 0:
            return np.asarray(logmel, np.float32)
        power = np.exp(np.asarray(logmel, np.float64)) - LOG_FLOOR
        recent = np.concatenate([self._power, power])
        smoothed = sliding_window_view(recent, self.smooth, axis=0).mean(axis=-1)
        history = np.concatenate([self._smoothed, smoothed])
        floor = sliding_window_view(history, self.window, axis=0).min(axis=-1)
        floor[~np.isfinite(floor)] = np.inf
        self._power = recent[len(recent) - (self.smooth - 1):]
        self._smoothed = history[len(history) - (self.window - 1):]
        with np.errstate(invalid="ignore"):
            clean = np.maximum(power - self.alpha * floor, self.keep * power)
        return np.log(clean + LOG_FLOOR).astype(np.float32)


def log_mel(audio: np.ndarray, denoise: bool = False) -> np.ndarray:
    """(n_frames, N_MELS) for mono float audio at 16 kHz; n_frames = len(audio) // HOP.

    ``denoise`` takes the causal noise floor off (:class:`NoiseFloor`), as a model whose
    config says ``denoise`` heard it in training."""
    x = np.asarray(audio, dtype=np.float32)
    padded = np.concatenate([np.zeros(WINDOW - HOP, np.float32), x])
    n = len(x) // HOP
    if n == 0:
        return np.zeros((0, N_MELS), np.float32)
    index = np.arange(WINDOW)[None, :] + HOP * np.arange(n)[:, None]
    feats = _frames_to_logmel(padded[index])
    return NoiseFloor().push(feats) if denoise else feats


@dataclass
class StreamingLogMel:
    """Feed audio in any chunk sizes; get exactly the frames :func:`log_mel` would give
    (with the same ``denoise``)."""

    denoise: bool = False
    _buffer: np.ndarray = field(default_factory=lambda: np.zeros(WINDOW - HOP, np.float32))
    _floor: "NoiseFloor | None" = None

    def __post_init__(self) -> None:
        if self.denoise:
            self._floor = NoiseFloor()

    def push(self, audio: np.ndarray) -> np.ndarray:
        self._buffer = np.concatenate([self._buffer, np.asarray(audio, dtype=np.float32)])
        n = (len(self._buffer) - (WINDOW - HOP)) // HOP
        if n <= 0:
            return np.zeros((0, N_MELS), np.float32)
        index = np.arange(WINDOW)[None, :] + HOP * np.arange(n)[:, None]
        out = _frames_to_logmel(self._buffer[index])
        self._buffer = self._buffer[n * HOP:]
        return self._floor.push(out) if self._floor is not None else out


def resample(audio: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """``audio`` at ``rate`` to ``target`` Hz (soxr, high quality), as float32."""
    if rate == target:
        return np.asarray(audio, dtype=np.float32)
    import soxr

    return np.asarray(soxr.resample(np.asarray(audio, np.float32), rate, target, quality="HQ"),
                      dtype=np.float32)
