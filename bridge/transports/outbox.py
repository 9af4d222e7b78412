"""A session's outgoing messages, bounded: what a slow reader costs is fixed in advance.

The rules of DESIGN §3, in one place:

* ``audio`` is never dropped; past ``max_audio`` waiting messages the producer waits, which
  holds the utterance back instead of growing memory. Utterance curves travel in pairs with
  their audio, so they are held back with it.
* ``curves`` with no audio to wait for (idle frames, later curves-only streams) are the
  cheapest to lose — the engine interpolates and the next frames follow — so when more than
  ``max_curves`` wait, the oldest go first, idle before utterance frames, and the client
  gets one ``slow_consumer`` error per episode (until it has caught up).
* Control messages (``utterance``, ``clear``, ``error``, ``welcome``, ``pong``…) always go.
* A ``clear`` purges what is still queued for its utterance (audio, curves, gestures): the
  engine would drop it anyway.
"""

from __future__ import annotations

import asyncio
from collections import deque

from bridge.protocol import errors as err
from bridge.protocol import messages as m


class Outbox:
    """FIFO between a session's producers and the one task that writes the socket."""

    def __init__(self, max_curves: int = 56, max_audio: int = 48) -> None:
        self.max_curves = max_curves
        self.max_audio = max_audio
        self._queue: deque[m.ServerMessage] = deque()
        self._curves = 0
        self._audio = 0
        self._readable = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()
        self._warned = False
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._queue)

    async def put(self, msg: m.ServerMessage) -> None:
        """Queue ``msg``; waits only for audio when the audio backlog is full."""
        if isinstance(msg, m.Audio):
            while self._audio >= self.max_audio:
                self._space.clear()
                await self._space.wait()
            self._audio += 1
        elif isinstance(msg, m.Curves):
            if self._curves >= self.max_curves:
                self._drop_oldest_curves()
            self._curves += 1
        elif isinstance(msg, m.Clear):
            self._purge(msg.id)
        self._queue.append(msg)
        self._readable.set()

    async def get(self) -> m.ServerMessage:
        while not self._queue:
            self._readable.clear()
            self._warned = False  # the reader caught up: a new episode may warn again
            await self._readable.wait()
        msg = self._queue.popleft()
        if isinstance(msg, m.Audio):
            self._audio -= 1
            self._space.set()
        elif isinstance(msg, m.Curves):
            self._curves -= 1
        return msg

    async def flush(self, timeout: float = 1.0) -> None:
        """Wait (bounded) until the writer has taken everything queued."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._queue and loop.time() < deadline:
            await asyncio.sleep(0.005)

    def _drop_oldest_curves(self) -> None:
        victim = next((x for x in self._queue if isinstance(x, m.Curves) and x.id == "idle"), None)
        if victim is None:
            victim = next(x for x in self._queue if isinstance(x, m.Curves))
        self._queue.remove(victim)
        self._curves -= 1
        self.dropped += 1
        if not self._warned:
            self._warned = True
            self._queue.appendleft(err.error_message(err.SlowConsumer(
                "the client reads too slowly: curve frames are being dropped oldest-first")))

    def _purge(self, utt_id: str) -> None:
        keep: deque[m.ServerMessage] = deque()
        for x in self._queue:
            if isinstance(x, (m.Audio, m.Curves, m.Gesture)) and x.id == utt_id:
                if isinstance(x, m.Audio):
                    self._audio -= 1
                elif isinstance(x, m.Curves):
                    self._curves -= 1
                continue
            keep.append(x)
        self._queue = keep
        self._space.set()
