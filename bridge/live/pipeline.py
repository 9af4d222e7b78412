"""Live mode: a microphone (or a wav played as one) → the network → emotion + life → outputs.

``talkbridge live`` drives an avatar from a live voice with no client at all: the paced
outputs of ``serve`` (Live Link Face, VMC, VRChat, OSC) fed by the audio → face network.

The core, :class:`LiveAnimator`, is sans-I/O: push a PCM chunk, get the frames it completes,
each stamped with the moment of sound it shows. Around it sit thin shells: audio sources
(microphone, a file paced as if captured, a file played on the sound card), a
:class:`LiveTimeline` that tells the reused :class:`~bridge.transports.pacing.OutputPump` which frame
belongs to "now", and :func:`run_live` to join them. The clock, the sleep and the source are
injected, so the tests run seconds of speech on a virtual clock in milliseconds.

Where the latency goes (sample captured → curve out), for a 10 ms chunk:

* look-ahead: the network sees 4 feature frames (40 ms) past the moment it animates, and a
  feature frame is complete at the end of its 10 ms hop (10 ms);
* frame-rate conversion: a 60 fps frame waits for the 100 fps frame after it (≤ 10 ms);
* the chunk: a sample waits for the rest of its chunk (≤ 10 ms);
* a resampler when the device is not at 16 kHz: the microphone is opened at 16 kHz when it
  allows it, else :class:`~bridge.live.audio_in.LowLatencyResampler` adds ~2 ms (a streaming
  soxr resampler would hold back 20–40 ms);
* compute per chunk (features + one network step + layers: ~1 ms on one CPU core).

The paced outputs then show the frame for "now − delay", ``delay`` covering the above.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Mapping

import numpy as np

from blendshape.layers.emotion import Emotion, EmotionTrack, emotion_vector
from blendshape.layers.life import LIFE_MEMORY, LifeConfig, LifeLayer
from blendshape.net.engine import Engine
from blendshape.net.features import FRAME_RATE, HOP, SAMPLE_RATE
from blendshape.net.model import AudioToFace
from blendshape.net.stream import Batcher, FrameRateConverter, Stream, as_engine, converter_wait
from bridge.live.audio_in import (
    AudioDeviceError,
    AudioSource,
    Chunk,
    Clock,
    DeviceClock,
    FileSource,
    LiveError,
    LowLatencyResampler,
    MicSource,
    PlaybackSource,
    Sleep,
    require_sounddevice,
)
from bridge.transports.pacing import OUTPUT_FLAG_KEYS, OutputPump, OutputsConfig

log = logging.getLogger(__name__)

#: Paced outputs show a frame this long after its worst-case algorithmic latency: compute
#: (~1 ms a chunk) and the event loop's jitter.
DELAY_MARGIN = 0.015

__all__ = ["AudioDeviceError", "AudioSource", "Chunk", "DeviceClock", "FileSource", "LiveAnimator",
           "LiveConfig", "LiveError", "LiveFrames", "LiveStats", "LiveTimeline", "MicSource",
           "PlaybackSource", "build_live", "require_sounddevice", "run_live"]


# ---- the sans-I/O core ---------------------------------------------------------------------


@dataclass(frozen=True)
class LiveFrames:
    """Frames completed by one push: frame ``first + i`` shows the sound captured at ``times[i]``."""

    first: int
    frames: np.ndarray   # (n, len(rig.ALL_CHANNELS))
    times: np.ndarray    # (n,) on the caller's clock
    fps: int

    def __len__(self) -> int:
        return len(self.frames)


@dataclass
class LoudnessMeter:
    """Speech loudness 0..1 per feature frame, from the log-mel energy, for head nods.

    Relative to a running peak that decays slowly (a quiet mic still nods), over ``range_db``;
    the peak never drops below ``floor_db`` so background noise stays near 0. Deterministic
    and frame-by-frame, so chunking changes nothing.
    """

    range_db: float = 35.0
    floor_db: float = -20.0      # mel-energy dB; speech at -20 dBFS RMS peaks near 0
    release_db_per_s: float = 3.0
    peak: float = -20.0

    def push(self, feats: np.ndarray) -> np.ndarray:
        db = 10.0 * np.log10(np.exp(feats.astype(np.float64)).mean(axis=1) + 1e-12)
        out = np.empty(len(db), np.float32)
        step = self.release_db_per_s / FRAME_RATE
        for i, level in enumerate(db):
            self.peak = max(float(level), self.peak - step, self.floor_db)
            out[i] = (level - (self.peak - self.range_db)) / self.range_db
        return np.clip(out, 0.0, 1.0)


class LiveAnimator:
    """One live voice → face frames at ``fps``: network, emotion track and life layer.

    Push chunks of any size at the source's rate; each push returns the frames it completes.
    Frame k shows the sound ``k / fps`` seconds after the first sample, stamped on the
    caller's clock as ``t0 + k / fps`` where ``t0`` is the ``t`` of the first push (the
    capture time of its first sample). Emotion and life run on the audio clock, so a file
    gives the same curves however it is cut and whenever it is played.
    """

    def __init__(self, model: AudioToFace | Engine, rate: int, fps: int = 60, *,
                 life: LifeLayer | None = None, emotion: Emotion = None,
                 emotion_ramp: float = 0.4) -> None:
        self.engine, self.rate, self.fps = as_engine(model), rate, fps
        # Above 16 kHz our ~2 ms resampler; below (8 kHz telephone audio) the stream's soxr.
        self.resampler = LowLatencyResampler(rate) if rate > SAMPLE_RATE else None
        self.stream = Stream(self.engine, SAMPLE_RATE if self.resampler else rate)
        self._skip = round(self.resampler.delay * SAMPLE_RATE) if self.resampler else 0
        self._fed = 0  # 16 kHz samples given to the stream
        self.batcher = Batcher(self.engine)
        self.converter = FrameRateConverter(fps)
        self.life = life
        self.emotions = EmotionTrack(ramp=emotion_ramp)
        self.emotions.set(emotion, at=0.0)
        self.meter = LoudnessMeter()
        self.t0: float | None = None
        self.samples = 0
        self._pending_loud = np.zeros(0, np.float32)  # per feature frame, awaiting its output
        self._loud = np.zeros(0, np.float32)          # per network output frame
        self._loud_offset = 0

    @property
    def duration(self) -> float:
        """Seconds of audio pushed so far."""
        return self.samples / self.rate

    @property
    def lookahead(self) -> float:
        """Seconds of sound past a frame's moment the network needs: look-ahead + one hop."""
        return (self.engine.config.lookahead + 1) * HOP / SAMPLE_RATE

    def latency(self, chunk: float) -> float:
        """Worst-case algorithmic delay, sample captured → its frame out (no compute).

        Look-ahead and hop, the frame-rate converter's wait for the network frame after a
        frame's moment (:func:`~blendshape.net.stream.converter_wait`: 6.7 ms at 60 fps), the
        chunk, the resampler's delay when not at 16 kHz (~2 ms above, soxr's ~40 below), and
        for a model that hears several frames a step, a frame's wait for its partners.
        """
        if self.resampler is not None:
            resampler = self.resampler.delay + 1.0 / SAMPLE_RATE
        else:
            resampler = 0.04 if self.rate != SAMPLE_RATE else 0.0
        held = (self.engine.config.stack - 1) / FRAME_RATE
        return self.lookahead + converter_wait(self.fps) + chunk + resampler + held

    def set_emotion(self, emotion: Emotion, at: float) -> None:
        """Ramp to ``emotion`` from ``at`` seconds of audio on (see :class:`EmotionTrack`)."""
        self.emotions.set(emotion, at)

    def push(self, pcm: np.ndarray, t: float | None = None) -> LiveFrames:
        """A chunk captured from ``t`` on (caller's clock) → the frames it completes."""
        if self.t0 is None:
            self.t0 = float(t) if t is not None else 0.0
        pcm = np.asarray(pcm, np.float32)
        self.samples += len(pcm)
        feats = self.stream.features(self._to_16k(pcm, last=False))
        return self._emit(feats, self.batcher.step([self.stream], [feats])[0], last=False)

    def finish(self) -> LiveFrames:
        """End of the audio: the look-ahead sees silence, and the last frames come out."""
        if self.t0 is None:
            self.t0 = 0.0
        feats = self.stream.features(self._to_16k(np.zeros(0, np.float32), last=True), last=True)
        return self._emit(feats, self.batcher.step([self.stream], [feats])[0], last=True)

    def _to_16k(self, pcm: np.ndarray, last: bool) -> np.ndarray:
        """Through the resampler, its delay taken out so frame k still shows the sound at k/fps."""
        if self.resampler is None:
            return pcm
        audio = self.resampler.push(pcm)
        if last:  # flush the filter; keep exactly the samples the audio lasted
            audio = np.concatenate([audio, self.resampler.push(np.zeros(len(self.resampler.taps)))])
        skip = min(self._skip, len(audio))
        audio, self._skip = audio[skip:], self._skip - skip
        if last:
            audio = audio[:max(0, round(self.samples * SAMPLE_RATE / self.rate) - self._fed)]
        self._fed += len(audio)
        return audio

    def _emit(self, feats: np.ndarray, weights: np.ndarray, last: bool) -> LiveFrames:
        # Network output j describes feature frame j's moment: pair them up for loudness.
        self._pending_loud = np.concatenate([self._pending_loud, self.meter.push(feats)])
        done, self._pending_loud = self._pending_loud[:len(weights)], self._pending_loud[len(weights):]
        self._loud = np.concatenate([self._loud, done])
        full = self.converter.push(weights, last=last)
        first = self.converter.next_frame - len(full)
        audio_t = np.arange(first, first + len(full), dtype=np.float64) / self.fps
        if len(full):
            full = self.emotions.apply(full, audio_t)
            if self.life is not None:
                self.life.forget_before(float(audio_t[0]) - LIFE_MEMORY)
                pos = audio_t * FRAME_RATE - self._loud_offset
                loud = np.interp(pos, np.arange(len(self._loud)), self._loud) if len(self._loud) else None
                self.life.apply(full, audio_t, loudness=loud)
        keep = max(0, int(self.converter.next_frame * FRAME_RATE / self.fps) - 2 - self._loud_offset)
        self._loud, self._loud_offset = self._loud[keep:], self._loud_offset + keep
        assert self.t0 is not None
        return LiveFrames(first, full, self.t0 + audio_t, self.fps)


# ---- frames on a clock, for the paced outputs ----------------------------------------------


class LiveTimeline:
    """Live frames placed on a clock; what :class:`~bridge.transports.pacing.OutputPump` asks "now" of.

    ``position(now)`` maps the pump's clock to the moment of sound to show: ``now − delay``
    for a microphone, the device's playback position for a played file. A frame that is not
    ready when due (the network fell behind) is replaced by the newest one, and counted.
    Only the frames still ahead are kept, so a mic can run for days.
    """

    def __init__(self, fps: int, position: Callable[[float], float] | None = None,
                 delay: float = 0.0) -> None:
        self.fps, self.delay = fps, delay
        self.position = position or (lambda now: now - delay)
        self._frames: deque[np.ndarray] = deque()
        self._first = 0                 # frame index of _frames[0]
        self._t0: float | None = None   # caller-clock time of frame 0
        self.late = 0                   # ticks that found their frame not ready
        self.final = False              # the last frames are in: holding the newest is not late

    @property
    def end(self) -> int:
        """Index one past the newest frame."""
        return self._first + len(self._frames)

    def add(self, out: LiveFrames, last: bool = False) -> None:
        """Append the next frames; ``last`` marks the end (holding the final frame is not late)."""
        self.final = self.final or last
        if not len(out):
            return
        if self._t0 is None:
            self._t0 = float(out.times[0]) - out.first / self.fps
            self._first = out.first
        if out.first != self.end:
            raise ValueError(f"live frames must arrive in order: got {out.first}, expected {self.end}")
        self._frames.extend(out.frames)

    def done(self, now: float) -> bool:
        """Whether the newest frame's moment has been reached."""
        return self._t0 is None or self.position(now) >= self._t0 + (self.end - 1) / self.fps

    def frame_at(self, now: float) -> np.ndarray | None:
        if self._t0 is None or not self._frames:
            return None
        x = (self.position(now) - self._t0) * self.fps
        if x < self._first:
            return None
        k = math.floor(x)
        while self._first < k and len(self._frames) > 1:  # drop what is behind us
            self._frames.popleft()
            self._first += 1
        if k >= self.end - 1:
            if k > self.end - 1 and not self.final:
                self.late += 1
            return self._frames[-1]
        a, b = self._frames[0], self._frames[1]
        return a + (b - a) * (x - k)


# ---- the shell -----------------------------------------------------------------------------


@dataclass
class LiveStats:
    """What one run did: for the summary line and the tests."""

    chunks: int = 0
    frames: int = 0
    seconds: float = 0.0
    late_ticks: int = 0
    sent: int = 0
    compute_ms: list[float] = field(default_factory=list)

    def summary(self) -> str:
        p50 = float(np.median(self.compute_ms)) if self.compute_ms else 0.0
        p90 = float(np.percentile(self.compute_ms, 90)) if self.compute_ms else 0.0
        return (f"{self.seconds:.2f} s of audio, {self.frames} frames, {self.sent} sent, "
                f"{self.late_ticks} late ticks; compute per chunk p50 {p50:.2f} ms, p90 {p90:.2f} ms")


async def _chunks_until(source: AudioSource, stop: asyncio.Event | None) -> AsyncIterator[Chunk]:
    """The source's chunks until it ends or ``stop`` is set (Ctrl-C on a microphone)."""
    chunks = source.chunks().__aiter__()
    if stop is None:
        async for chunk in chunks:
            yield chunk
        return
    stopper = asyncio.ensure_future(stop.wait())
    try:
        while True:
            following = asyncio.ensure_future(anext(chunks))
            await asyncio.wait({following, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if not following.done():
                following.cancel()
                await asyncio.gather(following, return_exceptions=True)
                return
            try:
                yield following.result()
            except StopAsyncIteration:
                return
    finally:
        stopper.cancel()
        await chunks.aclose()  # type: ignore[attr-defined]


async def run_live(source: AudioSource, animator: LiveAnimator, pump: OutputPump,
                   timeline: LiveTimeline, *, seconds: float | None = None,
                   executor: concurrent.futures.Executor | None = None,
                   stop: asyncio.Event | None = None) -> LiveStats:
    """Feed the source through the animator onto the timeline while the pump sends frames.

    Without an executor the network runs inline (tests on a virtual clock); with one, in
    its worker thread so the pump keeps its pace. Ends with the source, after ``seconds``
    of audio, or when ``stop`` is set; the frames already made are still sent.
    """
    pump.timeline = timeline  # type: ignore[assignment]  # the pump only asks frame_at(now)
    stats = LiveStats()
    pump_task = asyncio.create_task(pump.run(), name="live-outputs")
    loop = asyncio.get_running_loop()
    try:
        async for chunk in _chunks_until(source, stop):
            started = time.perf_counter()
            if executor is None:
                out = animator.push(chunk.pcm, chunk.t)
            else:
                out = await loop.run_in_executor(executor, animator.push, chunk.pcm, chunk.t)
            stats.compute_ms.append(1000 * (time.perf_counter() - started))
            timeline.add(out)
            stats.chunks += 1
            stats.frames += len(out)
            enough = seconds is not None and animator.duration >= seconds - 1e-9
            if (chunk.last or enough) and not timeline.final:
                out = animator.finish()
                timeline.add(out, last=True)
                stats.frames += len(out)
            if enough:
                break
        if not timeline.final:
            out = animator.finish()
            timeline.add(out, last=True)
            stats.frames += len(out)
        while not timeline.done(pump.clock()):
            await pump.sleep(1.0 / pump.fps)
        await pump.sleep(1.0 / pump.fps)  # the last frame's tick
    finally:
        pump_task.cancel()
        await asyncio.gather(pump_task, return_exceptions=True)
        pump.close()
    stats.seconds, stats.late_ticks, stats.sent = animator.duration, timeline.late, pump.sent
    return stats


# ---- settings ------------------------------------------------------------------------------


@dataclass
class LiveConfig:
    """Everything ``talkbridge live`` needs beyond the source: flags over the config file."""

    outputs: OutputsConfig
    life: LifeConfig = field(default_factory=LifeConfig)
    fps: int = 60
    emotion: Emotion = None
    emotion_ramp: float = 0.4
    seed: int = 0
    chunk: float = 0.01              # seconds of audio per push
    delay: float | None = None       # capture → output; None: the pipeline's latency + margin

    #: Keys of the ``[live]`` table.
    KEYS = ("fps", "emotion", "emotion_ramp", "seed", "chunk", "delay")

    @classmethod
    def from_tables(cls, conf: Mapping[str, Any], overrides: Mapping[str, Any]) -> "LiveConfig":
        """``[live]``, ``[life]`` and ``[outputs]`` tables, then flags (``overrides``, non-None)."""
        live = dict(conf.get("live", {}))
        unknown = sorted(set(live) - set(cls.KEYS))
        if unknown:
            raise LiveError(f"unknown [live] key {unknown[0]!r}; known: {', '.join(cls.KEYS)}")
        out = dict(conf.get("outputs", {}))
        unknown = sorted(set(out) - set(OutputsConfig.__dataclass_fields__))
        if unknown:
            raise LiveError(f"unknown [outputs] key {unknown[0]!r}; "
                            f"known: {', '.join(OutputsConfig.__dataclass_fields__)}")
        for key, value in overrides.items():
            if value is None:
                continue
            (out if key in OutputsConfig.__dataclass_fields__ else live)[key] = value
        config = cls(outputs=OutputsConfig(**out), life=LifeConfig.from_dict(conf.get("life", {})),
                     **live)
        emotion_vector(config.emotion)  # an unknown emotion fails here, before the model loads
        if not 1 <= int(config.fps) <= 240:
            raise LiveError(f"fps must be between 1 and 240, not {config.fps}")
        if not 0.001 <= config.chunk <= 0.1:
            raise LiveError(f"chunk must be 1–100 ms of audio, not {config.chunk} s")
        return config


def build_live(model: AudioToFace | Engine, rate: int, config: LiveConfig, session_clock: Clock,
               sleep: Sleep, position: Callable[[float], float] | None = None,
               ) -> tuple[LiveAnimator, OutputPump, LiveTimeline]:
    """The animator, the paced outputs and the timeline joining them (OutputError on a bad target).

    Without ``position`` (a microphone, or a file paced as one) frame times are on
    ``session_clock`` and shown ``delay`` after capture.
    """
    if not config.outputs.enabled:
        raise LiveError("no outputs: add --livelink, --vmc, --vrchat or --osc")
    animator = LiveAnimator(model, rate, config.fps, life=LifeLayer(config.seed, config.life),
                            emotion=config.emotion, emotion_ramp=config.emotion_ramp)
    delay = config.delay if config.delay is not None else animator.latency(config.chunk) + DELAY_MARGIN
    targets = config.outputs.build(1)
    pump = OutputPump(targets, config.fps, t0=session_clock(), clock=session_clock, sleep=sleep)
    timeline = (LiveTimeline(config.fps, position) if position is not None
                else LiveTimeline(config.fps, delay=delay))
    log.info("live: %d fps, showing frames %.0f ms after capture (look-ahead %.0f ms)",
             config.fps, 1000 * delay, 1000 * animator.lookahead)
    return animator, pump, timeline


def _parse_device(text: str | None) -> int | str | None:
    return int(text) if text is not None and text.isdigit() else text


def main(args: Any, conf: Mapping[str, Any], read_audio: Callable[[Path], tuple[np.ndarray, int]],
         emotion: Emotion) -> int:
    """``talkbridge live``: parsed flags + config tables → a run until the audio or --seconds ends."""
    from blendshape.net.stream import load_network

    device = _parse_device(args.device)
    if args.play and args.input is None:
        raise LiveError("--play plays a file: use it with --input FILE.wav")
    flags = {k: getattr(args, k) for k in (*OUTPUT_FLAG_KEYS, "fps", "seed", "delay")}
    config = LiveConfig.from_tables(conf, {**flags, "emotion": emotion})
    if not config.outputs.enabled:
        raise LiveError("no outputs: add --livelink, --vmc, --vrchat or --osc")
    clock = time.monotonic
    if args.mic:
        source: AudioSource = MicSource(device, config.chunk, clock)
    else:
        pcm, rate = read_audio(args.input)
        source = (PlaybackSource(pcm, rate, device, config.chunk, clock=clock) if args.play
                  else FileSource(pcm, rate, config.chunk, clock, seconds=args.seconds))
    position = source.clock.position if isinstance(source, PlaybackSource) else None
    engine = load_network(args.weights)
    animator, pump, timeline = build_live(engine, source.rate, config, clock, asyncio.sleep, position)
    with concurrent.futures.ThreadPoolExecutor(1, "live-network") as executor:
        stats = asyncio.run(_until_signal(lambda stop: run_live(
            source, animator, pump, timeline, seconds=args.seconds, executor=executor, stop=stop)))
    print(f"talkbridge live: {stats.summary()}", flush=True)
    return 0


async def _until_signal(run: Callable[[asyncio.Event], Awaitable[LiveStats]]) -> LiveStats:
    """Run until done or SIGINT/SIGTERM, which end the run cleanly (summary included)."""
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return await run(stop)
