"""Log-mel features at 16 kHz, 100 frames a second, identical offline and streaming.

Frame i summarizes the 25 ms window that *ends* at sample (i + 1) * 160: it is complete as
soon as that sample arrives, so a streaming extractor never waits for the future, and the
network's look-ahead is the only delay it adds. The first windows see zeros before the
audio starts, in both modes, so the two agree to float rounding.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
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
#: Frames over which :meth:`NoiseFloor.push` takes them all at once rather than one by one:
#: measured here, the vector form costs ~150 µs and 1.2 µs a frame, the loop ~30 µs and
#: 5.5 µs a frame; they cross near 28 frames.
LONG_PUSH = 32
#: Frames a whole clip is taken in at a time (:func:`log_mel`, and the network's pass in
#: :func:`blendshape.net.stream.animate_clip`): 20 s, within which the per-block costs vanish.
CLIP_BLOCK = 2048


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
#: The Hann window in float64, so the spectra are taken in double precision: numpy's FFT
#: (2.4) ran a whole clip's 1,000 frames in 2.9 ms in float64 against 4.8-5.1 in float32,
#: and a live chunk's 2 frames at the same 12-13 µs; features move by float32 rounding (1e-7).
_WINDOW_FN = np.hanning(WINDOW + 2)[1:-1]


#: Frames a matrix product at most (see :func:`_frames_to_logmel`).
_ROWS = 8


def _frames_to_logmel(frames: np.ndarray) -> np.ndarray:
    """(n, WINDOW) windows → (n, N_MELS) log-mel.

    The mel product runs ``_ROWS`` frames at a time. Why: above ~260k multiply-adds
    OpenBLAS (numpy's) splits a product across threads, which then spin for a while after
    it, taking the cores from whatever runs next: a server tick's 512 frames in one product
    doubled the network step that followed it (2.6 → 5.6 ms for 64 streams). Eight frames
    are under that size; a frame's numbers move by float rounding (1e-7) with the frames
    beside it, as they did in one product."""
    spectrum = np.fft.rfft(frames * _WINDOW_FN, n=N_FFT, axis=-1)
    power = (spectrum.real ** 2 + spectrum.imag ** 2).astype(np.float32)
    mel = np.empty((len(power), N_MELS), np.float32)
    for i in range(0, len(power), _ROWS):
        np.matmul(power[i:i + _ROWS], _FILTERS.T, out=mel[i:i + _ROWS])
    return np.log(mel + LOG_FLOOR).astype(np.float32)


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
    # The state, in arrays so that many streams' floors advance together (push_many). A
    # band's minimum is +inf where nothing was heard yet, and a past block's loudest total
    # is 0 before it was heard: the minima and maxima below need no "none yet" branch.
    _recent: np.ndarray = field(default_factory=lambda: np.zeros((0, N_MELS)))
    _ring: np.ndarray = field(default_factory=lambda: np.zeros((0, N_MELS)))  # blocks' minima
    _ring_loud: np.ndarray = field(default_factory=lambda: np.zeros(0))  # blocks' loudest totals
    _slot: int = 0                      # the ring's next place
    _floor: np.ndarray = field(default_factory=lambda: np.full(N_MELS, np.inf))  # ring's min
    _loud: float = 0.0                  # the ring's loudest
    _min: np.ndarray = field(default_factory=lambda: np.full(N_MELS, np.inf))  # block under way
    _max: float = 0.0
    _frame: int = 0

    def __post_init__(self) -> None:
        self._recent = np.zeros((self.smooth - 1, N_MELS))
        self._ring = np.full((self.blocks, N_MELS), np.inf)
        self._ring_loud = np.zeros(self.blocks)

    @property
    def settings(self) -> tuple:
        """What must match for floors to advance together."""
        return (self.alpha, self.block, self.blocks, self.smooth, self.keep, self.gate,
                self.settle)

    def push(self, logmel: np.ndarray) -> np.ndarray:
        """Log-mel frames → the same frames with the floor taken off (float32)."""
        n = len(logmel)
        if n == 0:
            return np.asarray(logmel, np.float32)
        if n > LONG_PUSH:
            return self._push_long(np.asarray(logmel))
        power, smoothed = self._smoothed([self], np.asarray(logmel)[None])
        smoothed = smoothed[0]
        floors = np.zeros((n, N_MELS))
        strength = np.zeros(n)
        low, high, heard = self._min, self._max, bool(np.isfinite(self._min[0]))
        floored = bool(np.isfinite(self._floor[0]))
        for k in range(n):
            frame = smoothed[k]
            if self._frame >= self.smooth - 1:  # its window lies wholly within the audio
                low = np.minimum(low, frame) if heard else frame
                high, heard = max(high, float(frame.sum())), True
            if heard and self._frame >= self.settle:
                floor = np.minimum(self._floor, low) if floored else low
                floors[k] = floor
                strength[k] = self.alpha * self._gain(max(self._loud, high), float(floor.sum()))
            self._frame += 1
            if self._frame % self.block == 0 and heard:
                self._end_block(low, high)
                low, high, heard, floored = self._min, self._max, False, True
        self._min, self._max = low, high
        return self._clean(power[0], floors, strength)

    def _push_long(self, logmel: np.ndarray) -> np.ndarray:
        """:meth:`push` of many frames (a whole clip) in a fixed number of vector operations:
        the same numbers, bit for bit. Why: the frame-by-frame loop cost a 10 s clip 8 ms,
        more than its spectra (6 ms); this takes 2-3 ms. Each block's running minimum and
        loudest come by doubling within the block, and each frame's floor is the least of
        the last ``blocks`` block minima ended before it (the ring's, then this push's)."""
        n = len(logmel)
        power, smoothed = self._smoothed([self], logmel[None])
        power, smoothed = power[0], smoothed[0]
        index = self._frame + np.arange(n)
        counted = index >= self.smooth - 1  # its window lies wholly within the audio
        # The block under way's minimum and loudest first, then each frame's own.
        low = np.concatenate([self._min[None], np.where(counted[:, None], smoothed, np.inf)])
        high = np.concatenate([[self._max], np.where(counted, smoothed.sum(axis=1), 0.0)])
        block = np.concatenate([[self._frame - 1], index]) // self.block
        shift = 1
        while shift < min(self.block, n + 1):  # running extremes within each block
            same = block[shift:] == block[:-shift]
            low[shift:] = np.where(same[:, None], np.minimum(low[shift:], low[:-shift]),
                                   low[shift:])
            high[shift:] = np.where(same, np.maximum(high[shift:], high[:-shift]), high[shift:])
            shift *= 2
        low, high = low[1:], high[1:]
        heard = np.isfinite(low[:, 0])
        ends = ((index + 1) % self.block == 0) & heard  # a block ends and joins the ring
        before = np.cumsum(ends) - ends  # the blocks that ended in this push before frame k
        start = self._slot  # the ring oldest first, then this push's blocks in order
        ring = np.concatenate([np.roll(self._ring, -start, axis=0), low[ends]])
        ring_loud = np.concatenate([np.roll(self._ring_loud, -start), high[ends]])
        windows = np.lib.stride_tricks.sliding_window_view
        past = windows(ring, self.blocks, axis=0).min(axis=-1)  # (ended + 1, N_MELS)
        past_loud = windows(ring_loud, self.blocks).max(axis=-1)
        on = heard & (index >= self.settle)
        floors = np.where(on[:, None], np.minimum(past[before], low), 0.0)
        strength = np.zeros(n)
        strength[on] = self.alpha * self._gains(np.maximum(past_loud[before], high)[on],
                                                floors[on].sum(axis=1))
        self._frame += n
        self._ring, self._ring_loud, self._slot = ring[-self.blocks:], ring_loud[-self.blocks:], 0
        self._floor, self._loud = past[-1], float(past_loud[-1])
        self._min, self._max = (np.full(N_MELS, np.inf), 0.0) if ends[-1] else \
            (low[-1], float(high[-1]))
        return self._clean(power, floors, strength)

    @staticmethod
    def push_many(floors: Sequence[NoiseFloor], logmels: np.ndarray) -> np.ndarray:
        """(B, n, N_MELS) log-mel frames, the next ``n`` of each of B streams' floors (all
        with the same :attr:`settings`) → the same with each floor taken off: the numbers
        :meth:`push` gives each stream alone, for a few vector operations a frame instead of
        a few a frame *per stream* (a server's tick: 256 streams' floors cost 15 ms one by
        one, most of the tick)."""
        first = floors[0]
        b, n = logmels.shape[:2]
        if n == 0:
            return np.asarray(logmels, np.float32)
        power, smoothed = first._smoothed(floors, logmels)
        index = np.array([f._frame for f in floors])
        low = np.stack([f._min for f in floors])
        high = np.array([f._max for f in floors])
        past = np.stack([f._floor for f in floors])
        past_loud = np.array([f._loud for f in floors])
        out_floors = np.zeros((b, n, N_MELS))
        strength = np.zeros((b, n))
        for k in range(n):
            frame = smoothed[:, k]
            heard = index >= first.smooth - 1
            if heard.any():
                low = np.where(heard[:, None], np.minimum(low, frame), low)
                high = np.where(heard, np.maximum(high, frame.sum(axis=1)), high)
            rows = np.flatnonzero((index >= first.settle) & np.isfinite(low[:, 0]))
            if len(rows):
                floor = np.minimum(past[rows], low[rows])
                out_floors[rows, k] = floor
                strength[rows, k] = first.alpha * first._gains(
                    np.maximum(past_loud[rows], high[rows]), floor.sum(axis=1))
            index += 1
            for r in np.flatnonzero((index % first.block == 0) & np.isfinite(low[:, 0])):
                past[r], past_loud[r] = floors[r]._end_block(low[r], float(high[r]))
                low[r], high[r] = np.inf, 0.0
        for r, f in enumerate(floors):
            f._frame, f._min, f._max = int(index[r]), low[r], float(high[r])
        return first._clean(power, out_floors, strength)

    def _smoothed(self, floors: Sequence[NoiseFloor], logmels: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
        """(B, n, N_MELS) log-mel → its power, and the power averaged over each frame's last
        ``smooth`` frames (the floors' recent frames before the first); each floor keeps
        its last ``smooth − 1`` frames for the next push."""
        n = logmels.shape[1]
        power = np.exp(np.asarray(logmels, np.float64)) - LOG_FLOOR
        if len(floors) == 1:  # a live stream's chunk: no stack of one
            recent = np.concatenate((floors[0]._recent, power[0]))[None]
        else:
            recent = np.concatenate([np.stack([f._recent for f in floors]), power], axis=1)
        for f, r in zip(floors, recent):
            f._recent = r[n:]
        # Each frame's own `smooth` powers summed in order: the same bits however the frames
        # were cut into pushes (a running sum's differences were not), and cheaper than that
        # cumulative sum along the frames: a 256-stream tick's floors 2.5 -> 1.8 ms, one
        # stream's 20 ms chunk 62 -> 49 µs.
        total = recent[:, :n].copy()
        for j in range(1, self.smooth):
            total += recent[:, j:j + n]
        return power, total / self.smooth

    def _end_block(self, low: np.ndarray, high: float) -> tuple[np.ndarray, float]:
        """A block ends: its minimum and loudest join the ring (the oldest leaves), and the
        floor becomes the ring's. Returns the new floor and loudest."""
        self._ring[self._slot] = low
        self._ring_loud[self._slot] = high
        self._slot = (self._slot + 1) % self.blocks
        self._floor, self._loud = self._ring.min(axis=0), float(self._ring_loud.max())
        self._min, self._max = np.full(N_MELS, np.inf), 0.0
        return self._floor, self._loud

    def _clean(self, power: np.ndarray, floors: np.ndarray, strength: np.ndarray) -> np.ndarray:
        # The one expression's operations in its order (the same bits), in one buffer.
        clean = strength[..., None] * floors
        np.subtract(power, clean, out=clean)
        np.maximum(clean, self.keep * power, out=clean)
        clean += LOG_FLOOR
        return np.log(clean, out=clean).astype(np.float32)

    def _gains(self, louds: np.ndarray, floors: np.ndarray) -> np.ndarray:
        """:meth:`_gain` of many frames at once (the same numbers)."""
        if self.gate is None:
            return np.ones(len(louds))
        over = 10 * np.log10(np.maximum(louds, 1e-20) / np.maximum(floors, 1e-20))
        full, none = self.gate
        return np.minimum(1.0, np.maximum(0.0, (none - over) / (none - full)))

    def _gain(self, loud: float, floor: float) -> float:
        """1 where the loudest frame stands under ``gate[0]`` dB over the floor, 0 over
        ``gate[1]``, a straight line between."""
        if self.gate is None:
            return 1.0
        over = 10 * math.log10(max(loud, 1e-20) / max(floor, 1e-20))
        full, none = self.gate
        return min(1.0, max(0.0, (none - over) / (none - full)))


def log_mel(audio: np.ndarray, denoise: bool = False) -> np.ndarray:
    """(n_frames, N_MELS) for mono float audio at 16 kHz; n_frames = len(audio) // HOP.

    ``denoise`` takes the causal noise floor off (:class:`NoiseFloor`), as a model whose
    config says ``denoise`` heard it in training.

    The frames are made ``CLIP_BLOCK`` at a time from a strided view of the audio, so a long
    recording costs a few MB beyond its features rather than its windows' index, windows
    and spectra all at once (a 20 min file took 1.4 GB, an hour's show would take 4); the
    floor carries over from block to block, so the numbers are those of one pass."""
    x = np.asarray(audio, dtype=np.float32)
    n = len(x) // HOP
    if n == 0:
        return np.zeros((0, N_MELS), np.float32)
    padded = np.concatenate([np.zeros(WINDOW - HOP, np.float32), x])
    windows = np.lib.stride_tricks.sliding_window_view(padded, WINDOW)[::HOP][:n]
    floor = NoiseFloor() if denoise else None
    feats = np.empty((n, N_MELS), np.float32)
    for i in range(0, n, CLIP_BLOCK):
        block = _frames_to_logmel(windows[i:i + CLIP_BLOCK])
        feats[i:i + CLIP_BLOCK] = floor.push(block) if floor is not None else block
    return feats


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
        windows = self._windows(audio)
        if not len(windows):
            return np.zeros((0, N_MELS), np.float32)
        out = _frames_to_logmel(windows)
        return self._floor.push(out) if self._floor is not None else out

    def _windows(self, audio: np.ndarray) -> np.ndarray:
        """The windows of the frames ``audio`` completes, (n, WINDOW); the rest is kept."""
        self._buffer = np.concatenate([self._buffer, np.asarray(audio, dtype=np.float32)])
        n = max(0, (len(self._buffer) - (WINDOW - HOP)) // HOP)
        windows = self._buffer[_window_index(n)]
        self._buffer = self._buffer[n * HOP:]
        return windows

    @staticmethod
    def push_many(framers: Sequence[StreamingLogMel], audios: Sequence[np.ndarray]
                  ) -> list[np.ndarray]:
        """Each framer's next audio → its frames, as :meth:`push` gives them one by one, for
        one spectrum call for all and one noise-floor pass per frame count: a server's tick
        of many streams (:func:`blendshape.net.stream.stream_features`)."""
        windows = [f._windows(a) for f, a in zip(framers, audios)]
        counts = [len(w) for w in windows]
        if not sum(counts):
            return [np.zeros((0, N_MELS), np.float32) for _ in framers]
        frames = np.split(_frames_to_logmel(np.concatenate(windows)), np.cumsum(counts)[:-1])
        groups: dict[tuple, list[int]] = {}  # denoised streams by frame count and settings
        for i, f in enumerate(framers):
            if f._floor is not None and counts[i]:
                groups.setdefault((counts[i], f._floor.settings), []).append(i)
        for group in groups.values():
            if len(group) == 1:  # one stream's frames, one by one, cost less than the batch's
                frames[group[0]] = framers[group[0]]._floor.push(frames[group[0]])  # type: ignore[union-attr]
                continue
            cleaned = NoiseFloor.push_many([framers[i]._floor for i in group],  # type: ignore[misc]
                                           np.stack([frames[i] for i in group]))
            for j, i in enumerate(group):
                frames[i] = cleaned[j]
        return frames


@functools.lru_cache(maxsize=64)
def _window_index(n: int) -> np.ndarray:
    """Where the samples of n consecutive windows lie in a framer's buffer."""
    return np.arange(WINDOW)[None, :] + HOP * np.arange(n)[:, None]


def resample(audio: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """``audio`` at ``rate`` to ``target`` Hz (soxr, high quality), as float32."""
    if rate == target:
        return np.asarray(audio, dtype=np.float32)
    import soxr

    return np.asarray(soxr.resample(np.asarray(audio, np.float32), rate, target, quality="HQ"),
                      dtype=np.float32)
