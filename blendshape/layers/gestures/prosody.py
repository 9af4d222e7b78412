"""Energy and pitch tracks of a sentence's audio: where the voice leans on a word.

An emphasised word is louder and higher than the words around it. Both tracks are cheap
(one batched FFT for the pitch of a sentence: ~2 ms for 3 s at 22 kHz) and pure, so the
planner can be tested on hand-made tracks and fed real ones in the server.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Seconds between track frames, and the analysis window.
HOP = 0.01
WINDOW = 0.04
#: The pitch range searched (Hz): low male speech to high female speech.
F0_RANGE = (70.0, 400.0)
#: Normalised autocorrelation a frame needs to count as voiced.
VOICING = 0.45


@dataclass(frozen=True)
class Prosody:
    """Per-frame tracks at ``times`` (seconds from the sentence's first sample).

    ``energy`` is in dB (any reference: only differences matter); ``pitch`` in Hz, NaN
    where the frame is unvoiced. Either may be given alone (the other is None).
    """

    times: np.ndarray
    energy: np.ndarray | None = None
    pitch: np.ndarray | None = None


def _frames(pcm: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, window) frames every HOP seconds, and their centre times."""
    x = np.asarray(pcm, dtype=np.float32)
    win, hop = max(2, int(WINDOW * rate)), max(1, int(HOP * rate))
    if len(x) < win:
        return np.zeros((0, win), np.float32), np.zeros(0)
    count = 1 + (len(x) - win) // hop
    index = np.arange(win)[None, :] + hop * np.arange(count)[:, None]
    return x[index], (hop * np.arange(count) + win / 2) / rate


def analyse(pcm: np.ndarray, rate: int) -> Prosody:
    """Energy (dB) and pitch (Hz, autocorrelation) tracks of one sentence's audio."""
    frames, times = _frames(pcm, rate)
    if not len(frames):
        return Prosody(times, np.zeros(0), np.zeros(0))
    energy = 10.0 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-10)
    return Prosody(times, energy, _pitch(frames, rate))


def _pitch(frames: np.ndarray, rate: int) -> np.ndarray:
    """Autocorrelation pitch per frame; NaN where no lag correlates well enough."""
    x = frames - frames.mean(axis=1, keepdims=True)
    x = x * np.hanning(x.shape[1])[None, :]
    size = 1 << int(np.ceil(np.log2(2 * x.shape[1])))
    spectrum = np.fft.rfft(x, size, axis=1)
    ac = np.fft.irfft(np.abs(spectrum) ** 2, size, axis=1)[:, : x.shape[1]]
    lo = max(1, int(rate / F0_RANGE[1]))
    hi = min(ac.shape[1] - 1, int(rate / F0_RANGE[0]))
    if hi <= lo:
        return np.full(len(frames), np.nan)
    zero = np.maximum(ac[:, 0], 1e-12)
    lag = lo + np.argmax(ac[:, lo:hi], axis=1)
    strength = ac[np.arange(len(ac)), lag] / zero
    loud = ac[:, 0] > 1e-6 * x.shape[1]
    return np.where((strength >= VOICING) & loud, rate / lag, np.nan)


def voiced_span(prosody: Prosody, floor_db: float = 35.0) -> tuple[float, float] | None:
    """First and last moment the audio is within ``floor_db`` of its loudest frame."""
    if prosody.energy is None or not len(prosody.energy):
        return None
    loud = np.flatnonzero(prosody.energy >= prosody.energy.max() - floor_db)
    return float(prosody.times[loud[0]]), float(prosody.times[loud[-1]])


def prominence(prosody: Prosody | None, spans: Sequence[tuple[float, float]]) -> np.ndarray:
    """How much each (start, end) span stands out from the others: a robust z-score of its
    peak energy and its peak pitch, averaged over the tracks there are. 0 without tracks."""
    out = np.zeros(len(spans))
    if prosody is None or len(spans) < 2 or not len(prosody.times):
        return out
    scores = []
    for track in (prosody.energy, _semitones(prosody.pitch)):
        if track is None:
            continue
        peaks = np.array([_peak(prosody.times, track, s, e) for s, e in spans])
        if np.isfinite(peaks).sum() >= 2:
            scores.append(_robust_z(peaks))
    if not scores:
        return out
    stacked = np.vstack(scores)
    counted = np.isfinite(stacked).sum(axis=0)
    total = np.where(np.isfinite(stacked), stacked, 0.0).sum(axis=0)
    return np.clip(np.where(counted > 0, total / np.maximum(counted, 1), 0.0), -5.0, 5.0)


def _semitones(pitch: np.ndarray | None) -> np.ndarray | None:
    """Pitch on a log scale, where a leaning voice rises by the same amount at any register."""
    if pitch is None:
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        return 12.0 * np.log2(np.asarray(pitch, dtype=np.float64) / 100.0)


def _peak(times: np.ndarray, track: np.ndarray, start: float, end: float) -> float:
    inside = track[(times >= start) & (times <= end)]
    inside = inside[np.isfinite(inside)]
    return float(inside.max()) if len(inside) else np.nan


def _robust_z(values: np.ndarray) -> np.ndarray:
    """(x - median) / (1.4826 · MAD), with a floor on the spread so a flat track scores 0."""
    finite = values[np.isfinite(values)]
    median = float(np.median(finite))
    spread = max(1.4826 * float(np.median(np.abs(finite - median))), 1.0)
    z = (values - median) / spread
    return np.where(np.isfinite(z), z, np.nan)
