"""Gestures as motion: head yaw/pitch/roll and brow offsets added over the life layer.

Every output carries the curves (WebSocket, VMC, VRChat, Live Link Face, the viewer), so a
nod drawn here is seen everywhere without any output knowing about gestures. The offsets
are pure functions of the gestures and the time: a stream cut into chunks gets the frames a
whole clip would. Signs follow the life layer: positive pitch is chin down.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from blendshape import rig
from blendshape.layers.easing import ease
from blendshape.layers.gestures.planner import Gesture

_C = rig.CHANNEL_INDEX
_HEAD = np.array([_C[name] for name in rig.HEAD])
_BROWS = np.array([_C["browInnerUp"], _C["browOuterUpLeft"], _C["browOuterUpRight"]])

#: Radians (head) and weights (brows) of each gesture at strength 1.
NOD_PITCH = 0.18       # ~10°: two dips, the second smaller
SHAKE_YAW = 0.20       # ~11°: left-right twice
TILT_ROLL = 0.14       # ~8°: held over the question
BEAT_PITCH = 0.07      # a small chin dip on the stressed word
BROW_RAISE = (0.6, 0.45, 0.45)
SHRUG_BROWS = (0.5, 0.35, 0.35)
SHRUG_ROLL = 0.08


def _hold(u: np.ndarray, duration: float, attack: float, release: float) -> np.ndarray:
    """0 → 1 over ``attack`` seconds, held, → 0 over the last ``release`` seconds."""
    attack, release = min(attack, duration / 2), min(release, duration / 2)
    t = u * duration
    return ease(t / attack) * ease((duration - t) / release)


def _nod(u: np.ndarray, g: Gesture) -> tuple[np.ndarray, np.ndarray]:
    pitch = NOD_PITCH * 0.5 * (1 - np.cos(4 * math.pi * u)) * (1 - 0.45 * u)
    return np.stack([0 * u, pitch, 0 * u], axis=1), np.zeros((len(u), 3))


def _shake(u: np.ndarray, g: Gesture) -> tuple[np.ndarray, np.ndarray]:
    yaw = SHAKE_YAW * np.sin(4 * math.pi * u) * np.sin(math.pi * u)
    return np.stack([yaw, 0 * u, 0 * u], axis=1), np.zeros((len(u), 3))


def _tilt(u: np.ndarray, g: Gesture) -> tuple[np.ndarray, np.ndarray]:
    roll = TILT_ROLL * _hold(u, g.duration, 0.25, 0.3)
    return np.stack([0 * u, 0 * u, roll], axis=1), np.zeros((len(u), 3))


def _beat(u: np.ndarray, g: Gesture) -> tuple[np.ndarray, np.ndarray]:
    pitch = BEAT_PITCH * np.sin(math.pi * u) ** 2
    return np.stack([0 * u, pitch, 0 * u], axis=1), np.zeros((len(u), 3))


def _brow_raise(u: np.ndarray, g: Gesture) -> tuple[np.ndarray, np.ndarray]:
    env = _hold(u, g.duration, 0.12, 0.25)
    return np.zeros((len(u), 3)), env[:, None] * np.array(BROW_RAISE)[None, :]


def _shrug(u: np.ndarray, g: Gesture) -> tuple[np.ndarray, np.ndarray]:
    env = _hold(u, g.duration, 0.15, 0.3)
    head = np.stack([0 * u, -0.3 * SHRUG_ROLL * env, SHRUG_ROLL * env], axis=1)  # chin up a touch
    return head, env[:, None] * np.array(SHRUG_BROWS)[None, :]


#: Gesture name → (u in 0..1 over its duration) → (head (n, 3), brows (n, 3)) at strength 1.
MOTIONS: dict[str, Callable[[np.ndarray, Gesture], tuple[np.ndarray, np.ndarray]]] = {
    "nod": _nod, "shake": _shake, "tilt": _tilt, "beat": _beat,
    "brow_raise": _brow_raise, "shrug": _shrug,
}


@dataclass
class GestureTrack:
    """The gestures of one utterance on its audio clock, and the motion they make."""

    gestures: list[Gesture] = field(default_factory=list)

    def add(self, gestures: Iterable[Gesture]) -> None:
        self.gestures.extend(gestures)
        self.gestures.sort(key=lambda g: g.t)

    def offsets(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, 3) head yaw/pitch/roll (radians) and (n, 3) brow offsets (browInnerUp,
        browOuterUpLeft, browOuterUpRight) at ``times``."""
        times = np.asarray(times, dtype=np.float64)
        head, brows = np.zeros((len(times), 3)), np.zeros((len(times), 3))
        if not len(times):
            return head, brows
        lo, hi = float(times.min()), float(times.max())
        for g in self.gestures:
            if g.end <= lo or g.t >= hi or g.duration <= 0 or g.name not in MOTIONS:
                continue
            rows = (times > g.t) & (times < g.end)
            if rows.any():
                u = (times[rows] - g.t) / g.duration
                dh, db = MOTIONS[g.name](u, g)
                head[rows] += g.strength * dh
                brows[rows] += g.strength * db
        return head, brows

    def apply(self, full: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Add the gestures' motion at ``times`` to full frames (head over the life layer's,
        brows over the emotion's, clipped to 0..1)."""
        head, brows = self.offsets(times)
        if head.any():
            full[:, _HEAD] += head
        if brows.any():
            full[:, _BROWS] = np.clip(full[:, _BROWS] + brows, 0.0, 1.0)
        return full
