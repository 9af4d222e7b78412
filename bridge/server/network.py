"""The network inside the server: one batched forward pass per tick for every live stream,
and the offline quality model for whole sentences.

Sessions submit (stream, audio) and await the result; a single loop collects what arrived
during one tick (10 ms, one feature frame), turns each stream's audio into log-mel features
and runs :class:`blendshape.net.stream.Batcher` once, both in a worker thread, and hands each
session its frames. Cost grows with the batch far slower than with the number of separate
calls, and the event loop, which every connection shares, does none of the arithmetic.

Speech a voice synthesizes arrives a sentence at a time, whole: hearing all of it costs no
latency, so a voice without phoneme timings (or ``animator = "network"``) is animated by
the offline quality model (Whisper's ear, :mod:`blendshape.net.ear_model`), which leads the
streaming one by far on voices it never heard (model card). It loads at its first sentence,
in a thread of its own so live streams' ticks never wait for it; without it (no Whisper
weights) the streaming model animates the sentence.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import logging
import threading
import time

import numpy as np

from blendshape.net.engine import Engine
from blendshape.net.model import AudioToFace
from blendshape.net.stream import Batcher, Stream, animate_clip, load_for_files, stream_features
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
        self.sentence_executor = concurrent.futures.ThreadPoolExecutor(1, "sentences")
        self._sentence_engine: object | None = None
        self._sentence_lock = threading.Lock()

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

    async def animate_sentence(self, pcm: np.ndarray, rate: int, fps: float) -> np.ndarray:
        """Full frames at ``fps`` for one whole sentence, heard by the offline quality model."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.sentence_executor, self._animate_sentence, pcm,
                                          rate, fps)

    def sentence_engine(self) -> object:
        """The offline quality model, loaded once (the streaming engine where it can't be)."""
        with self._sentence_lock:
            if self._sentence_engine is None:
                import torch

                try:
                    self._sentence_engine = load_for_files("offline", device=torch.device("cpu"))
                except Exception as exc:  # noqa: BLE001 - any unloadable weights: stream's model
                    log.warning("no offline quality model (%s): sentences are animated by the "
                                "streaming network", exc)
                    self._sentence_engine = self.engine
            return self._sentence_engine

    def _animate_sentence(self, pcm: np.ndarray, rate: int, fps: float) -> np.ndarray:
        return animate_clip(self.sentence_engine(), pcm, rate, fps)  # type: ignore[arg-type]

    def _step(self, streams: list[Stream], audio: list[tuple[np.ndarray, bool]]) -> list[np.ndarray]:
        """In the worker thread: features, then one batched model step."""
        feats = stream_features(streams, audio)
        return self.batcher.step(streams, feats)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.sentence_executor.shutdown(wait=False, cancel_futures=True)
