"""Layers over any animation source: emotion, and life (blinks, gaze, head motion, breath).

A face that only moves its mouth looks dead. These layers are pure functions of time and
a seed, so a stream cut into chunks gets exactly the curves the whole clip would, and a
test can ask for any instant.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from . import rig

_A = rig.ARKIT_INDEX
_C = rig.CHANNEL_INDEX


def _offsets(**weights: float) -> np.ndarray:
    out = np.zeros(52, dtype=np.float32)
    for name, value in weights.items():
        if name.endswith("Both"):
            out[_A[name[:-4] + "Left"]] = value
            out[_A[name[:-4] + "Right"]] = value
        else:
            out[_A[name]] = value
    return out


#: Emotion → additive ARKit offsets (brows, cheeks, mouth corners, eyes).
EMOTIONS: dict[str, np.ndarray] = {
    "neutral": _offsets(),
    "happy": _offsets(mouthSmileBoth=0.45, cheekSquintBoth=0.35, eyeSquintBoth=0.2,
                      browOuterUpBoth=0.1, mouthDimpleBoth=0.15),
    "sad": _offsets(browInnerUp=0.55, mouthFrownBoth=0.4, browDownBoth=0.1, eyeSquintBoth=0.1,
                    mouthShrugLower=0.2),
    "angry": _offsets(browDownBoth=0.6, noseSneerBoth=0.3, eyeSquintBoth=0.25, mouthFrownBoth=0.2,
                      mouthPressBoth=0.2),
    "surprised": _offsets(browInnerUp=0.6, browOuterUpBoth=0.6, eyeWideBoth=0.5, jawOpen=0.1),
    "fear": _offsets(browInnerUp=0.6, browOuterUpBoth=0.3, eyeWideBoth=0.45,
                     mouthStretchBoth=0.3),
    "disgust": _offsets(noseSneerBoth=0.55, mouthUpperUpBoth=0.3, browDownBoth=0.3,
                        mouthFrownBoth=0.2),
}
EMOTIONS["joy"] = EMOTIONS["happy"]
EMOTIONS["anger"] = EMOTIONS["angry"]
EMOTIONS["sadness"] = EMOTIONS["sad"]
EMOTIONS["surprise"] = EMOTIONS["surprised"]


class UnknownEmotionError(ValueError):
    """An emotion name the layer has no pose for."""


def emotion_vector(emotion: str | Mapping[str, float] | None) -> np.ndarray:
    """A named emotion or a {name: weight} mix → one 52-vector of offsets."""
    if emotion is None:
        return EMOTIONS["neutral"]
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


def apply_emotion(full: np.ndarray, offsets: np.ndarray, times: np.ndarray,
                  fade_in: float = 0.3) -> np.ndarray:
    """Add emotion offsets, faded in over ``fade_in`` seconds from t=0, then clip to 0..1."""
    if not offsets.any():
        return full
    ramp = np.clip(np.asarray(times) / fade_in, 0.0, 1.0)[:, None] if fade_in > 0 else 1.0
    full[:, :52] = np.clip(full[:, :52] + ramp * offsets[None, :], 0.0, 1.0)
    return full


def _blink_shape(dt: np.ndarray) -> np.ndarray:
    """Lid closure over a blink that starts at dt=0: fast close, short hold, slower open."""
    close, hold, open_ = 0.07, 0.04, 0.13
    out = np.zeros_like(dt)
    a = (dt >= 0) & (dt < close)
    out[a] = np.sin(0.5 * math.pi * dt[a] / close)
    b = (dt >= close) & (dt < close + hold)
    out[b] = 1.0
    c = (dt >= close + hold) & (dt < close + hold + open_)
    out[c] = 0.5 + 0.5 * np.cos(math.pi * (dt[c] - close - hold) / open_)
    return out


@dataclass
class LifeLayer:
    """Blinks every 2–6 s, saccades, slow head motion and breathing, on one session clock.

    Events are drawn lazily from a seeded generator in time order, so any query — chunk by
    chunk or all at once — sees the same schedule.
    """

    seed: int = 0
    blink_interval: tuple[float, float] = (2.0, 6.0)
    saccade_interval: tuple[float, float] = (0.6, 2.5)
    gaze_range: tuple[float, float] = (0.12, 0.06)  # yaw, pitch (radians)
    head_amplitude: float = 0.04  # radians
    _blink_rng: np.random.Generator = field(init=False, repr=False)
    _gaze_rng: np.random.Generator = field(init=False, repr=False)
    _blinks: list[float] = field(init=False, repr=False)
    _saccades: list[float] = field(init=False, repr=False)
    _gaze: list[tuple[float, float]] = field(init=False, repr=False)
    _phase: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # One stream per event kind: the draws never interleave differently with query size.
        phase_rng, self._blink_rng, self._gaze_rng = (
            np.random.default_rng(s) for s in np.random.SeedSequence(self.seed).spawn(3))
        self._phase = phase_rng.uniform(0, 2 * math.pi, size=6)
        self._blinks = [float(self._blink_rng.uniform(0.5, self.blink_interval[1]))]
        self._saccades = [0.0]
        self._gaze = [(0.0, 0.0)]

    def _extend(self, until: float) -> None:
        while self._blinks[-1] < until + 1.0:
            self._blinks.append(self._blinks[-1] + float(self._blink_rng.uniform(*self.blink_interval)))
        while self._saccades[-1] < until + 1.0:
            rng = self._gaze_rng
            self._saccades.append(self._saccades[-1] + float(rng.uniform(*self.saccade_interval)))
            yaw = float(rng.uniform(-1, 1)) * self.gaze_range[0]
            pitch = float(rng.uniform(-1, 1)) * self.gaze_range[1]
            self._gaze.append((yaw, pitch))

    def blink(self, times: np.ndarray) -> np.ndarray:
        """Eyelid closure 0..1 at ``times``."""
        times = np.asarray(times, dtype=np.float64)
        if len(times) == 0:
            return np.zeros(0)
        self._extend(float(times.max()))
        out = np.zeros(len(times))
        for start in self._blinks:
            if start > times.max():
                break
            np.maximum(out, _blink_shape(times - start), out=out)
        return out

    def gaze(self, times: np.ndarray) -> np.ndarray:
        """(n, 2) eye yaw/pitch in radians: fixations joined by ~40 ms saccades."""
        times = np.asarray(times, dtype=np.float64)
        out = np.zeros((len(times), 2))
        if len(times) == 0:
            return out
        self._extend(float(times.max()))
        for i, t in enumerate(times):
            k = max(bisect.bisect_right(self._saccades, t) - 1, 0)
            target = np.array(self._gaze[k])
            prev = np.array(self._gaze[k - 1]) if k > 0 else target
            u = min((t - self._saccades[k]) / 0.04, 1.0)
            out[i] = prev + (target - prev) * (0.5 - 0.5 * math.cos(math.pi * u))
        return out

    def head(self, times: np.ndarray) -> np.ndarray:
        """(n, 3) head yaw/pitch/roll in radians: incommensurate slow sines plus breathing."""
        t = np.asarray(times, dtype=np.float64)[:, None]
        freqs = np.array([[0.11, 0.07, 0.09]])
        slow = np.sin(2 * math.pi * freqs * t + self._phase[None, :3])
        wobble = 0.4 * np.sin(2 * math.pi * freqs * 2.7 * t + self._phase[None, 3:])
        head = self.head_amplitude * (slow + wobble) / 1.4
        head[:, 1] += 0.006 * np.sin(2 * math.pi * 0.25 * t[:, 0])  # breathing
        return head

    def apply(self, full: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Write blinks, gaze (eyeLook* shapes and eye rotations) and head into full frames."""
        blink = self.blink(times)
        for side in ("Left", "Right"):
            col = _A["eyeBlink" + side]
            full[:, col] = np.maximum(full[:, col], blink)
        gaze = self.gaze(times)
        yaw, pitch = gaze[:, 0], gaze[:, 1]
        # Positive yaw looks to the character's left: left eye looks out, right eye looks in.
        scale_yaw, scale_pitch = 1.0 / 0.5, 1.0 / 0.35
        full[:, _A["eyeLookOutLeft"]] = np.clip(yaw * scale_yaw, 0, 1)
        full[:, _A["eyeLookInRight"]] = np.clip(yaw * scale_yaw, 0, 1)
        full[:, _A["eyeLookInLeft"]] = np.clip(-yaw * scale_yaw, 0, 1)
        full[:, _A["eyeLookOutRight"]] = np.clip(-yaw * scale_yaw, 0, 1)
        for side in ("Left", "Right"):
            full[:, _A["eyeLookUp" + side]] = np.clip(pitch * scale_pitch, 0, 1)
            full[:, _A["eyeLookDown" + side]] = np.clip(-pitch * scale_pitch, 0, 1)
        full[:, _C["leftEyeYaw"]] = yaw
        full[:, _C["rightEyeYaw"]] = yaw
        full[:, _C["leftEyePitch"]] = pitch
        full[:, _C["rightEyePitch"]] = pitch
        head = self.head(times)
        for i, name in enumerate(rig.HEAD):
            full[:, _C[name]] = head[:, i]
        return full


def idle_frames(life: LifeLayer, times: np.ndarray) -> np.ndarray:
    """Full frames for a face at rest: viseme sil, life layer on."""
    full = np.zeros((len(times), len(rig.ALL_CHANNELS)), dtype=np.float32)
    full[:, _C["viseme_sil"]] = 1.0
    return life.apply(full, times)
