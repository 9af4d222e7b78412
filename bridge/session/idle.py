"""Between utterances the face stays alive: idle frames (blinks, gaze, breath) paced at fps."""

from __future__ import annotations

import asyncio
import math
from typing import Callable

import numpy as np

from blendshape.layers.life import LIFE_MEMORY, idle_frames
from bridge.session.outlet import Outlet
from bridge.session.streaming import frames_per_chunk


class IdleLoop:
    """Sends ``idle`` curves in real time while ``busy()`` is false; sleeps on ``wake`` else."""

    def __init__(self, out: Outlet, chunk_seconds: float, busy: Callable[[], bool],
                 wake: asyncio.Event) -> None:
        self.out, self.chunk_seconds, self.busy, self._wake = out, chunk_seconds, busy, wake
        self._seq = 0

    async def run(self) -> None:
        out = self.out
        fps = out.fps
        n = frames_per_chunk(fps, self.chunk_seconds)
        next_frame = 0
        while True:
            if self.busy():
                self._wake.clear()
                await self._wake.wait()
                continue
            # Continue the frame grid where the last chunk ended; after a pause (an
            # utterance, a slow client) jump to the present instead of catching up.
            now_frame = (out.clock() - out.t0) * fps
            first = next_frame if next_frame >= math.floor(now_frame) else math.ceil(now_frame)
            times = np.arange(first, first + n, dtype=np.float64) / fps
            out.life.forget_before(times[0] - LIFE_MEMORY)
            full = idle_frames(out.life, times)
            await out.send(out.curves("idle", self._seq, times[0], full))
            if out.pump is not None:
                out.pump.timeline.idle(out.t0 + times, full)
            self._seq += 1
            next_frame = first + n
            await out.sleep(max(0.0, next_frame / fps - (out.clock() - out.t0)))
