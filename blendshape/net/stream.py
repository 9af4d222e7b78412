"""Running the network: whole clips, live streams, and one batched step for many streams.

A stream turns audio chunks of any size and rate into face frames at 100 a second, delayed
by the model's look-ahead (40 ms) plus the 10 ms hop. Its state — features not yet framed,
the network's carried state — is explicit, so the :class:`Batcher` can run every live stream
of the process in one forward pass per tick: in PyTorch on the GPU when there is one, in
ONNX Runtime on a CPU (:mod:`blendshape.net.engine`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from blendshape import rig
from blendshape.net.ear import EarMissing
from blendshape.net.ear_model import EarEngine, is_ear_checkpoint, model_from_checkpoint
from blendshape.net.engine import Engine, TorchEngine, engine_for
from blendshape.net.features import (
    CLIP_BLOCK,
    FRAME_RATE,
    LOG_FLOOR,
    N_MELS,
    SAMPLE_RATE,
    StreamingLogMel,
    log_mel,
)
from blendshape.net.model import AudioToFace, OfflineOnly, pad_to_stack
from blendshape.weights import DEFAULT_CHECKPOINT, OFFLINE_CHECKPOINT

log = logging.getLogger(__name__)

_TARGET_COLUMNS = rig.column_indices(rig.NETWORK_CHANNELS)
_SILENCE = np.full((1, N_MELS), np.log(LOG_FLOOR), np.float32)


class WeightsNotFound(FileNotFoundError):
    """No checkpoint: say how to get one."""


def pick_device(prefer: str | None = None) -> torch.device:
    """CUDA when present (or asked for), else CPU.

    Asking for CUDA on a machine without it warns and runs on the CPU: a server configured
    for a GPU box must still start on a laptop, just slower.
    """
    if prefer:
        device = torch.device(prefer)
        if device.type == "cuda" and not torch.cuda.is_available():
            log.warning("device %r asked for, but this torch sees no CUDA GPU "
                        "(torch %s); running the network on the CPU", prefer, torch.__version__)
            return torch.device("cpu")
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_model(path: Path | str | None = None, device: torch.device | None = None, *,
               streaming: bool = True) -> AudioToFace:
    """A checkpoint (default: the shipped realtime one) on ``device``.

    ``streaming`` refuses an offline quality checkpoint up front, with a message that says
    which weights to use, rather than failing at the first audio chunk.
    """
    path = Path(path or DEFAULT_CHECKPOINT)
    if not path.exists():
        raise WeightsNotFound(f"no network weights at {path}: run `talkbridge train` "
                              "or use --animator procedural")
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    if is_ear_checkpoint(checkpoint):
        raise OfflineOnly(f"{path} is the offline quality model (it hears whole files through "
                          "Whisper): use it with `--quality offline`; leave --weights unset "
                          "for the shipped realtime model")
    model = AudioToFace.from_checkpoint(checkpoint)
    if streaming and model.config.bidirectional:
        raise OfflineOnly(f"{path} is an offline quality model (bidirectional): it animates "
                          "whole files with `talkbridge animate --quality offline` and cannot "
                          "stream; leave --weights unset for the shipped realtime model")
    return model.to(device or pick_device())


def load_network(path: Path | str | None = None, device: torch.device | None = None,
                 engine: str = "auto", *, files: bool = False) -> Engine:
    """The streaming model, ready to run: on a CPU ONNX Runtime, 8-bit for live streams and
    float for whole ``files``; PyTorch on a GPU (:func:`blendshape.net.engine.engine_for`)."""
    return engine_for(load_model(path, device), engine, files=files)


def load_for_files(quality: str = "realtime", path: Path | str | None = None,
                   device: torch.device | None = None) -> Engine | EarEngine:
    """The network ``talkbridge animate``, ``eval`` and ``say`` use for whole files.

    ``offline`` is the offline quality model (:mod:`blendshape.net.ear_model`; an old
    bidirectional log-mel checkpoint also loads); when its weights or Whisper's are missing it
    warns once and falls back to the realtime model, whose curves are good, only less so.
    """
    if quality == "realtime":
        return load_network(path, device, files=True)
    if quality != "offline":
        raise ValueError(f"unknown quality {quality!r}: realtime or offline")
    path = Path(path or OFFLINE_CHECKPOINT)
    if not path.exists():
        log.warning("no offline quality weights at %s (`talkbridge train --quality offline` "
                    "makes them); using the realtime model", path)
        return load_network(None, device, files=True)
    model = model_from_checkpoint(torch.load(path, map_location="cpu", weights_only=False))
    if isinstance(model, AudioToFace):  # a bidirectional log-mel model, from before the ear
        return engine_for(model.to(device or pick_device()), files=True)
    engine = EarEngine(model)
    try:
        engine.features.ear.load()
    except EarMissing as exc:
        log.warning("the offline quality model hears through Whisper: %s; using the realtime "
                    "model", exc)
        return load_network(None, device, files=True)
    return engine


def _interpolate(weights: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Full frames from network frames read at fractional indices ``pos`` (ends held)."""
    full = np.zeros((len(pos), len(rig.ALL_CHANNELS)), np.float32)
    if len(pos) == 0 or len(weights) == 0:
        return full
    lo = np.clip(np.floor(pos).astype(int), 0, len(weights) - 1)
    hi = np.minimum(lo + 1, len(weights) - 1)
    w = np.clip(pos - lo, 0, 1)[:, None]
    full[:, _TARGET_COLUMNS] = (1 - w) * weights[lo] + w * weights[hi]
    return full


def to_full_frames(weights: np.ndarray, fps: float, n_out: int | None = None) -> np.ndarray:
    """(n, 67) network frames at 100 fps (frame i at i/100 s) → (m, 74) full frames at ``fps``."""
    m = n_out if n_out is not None else int(np.ceil(len(weights) * fps / FRAME_RATE - 1e-9))
    return _interpolate(weights, np.arange(m) * FRAME_RATE / fps)


def animate_clip(model: AudioToFace | Engine | EarEngine, audio: np.ndarray, rate: int,
                 fps: float = 60.0) -> np.ndarray:
    """A whole clip → full frames at ``fps`` covering its duration (the look-ahead is free here)."""
    from blendshape.net.features import resample

    audio16 = resample(np.asarray(audio, np.float32), rate)
    if isinstance(model, EarEngine):  # the offline quality model hears the audio itself
        weights = model.weights(audio16)
    else:
        engine = as_engine(model)
        feats = log_mel(audio16, engine.config.denoise)
        lead = engine.config.lookahead
        padded = np.concatenate([feats, np.repeat(_SILENCE, lead, axis=0)])
        weights = whole_in_blocks(engine, padded)[lead:]
    duration = len(audio) / rate
    return to_full_frames(weights, fps, int(np.ceil(duration * fps - 1e-9)))


def whole_in_blocks(engine: Engine, feats: np.ndarray) -> np.ndarray:
    """``engine.whole(feats)``, taken ``CLIP_BLOCK`` frames at a time with the state carried
    across: the same curves (to float rounding), but a long recording's pass holds one
    block's activations, not the whole file's (a 20 min file's were ~0.5 GB)."""
    if len(feats) <= CLIP_BLOCK:
        return engine.whole(feats)
    block = CLIP_BLOCK - CLIP_BLOCK % engine.config.stack  # whole steps in every block
    padded = pad_to_stack(feats, engine.config.stack)
    state, out = engine.initial_state(1), []
    for i in range(0, len(padded), block):
        weights, state = engine.step(padded[None, i:i + block], state)
        out.append(weights[0])
    return np.concatenate(out)[:len(feats)]


def as_engine(model: AudioToFace | Engine) -> Engine:
    """An engine as it is; a bare model in PyTorch, where it lives (free: no export).

    Loaders hand out the fast engine (:func:`load_network`); a bare model stays in PyTorch
    so that training code and tests see exactly the module they hold."""
    return TorchEngine(model) if isinstance(model, AudioToFace) else model


@dataclass
class Stream:
    """One live audio stream's state: resampler, feature framer, model state.

    Its state is its engine's: make streams with the same engine (or bare model) as the
    :class:`Batcher` that advances them."""

    model: AudioToFace | Engine
    rate: int
    _framer: StreamingLogMel = field(default_factory=StreamingLogMel)
    _resampler: object = None
    state: Any = None     # the engine's, opaque: only the batcher that made it reads it
    computed: int = 0     # network frames computed so far, the look-ahead ones included
    padding: int = 0      # silence frames that filled the last step: computed, not output
    _held: np.ndarray = field(default_factory=lambda: np.zeros((0, N_MELS), np.float32))

    def __post_init__(self) -> None:
        self._framer = StreamingLogMel(self.model.config.denoise)
        if self.rate != SAMPLE_RATE:
            import soxr

            self._resampler = soxr.ResampleStream(self.rate, SAMPLE_RATE, 1, dtype="float32")
        self.state = self.model.initial_state(1)

    def features(self, pcm: np.ndarray, last: bool = False) -> np.ndarray:
        """Audio at the stream's rate → the log-mel frames it completes, in whole network steps.

        A model that hears ``stack`` frames a step gets them in multiples of ``stack``: a
        frame without its partner waits for the next chunk (10 ms at most, none with 20 ms
        chunks), and the last step is filled with silence. (Many streams at once:
        :func:`stream_features`, the same frames.)
        """
        return self._whole_steps(self._framer.push(self._at_16k(pcm, last)), last)

    def _at_16k(self, pcm: np.ndarray, last: bool) -> np.ndarray:
        audio = np.asarray(pcm, np.float32)
        if self._resampler is not None:
            audio = self._resampler.resample_chunk(audio, last=last)
        return audio

    def _whole_steps(self, feats: np.ndarray, last: bool) -> np.ndarray:
        """New frames → what the network hears now: silence past the end, whole steps."""
        if last:  # let the look-ahead see past the end: silence
            feats = np.concatenate([feats, np.repeat(_SILENCE, self.model.config.lookahead, axis=0)])
        stack = self.model.config.stack
        if stack == 1:
            return feats
        feats = np.concatenate([self._held, feats])
        if last:
            self.padding, self._held = -len(feats) % stack, feats[:0]
            return pad_to_stack(feats, stack)
        whole = len(feats) - len(feats) % stack
        feats, self._held = feats[:whole], feats[whole:]
        return feats


def stream_features(streams: Sequence[Stream], audio: Sequence[tuple[np.ndarray, bool]]
                    ) -> list[np.ndarray]:
    """Each stream's :meth:`Stream.features` of its (pcm, last), computed together: one
    spectrum for every stream's new frames and one noise-floor pass per frame count, so
    a server's tick costs a few vector operations per frame, not per stream (256
    streams' features took 19 ms of a 20 ms tick one by one)."""
    pcms = [s._at_16k(pcm, last) for s, (pcm, last) in zip(streams, audio)]
    feats = StreamingLogMel.push_many([s._framer for s in streams], pcms)
    return [s._whole_steps(f, last) for s, f, (_, last) in zip(streams, feats, audio)]


class Batcher:
    """Runs one model step for many streams at once: cost grows sub-linearly with streams."""

    def __init__(self, model: AudioToFace | Engine) -> None:
        self.engine = as_engine(model)

    @property
    def fell_back(self) -> bool:
        """The GPU ran out of memory once and the CPU serves from then on."""
        return bool(getattr(self.engine, "fell_back", False))

    def step(self, streams: list[Stream], feats: list[np.ndarray]) -> list[np.ndarray]:
        """Advance each stream by its new feature frames; return each stream's new face weights.

        Streams with different frame counts are padded to the longest and their states taken
        at their own last real frame, so batching never changes a stream's result.
        """
        live = [i for i, f in enumerate(feats) if len(f)]
        out: list[np.ndarray] = [np.zeros((0, 67), np.float32) for _ in streams]
        if not live:
            return out
        by_len: dict[int, list[int]] = {}
        for i in live:
            by_len.setdefault(len(feats[i]), []).append(i)
        engine, lookahead = self.engine, self.engine.config.lookahead
        for length, group in by_len.items():  # equal lengths batch exactly (usual: one tick)
            x = np.stack([feats[i] for i in group])
            weights, new = engine.step(x, engine.join([streams[i].state for i in group]))
            for j, i in enumerate(group):
                streams[i].state = engine.take(new, j)
                # The first `lookahead` outputs describe the face before the audio began.
                skip = max(0, lookahead - streams[i].computed)
                streams[i].computed += length
                out[i] = weights[j, skip:length - streams[i].padding]
        return out

    def push(self, stream: Stream, pcm: np.ndarray, last: bool = False) -> np.ndarray:
        """One stream on its own: audio in, the face weights (100 fps) it completes out."""
        return self.step([stream], [stream.features(pcm, last)])[0]


def converter_wait(fps: float) -> float:
    """Seconds a full frame at ``fps`` can wait, past its moment, for the network frame after
    it (the :class:`FrameRateConverter` releases it then): 6.7 ms at 60 fps, whose frames
    fall on a network frame or a third or two thirds past one; under 10 ms at any rate."""
    pos = np.arange(1000) * FRAME_RATE / fps
    return float((np.ceil(pos - 1e-9) - pos).max()) / FRAME_RATE


@dataclass
class FrameRateConverter:
    """Network frames (100 fps, arriving in pieces) → full frames at ``fps``, incrementally.

    Frame k is released as soon as the network frames it reads exist (or at the end), so
    the output equals :func:`to_full_frames` of everything at once: the two around k/fps,
    or, where k/fps falls on a network frame, that one alone. Waiting for one network frame
    more than that (as this did until 2026-12) held every frame back 10 ms for nothing.
    """

    fps: float
    _weights: np.ndarray = field(default_factory=lambda: np.zeros((0, 67), np.float32))
    _offset: int = 0   # network frame index of _weights[0]
    next_frame: int = 0

    def push(self, weights: np.ndarray, last: bool = False) -> np.ndarray:
        self._weights = np.concatenate([self._weights, weights])
        total = self._offset + len(self._weights)
        if total == 0:
            return np.zeros((0, len(rig.ALL_CHANNELS)), np.float32)
        if last:
            end = int(np.ceil(total * self.fps / FRAME_RATE - 1e-9))
        else:  # frames at k/fps <= the newest network frame: what they read is here
            end = int(np.floor((total - 1) * self.fps / FRAME_RATE + 1e-9)) + 1
        ks = np.arange(self.next_frame, max(end, self.next_frame))
        full = _interpolate(self._weights, ks * FRAME_RATE / self.fps - self._offset)
        self.next_frame += len(ks)
        keep_from = int(np.floor(self.next_frame * FRAME_RATE / self.fps)) - self._offset - 1
        keep_from = min(max(0, keep_from), len(self._weights))
        self._weights, self._offset = self._weights[keep_from:], self._offset + keep_from
        return full
