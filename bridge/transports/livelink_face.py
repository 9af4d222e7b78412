"""Live Link Face (Apple ARKit) UDP packets, version 6, as Unreal's stock source reads them.

Layout (PROTOCOLS.md §2, from UE's AppleARKitLiveLinkSource.cpp), all big-endian:
uint8 version=6 · int32 len + device id · int32 len + subject name · int32 frame number ·
float32 sub-frame · int32 rate numerator · int32 rate denominator · uint8 count=61 ·
61 × float32. The device id and subject must be non-empty (a 270-byte packet is dropped as
too small on some platforms), and the denominator is 1, not fps/60 (a known emitter bug).
"""

from __future__ import annotations

import math
import struct
import uuid
from dataclasses import dataclass, field
from typing import Sequence

PACKET_VERSION = 6
BLENDSHAPE_COUNT = 61
DEFAULT_PORT = 11111


class LiveLinkError(ValueError):
    """A packet that Unreal would drop: say which field is wrong."""


def frame_time(seconds: float, fps: int) -> tuple[int, float]:
    """Seconds → (frame number, sub-frame in [0, 1)) at ``fps``."""
    frames = seconds * fps
    number = math.floor(frames)
    return int(number), float(frames - number)


def encode_packet(device_id: str, subject: str, seconds: float, fps: int,
                  values: Sequence[float]) -> bytes:
    """One packet of the 61 Live Link values (``rig.to_livelink61`` order)."""
    if len(values) != BLENDSHAPE_COUNT:
        raise LiveLinkError(f"Live Link Face needs {BLENDSHAPE_COUNT} values, got {len(values)}")
    if not device_id or not subject:
        raise LiveLinkError("device id and subject name must not be empty")
    dev, sub = device_id.encode("utf-8"), subject.encode("utf-8")
    number, sub_frame = frame_time(seconds, fps)
    return b"".join((
        struct.pack(">B", PACKET_VERSION),
        struct.pack(">i", len(dev)), dev,
        struct.pack(">i", len(sub)), sub,
        struct.pack(">ifii", number, sub_frame, int(fps), 1),
        struct.pack(">B", BLENDSHAPE_COUNT),
        struct.pack(f">{BLENDSHAPE_COUNT}f", *(float(v) for v in values)),
    ))


@dataclass
class LiveLinkFaceEncoder:
    """Per-session encoder: a stable device id, one subject per session."""

    subject: str = "TalkBridge"
    device_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def packet(self, seconds: float, fps: int, values: Sequence[float]) -> bytes:
        return encode_packet(self.device_id, self.subject, seconds, fps, values)
