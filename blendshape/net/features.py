"""Log-mel features at 16 kHz, 100 frames a second, identical offline and streaming.

Frame i summarizes the 25 ms window that *ends* at sample (i + 1) * 160: it is complete as
soon as that sample arrives, so a streaming extractor never waits for the future, and the
network's look-ahead is the only delay it adds. The first windows see zeros before the
audio starts, in both modes, so the two agree to float rounding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

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
    """Causal noise subtraction on log-mel frames, in front of the realtime network: the same
    frames whether they come a chunk at a time or all at once.

    Why: a p/b/m closure is a short silence, and steady noise fills it; at 10 dB the
    realtime network kept the lips open through three closures in four (closure 0.253, model
    card). The offline model subtracts a floor it takes from the whole clip (:mod:`denoise`);
    a stream has only its past, so here each band's floor is the lowest power (smoothed over
    ``smooth`` frames) of the last ``blocks`` blocks of ``block`` frames and of the block
    under way ("minimum statistics", kept per block so a 20 ms chunk costs a few vector
    operations, not a search of the last second), ``alpha`` times it is taken off (the
    minimum of a noisy power sits well under its mean), never leaving less than ``keep`` of
    the band.

    Clean audio is left alone: the subtraction fades in as the loudest frame of that span
    stands less far over the floor, from none at ``gate[1]`` dB to full at ``gate[0]``
    (speech in 10 dB of noise stands under 25 dB, studio speech 50 or more). The first
    ``smooth − 1`` frames (windows partly before the audio) never count, and nothing is
    subtracted in the first ``settle`` frames: a floor from less is no floor (speech from the
    first sample would count as its own noise).

    Measured with the shipped realtime weights, which were not trained on it (model card):
    at 10 dB closure 0.253 → 0.695, jawOpen 0.615 → 0.663; clean and telephone audio within
    0.02 of before on every figure.
    """

    alpha: float = 9.0
    block: int = 10      # frames a block: the floor moves on every 100 ms
    blocks: int = 10     # blocks remembered: the floor is the last 1.0-1.1 s's
    smooth: int = 4
    keep: float = 0.01
    gate: tuple[float, float] | None = (25.0, 30.0)  # dB over the floor: full, none
    settle: int = 20     # frames heard before anything is taken off
    _recent: np.ndarray = field(default_factory=lambda: np.zeros((0, N_MELS)))
    _mins: list[np.ndarray] = field(default_factory=list)   # each past block's minimum
    _louds: list[float] = field(default_factory=list)       # each past block's loudest total
    _floor: np.ndarray | None = None    # min over _mins, recomputed once a block
    _loud: float = 0.0
    _min: np.ndarray | None = None      # the block under way
    _max: float = 0.0
    _frame: int = 0

    def __post_init__(self) -> None:
        self._recent = np.zeros((self.smooth - 1, N_MELS))

    def push(self, logmel: np.ndarray) -> np.ndarray:
        """Log-mel frames → the same frames with the floor taken off (float32)."""
        n = len(logmel)
        if n == 0:
            return np.asarray(logmel, np.float32)
        power = np.exp(np.asarray(logmel, np.float64)) - LOG_FLOOR
        recent = np.concatenate([self._recent, power])
        self._recent = recent[n:]
        csum = np.cumsum(recent, axis=0)
        smoothed = (csum[self.smooth - 1:] - np.concatenate(
            [np.zeros((1, N_MELS)), csum[:n - 1]])) / self.smooth
        floors = np.zeros((n, N_MELS))
        strength = np.zeros(n)
        for k in range(n):
            frame = smoothed[k]
            if self._frame >= self.smooth - 1:  # its window lies wholly within the audio
                total = float(frame.sum())
                self._min = frame if self._min is None else np.minimum(self._min, frame)
                self._max = max(self._max, total)
            if self._min is not None and self._frame >= self.settle:
                floor = self._min if self._floor is None else np.minimum(self._floor, self._min)
                loud = max(self._loud, self._max)
                floors[k] = floor
                strength[k] = self.alpha * self._gain(loud, float(floor.sum()))
            self._frame += 1
            if self._frame % self.block == 0 and self._min is not None:
                self._mins = [*self._mins[1 - self.blocks:], self._min]
                self._louds = [*self._louds[1 - self.blocks:], self._max]
                self._floor = np.min(self._mins, axis=0)
                self._loud = max(self._louds)
                self._min, self._max = None, 0.0
        clean = np.maximum(power - strength[:, None] * floors, self.keep * power)
        return np.log(clean + LOG_FLOOR).astype(np.float32)

    def _gain(self, loud: float, floor: float) -> float:
        """1 where the loudest frame stands under ``gate[0]`` dB over the floor, 0 over
        ``gate[1]``, a straight line between."""
        if self.gate is None:
            return 1.0
        over = 10 * np.log10(max(loud, 1e-20) / max(floor, 1e-20))
        full, none = self.gate
        return min(1.0, max(0.0, (none - over) / (none - full)))


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
    _floor: NoiseFloor | None = None

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
