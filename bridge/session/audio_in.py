"""``audio_in``: audio the client already has, animated by the network as it arrives.

Curves only (the client plays its own audio), on the audio's own clock. Each stream feeds
the server's batched network from a task of its own, a slice at a time, so a file sent at
once can't stall the tick every other stream shares, and the reader never waits.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from blendshape.net.stream import FrameRateConverter, Stream
from bridge.protocol import codec
from bridge.protocol import errors as err
from bridge.protocol import messages as m
from bridge.session.config import FaceNetwork, SessionConfig
from bridge.session.outlet import Outlet

log = logging.getLogger(__name__)


#: The longest clip sent in one message that the offline model hears whole (Whisper's
#: window); a longer one streams through the batch like live audio.
WHOLE_CLIP_SECONDS = 30.0

#: Seconds of audio one stream gives one batch: an ``audio_in`` sent all at once is animated
#: in slices, so it cannot stall the tick every other stream shares.
_MAX_SUBMIT = 0.25


def take(chunks: deque[np.ndarray], most: int) -> np.ndarray:
    """Up to ``most`` samples from the front of ``chunks``, removed from it.

    Only what is taken is copied: a minute of audio sent at once is sliced in 240 steps
    without copying the rest of it each time."""
    parts, size = [], 0
    while chunks and size < most:
        chunk = chunks.popleft()
        if size + len(chunk) > most:
            cut = most - size
            chunks.appendleft(chunk[cut:])
            chunk = chunk[:cut]
        parts.append(chunk)
        size += len(chunk)
    return np.concatenate(parts) if len(parts) != 1 else parts[0]


@dataclass
class AudioInput:
    """One ``audio_in`` utterance: its network stream and frame-rate conversion."""

    id: str
    rate: int
    stream: Stream
    converter: FrameRateConverter
    life_offset: float
    seq: int = 0
    audio: deque[np.ndarray] = field(default_factory=deque)  # waiting for the network
    ended: bool = False  # the client sent end=true
    task: "asyncio.Task[None] | None" = None  # feeding the network, while audio waits


class AudioInputs:
    """The connection's open ``audio_in`` streams, by id."""

    def __init__(self, session_id: str, out: Outlet, config: SessionConfig,
                 network: FaceNetwork | None, wake: asyncio.Event) -> None:
        self.id, self.out, self.config, self.network = session_id, out, config, network
        self._wake = wake  # set when a stream ends: idle frames may follow
        self._open: dict[str, AudioInput] = {}

    def __contains__(self, in_id: object) -> bool:
        return in_id in self._open

    def __len__(self) -> int:
        return len(self._open)

    def tasks(self) -> list[asyncio.Task[None]]:
        """The streams' feeding tasks, for a close to cancel."""
        return [u.task for u in self._open.values() if u.task is not None]

    async def interrupt(self, in_id: str | None) -> None:
        """Stop one stream (or all, for None) at once: ``clear``, then its ``end``."""
        for stopped_id in [i for i in self._open if in_id in (None, i)]:
            stopped = self._open[stopped_id]
            if stopped.task is not None:
                stopped.task.cancel()
                await asyncio.gather(stopped.task, return_exceptions=True)
            await self.out.send(m.Clear(id=stopped_id))
            await self.end(stopped_id, "interrupted")

    async def push(self, msg: m.AudioIn, check_free: Callable[[str], None]) -> None:
        """Animate audio the client already has: curves only, streamed as the audio arrives.

        A new id must be free on the connection (``check_free`` raises if not)."""
        out = self.out
        hello = out.hello
        assert hello is not None
        if self.network is None:
            raise err.Unsupported("audio_in needs the network's weights: run `talkbridge train`")
        utt = self._open.get(msg.id)
        if utt is None:
            check_free(msg.id)
            if len(self._open) >= self.config.max_queue:
                raise err.QueueFull(f"{len(self._open)} audio_in streams are open; end one first")
            utt = AudioInput(msg.id, msg.rate, self.network.new_stream(msg.rate),
                             FrameRateConverter(hello.fps), out.life_time())
            self._open[msg.id] = utt
            await out.send(m.Utterance(id=msg.id, state="start", source="audio_in"))
        elif msg.rate != utt.rate:
            raise err.InvalidField(f"audio_in.rate changed from {utt.rate} to {msg.rate} "
                                   "within one utterance", field="rate")
        if utt.ended:
            raise err.InvalidField(f"audio_in {msg.id!r} already ended; use a new id", field="id")
        pcm = codec.decode_pcm16(msg.data).astype(np.float32) / 32768.0
        backlog = sum(map(len, utt.audio)) / utt.rate
        if len(pcm) and backlog > self.config.max_audio_in_backlog:  # an end is always taken
            raise err.QueueFull(f"audio_in {msg.id!r} is {backlog:.0f} s of audio ahead of the "
                                "animation; send it in real time or wait for its curves")
        utt.audio.append(pcm)
        utt.ended = msg.end
        # The reader never waits for the network: one task per stream feeds it, a tick's
        # worth of messages at a time, so a busy batch only makes the next submission longer.
        # Features are computed in the network's thread, off the loop every connection shares.
        # A clip sent whole (its first message ends it) is heard whole by the offline model.
        if utt.task is None:
            whole = utt.ended and utt.seq == 0 and len(utt.audio) == 1 \
                and 0 < len(pcm) <= WHOLE_CLIP_SECONDS * utt.rate
            job = self._animate_whole(utt) if whole else self._animate(utt)
            utt.task = asyncio.create_task(job, name=f"{self.id}-{msg.id}")

    async def _animate_whole(self, utt: AudioInput) -> None:
        """A clip the client sent in one message: no audio is still to come, so the offline
        quality model hears all of it (as ``animate`` does), and its curves go out in the
        quarter-second slices a stream gets."""
        network, fps = self.network, self.out.fps
        assert network is not None
        pcm = utt.audio.popleft()
        try:
            full = await network.animate_sentence(pcm, utt.rate, fps)
        except Exception as exc:  # the model failed on this clip: end this stream only
            await self._failed(utt, exc)
            return
        step = max(1, int(_MAX_SUBMIT * fps))
        for first in range(0, len(full), step):
            await self._send_frames(utt, first, full[first:first + step])
        await self.end(utt.id, "done")
        utt.task = None

    async def _animate(self, utt: AudioInput) -> None:
        network = self.network
        assert network is not None
        most = round(_MAX_SUBMIT * utt.rate)
        while utt.audio:
            pcm = take(utt.audio, most)
            done = utt.ended and not utt.audio
            try:
                weights = await network.submit(utt.stream, pcm, last=done)
            except Exception as exc:  # the network failed this batch: end this stream only
                await self._failed(utt, exc)
                return
            full = utt.converter.push(weights, last=done)
            if len(full):
                await self._send_frames(utt, utt.converter.next_frame - len(full), full)
            if done:
                await self.end(utt.id, "done")
        utt.task = None

    async def _send_frames(self, utt: AudioInput, first: int, full: np.ndarray) -> None:
        """Full frames from frame ``first`` of the stream on: life layer on, one ``curves``."""
        out = self.out
        times = np.arange(first, first + len(full)) / out.fps
        out.life.apply(full, utt.life_offset + times)
        await out.send(out.curves(utt.id, utt.seq, first / out.fps, full))
        utt.seq += 1

    async def _failed(self, utt: AudioInput, exc: Exception) -> None:
        """The network failed on this stream's audio: tell the client, end this stream only."""
        log.warning("session %s audio_in %s: network failed: %s", self.id, utt.id, exc)
        await self.out.send(err.error_message(
            err.ServerError(f"the network failed on this audio: {exc}"), ref=utt.id))
        await self.end(utt.id, "error")

    async def end(self, in_id: str, reason: str) -> None:
        """Forget an ``audio_in`` stream, tell the client, and let the idle loop resume."""
        self._open.pop(in_id, None)
        await self.out.send(m.Utterance(id=in_id, state="end", source="audio_in", reason=reason))
        self._wake.set()  # idle frames follow the end, never precede it
