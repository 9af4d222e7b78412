"""How close an animation is to the teacher, in the terms a viewer judges. Pure numpy.

* ``mouth_mae``: mean absolute error over the jaw and mouth channels.
* ``viseme_accuracy``: how often the top viseme matches the teacher's on speech frames.
* ``closure_rate``: the share of bilabials (p, b, m) where the lips seal within ±1 frame —
  the one error every viewer sees.
* ``false_closure_rate``: its price, the share of speech frames where the lips are sealed
  and the teacher's are not within ±50 ms (lips meeting in the middle of a vowel).
* ``jaw_correlation``: Pearson correlation of jawOpen with the teacher's.
* ``lag_frames``: where the cross-correlation of jawOpen with the teacher's peaks, in frames;
  positive when the animation is late.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from blendshape import rig
from blendshape.phonemes import VisemeSpan

_MOUTH = np.array([i for i, n in enumerate(rig.ARKIT52) if n.startswith(("jaw", "mouth"))])
_JAW, _CLOSE = rig.ARKIT_INDEX["jawOpen"], rig.ARKIT_INDEX["mouthClose"]
_PRESS = [rig.ARKIT_INDEX["mouthPressLeft"], rig.ARKIT_INDEX["mouthPressRight"]]
_VIS = slice(rig.VISEME_START, None)


def sealed(frames: np.ndarray) -> np.ndarray:
    """Per frame: are the lips together? (jaw nearly shut or cancelled by mouthClose, pressed)"""
    gap = frames[:, _JAW] - frames[:, _CLOSE]
    return (gap < 0.08) & (frames[:, _PRESS].mean(axis=1) > 0.25)


def sync_lag(pred: np.ndarray, teacher: np.ndarray, max_lag: int = 12) -> int:
    """The shift (frames, within ±``max_lag``) that best lines ``pred`` up with ``teacher``.

    Positive: ``pred`` is late (``pred[t]`` looks like ``teacher[t - lag]``). Normalized per
    overlap, so long shifts aren't favoured or penalized for their shorter overlap.
    """
    a, b = pred - pred.mean(), teacher - teacher.mean()
    n = min(len(a), len(b))
    best, best_score = 0, -np.inf
    for lag in range(-max_lag, max_lag + 1):
        x = a[max(0, lag):n + min(0, lag)]
        y = b[max(0, -lag):n - max(0, lag)]
        denom = np.sqrt((x * x).sum() * (y * y).sum())
        score = (x * y).sum() / denom if denom > 0 else -np.inf
        if score > best_score:
            best, best_score = lag, score
    return best


def compare(pred: np.ndarray, teacher: np.ndarray, spans: Sequence[VisemeSpan], fps: float
            ) -> dict[str, float]:
    """Metrics of ``pred`` against ``teacher`` (both full frames at ``fps``)."""
    n = min(len(pred), len(teacher))
    pred, teacher = pred[:n], teacher[:n]
    speech = teacher[:, _VIS].argmax(axis=1) != 0
    closures = [s for s in spans if s.closure]
    hits = 0
    ok = sealed(pred)
    for span in closures:
        k = int(round(span.center * fps))
        hits += bool(ok[max(0, k - 1):k + 2].any())
    reach = max(1, round(0.05 * fps))
    near = np.convolve(sealed(teacher).astype(float), np.ones(2 * reach + 1), "same") > 0
    false_closures = ok & ~near & speech
    jaw_p, jaw_t = pred[:, _JAW], teacher[:, _JAW]
    corr = float(np.corrcoef(jaw_p, jaw_t)[0, 1]) if jaw_p.std() > 1e-6 and jaw_t.std() > 1e-6 else 0.0
    lag = float(sync_lag(jaw_p, jaw_t)) if corr else float("nan")
    return {
        "mouth_mae": float(np.abs(pred[:, _MOUTH] - teacher[:, _MOUTH]).mean()),
        "viseme_accuracy": float((pred[speech, _VIS].argmax(1) == teacher[speech, _VIS].argmax(1)).mean())
        if speech.any() else 0.0,
        "closure_rate": hits / len(closures) if closures else float("nan"),
        "closures": float(len(closures)),
        "false_closure_rate": float(false_closures.sum() / speech.sum()) if speech.any() else 0.0,
        "jaw_correlation": corr,
        "lag_frames": lag,
        "abs_lag_frames": abs(lag),
    }


def energy_baseline(loudness: np.ndarray) -> np.ndarray:
    """What many lip-sync plugins do: jawOpen from loudness, nothing else (full frames)."""
    full = np.zeros((len(loudness), len(rig.ALL_CHANNELS)), np.float32)
    full[:, _JAW] = 0.6 * loudness
    full[:, rig.CHANNEL_INDEX["viseme_sil"]] = 1.0 - loudness
    full[:, rig.CHANNEL_INDEX["viseme_aa"]] = loudness
    return full
