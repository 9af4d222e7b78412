"""Frame encoders for the plugin-free outputs, sans-I/O: a full frame in, datagrams out.

Each output speaks one receiver's dialect (PROTOCOLS.md §2–§4):

* Live Link Face → Unreal's stock Apple ARKit source (UDP 11111), one subject per session.
* VMC → VSeeFace, Warudo, VNyan…: ``/VMC/Ext/Blend/Val`` per shape then ``Apply``, with
  ``/VMC/Ext/OK`` and ``/VMC/Ext/T``; perfect-sync ARKit names or VRM0 presets; the head as
  ``/VMC/Ext/Bone/Pos`` Head when the head channels are on.
* VRChat → ``/avatar/parameters/<name>`` with VRCFaceTracking v2 names (a map file changes them).
* Plain OSC → ``/talkbridge/<channel> f`` per channel, or one bundle per frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np

from blendshape import rig
from blendshape.retarget import RetargetMap, load_map
from bridge.transports.livelink_face import LiveLinkFaceEncoder
from bridge.transports.osc_codec import osc_message, split_bundle


class OutputError(ValueError):
    """A bad output setting (host:port, map, mode), reported at start."""


def parse_hostport(text: str, default_port: int) -> tuple[str, int]:
    """``HOST``, ``HOST:PORT`` or ``:PORT`` → (host, port)."""
    host, sep, port = text.rpartition(":") if ":" in text else (text, "", "")
    host = host or "127.0.0.1"
    try:
        number = int(port) if sep else default_port
    except ValueError:
        raise OutputError(f"bad port in {text!r}: use HOST:PORT") from None
    if not 0 < number < 65536:
        raise OutputError(f"port {number} in {text!r} is out of range")
    return host, number


class FrameOutput(Protocol):
    name: str

    def datagrams(self, full: np.ndarray, t: float, fps: int) -> list[bytes]:
        """Encode one full frame (``rig.ALL_CHANNELS`` order) at session time ``t``."""
        ...


@dataclass
class LiveLinkOutput:
    subject: str = "TalkBridge"
    name: str = "livelink"
    _encoder: LiveLinkFaceEncoder = field(init=False)

    def __post_init__(self) -> None:
        self._encoder = LiveLinkFaceEncoder(subject=self.subject)

    def datagrams(self, full: np.ndarray, t: float, fps: int) -> list[bytes]:
        return [self._encoder.packet(t, fps, rig.to_livelink61(full))]


def head_quaternion(yaw: float, pitch: float, roll: float) -> tuple[float, float, float, float]:
    """Unity-convention quaternion (x, y, z, w) for a head turned by yaw/pitch/roll radians."""
    cy, sy = math.cos(yaw / 2), math.sin(yaw / 2)
    cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
    cr, sr = math.cos(roll / 2), math.sin(roll / 2)
    # Y (yaw) · X (pitch) · Z (roll), Unity's order for Euler angles.
    w = cy * cp * cr + sy * sp * sr
    x = cy * sp * cr + sy * cp * sr
    y = sy * cp * cr - cy * sp * sr
    z = cy * cp * sr - sy * sp * cr
    return x, y, z, w


@dataclass
class VmcOutput:
    mode: str = "perfectsync"   # or "vrm0"
    head: bool = True
    name: str = "vmc"
    _map: RetargetMap = field(init=False)

    def __post_init__(self) -> None:
        maps = {"perfectsync": "arkit-perfectsync", "vrm0": "arkit-vrm0"}
        if self.mode not in maps and not self.mode.endswith(".json"):
            raise OutputError(f"VMC mode {self.mode!r}: use perfectsync, vrm0 or a map .json file")
        self._map = load_map(maps.get(self.mode, self.mode))

    def datagrams(self, full: np.ndarray, t: float, fps: int) -> list[bytes]:
        values = self._map.apply_one(full)
        msgs = [osc_message("/VMC/Ext/Blend/Val", k, v) for k, v in values.items()]
        msgs.append(osc_message("/VMC/Ext/Blend/Apply"))
        if self.head:
            yaw, pitch, roll = (float(full[rig.CHANNEL_INDEX[c]]) for c in rig.HEAD)
            q = head_quaternion(yaw, pitch, roll)
            msgs.append(osc_message("/VMC/Ext/Bone/Pos", "Head", 0.0, 0.0, 0.0, *q))
        msgs.append(osc_message("/VMC/Ext/OK", 1))
        msgs.append(osc_message("/VMC/Ext/T", float(t)))
        return split_bundle(msgs)


@dataclass
class VrchatOutput:
    map: str = "arkit-vrcft-v2"
    prefix: str = "/avatar/parameters/FT/"
    name: str = "vrchat"
    _map: RetargetMap = field(init=False)

    def __post_init__(self) -> None:
        self._map = load_map(self.map)

    def datagrams(self, full: np.ndarray, t: float, fps: int) -> list[bytes]:
        values = self._map.apply_one(full)
        return split_bundle([osc_message(self.prefix + k, v) for k, v in values.items()])


@dataclass
class PlainOscOutput:
    prefix: str = "/talkbridge"
    channels: Sequence[str] = rig.ARKIT52 + rig.VISEME_CHANNELS
    bundle: bool = False
    name: str = "osc"

    def datagrams(self, full: np.ndarray, t: float, fps: int) -> list[bytes]:
        msgs = [osc_message(f"{self.prefix}/{c}", float(full[rig.CHANNEL_INDEX[c]]))
                for c in self.channels]
        return split_bundle(msgs) if self.bundle else msgs
