"""Training clips: TTS speech with exact phoneme timings → 16 kHz audio + teacher curves.

The procedural animator is the teacher: given the timings the synthesizer itself reports,
its curves are exact for that audio. The network then learns to produce them from the audio
alone. Speech comes from a caller-supplied synthesizer (the server's TTS providers, wired in
by the CLI) so this package stays free of I/O and of ``bridge``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Protocol, Sequence

import numpy as np

from blendshape import rig
from blendshape.animator import SpeechAnimator
from blendshape.net.features import FRAME_RATE, SAMPLE_RATE, resample
from blendshape.phonemes import PhonemeSpan

#: Columns the network predicts: the 52 ARKit weights, then the 15 viseme weights.
TARGET_CHANNELS: tuple[str, ...] = rig.NETWORK_CHANNELS
_TARGET_COLUMNS = rig.column_indices(TARGET_CHANNELS)


class SentenceAudio(Protocol):
    """What a TTS provider yields per sentence (``bridge.speech.tts.base.SpeechChunk``)."""

    pcm: np.ndarray
    rate: int
    phonemes: list[PhonemeSpan]
    lang: str | None
    alphabet: str


@dataclass
class Clip:
    """One utterance for training: audio at 16 kHz and targets at 100 frames a second."""

    audio: np.ndarray      # float32, 16 kHz
    targets: np.ndarray    # (n_frames, 67) float32: arkit52 + visemes
    voice: str
    lang: str
    text: str

    @property
    def duration(self) -> float:
        return len(self.audio) / SAMPLE_RATE


def build_clip(sentences: Iterable[SentenceAudio], voice: str, lang: str, text: str) -> Clip:
    """Concatenate a text's sentences and compute the teacher's frames for them."""
    animator = SpeechAnimator(fps=FRAME_RATE)  # no life, no emotion: curves of speech alone
    pcm: list[np.ndarray] = []
    frames: list[np.ndarray] = []
    rate = SAMPLE_RATE
    for chunk in sentences:
        segment = animator.add(chunk.pcm, chunk.rate, chunk.phonemes, chunk.lang, chunk.alphabet)
        pcm.append(segment.pcm)
        frames.append(segment.frames)
        rate = chunk.rate
    if not pcm:
        raise ValueError(f"no speech for {text!r}")
    audio = resample(np.concatenate(pcm), rate)
    targets = np.concatenate(frames)[:, _TARGET_COLUMNS]
    n = min(len(targets), len(audio) // (SAMPLE_RATE // FRAME_RATE))
    return Clip(audio, targets[:n].astype(np.float32), voice, lang, text)


def save_shard(path: str, clips: Sequence[Clip]) -> None:
    """Clips in one ``.npz``: audio as float16 halves the size, far below audible change."""
    offsets_a = np.cumsum([0] + [len(c.audio) for c in clips])
    offsets_t = np.cumsum([0] + [len(c.targets) for c in clips])
    np.savez_compressed(
        path,
        audio=np.concatenate([c.audio for c in clips]).astype(np.float16),
        targets=np.concatenate([c.targets for c in clips]).astype(np.float16),
        audio_offsets=offsets_a, target_offsets=offsets_t,
        voices=np.array([c.voice for c in clips]), langs=np.array([c.lang for c in clips]),
        texts=np.array([c.text for c in clips]),
    )


def load_shard(path: str) -> list[Clip]:
    # Each item access of an NpzFile decompresses that array again: read every array once.
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    audio, targets = arrays["audio"].astype(np.float32), arrays["targets"].astype(np.float32)
    a, t = arrays["audio_offsets"], arrays["target_offsets"]
    return [Clip(audio[a[i]:a[i + 1]], targets[t[i]:t[i + 1]], str(arrays["voices"][i]),
                 str(arrays["langs"][i]), str(arrays["texts"][i]))
            for i in range(len(a) - 1)]
