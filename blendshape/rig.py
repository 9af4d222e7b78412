"""Channel names: the one place that fixes what every column of a curve array means.

Everything downstream (wire protocol, exports, engine plugins) indexes curves by these
names, so the order here is a contract. ARKit's order is the de-facto one shared by
Unreal's ``EARFaceBlendShape``, Azure TTS and NVIDIA ACE (PROTOCOLS.md §1); visemes follow
Oculus OVRLipSync's fixed order (PROTOCOLS.md §7).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

ARKIT52: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft",
    "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight",
    "jawForward", "jawLeft", "jawRight", "jawOpen",
    "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight",
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft", "noseSneerRight",
    "tongueOut",
)
assert len(ARKIT52) == 52

#: Index of each ARKit name, for code that writes poses by name.
ARKIT_INDEX: dict[str, int] = {name: i for i, name in enumerate(ARKIT52)}

#: The 15 Oculus visemes, in OVRLipSync order.
VISEMES: tuple[str, ...] = (
    "sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "ih", "oh", "ou",
)
VISEME_INDEX: dict[str, int] = {name: i for i, name in enumerate(VISEMES)}
VISEME_CHANNELS: tuple[str, ...] = tuple(f"viseme_{v}" for v in VISEMES)

HEAD: tuple[str, ...] = ("headYaw", "headPitch", "headRoll")
EYES: tuple[str, ...] = ("leftEyeYaw", "leftEyePitch", "rightEyeYaw", "rightEyePitch")

#: Named channel sets a client may ask for in ``hello.channels`` (DESIGN §3).
CHANNEL_SETS: dict[str, tuple[str, ...]] = {
    "arkit52": ARKIT52,
    "head": HEAD,
    "eyes": EYES,
    "visemes": VISEME_CHANNELS,
}

#: Every channel an animator produces, in the order of the internal full frame.
ALL_CHANNELS: tuple[str, ...] = ARKIT52 + HEAD + EYES + VISEME_CHANNELS
CHANNEL_INDEX: dict[str, int] = {name: i for i, name in enumerate(ALL_CHANNELS)}

#: What the network predicts and trains on: the ARKit weights, then the viseme weights.
NETWORK_CHANNELS: tuple[str, ...] = ARKIT52 + VISEME_CHANNELS
#: Column of ``viseme_sil`` in a full frame; the visemes run to the end.
VISEME_START: int = CHANNEL_INDEX["viseme_sil"]

#: Channels that carry radians rather than 0..1 weights.
ROTATION_CHANNELS: frozenset[str] = frozenset(HEAD + EYES)

#: The 61 Live Link curves (Unreal ``EARFaceBlendShape`` order, PascalCase).
LIVELINK61: tuple[str, ...] = tuple(n[0].upper() + n[1:] for n in ARKIT52) + (
    "HeadYaw", "HeadPitch", "HeadRoll",
    "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
    "RightEyeYaw", "RightEyePitch", "RightEyeRoll",
)
assert len(LIVELINK61) == 61


class UnknownChannelError(ValueError):
    """A channel or channel-set name that no animator produces."""


def arkit_pose(**weights: float) -> np.ndarray:
    """A 52-vector in ARKit order from named weights; ``xBoth`` sets ``xLeft`` and ``xRight``.

    How the procedural animator writes its viseme poses and the emotion layer its offsets.
    """
    out = np.zeros(len(ARKIT52), dtype=np.float32)
    for name, value in weights.items():
        if name.endswith("Both"):
            out[ARKIT_INDEX[name[:-4] + "Left"]] = value
            out[ARKIT_INDEX[name[:-4] + "Right"]] = value
        else:
            out[ARKIT_INDEX[name]] = value
    return out


def resolve_channels(requested: Iterable[str]) -> tuple[str, ...]:
    """Expand set names and single channel names into one ordered, duplicate-free tuple.

    Clients may mix sets and single names (``["arkit52", "headYaw"]``); the result fixes the
    column order of every curve payload of a session.
    """
    out: list[str] = []
    seen: set[str] = set()
    for item in requested:
        names = CHANNEL_SETS.get(item)
        if names is None:
            if item not in CHANNEL_INDEX:
                known = ", ".join(CHANNEL_SETS)
                raise UnknownChannelError(
                    f"unknown channel {item!r}: use a set ({known}) or a channel name of one"
                )
            names = (item,)
        for name in names:
            if name not in seen:
                seen.add(name)
                out.append(name)
    return tuple(out)


def column_indices(channels: Sequence[str]) -> np.ndarray:
    """Column indices into a full frame (``ALL_CHANNELS`` order) for ``channels``."""
    return np.array([CHANNEL_INDEX[c] for c in channels], dtype=np.intp)


def select(full: np.ndarray, channels: Sequence[str]) -> np.ndarray:
    """Pick ``channels`` out of frames laid out in ``ALL_CHANNELS`` order."""
    return full[..., column_indices(channels)]


def to_livelink61(full: np.ndarray) -> np.ndarray:
    """Full frames (``ALL_CHANNELS`` order) → the 61 Live Link values per frame.

    Eye roll has no source channel and is sent as 0, as the Live Link Face app does.
    """
    full = np.asarray(full, dtype=np.float32)
    out = np.zeros(full.shape[:-1] + (61,), dtype=np.float32)
    out[..., :52] = full[..., :52]
    head = select(full, HEAD)
    eyes = select(full, EYES)
    out[..., 52:55] = head
    out[..., 55] = eyes[..., 0]
    out[..., 56] = eyes[..., 1]
    out[..., 58] = eyes[..., 2]
    out[..., 59] = eyes[..., 3]
    return out
