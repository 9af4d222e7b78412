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

from blendshape import procedural
from blendshape.layers.emotion import Emotion, EmotionTrack
from blendshape.layers.gestures import Gesture, GestureConfig, GestureTrack, plan_gestures
from blendshape.layers.gestures.prosody import analyse, voiced_span
from blendshape.layers.gestures.words import align_words
from blendshape.layers.life import LifeLayer
from blendshape.phonemes import PhonemeSpan, to_viseme_spans

#: What animates speech (``say --animator``, ``[session] animator``): "auto" the teacher on
#: the exact phoneme timings a voice reports and the network for a voice without them;
#: "network" the network always; "procedural" never the network.
ANIMATORS = ("auto", "network", "procedural")


def wants_network(animator: str, timed: bool) -> bool:
    """Should the network hear this sentence's audio? ``timed``: the voice gave timings.

    Where it gives nothing (no weights), the timings still animate the sentence."""
    return animator == "network" or (animator == "auto" and not timed)


@dataclass(slots=True)
class AnimatedSegment:
    """A sentence's audio (source rate) with the frames that fall inside it."""

    pcm: np.ndarray
    rate: int
    start_sample: int
    first_frame: int
    frames: np.ndarray  # (n, len(rig.ALL_CHANNELS))
    #: The sentence's gestures on the utterance clock (their head and brow part is in frames).
    gestures: list[Gesture] = field(default_factory=list)


@dataclass
class SpeechAnimator:
    """Procedural animator + emotion + life layers for one utterance.

    ``life_offset`` places the utterance on the session's life clock, so blinks and gaze
    continue across utterances and idle periods without a jump. The emotion ramps from
    ``emotion_from`` (the face's emotion when the utterance starts; neutral by default) to
    ``emotion`` over ``emotion_ramp`` seconds, and :meth:`set_emotion` can change it at any
    later moment of the utterance. Speech loudness also drives small head nods.

    With ``gestures`` (a :class:`GestureConfig`) each sentence given its ``text`` is also
    read for gestures — a nod on "yes", a tilt over a question — placed on its words and
    drawn into the head and brow curves over the life layer.
    """

    fps: float = 60.0
    emotion: str | Mapping[str, float] | None = None
    life: LifeLayer | None = None
    life_offset: float = 0.0
    config: procedural.ProceduralConfig = field(default_factory=procedural.ProceduralConfig)
    emotion_ramp: float = 0.3
    emotion_from: Emotion = None
    gestures: GestureConfig | None = None
    _samples: int = field(default=0, init=False)
    _rate: int | None = field(default=None, init=False)
    _next_frame: int = field(default=0, init=False)
    emotions: EmotionTrack = field(init=False, repr=False)
    track: GestureTrack = field(default_factory=GestureTrack, init=False, repr=False)

    def __post_init__(self) -> None:
        self.emotions = EmotionTrack(ramp=self.emotion_ramp, initial=self.emotion_from)
        self.emotions.set(self.emotion, at=0.0)
        self._mood: str | Mapping[str, float] | None = self.emotion  # what gestures follow

    def set_emotion(self, emotion: Emotion, at: float) -> None:
        """Ramp to ``emotion`` from ``at`` seconds into the utterance (its audio clock).

        Frames already returned keep the emotion they had; a time in the past takes effect
        from the next frame animated.
        """
        self.emotions.set(emotion, at)
        if emotion is None or isinstance(emotion, (str, Mapping)):
            self._mood = emotion

    @property
    def duration(self) -> float:
        return self._samples / float(self._rate or 1)

    def add(self, pcm: np.ndarray, rate: int, phonemes: Sequence[PhonemeSpan],
            lang: str | None = None, alphabet: str = "ipa", curves: np.ndarray | None = None,
            curves_fps: float = 60.0, columns: np.ndarray | None = None,
            text: str = "") -> AnimatedSegment:
        """Animate the next sentence; its phoneme times are relative to its first sample.

        ``curves`` are frames from another source (the network for a voice without
        timings, a cloud voice's own blendshapes) at ``curves_fps`` from the sentence's
        first sample; they replace the procedural values in ``columns`` (all when None),
        and the emotion and life layers still apply on top.
        """
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
        gestures = self._plan(text, pcm, rate, phonemes, t0, t1)
        frames = self.frames_for(pcm, rate, phonemes, times - t0, times, lang, alphabet,
                                 (curves, curves_fps, columns) if curves is not None else None)
        return AnimatedSegment(np.asarray(pcm, dtype=np.float32), rate, start, first, frames,
                               gestures)

    def _plan(self, text: str, pcm: np.ndarray, rate: int, phonemes: Sequence[PhonemeSpan],
              t0: float, t1: float) -> list[Gesture]:
        """The sentence's gestures on the utterance clock, added to the track that draws them."""
        config = self.gestures
        if config is None or not config.enabled or not text.strip():
            return []
        prosody = analyse(pcm, rate)
        words = align_words(text, phonemes, voiced_span(prosody))
        planned = [g.shifted(t0) for g in plan_gestures(text, words, prosody, self._mood,
                                                        config, end=t1 - t0)]
        if config.curves:
            self.track.add(planned)
        return planned

    def frames_for(self, pcm: np.ndarray, rate: int, phonemes: Sequence[PhonemeSpan],
                   local: np.ndarray, utt_times: np.ndarray, lang: str | None,
                   alphabet: str,
                   source: tuple[np.ndarray, float, np.ndarray | None] | None = None
                   ) -> np.ndarray:
        spans = to_viseme_spans(phonemes, alphabet=alphabet, lang=lang)
        loud = procedural.loudness(pcm, rate, local)
        full = procedural.animate(spans, local, loud, self.config)
        if source is not None and len(source[0]) and len(full):
            curves, fps, columns = source
            pick = np.clip(np.round(local * fps).astype(int), 0, len(curves) - 1)
            if columns is None:
                full[:, :curves.shape[1]] = curves[pick]
            else:
                full[:, columns] = curves[pick]
        full = self.emotions.apply(full, utt_times)
        if self.life is not None:
            full = self.life.apply(full, self.life_offset + utt_times, loudness=loud)
        if self.track.gestures:
            full = self.track.apply(full, utt_times)
        return full
