"""The Pipecat face processor in real Pipecat pipelines: the offline example end to end, and
an interruption in the middle of an utterance."""

from __future__ import annotations

import asyncio
import json
import wave
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pipecat")

from pipecat.frames.frames import (
    EndFrame,
    InterruptionFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.runner import WorkerRunner
from pipecat.pipeline.worker import PipelineWorker

from blendshape import rig
from blendshape.net.stream import animate_clip, load_network
from bridge.integrations.pipecat import CLEAR, FACE, FaceProcessor

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pipecat_face.py"
JAW = rig.ALL_CHANNELS.index("jawOpen")


def _example():
    import importlib.util

    spec = importlib.util.spec_from_file_location("pipecat_face", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_example_pipeline_writes_curves_that_match_its_audio(tmp_path):
    """Text → our Piper voice as a Pipecat TTS service → the face processor → a sink: the
    curves cover the audio to within one frame, start at its first sample, and are the
    realtime network's on that very audio (streaming equals the whole clip)."""
    out = tmp_path / "face.json"
    asyncio.run(_example().run("Papa bought a big blue boat. Maybe Bob will bake bread.", out))
    result = json.loads(out.read_text())
    with wave.open(str(out.with_suffix(".wav"))) as w:
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
    assert result["channels"] == list(rig.ALL_CHANNELS) and result["fps"] == 60
    assert result["t"] == 0.0 and abs(result["duration"] - len(pcm) / rate) < 1e-6
    frames = np.asarray(result["frames"], np.float32)
    assert abs(len(frames) - len(pcm) / rate * 60) <= 1.0
    whole = animate_clip(load_network(), pcm, rate, 60)
    n = min(len(frames), len(whole))
    np.testing.assert_allclose(frames[:n], whole[:n], atol=2e-3)
    assert frames[:, JAW].max() > 0.2  # the mouth opens


def _audio(seconds: float, rate: int = 24_000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    voiced = 0.3 * np.sign(np.sin(2 * np.pi * 140 * t)) * (np.sin(2 * np.pi * 3 * t) > 0)
    return (voiced * 32767).astype("<i2").tobytes()


def _messages(frames: list) -> list[dict]:
    return [f.data for f in frames if isinstance(getattr(f, "data", None), dict)]


async def _through_processor(*stages, network=None) -> list:
    """Queue each stage of frames once the previous one's message came out (an interruption
    is a system frame: queued with the rest, it would overtake the audio it interrupts)."""
    seen: list = []

    from pipecat.processors.frame_processor import FrameProcessor

    class Sink(FrameProcessor):
        async def process_frame(self, frame, direction):
            await super().process_frame(frame, direction)
            seen.append(frame)
            await self.push_frame(frame, direction)

    worker = PipelineWorker(Pipeline([FaceProcessor(network=network), Sink()]),
                            enable_rtvi=False, idle_timeout_secs=None)
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    running = asyncio.create_task(runner.run())
    for stage in stages:
        sent = len(_messages(seen))
        await worker.queue_frames(stage)
        for _ in range(1000):
            await asyncio.sleep(0.01)
            if len(_messages(seen)) > sent:
                break
    await worker.queue_frames([EndFrame()])
    await asyncio.wait_for(running, 30)
    return seen


def test_audio_passes_unchanged_and_an_interruption_clears_the_face():
    first, second = _audio(0.6), _audio(0.5)
    seen = asyncio.run(_through_processor(
        [TTSStartedFrame(context_id="a"), TTSAudioRawFrame(first, 24_000, 1, context_id="a")],
        [InterruptionFrame()],
        [TTSStartedFrame(context_id="b"), TTSAudioRawFrame(second, 24_000, 1, context_id="b"),
         TTSStoppedFrame(context_id="b")],
    ))
    audio = [f.audio for f in seen if isinstance(f, TTSAudioRawFrame)]
    assert audio == [first, second]
    data = _messages(seen)
    kinds = [d["type"] for d in data]
    assert CLEAR in kinds
    after = [d for d in data[kinds.index(CLEAR) + 1:] if d["type"] == FACE]
    assert after and all(d["context_id"] == "b" for d in after)
    assert after[0]["t"] == 0.0 and after[0]["channels"] == list(rig.ALL_CHANNELS)
    assert after[-1]["end"] is True and after[-1]["duration"] == pytest.approx(0.5)
    total = sum(len(d["frames"]) for d in after)
    assert abs(total - 0.5 * 60) <= 1


def test_inside_serve_the_face_streams_through_the_servers_batch():
    """Given the server's batcher (``Server.network``), the processor's streams join its
    batch, and the face is the one the in-process network gives."""
    from bridge.server.network import AsyncBatcher

    pcm = _audio(0.8)
    frames = [TTSStartedFrame(context_id="s"), TTSAudioRawFrame(pcm, 24_000, 1, context_id="s"),
              TTSStoppedFrame(context_id="s")]

    async def through(network):
        seen = await _through_processor(frames, network=network)
        return np.concatenate([np.asarray(d["frames"], np.float32) for d in _messages(seen)
                               if d["type"] == FACE and d["frames"]])

    async def both():
        batcher = AsyncBatcher(load_network())
        try:
            batched = await through(batcher)
            assert batcher.batches > 0  # the server's batch ran them
        finally:
            await batcher.close()
        return batched, await through(None)

    batched, alone = asyncio.run(both())
    np.testing.assert_allclose(batched, alone, atol=1e-4)
