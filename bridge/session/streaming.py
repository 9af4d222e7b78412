"""Cut one utterance's audio and frames into interleaved wire chunks. Sans-I/O.

Each chunk pairs an ``audio`` message with the ``curves`` message for the same span of the
utterance clock (a whole number of frames, ~50 ms), so a client that has received the audio
for time t also holds the curves for it. Audio is resampled to the session's rate with one
continuous resampler per utterance, so sentence boundaries leave no clicks or drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CHUNK_SECONDS = 0.05


def frames_per_chunk(fps: int, seconds: float = CHUNK_SECONDS) -> int:
    return max(1, round(seconds * fps))


@dataclass(frozen=True, slots=True)
class WireChunk:
    """One audio span and the frames on it; ``t`` values are utterance-clock seconds."""

    audio_seq: int
    audio_t: float
    pcm: np.ndarray  # float32 at the output rate
    curves_seq: int
    curves_t: float
    frames: np.ndarray  # (n, channels)


class _Resampler:
    """Streaming resampler (soxr) that passes audio through when the rates match."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        self.in_rate, self.out_rate = in_rate, out_rate
        self._stream = None
        if in_rate != out_rate:
            import soxr

            self._stream = soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32", quality="HQ")

    def process(self, pcm: np.ndarray, last: bool = False) -> np.ndarray:
        pcm = np.ascontiguousarray(pcm, dtype=np.float32)
        if self._stream is None:
            return pcm
        return np.asarray(self._stream.resample_chunk(pcm, last=last), dtype=np.float32)


@dataclass
class UtteranceChunker:
    """Buffers resampled audio and frames; releases aligned chunks as both become available."""

    fps: int
    out_rate: int
    frames_per_chunk: int
    _audio: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32), init=False)
    _audio_pos: int = field(default=0, init=False)  # utterance sample index of _audio[0]
    _frames: np.ndarray | None = field(default=None, init=False)
    _frame_pos: int = field(default=0, init=False)  # utterance frame index of _frames[0]
    _seq: int = field(default=0, init=False)
    _resampler: _Resampler | None = field(default=None, init=False)

    def push(self, pcm: np.ndarray, rate: int, frames: np.ndarray) -> list[WireChunk]:
        """Add a sentence's source-rate audio and its frames; return the chunks now complete."""
        if self._resampler is None:
            self._resampler = _Resampler(rate, self.out_rate)
        self._audio = np.concatenate([self._audio, self._resampler.process(pcm)])
        self._frames = frames if self._frames is None else np.concatenate([self._frames, frames])
        return self._drain(final=False)

    def finish(self) -> list[WireChunk]:
        """Flush the resampler and release everything left, the last chunk possibly short."""
        if self._resampler is not None:
            self._audio = np.concatenate([self._audio, self._resampler.process(
                np.zeros(0, np.float32), last=True)])
        return self._drain(final=True)

    def _sample_at_frame(self, frame: int) -> int:
        return round(frame * self.out_rate / self.fps)

    def _drain(self, final: bool) -> list[WireChunk]:
        out: list[WireChunk] = []
        while self._frames is not None and len(self._frames) > 0:
            n = min(self.frames_per_chunk, len(self._frames))
            if n < self.frames_per_chunk and not final:
                break
            last_chunk = final and n == len(self._frames)
            end = self._sample_at_frame(self._frame_pos + n) - self._audio_pos
            if last_chunk:
                end = len(self._audio)
            elif end > len(self._audio):
                if not final:
                    break
                end = len(self._audio)
            out.append(WireChunk(
                audio_seq=self._seq, audio_t=self._audio_pos / self.out_rate,
                pcm=self._audio[:end], curves_seq=self._seq,
                curves_t=self._frame_pos / self.fps, frames=self._frames[:n],
            ))
            self._seq += 1
            self._audio, self._audio_pos = self._audio[end:], self._audio_pos + end
            self._frames, self._frame_pos = self._frames[n:], self._frame_pos + n
        if final and len(self._audio) > 0:  # audio past the last frame: send it, no frames
            width = self._frames.shape[1] if self._frames is not None else 0
            out.append(WireChunk(self._seq, self._audio_pos / self.out_rate, self._audio,
                                 self._seq, self._frame_pos / self.fps,
                                 np.zeros((0, width), np.float32)))
            self._audio_pos += len(self._audio)
            self._audio = self._audio[:0]
            self._seq += 1
        return out
