"""What every session of a server shares: its policy, its name, and the network it may use."""

from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Protocol

import numpy as np

from blendshape.animator import ANIMATORS
from blendshape.layers.gestures import GestureConfig
from blendshape.layers.life import LifeConfig
from blendshape.net.engine import Engine
from blendshape.net.stream import Stream
from bridge.protocol import messages as m

SERVER_NAME = "talkbridge/0.1.0"
#: How a session sends a message: the transport's outbox, or a test's list.
Send = Callable[[m.ServerMessage], Awaitable[None]]


class FaceNetwork(Protocol):
    """The network every session's ``audio_in`` streams share (the server's batcher).

    Typed by shape, not by the server's class: the server is above the session, and a
    batcher running elsewhere (Ray Serve, DESIGN §8) only has to offer these members.
    """

    executor: concurrent.futures.Executor
    engine: Engine

    def new_stream(self, rate: int) -> Stream: ...

    async def submit(self, stream: Stream, pcm: np.ndarray, last: bool = False) -> np.ndarray: ...

    async def animate_sentence(self, pcm: np.ndarray, rate: int, fps: float) -> np.ndarray: ...


@dataclass(frozen=True)
class SessionConfig:
    """Per-server policy every session follows."""

    #: The token(s) hello must carry; any one of a set is accepted (compared in constant time).
    token: str | frozenset[str] | None = None
    lead: float = 0.5               # seconds of audio sent ahead of real time
    chunk_seconds: float = 0.05     # span of one audio+curves pair
    max_text_chars: int = 5000
    max_queue: int = 8
    #: Seconds of ``audio_in`` audio a stream may run ahead of its animation (a file sent
    #: all at once is fine up to this; past it the client gets ``queue_full``).
    max_audio_in_backlog: float = 60.0
    idle: bool = True
    life: LifeConfig = field(default_factory=LifeConfig)  # blinks, gaze, head, breathing
    #: Nods, shakes, tilts, brow raises and shrugs on the words ([gestures]).
    gestures: GestureConfig = field(default_factory=GestureConfig)
    animator: str = "auto"  # one of blendshape.animator.ANIMATORS (what animates speech)
    #: Admission control ([scale] max_wait): a say or chat whose speech couldn't start within
    #: this many seconds on the server's synthesis queue gets `busy` at once.
    max_wait: float = 1.0

    def __post_init__(self) -> None:
        if self.animator not in ANIMATORS:
            raise ValueError(f"animator must be one of {', '.join(ANIMATORS)}, not {self.animator!r}")
        for name, (low, high) in _RANGES.items():
            value = getattr(self, name)
            whole = name in ("max_text_chars", "max_queue")
            kinds = (int,) if whole else (int, float)
            if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
                what = "a whole number" if whole else "a number"
                span = f"of at least {low:g}" if high == float("inf") else f"from {low:g} to {high:g}"
                raise ValueError(f"[session] {name} must be {what} {span}, not {value!r}")
        if not isinstance(self.idle, bool):
            raise ValueError(f"[session] idle must be true or false, not {self.idle!r}")
        if not isinstance(self.gestures, GestureConfig):
            raise ValueError("gestures are set in their own [gestures] table, not in [session]")

    @classmethod
    def from_table(cls, table: dict, **fixed: object) -> "SessionConfig":
        """The ``[session]`` table of a config file, every key checked; ``fixed`` fields
        (token, life, gestures) come from elsewhere and may not be set here."""
        known = set(cls.__dataclass_fields__) - set(fixed)
        unknown = sorted(set(table) - known)
        if unknown:
            raise ValueError(f"unknown key(s) in [session]: {', '.join(unknown)}; valid: "
                             f"{', '.join(sorted(known))}")
        return cls(**fixed, **table)


#: The numeric settings' ranges: outside them a server would misbehave, not just differ.
_RANGES: dict[str, tuple[float, float]] = {
    "lead": (0.001, float("inf")), "chunk_seconds": (0.005, 1.0), "max_text_chars": (1, 1_000_000),
    "max_queue": (1, 10_000), "max_audio_in_backlog": (0.1, 3600.0),
    "max_wait": (0.01, float("inf")),
}
