"""One utterance's face, sentence by sentence, on the utterance's audio clock.

Speech arrives a sentence at a time; frame k of the utterance sits at ``k / fps`` seconds
from its first audio sample. Each sentence gets exactly the frames whose time falls inside
its audio, so the streamed frames are the same as animating the whole utterance at once, and
the frames cover the audio to within one frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from . import procedural
from .layers import LifeLayer, apply_emotion, emotion_vector
from .phonemes import PhonemeSpan, to_viseme_spans


@dataclass(slots=True)
class AnimatedSegment:
    """A sentence's audio (source rate) with the frames that fall inside it."""

    pcm: np.ndarray
    rate: int
    start_sample: int
    first_frame: int
    frames: np.ndarray  # (n, len(rig.ALL_CHANNELS))


@dataclass
class SpeechAnimator:
    """Procedural animator + emotion + life layers for one utterance.

    ``life_offset`` places the utterance on the session's life clock, so blinks and gaze
    continue across utterances and idle periods without a jump.
    """

    fps: float = 60.0
    emotion: str | Mapping[str, float] | None = None
    life: LifeLayer | None = None
    life_offset: float = 0.0
    config: procedural.ProceduralConfig = field(default_factory=procedural.ProceduralConfig)
    _samples: int = field(default=0, init=False)
    _rate: int | None = field(default=None, init=False)
    _next_frame: int = field(default=0, init=False)
    _emotion: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._emotion = emotion_vector(self.emotion)

    @property
    def duration(self) -> float:
        return self._samples / float(self._rate or 1)

    def add(self, pcm: np.ndarray, rate: int, phonemes: Sequence[PhonemeSpan],
            lang: str | None = None, alphabet: str = "ipa") -> AnimatedSegment:
        """Animate the next sentence; its phoneme times are relative to its first sample."""
        if self._rate is None:
            self._rate = rate
        elif rate != self._rate:
            raise ValueError(f"sample rate changed within an utterance ({self._rate} → {rate})")
        start = self._samples
        self._samples += len(pcm)
        t0, t1 = start / rate, self._samples / rate
        first = self._next_frame
        last = max(first, math.ceil(t1 * self.fps - 1e-9))
        self._next_frame = last
        times = np.arange(first, last, dtype=np.float64) / self.fps
        frames = self.frames_for(pcm, rate, phonemes, times - t0, times, lang, alphabet)
        return AnimatedSegment(np.asarray(pcm, dtype=np.float32), rate, start, first, frames)

    def frames_for(self, pcm: np.ndarray, rate: int, phonemes: Sequence[PhonemeSpan],
                   local: np.ndarray, utt_times: np.ndarray, lang: str | None,
                   alphabet: str) -> np.ndarray:
        spans = to_viseme_spans(phonemes, alphabet=alphabet, lang=lang)
        loud = procedural.loudness(pcm, rate, local)
        full = procedural.animate(spans, local, loud, self.config)
        full = apply_emotion(full, self._emotion, utt_times)
        if self.life is not None:
            full = self.life.apply(full, self.life_offset + utt_times)
        return full
