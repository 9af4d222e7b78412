"""Timed visemes → ARKit + viseme curves, with coarticulation. Pure numpy.

This is the network's teacher and the fallback animator, so its rules are the ones a viewer
checks first:

* Each viseme is an ARKit pose (``POSES``). Poses are blended with Cohen–Massaro dominance
  functions: every viseme span exerts a dominance that is flat over the span and decays
  before it (anticipation, slower) and after it (carry-over, faster), so the mouth starts
  shaping the next sound early, and strong visemes (lip closure, labiodentals) win over weak
  ones (tongue-only consonants) that borrow their neighbours' shape.
* Bilabials (p, b, m) always reach full closure, however short: inside the span — or at the
  frame nearest its centre when the span falls between frames — the lips are sealed.
* The jaw follows loudness: the same vowel opens wider when it is louder.
* Silence relaxes to rest (the all-zero pose).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from blendshape import rig
from blendshape.phonemes import VisemeSpan

_A = rig.ARKIT_INDEX


_pose = rig.arkit_pose

#: The ARKit pose of each Oculus viseme: designed against ARKit's shape semantics
#: (mouthClose seals the lips against jawOpen; press/roll tighten them).
POSES: dict[str, np.ndarray] = {
    "sil": _pose(),
    "PP": _pose(mouthClose=0.35, mouthPressBoth=0.75, mouthRollLower=0.25, mouthRollUpper=0.15,
                mouthShrugLower=0.1),
    "FF": _pose(jawOpen=0.08, mouthRollLower=0.65, mouthUpperUpBoth=0.18, mouthShrugUpper=0.15,
                mouthPressBoth=0.1, mouthStretchBoth=0.1),
    "TH": _pose(jawOpen=0.15, tongueOut=0.4, mouthLowerDownBoth=0.1, mouthUpperUpBoth=0.08,
                mouthStretchBoth=0.08),
    "DD": _pose(jawOpen=0.18, mouthStretchBoth=0.12, mouthLowerDownBoth=0.12,
                mouthUpperUpBoth=0.05),
    "kk": _pose(jawOpen=0.22, mouthStretchBoth=0.15, mouthLowerDownBoth=0.1),
    "CH": _pose(jawOpen=0.12, mouthFunnel=0.45, mouthPucker=0.3, mouthUpperUpBoth=0.25,
                mouthLowerDownBoth=0.2, mouthShrugUpper=0.2),
    "SS": _pose(jawOpen=0.06, mouthStretchBoth=0.35, mouthSmileBoth=0.15, mouthUpperUpBoth=0.15,
                mouthLowerDownBoth=0.15, mouthClose=0.05),
    "nn": _pose(jawOpen=0.14, mouthStretchBoth=0.1, mouthLowerDownBoth=0.06, mouthClose=0.03),
    "RR": _pose(jawOpen=0.15, mouthPucker=0.35, mouthFunnel=0.25, mouthUpperUpBoth=0.1),
    "aa": _pose(jawOpen=0.62, mouthLowerDownBoth=0.3, mouthUpperUpBoth=0.1, mouthStretchBoth=0.05),
    "E": _pose(jawOpen=0.38, mouthStretchBoth=0.28, mouthSmileBoth=0.15, mouthLowerDownBoth=0.25,
               mouthUpperUpBoth=0.18),
    "ih": _pose(jawOpen=0.24, mouthStretchBoth=0.35, mouthSmileBoth=0.28, mouthUpperUpBoth=0.15,
                mouthLowerDownBoth=0.15, cheekSquintBoth=0.05),
    "oh": _pose(jawOpen=0.42, mouthFunnel=0.55, mouthPucker=0.32, mouthLowerDownBoth=0.1),
    "ou": _pose(jawOpen=0.18, mouthPucker=0.85, mouthFunnel=0.45),
}
POSE_MATRIX = np.stack([POSES[v] for v in rig.VISEMES])  # (15, 52)

#: How strongly each viseme imposes itself on its neighbours.
DOMINANCE: dict[str, float] = {
    "sil": 0.8, "PP": 2.0, "FF": 1.6, "TH": 1.2, "DD": 0.5, "kk": 0.4, "CH": 1.4, "SS": 1.1,
    "nn": 0.5, "RR": 1.0, "aa": 1.0, "E": 1.0, "ih": 1.0, "oh": 1.2, "ou": 1.3,
}

#: Channels the closure constraint owns: jaw and every mouth shape.
_MOUTH = np.array([i for i, n in enumerate(rig.ARKIT52) if n.startswith(("jaw", "mouth", "cheekPuff",
                                                                            "tongue"))])
_JAW = _A["jawOpen"]
_LOWER = [_A["mouthLowerDownLeft"], _A["mouthLowerDownRight"]]
#: The shapes loudness opens further: the jaw and the lower lip (:func:`opening_gain`).
OPENING = [_JAW, *_LOWER]
_SIL = rig.VISEME_INDEX["sil"]
_PP = rig.VISEME_INDEX["PP"]


@dataclass(frozen=True)
class ProceduralConfig:
    """Timing constants of the coarticulation model (seconds)."""

    anticipation: float = 0.04   # dominance decay before a span (Gaussian sigma)
    carryover: float = 0.03      # dominance decay after a span
    closure_ramp: float = 0.035  # lips close/open this long around a bilabial
    rest_dominance: float = 1e-3  # keeps the blend defined far from any span
    loud_floor: float = 0.55     # jaw gain at silence-level loudness ...
    loud_gain: float = 0.6       # ... plus this much at full loudness


def opening_gain(loud: np.ndarray, config: ProceduralConfig = ProceduralConfig()) -> np.ndarray:
    """How far loudness (0..1 per frame, :func:`loudness`) scales the :data:`OPENING` shapes:
    a quiet voice still opens its mouth, a loud one opens it wider."""
    return config.loud_floor + config.loud_gain * np.asarray(loud, dtype=np.float64)


def loudness(pcm: np.ndarray, rate: int, times: np.ndarray, window: float = 0.03) -> np.ndarray:
    """Perceptual loudness in 0..1 at ``times`` (seconds from the first sample of ``pcm``).

    RMS over a short window, in dB relative to the clip's peak, mapped from -40 dB → 0 to
    0 dB → 1: relative, so a quiet voice still opens its jaw.
    """
    x = np.asarray(pcm, dtype=np.float32)
    n = len(x)
    if n == 0:
        return np.zeros(len(times), dtype=np.float32)
    half = max(1, int(window * rate / 2))
    # The running energy in one float64 array (a long file's squares, their cumulative sum
    # and a copy with a leading 0 were three), its mean taken before it accumulates.
    csum = np.empty(n + 1)
    csum[0] = 0.0
    np.square(x, out=csum[1:], dtype=np.float64)
    mean_energy = float(np.mean(csum[1:]))
    np.cumsum(csum[1:], out=csum[1:])
    centers = np.clip(np.round(np.asarray(times) * rate).astype(np.int64), 0, n - 1)
    lo = np.clip(centers - half, 0, n)
    hi = np.clip(centers + half, 0, n)
    energy = (csum[hi] - csum[lo]) / np.maximum(hi - lo, 1)
    db = 10.0 * np.log10(energy + 1e-10)
    peak = max(float(db.max()), 10.0 * np.log10(mean_energy + 1e-10) + 6)
    return np.clip((db - (peak - 40.0)) / 40.0, 0.0, 1.0).astype(np.float32)


def viseme_weights(spans: Sequence[VisemeSpan], times: np.ndarray,
                   config: ProceduralConfig = ProceduralConfig()) -> np.ndarray:
    """Blend weights (n, 15) of the visemes at ``times``; each row sums to 1."""
    times = np.asarray(times, dtype=np.float64)
    weights = np.zeros((len(times), len(rig.VISEMES)), dtype=np.float64)
    weights[:, _SIL] = config.rest_dominance
    if spans:
        starts = np.array([s.start for s in spans])
        ends = np.array([s.end for s in spans])
        alpha = np.array([DOMINANCE[s.viseme] for s in spans])
        cols = np.array([rig.VISEME_INDEX[s.viseme] for s in spans])
        t = times[:, None]
        before = np.maximum(starts[None, :] - t, 0.0) / config.anticipation
        after = np.maximum(t - ends[None, :], 0.0) / config.carryover
        dom = alpha[None, :] * np.exp(-0.5 * (before ** 2 + after ** 2))
        np.add.at(weights.T, cols, dom.T)
    return weights / weights.sum(axis=1, keepdims=True)


def closure_strength(spans: Sequence[VisemeSpan], times: np.ndarray,
                     config: ProceduralConfig = ProceduralConfig()) -> np.ndarray:
    """How sealed the lips must be at ``times`` (0..1): 1 inside every bilabial span.

    A bilabial shorter than a frame still seals the lips at the frame nearest its centre.
    """
    times = np.asarray(times, dtype=np.float64)
    out = np.zeros(len(times))
    if len(times) == 0:
        return out
    step = float(np.median(np.diff(times))) if len(times) > 1 else 1.0
    for span in spans:
        if not span.closure:
            continue
        dist = np.maximum(np.maximum(span.start - times, times - span.end), 0.0)
        strength = np.clip(1.0 - dist / config.closure_ramp, 0.0, 1.0)
        nearest = int(np.argmin(np.abs(times - span.center)))
        if abs(times[nearest] - span.center) <= step:
            strength[nearest] = 1.0
        np.maximum(out, strength, out=out)
    return out


def animate(spans: Sequence[VisemeSpan], times: np.ndarray, loud: np.ndarray | None = None,
            config: ProceduralConfig = ProceduralConfig()) -> np.ndarray:
    """Full frames (n, len(rig.ALL_CHANNELS)) for ``times``: ARKit + visemes; head/eyes 0.

    ``loud`` (0..1 per frame, from :func:`loudness`) scales the jaw; omit it for text-only
    timing.
    """
    weights = viseme_weights(spans, times, config)
    seal = closure_strength(spans, times, config)[:, None]
    arkit = weights @ POSE_MATRIX
    if loud is not None:
        arkit[:, OPENING] *= opening_gain(loud, config)[:, None]
    closed = np.broadcast_to(POSES["PP"], arkit.shape)
    arkit[:, _MOUTH] = (1.0 - seal) * arkit[:, _MOUTH] + seal * closed[:, _MOUTH]
    weights = (1.0 - seal) * weights
    weights[:, _PP] += seal[:, 0]
    full = np.zeros((len(times), len(rig.ALL_CHANNELS)), dtype=np.float32)
    full[:, :52] = np.clip(arkit, 0.0, 1.0)
    full[:, rig.VISEME_START:] = weights
    return full


def frame_times(first: int, count: int, fps: float) -> np.ndarray:
    """Times (s) of frames ``first .. first+count-1`` on a clock where frame k is at k/fps."""
    return (np.arange(first, first + count, dtype=np.float64)) / float(fps)
