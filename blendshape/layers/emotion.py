"""The emotion layer: keyed poses on a clock, added over any animation source.

Emotion is a track of keyed poses (:class:`EmotionTrack`): a change ramps over a few
hundred milliseconds, can land mid-utterance, and yields to the mouth — its offsets on
mouth channels fade out while the lips are sealed or the jaw is wide open, so a strong
emotion never stops a p, b or m from closing the lips.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from blendshape import rig
from blendshape.layers.easing import ease

_A = rig.ARKIT_INDEX
_C = rig.CHANNEL_INDEX


#: Emotion → additive ARKit offsets (brows, cheeks, mouth corners, eyes).
EMOTIONS: dict[str, np.ndarray] = {
    "neutral": rig.arkit_pose(),
    "happy": rig.arkit_pose(mouthSmileBoth=0.45, cheekSquintBoth=0.35, eyeSquintBoth=0.2,
                            browOuterUpBoth=0.1, mouthDimpleBoth=0.15),
    "sad": rig.arkit_pose(browInnerUp=0.55, mouthFrownBoth=0.4, browDownBoth=0.1, eyeSquintBoth=0.1,
                          mouthShrugLower=0.2),
    "angry": rig.arkit_pose(browDownBoth=0.6, noseSneerBoth=0.3, eyeSquintBoth=0.25, mouthFrownBoth=0.2,
                            mouthPressBoth=0.2),
    "surprised": rig.arkit_pose(browInnerUp=0.6, browOuterUpBoth=0.6, eyeWideBoth=0.5, jawOpen=0.1),
    "fear": rig.arkit_pose(browInnerUp=0.6, browOuterUpBoth=0.3, eyeWideBoth=0.45,
                           mouthStretchBoth=0.3),
    "disgust": rig.arkit_pose(noseSneerBoth=0.55, mouthUpperUpBoth=0.3, browDownBoth=0.3,
                              mouthFrownBoth=0.2),
}
#: Other names clients (and language models' emotion tags) use for the same poses.
EMOTION_ALIASES = {"joy": "happy", "anger": "angry", "sadness": "sad", "surprise": "surprised"}
#: One name a pose, as lists offered to people show them (the viewer, ``/api/info``).
EMOTION_NAMES = tuple(EMOTIONS)
EMOTIONS.update({alias: EMOTIONS[name] for alias, name in EMOTION_ALIASES.items()})

#: Channels the mouth owns while speaking: emotion yields to speech on these.
MOUTH_CHANNELS = np.array([i for i, n in enumerate(rig.ARKIT52)
                           if n.startswith(("jaw", "mouth", "cheekPuff", "tongue"))])
_PRESS = [_A["mouthPressLeft"], _A["mouthPressRight"]]

Emotion = str | Mapping[str, float] | np.ndarray | None


class UnknownEmotionError(ValueError):
    """An emotion name the layer has no pose for."""


def emotion_vector(emotion: Emotion) -> np.ndarray:
    """A named emotion, a {name: weight} mix (or a ready 52-vector) → one 52-vector of offsets."""
    if emotion is None:
        return EMOTIONS["neutral"]
    if isinstance(emotion, np.ndarray):
        if emotion.shape != (52,):
            raise ValueError(f"an emotion vector has 52 ARKit offsets, not shape {emotion.shape}")
        return emotion.astype(np.float32)
    mix = {emotion: 1.0} if isinstance(emotion, str) else dict(emotion)
    out = np.zeros(52, dtype=np.float32)
    for name, weight in mix.items():
        pose = EMOTIONS.get(name.lower())
        if pose is None:
            raise UnknownEmotionError(
                f"unknown emotion {name!r}; known: {', '.join(sorted(EMOTIONS))}"
            )
        out += float(weight) * pose
    return out


def speech_strength(full: np.ndarray) -> np.ndarray:
    """How much the mouth is busy with speech, per frame (0..1): sealed lips or a wide jaw.

    A sealed bilabial owns the mouth completely; an open vowel owns it half (a smile may
    stay on while talking, but should not fight the jaw).
    """
    arkit = np.asarray(full)[:, :52]
    closure = np.maximum(arkit[:, _A["mouthClose"]] / 0.35, arkit[:, _PRESS].mean(axis=1) / 0.75)
    openness = arkit[:, _A["jawOpen"]] / 0.6
    return np.clip(np.maximum(closure, 0.5 * openness), 0.0, 1.0)


def add_emotion(full: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Add per-frame (n, 52) or constant (52,) emotion offsets; mouth offsets yield to speech."""
    offsets = np.broadcast_to(np.asarray(offsets, dtype=np.float32), (len(full), 52)).copy()
    if not offsets.any():
        return full
    offsets[:, MOUTH_CHANNELS] *= (1.0 - speech_strength(full))[:, None]
    full[:, :52] = np.clip(full[:, :52] + offsets, 0.0, 1.0)
    return full


def apply_emotion(full: np.ndarray, offsets: np.ndarray, times: np.ndarray,
                  fade_in: float = 0.3) -> np.ndarray:
    """Add emotion offsets, faded in linearly over ``fade_in`` seconds from t=0, clipped to 0..1."""
    if not offsets.any():
        return full
    ramp = np.clip(np.asarray(times) / fade_in, 0.0, 1.0)[:, None] if fade_in > 0 else 1.0
    return add_emotion(full, ramp * offsets[None, :])



@dataclass
class EmotionTrack:
    """Emotion over time: keys (time, target) joined by cosine ramps of ``ramp`` seconds.

    Pure: the value at any time depends only on the keys, so frames may be asked for in any
    order and chunking changes nothing. A key that lands mid-ramp starts from wherever the
    previous ramp had got to, so changes never jump.
    """

    ramp: float = 0.4
    initial: Emotion = None
    _keys: list[tuple[float, np.ndarray]] = field(default_factory=list, init=False, repr=False)
    _starts: list[np.ndarray] = field(default_factory=list, init=False, repr=False)
    _initial: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.ramp >= 0:
            raise ValueError(f"emotion ramp must be >= 0 seconds, not {self.ramp}")
        self._initial = emotion_vector(self.initial)

    def set(self, emotion: Emotion, at: float) -> None:
        """From ``at`` on, ramp towards ``emotion`` (a key at the same time is replaced)."""
        target = emotion_vector(emotion)
        times = [t for t, _ in self._keys]
        i = bisect.bisect_left(times, at)
        if i < len(times) and times[i] == at:
            self._keys[i] = (float(at), target)
        else:
            self._keys.insert(i, (float(at), target))
        self._starts = []
        value = self._initial
        for k in range(len(self._keys)):  # each ramp starts where the previous one stood
            self._starts.append(value)
            if k + 1 < len(self._keys):
                value = self._value(k, self._keys[k + 1][0])

    def _value(self, k: int, t: float) -> np.ndarray:
        key_t, goal = self._keys[k]
        start = self._starts[k]
        u = (t - key_t) / self.ramp if self.ramp > 0 else 1.0
        return start + float(ease(np.array(u))) * (goal - start)

    def at(self, times: np.ndarray) -> np.ndarray:
        """(n, 52) emotion offsets at ``times``."""
        times = np.asarray(times, dtype=np.float64)
        out = np.broadcast_to(self._initial, (len(times), 52)).astype(np.float32)
        if not self._keys or len(times) == 0:
            return out
        key_times = np.array([t for t, _ in self._keys])
        which = np.searchsorted(key_times, times, side="right") - 1
        for k in np.unique(which[which >= 0]):
            rows = which == k
            start, goal = self._starts[k], self._keys[k][1]
            u = (times[rows] - key_times[k]) / self.ramp if self.ramp > 0 else np.ones(rows.sum())
            out[rows] = start[None, :] + ease(u)[:, None] * (goal - start)[None, :]
        return out

    def apply(self, full: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Add the track's offsets at ``times`` to full frames, yielding to the mouth."""
        return add_emotion(full, self.at(times))
