"""Offline rendering: a whole text to speech and face curves, for files.

Uses the same sentence-by-sentence animator as the server, so a file and a stream of the
same text (and seed) carry the same curves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from blendshape.animator import SpeechAnimator, wants_network
from blendshape.layers.gestures import GestureConfig
from blendshape.layers.life import LifeLayer
from bridge.speech.tts.registry import TTSRegistry


@dataclass
class Rendering:
    pcm: np.ndarray  # float32 mono, source rate
    rate: int
    frames: np.ndarray  # (n, len(rig.ALL_CHANNELS))
    fps: int
    voice: str
    phonemes: list[tuple[str, float, float]]  # (phoneme, start, end) on the utterance clock

    @property
    def duration(self) -> float:
        return len(self.pcm) / float(self.rate)


#: The network as ``say`` uses it: (pcm, rate, fps) → full frames; None: no weights loaded.
Network = Callable[[np.ndarray, int, int], "np.ndarray | None"]


def render(tts: TTSRegistry, text: str, voice: str | None = None, lang: str | None = None,
           fps: int = 60, emotion: str | Mapping[str, float] | None = None,
           seed: int = 0, animator: str = "auto", network: Network | None = None) -> Rendering:
    """``animator``: one of :data:`blendshape.animator.ANIMATORS`, which decides the sentences
    ``network`` hears (:func:`~blendshape.animator.wants_network`)."""
    provider, chosen = tts.resolve(voice, lang)
    # Gestures as the server makes them by default, so a file shows the face a client sees.
    face = SpeechAnimator(fps=fps, emotion=emotion, life=LifeLayer(seed=seed),
                          gestures=GestureConfig())
    pcm: list[np.ndarray] = []
    frames: list[np.ndarray] = []
    phonemes: list[tuple[str, float, float]] = []
    rate = 0
    for chunk in provider.synthesize(text, chosen):
        offset = face.duration
        wanted = network is not None and wants_network(animator, bool(chunk.phonemes))
        curves = network(chunk.pcm, chunk.rate, fps) if wanted else None
        segment = face.add(chunk.pcm, chunk.rate, chunk.phonemes, chunk.lang, chunk.alphabet,
                           curves=curves, curves_fps=float(fps), text=chunk.text)
        rate = chunk.rate
        pcm.append(segment.pcm)
        frames.append(segment.frames)
        phonemes.extend((p.phoneme, p.start + offset, p.end + offset) for p in chunk.phonemes)
    if not pcm:
        raise ValueError("the text produced no speech")
    return Rendering(np.concatenate(pcm), rate, np.concatenate(frames), fps, chosen.id, phonemes)


def write_wav(path: str, pcm: np.ndarray, rate: int) -> None:
    """16-bit mono WAV with the stdlib, so no audio library is needed to write one."""
    import wave

    data = (np.clip(pcm, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(data)
