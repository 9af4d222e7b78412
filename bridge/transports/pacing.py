"""Paced outputs for receivers with no audio clock (Live Link Face, VMC, VRChat, OSC).

The WebSocket client plays audio and samples curves at its playback position; these
receivers just apply whatever arrives. So the server keeps a per-session timeline of frames
on the monotonic clock — an utterance's frame t goes out at (the moment its first audio
chunk went out) + t, idle frames at their session time — and one pump per session sends
the frame for "now" at ``fps``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Sequence

import numpy as np

from bridge.transports.udp_outputs import (
    FrameOutput,
    LiveLinkOutput,
    OutputError,
    PlainOscOutput,
    VmcOutput,
    VrchatOutput,
    parse_hostport,
)

log = logging.getLogger(__name__)


@dataclass
class _Track:
    utt_id: str
    wall_start: float
    fps: int
    frames: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def end(self) -> float:
        return self.wall_start + (max(self.frames) + 1) / self.fps if self.frames else self.wall_start


class FrameTimeline:
    """Frames placed on the monotonic clock; pure (no I/O, no clock of its own)."""

    def __init__(self, keep: float = 2.0) -> None:
        self._tracks: dict[str, _Track] = {}
        self._idle: list[tuple[float, np.ndarray]] = []
        self._keep = keep

    def utterance(self, utt_id: str, wall_start: float, first_frame: int, frames: np.ndarray,
                  fps: int) -> None:
        track = self._tracks.setdefault(utt_id, _Track(utt_id, wall_start, fps))
        for k, frame in enumerate(frames):
            track.frames[first_frame + k] = frame

    def idle(self, wall_times: Sequence[float], frames: np.ndarray) -> None:
        self._idle.extend(zip(wall_times, frames))

    def clear(self, utt_id: str) -> None:
        self._tracks.pop(utt_id, None)

    def frame_at(self, now: float) -> np.ndarray | None:
        """The utterance frame covering ``now`` (interpolated), else the latest idle frame."""
        for track in list(self._tracks.values()):
            if now > track.end + self._keep:
                del self._tracks[track.utt_id]
                continue
            x = (now - track.wall_start) * track.fps
            k = math.floor(x)
            if track.frames and 0 <= k <= max(track.frames):
                a = track.frames.get(k)
                b = track.frames.get(k + 1, a)
                if a is not None:
                    return a + (b - a) * (x - k)
        self._idle = [(t, f) for t, f in self._idle if t > now - self._keep]
        past = [f for t, f in self._idle if t <= now]
        return past[-1] if past else None


class UdpSender:
    """One non-blocking UDP socket to host:port; a receiver that is down loses frames only."""

    def __init__(self, host: str, port: int) -> None:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        family, _, _, _, address = infos[0]
        self.address = address
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.errors = 0

    def send(self, datagrams: Sequence[bytes]) -> None:
        for data in datagrams:
            try:
                self.sock.sendto(data, self.address)
            except OSError:  # ECONNREFUSED from a previous datagram, a full buffer…
                self.errors += 1

    def close(self) -> None:
        self.sock.close()


@dataclass
class OutputTarget:
    output: FrameOutput
    sender: UdpSender


class OutputPump:
    """Sends one session's current frame to every target at ``fps`` in real time."""

    def __init__(self, targets: Sequence[OutputTarget], fps: int, t0: float,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.timeline = FrameTimeline()
        self.targets = list(targets)
        self.fps, self.t0 = fps, t0
        self.clock, self.sleep = clock, sleep
        self.sent = 0

    def tick(self) -> None:
        now = self.clock()
        frame = self.timeline.frame_at(now)
        if frame is None:
            return
        for target in self.targets:
            target.sender.send(target.output.datagrams(frame, now - self.t0, self.fps))
        self.sent += 1

    async def run(self) -> None:
        next_tick = self.clock()
        while True:
            self.tick()
            next_tick += 1.0 / self.fps
            await self.sleep(max(0.0, next_tick - self.clock()))

    def close(self) -> None:
        for target in self.targets:
            target.sender.close()


#: The ``[outputs]`` keys the command line sets too (``--livelink``, ``--vmc-mode``, …).
OUTPUT_FLAG_KEYS = ("livelink", "subject", "vmc", "vmc_mode", "vrchat", "vrchat_map", "osc")


@dataclass
class OutputsConfig:
    """The opt-in outputs of ``talkbridge serve`` (flags or the ``[outputs]`` config table)."""

    livelink: str | None = None      # HOST[:PORT], default port 11111
    subject: str = "TalkBridge"      # Live Link subject; later sessions get _2, _3, …
    vmc: str | None = None           # HOST[:PORT], default port 39539
    vmc_mode: str = "perfectsync"    # perfectsync | vrm0 | a map .json
    vrchat: str | None = None        # HOST[:PORT], default port 9000
    vrchat_map: str = "arkit-vrcft-v2"
    vrchat_prefix: str = "/avatar/parameters/FT/"
    osc: str | None = None           # HOST:PORT
    osc_prefix: str = "/talkbridge"
    osc_bundle: bool = False
    # Not paced, not per session: the Audio2Face-3D gRPC service ``serve`` runs beside the
    # WebSocket ([HOST:]PORT; a bare port listens on the server's host). ``live`` ignores it.
    a2f_grpc: str | None = None

    @property
    def enabled(self) -> bool:
        return any((self.livelink, self.vmc, self.vrchat, self.osc))

    def build(self, session_number: int) -> list[OutputTarget]:
        """Encoders + sockets for one session; raises OutputError on a bad setting."""
        targets = []
        specs = (
            (self.livelink, 11111, lambda: LiveLinkOutput(
                subject=self.subject if session_number == 1 else f"{self.subject}_{session_number}")),
            (self.vmc, 39539, lambda: VmcOutput(mode=self.vmc_mode)),
            (self.vrchat, 9000, lambda: VrchatOutput(map=self.vrchat_map, prefix=self.vrchat_prefix)),
            (self.osc, 9000, lambda: PlainOscOutput(prefix=self.osc_prefix, bundle=self.osc_bundle)),
        )
        for where, port, make in specs:
            if where:
                host, number = parse_hostport(where, port)
                try:
                    sender = UdpSender(host, number)
                except OSError as exc:
                    raise OutputError(f"cannot send to {where}: {exc}") from None
                targets.append(OutputTarget(make(), sender))
        return targets
