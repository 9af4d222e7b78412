"""Pipecat: our face on any Pipecat pipeline's speech, and our embedded voices as its TTS.

:class:`FaceProcessor` sits after a TTS service. It passes every frame on unchanged, and
streams the TTS audio going by through the realtime network (≤ 50 ms look-ahead), in-process
or through the batch of the ``talkbridge serve`` it runs inside. It sends the curves as RTVI
server messages (``RTVIServerMessageFrame``, which any RTVI-enabled transport carries to the
client), each stamped on the utterance's own audio timeline: ``t`` is seconds from the
utterance's first sample. The client plays a frame when its audio plays, so the mouth cannot
lag the sound, which is pipecat #1516 ("visemes lag the audio"). The messages are
system frames, so they reach the client ahead of the audio they describe; the audio is paced
by the output transport.

Messages (the ``data`` of each RTVI server message):

- ``{"type": "talkbridge-face", "context_id", "t", "fps", "frames", "channels"?, "end"?}``:
  ``frames`` are rows of weights in ``channels`` order. ``channels`` comes with an utterance's
  first message; ``end`` and ``duration`` come with its last.
- ``{"type": "talkbridge-face-clear"}`` on an interruption: drop every frame not yet shown.

:class:`TalkbridgeTTSService` is a Pipecat TTS service over talkbridge's embedded voices
(Piper by default), which need no download and no key: the offline example and its test use it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from blendshape import rig
from blendshape.net.stream import Batcher, FrameRateConverter, Stream, load_network

try:
    from pipecat.frames.frames import (
        ErrorFrame,
        Frame,
        InterruptionFrame,
        TTSAudioRawFrame,
        TTSStartedFrame,
        TTSStoppedFrame,
    )
    from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
    from pipecat.processors.frameworks.rtvi import RTVIServerMessageFrame
    from pipecat.services.settings import TTSSettings
    from pipecat.services.tts_service import TTSService
except ImportError as exc:  # the integration is optional; the server never imports it
    raise ImportError("Pipecat is not installed: pip install 'talkbridge[pipecat]'") from exc

FACE, CLEAR = "talkbridge-face", "talkbridge-face-clear"
_DECIMALS = 4  # weights to 1e-4: a tenth of what any rig shows, and a third of the JSON


class Network(Protocol):
    """What streams the audio: the server's :class:`~bridge.server.network.AsyncBatcher`
    (batched with every session) or :class:`InProcessNetwork`."""

    def new_stream(self, rate: int) -> Stream: ...

    async def submit(self, stream: Stream, pcm: np.ndarray, last: bool = False) -> np.ndarray: ...


class InProcessNetwork:
    """The realtime network in this process, one stream at a time, off the event loop."""

    def __init__(self, weights: str | None = None) -> None:
        self._batcher = Batcher(load_network(weights))

    def new_stream(self, rate: int) -> Stream:
        return Stream(self._batcher.engine, rate)

    async def submit(self, stream: Stream, pcm: np.ndarray, last: bool = False) -> np.ndarray:
        return await asyncio.to_thread(self._batcher.push, stream, pcm, last)


@dataclass
class _Utterance:
    """One TTS context's stream: the network's state, the frame-rate converter, the count."""

    context_id: str | None
    stream: Stream | None = None
    frames: FrameRateConverter | None = None
    samples: int = 0
    rate: int = 0
    announced: bool = False
    pending: list[np.ndarray] = field(default_factory=list)


class FaceProcessor(FrameProcessor):
    """TTS audio in, the same audio out, plus the face as RTVI server messages.

    Args:
        fps: frames a second of the curves (60, as the WebSocket's default).
        network: the batch to stream through; by default the realtime network in-process.
        weights: other realtime weights for the in-process network.
    """

    def __init__(self, *, fps: float = 60.0, network: Network | None = None,
                 weights: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 1 <= fps <= 240:
            raise ValueError(f"fps {fps}: choose 1-240 frames a second")
        self.fps = float(fps)
        self._network = network or InProcessNetwork(weights)
        self._utterance: _Utterance | None = None

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)  # the audio goes on unchanged, and first
        if isinstance(frame, InterruptionFrame):
            self._utterance = None
            await self.push_frame(RTVIServerMessageFrame(data={"type": CLEAR}))
        elif isinstance(frame, TTSStartedFrame):
            self._utterance = _Utterance(getattr(frame, "context_id", None))
        elif isinstance(frame, TTSAudioRawFrame):
            await self._audio(frame)
        elif isinstance(frame, TTSStoppedFrame) and self._utterance is not None:
            utterance = self._utterance
            await self._finish(utterance)
            if self._utterance is utterance:
                self._utterance = None

    async def _audio(self, frame: TTSAudioRawFrame) -> None:
        utterance = self._utterance
        if utterance is None or (utterance.rate and utterance.rate != frame.sample_rate):
            if utterance is not None:  # a new rate mid-context: close that stream first
                await self._finish(utterance)
            utterance = self._utterance = _Utterance(getattr(frame, "context_id", None))
        if utterance.stream is None:
            utterance.rate = frame.sample_rate
            utterance.stream = self._network.new_stream(frame.sample_rate)
            utterance.frames = FrameRateConverter(self.fps)
        pcm = _mono(frame.audio, frame.num_channels)
        utterance.samples += len(pcm)
        weights = await self._network.submit(utterance.stream, pcm)
        if self._utterance is utterance:  # an interruption (a system frame) may have come meanwhile
            await self._send(utterance, utterance.frames.push(weights))

    async def _finish(self, utterance: _Utterance) -> None:
        if utterance.stream is None or utterance.frames is None:
            return
        weights = await self._network.submit(utterance.stream, np.zeros(0, np.float32), last=True)
        if self._utterance is not utterance:  # interrupted while the network ran
            return
        full = utterance.frames.push(weights, last=True)
        # Frames past the audio's end (the look-ahead's silence) describe no sound.
        total = int(np.ceil(utterance.samples / utterance.rate * self.fps - 1e-9))
        keep = max(0, total - (utterance.frames.next_frame - len(full)))
        await self._send(utterance, full[:keep], end=True)

    async def _send(self, utterance: _Utterance, full: np.ndarray, end: bool = False) -> None:
        if not len(full) and not end:
            return
        first = (utterance.frames.next_frame if utterance.frames else 0) - len(full)
        data: dict[str, Any] = {"type": FACE, "context_id": utterance.context_id,
                                "t": round(first / self.fps, 6), "fps": self.fps,
                                "frames": np.round(full, _DECIMALS).tolist()}
        if not utterance.announced:
            data["channels"] = list(rig.ALL_CHANNELS)
            utterance.announced = True
        if end:
            data["end"] = True
            data["duration"] = round(utterance.samples / max(1, utterance.rate), 6)
        await self.push_frame(RTVIServerMessageFrame(data=data))


def _mono(audio: bytes, channels: int) -> np.ndarray:
    pcm = np.frombuffer(audio, "<i2").astype(np.float32) / 32768.0
    if channels > 1:
        pcm = pcm[: len(pcm) - len(pcm) % channels].reshape(-1, channels).mean(axis=1)
    return pcm


class TalkbridgeTTSService(TTSService):
    """Pipecat TTS on talkbridge's embedded voices (Piper's by default; espeak-ng's, and
    Kokoro's where installed): local, no download, no key.

    Args:
        voice: a talkbridge voice id (``talkbridge voices``); None: the default voice.
    """

    def __init__(self, *, voice: str | None = None, **kwargs: Any) -> None:
        from bridge.speech.tts.config import make_registry

        provider, found = make_registry().resolve(voice)
        super().__init__(push_start_frame=True, push_stop_frames=True,
                         settings=TTSSettings(model=None, voice=found.id, language=None), **kwargs)
        self._provider, self._voice = provider, found

    def can_generate_metrics(self) -> bool:
        return True

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame, None]:
        try:
            chunks = self._provider.synthesize(text, self._voice)
            first = await asyncio.to_thread(next, chunks, None)
            if first is None:
                return
            async for frame in self._stream_audio_frames_from_iterator(
                    _int16_bytes(first, chunks), in_sample_rate=first.rate, context_id=context_id):
                yield frame
        except Exception as exc:  # noqa: BLE001 - a voice's fault is this utterance's error frame
            yield ErrorFrame(error=f"talkbridge TTS failed on {text[:40]!r}: {exc}")


async def _int16_bytes(first: Any, rest: Iterator[Any]) -> AsyncIterator[bytes]:
    """Each sentence's PCM as int16 bytes, synthesized off the event loop."""
    chunk = first
    while chunk is not None:
        yield (np.clip(chunk.pcm, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        chunk = await asyncio.to_thread(next, rest, None)
