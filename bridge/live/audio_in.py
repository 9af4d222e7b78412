"""Live audio in: a microphone, a file paced as if captured, a file played on the sound card.

Every source yields :class:`Chunk` objects (mono float32 at the source's rate, stamped with
the capture time of the first sample on the caller's clock), so the live pipeline never
knows which it has, and the tests inject a file, a virtual clock or a fake sound device.
PortAudio (through ``sounddevice``) is imported only when a device is asked for, and its
absence is an :class:`AudioDeviceError` that says what to install.

The microphone is opened at 16 kHz when the device allows it; when it does not,
:class:`LowLatencyResampler` brings it to 16 kHz with ~2 ms of delay, where a streaming
soxr resampler holds back 20–40 ms.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, Mapping, Protocol

import numpy as np

from blendshape.net.features import SAMPLE_RATE

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class LiveError(RuntimeError):
    """A live-mode setup problem the user can fix (device, library, settings)."""


class AudioDeviceError(LiveError):
    """No sound library or device: says what to install or which device to pick."""


@dataclass(frozen=True)
class Chunk:
    """Captured audio: mono float32 at the source's rate, first sample captured at ``t``."""

    pcm: np.ndarray
    t: float
    last: bool = False   # no audio follows (the source may still be busy, e.g. playing it)


class AudioSource(Protocol):
    rate: int

    def chunks(self) -> AsyncIterator[Chunk]:
        """Chunks in capture order, each as soon as it has been captured."""
        ...


@dataclass
class FileSource:
    """A file paced as if a microphone captured it: each chunk arrives once its last sample
    would have been recorded. ``seconds`` longer than the file pads with silence."""

    pcm: np.ndarray
    rate: int
    chunk: float = 0.01
    clock: Clock = time.monotonic
    sleep: Sleep = asyncio.sleep
    seconds: float | None = None

    async def chunks(self) -> AsyncIterator[Chunk]:
        n = max(1, round(self.chunk * self.rate))
        total = len(self.pcm) if self.seconds is None else round(self.seconds * self.rate)
        t0 = self.clock()
        for start in range(0, total, n):
            stop = min(start + n, total)
            await self.sleep(max(0.0, t0 + stop / self.rate - self.clock()))
            piece = np.zeros(stop - start, np.float32)
            real = self.pcm[start:min(stop, len(self.pcm))]
            piece[:len(real)] = real
            yield Chunk(piece, t0 + start / self.rate, last=stop >= total)


def require_sounddevice(purpose: str) -> Any:
    """The sounddevice module, or an AudioDeviceError saying what to install."""
    try:
        import sounddevice
    except OSError as exc:  # the module is there, the PortAudio library is not
        raise AudioDeviceError(
            f"{purpose} needs the PortAudio library ({exc}): install it with "
            "`apt install libportaudio2` (Debian/Ubuntu) or `brew install portaudio` (macOS)"
        ) from None
    except ImportError:
        raise AudioDeviceError(f"{purpose} needs `pip install sounddevice` "
                               "and the PortAudio library (`apt install libportaudio2`)") from None
    return sounddevice


def _device_info(sd: Any, device: int | str | None, kind: str) -> Mapping[str, Any]:
    try:
        return sd.query_devices(device, kind)
    except (ValueError, sd.PortAudioError) as exc:
        raise AudioDeviceError(f"no {kind} sound device {device if device is not None else ''} "
                               f"({exc}); list them with `python -m sounddevice`") from None


class MicSource:
    """A microphone through PortAudio; opened at 16 kHz when the device allows (no resampler)."""

    def __init__(self, device: int | str | None = None, chunk: float = 0.01,
                 clock: Clock = time.monotonic, sd: Any = None) -> None:
        self.sd = sd or require_sounddevice("--mic")
        self.device, self.chunk, self.clock = device, chunk, clock
        info = _device_info(self.sd, device, "input")
        try:
            self.sd.check_input_settings(device=device, samplerate=SAMPLE_RATE, channels=1,
                                         dtype="float32")
            self.rate = SAMPLE_RATE
        except Exception:  # noqa: BLE001 - PortAudio says no in several ways
            self.rate = int(info["default_samplerate"])
        self.overflows = 0

    async def chunks(self) -> AsyncIterator[Chunk]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Chunk] = asyncio.Queue()

        def callback(indata: np.ndarray, frames: int, when: Any, status: Any) -> None:
            if status:
                self.overflows += 1
            captured = self.clock() - (when.currentTime - when.inputBufferAdcTime)
            loop.call_soon_threadsafe(queue.put_nowait, Chunk(indata[:, 0].copy(), captured))

        stream = self.sd.InputStream(device=self.device, channels=1, samplerate=self.rate,
                                     dtype="float32", blocksize=round(self.chunk * self.rate),
                                     latency="low", callback=callback)
        with stream:
            log.info("microphone open at %d Hz, input latency %.1f ms", self.rate,
                     1000 * float(stream.latency))
            while True:
                yield await queue.get()


class PlaybackSource:
    """A file played on the sound card; frames follow the card's playback position.

    The file is fed to the animator at most ``lead`` seconds ahead of what the card has
    played, and :attr:`clock` (a :class:`DeviceClock`) tells the timeline where playback is.
    """

    def __init__(self, pcm: np.ndarray, rate: int, device: int | str | None = None,
                 chunk: float = 0.01, lead: float = 0.3, clock: Clock = time.monotonic,
                 sleep: Sleep = asyncio.sleep, sd: Any = None) -> None:
        self.sd = sd or require_sounddevice("--play")
        _device_info(self.sd, device, "output")
        self.pcm, self.rate, self.device = np.asarray(pcm, np.float32), rate, device
        self.chunk, self.lead, self.wall, self.sleep = chunk, lead, clock, sleep
        self.clock = DeviceClock(rate)
        self._played = 0
        self.finished = asyncio.Event()

    def _callback(self, outdata: np.ndarray, frames: int, when: Any, status: Any) -> None:
        start = self._played
        piece = self.pcm[start:start + frames]
        outdata[:len(piece), 0] = piece
        outdata[len(piece):, 0] = 0.0
        self.clock.observe(self.wall() + (when.outputBufferDacTime - when.currentTime), start, len(piece))
        self._played += len(piece)
        if len(piece) < frames:
            raise self.sd.CallbackStop

    async def chunks(self) -> AsyncIterator[Chunk]:
        loop = asyncio.get_running_loop()
        stream = self.sd.OutputStream(device=self.device, channels=1, samplerate=self.rate,
                                      dtype="float32", callback=self._callback,
                                      finished_callback=lambda: loop.call_soon_threadsafe(
                                          self.finished.set))
        n = max(1, round(self.chunk * self.rate))
        with stream:
            for start in range(0, len(self.pcm), n):
                while start / self.rate > max(self.clock.position(self.wall()), 0.0) + self.lead:
                    await self.sleep(self.chunk)
                yield Chunk(self.pcm[start:start + n], start / self.rate,
                            last=start + n >= len(self.pcm))
            await self.finished.wait()  # the stream stays open until the card has played it all


@dataclass
class DeviceClock:
    """The sound card's playback position, from what its callback reports; pure.

    Each callback says which sample will reach the speaker at which moment of the pump's
    clock; between callbacks the position runs on that clock, never past what was written,
    never backwards.
    """

    rate: int
    _anchor: tuple[float, int] | None = None   # (clock time at the DAC, sample index)
    _written: int = 0
    _last: float = float("-inf")

    def observe(self, dac_time: float, sample: int, frames: int) -> None:
        self._anchor = (dac_time, sample)
        self._written = sample + frames

    def position(self, now: float) -> float:
        if self._anchor is None:
            return float("-inf")
        at, sample = self._anchor
        pos = min(sample / self.rate + (now - at), self._written / self.rate)
        self._last = max(self._last, pos)
        return self._last


class LowLatencyResampler:
    """Any rate → 16 kHz for live audio, in chunks of any size, delaying it ~2 ms.

    A Kaiser-windowed sinc low-pass (cutoff 7.6 kHz, ~60 dB stop band) at the source rate,
    then linear interpolation at exact rational positions. The audio is band-limited well
    below the source's Nyquist, so the interpolation adds little; its delay is the filter's
    half length. Chunking changes nothing: the state is the filter's history and the
    absolute output index.
    """

    def __init__(self, rate: int, target: int = SAMPLE_RATE, cutoff: float = 7600.0,
                 transition: float = 800.0, attenuation_db: float = 60.0) -> None:
        if rate <= target:
            raise ValueError(f"resampling up ({rate} → {target} Hz) is not needed for live audio")
        self.rate, self.target = rate, target
        n = int(math.ceil((attenuation_db - 8) / (2.285 * 2 * math.pi * transition / rate))) | 1
        beta = 0.1102 * (attenuation_db - 8.7)
        k = np.arange(n) - (n - 1) / 2
        taps = 2 * cutoff / rate * np.sinc(2 * cutoff / rate * k) * np.kaiser(n, beta)
        self.taps = (taps / taps.sum()).astype(np.float64)
        self._history = np.zeros(n - 1)
        self._filtered = np.zeros(0)   # filtered samples not yet passed
        self._offset = 0               # source index of _filtered[0]
        self._next = 0                 # index of the next output sample

    @property
    def delay(self) -> float:
        """Seconds the filter delays the audio (half its length)."""
        return (len(self.taps) - 1) / 2 / self.rate

    def push(self, audio: np.ndarray) -> np.ndarray:
        x = np.concatenate([self._history, np.asarray(audio, np.float64)])
        self._history = x[len(x) - len(self._history):]
        filtered = np.convolve(x, self.taps, mode="valid")
        self._filtered = np.concatenate([self._filtered, filtered])
        available = self._offset + len(self._filtered)  # source samples filtered so far
        # Output j sits at source position j * rate / target; it needs samples floor(p), floor(p) + 1.
        end = max(self._next, ((available - 1) * self.target + self.rate - 1) // self.rate)
        j = np.arange(self._next, end)
        num = j * self.rate
        idx, frac = num // self.target - self._offset, (num % self.target) / self.target
        f = self._filtered
        out = f[idx] * (1 - frac) + f[np.minimum(idx + 1, len(f) - 1)] * frac
        self._next = end
        drop = min(max(0, self._next * self.rate // self.target - self._offset), len(self._filtered))
        self._filtered, self._offset = self._filtered[drop:], self._offset + drop
        return out.astype(np.float32)
