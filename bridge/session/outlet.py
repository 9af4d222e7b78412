"""A greeted connection's output side, shared by everything that sends it frames.

Speech, ``audio_in`` streams and idle frames all write curves in the channels and encoding
the client's ``hello`` chose, on the clock its session started at, through one life layer
(so blinks and gaze run on across utterances). One object holds those, instead of each part
reaching into the session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Awaitable, Callable

import numpy as np

from blendshape import rig
from blendshape.layers.life import LIFE_MEMORY, LifeLayer
from bridge.protocol import codec
from bridge.protocol import messages as m
from bridge.session.config import Send
from bridge.transports.pacing import OutputPump


@dataclass
class Outlet:
    """Where curves go and on which clock: set up by :meth:`greet` when ``hello`` arrives."""

    send: Send
    clock: Callable[[], float]
    sleep: Callable[[float], Awaitable[None]]
    life: LifeLayer
    hello: m.Hello | None = None
    channels: tuple[str, ...] = ()
    t0: float = 0.0  # the session clock's zero: when hello was answered
    #: The session's paced UDP outputs (Live Link Face, VMC, …), if any.
    pump: OutputPump | None = None
    _columns: np.ndarray = field(default_factory=lambda: np.zeros(0, np.intp), repr=False)

    def greet(self, hello: m.Hello, channels: tuple[str, ...]) -> None:
        self.hello, self.channels = hello, channels
        self._columns = rig.column_indices(channels)
        self.t0 = self.clock()

    @property
    def fps(self) -> int:
        assert self.hello is not None, "the outlet is used after hello"
        return self.hello.fps

    def curves(self, utt_id: str, seq: int, t: float, full: np.ndarray) -> m.Curves:
        """Full frames as a ``curves`` message in the client's channels and encoding."""
        hello = self.hello
        assert hello is not None
        frames = full[:, self._columns]
        return m.Curves(id=utt_id, seq=seq, t=t, fps=hello.fps, n=len(frames),
                        data=codec.encode_curves(frames, hello.encoding))

    def life_time(self) -> float:
        """Now on the life layer's clock; what lies ``LIFE_MEMORY`` behind is forgotten."""
        now = self.clock() - self.t0
        self.life.forget_before(now - LIFE_MEMORY)
        return now
