"""The network inside the server: one batched forward pass per tick for every live stream.

Sessions submit (stream, audio) and await the result; a single loop collects what arrived
during one tick (10 ms, one feature frame), turns each stream's audio into log-mel features
and runs :class:`blendshape.net.stream.Batcher` once, both in a worker thread, and hands each
session its frames. Cost grows with the batch far slower than with the number of separate
calls, and the event loop, which every connection shares, does none of the arithmetic.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import logging
import time

import numpy as np

from blendshape.net.engine import Engine
from blendshape.net.model import AudioToFace
from blendshape.net.stream import Batcher, Stream
from bridge.ops import metrics

log = logging.getLogger(__name__)


class AsyncBatcher:
    def __init__(self, model: AudioToFace | Engine, tick: float = 0.01,
                 executor: concurrent.futures.Executor | None = None) -> None:
        self.batcher = Batcher(model)
        self.engine = self.batcher.engine  # streams' states are this engine's
        self.tick = tick
        self.executor = executor or concurrent.futures.ThreadPoolExecutor(1, "network")
        self._pending: list[tuple[Stream, tuple[np.ndarray, bool], asyncio.Future]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.largest = 0

    def new_stream(self, rate: int) -> Stream:
        return Stream(self.engine, rate)

    async def submit(self, stream: Stream, pcm: np.ndarray, last: bool = False) -> np.ndarray:
        """The face weights (100 fps) this audio (at the stream's rate) completes for ``stream``.

        One submission per stream at a time: the stream's resampler and state are advanced
        in the worker thread."""
        if self._task is None:
            # A fresh context: the batcher serves every session, not the first caller's.
            self._task = asyncio.create_task(self._run(), name="network-batcher",
                                             context=contextvars.Context())
        # Each stream has one submission in flight at most (its feeder task awaits this).
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending.append((stream, (pcm, last), future))
        self._wake.set()
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.tick)  # let a tick's worth of streams arrive
            batch, self._pending = self._pending, []
            self._wake.clear()
            if not batch:
                continue
            streams = [s for s, _, _ in batch]
            audio = [a for _, a, _ in batch]
            started = time.perf_counter()
            try:
                results = await loop.run_in_executor(self.executor, self._step, streams, audio)
            except Exception as exc:  # a failed batch fails its callers, not the loop
                log.exception("network batch failed")
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            metrics.observe("talkbridge_network_inference_seconds", time.perf_counter() - started)
            metrics.observe("talkbridge_network_batch_streams", len(batch))
            self.batches += 1
            self.largest = max(self.largest, len(batch))
            for (_, _, future), result in zip(batch, results):
                if not future.done():
                    future.set_result(result)

    def _step(self, streams: list[Stream], audio: list[tuple[np.ndarray, bool]]) -> list[np.ndarray]:
        """In the worker thread: features, then one batched model step."""
        feats = [s.features(pcm, last) for s, (pcm, last) in zip(streams, audio)]
        return self.batcher.step(streams, feats)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
