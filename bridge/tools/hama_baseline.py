"""A phoneme recognizer's timings driving the procedural animator: ``talkbridge eval``'s
``hama_procedural`` baseline.

The other way to lip-sync audio without a network trained for faces: recognize phonemes
(hama's CTC model, which ships its weights in the wheel and runs offline on the CPU), then
animate them as if a TTS engine had reported them. It is an optional evaluation dependency
(``pip install talkbridge[eval]``).

CTC emits each phoneme at one 20 ms frame somewhere inside it, and blanks between; hama's own
spans run from one emission to the next, which puts every phoneme late by about half its
length and stretches the last one of a word over the pause after it. Here each phoneme
instead runs from midway after the emission before to midway before the one after, and no
further than ``REACH`` from its own emission; what is left is silence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from blendshape.animator import SpeechAnimator
from blendshape.phonemes import PhonemeSpan, ipa_visemes

#: How far (s) a phoneme reaches either side of its CTC emission at most: about half a
#: long vowel, so a lone emission before a pause doesn't hold the mouth through the pause.
REACH = 0.09
#: Tokens that are a pause.
_PAUSES = {" ", ",", "<wb>"}
#: Symbols hama writes that our IPA table reads under another name.
_ALIASES = {"ᵊ": "ə", "˞": "ɚ"}


class HamaMissing(RuntimeError):
    """hama is not installed: pip install 'talkbridge[eval]'."""


@dataclass(frozen=True, slots=True)
class Emission:
    """A phoneme symbol the recognizer emitted, and when (the middle of its frame, s)."""

    symbol: str
    time: float


def load_recognizer() -> Any:
    """hama's phoneme recognizer (weights from the wheel: nothing is downloaded)."""
    try:
        import hama
    except ImportError as exc:
        raise HamaMissing("hama is not installed: pip install 'talkbridge[eval]'") from exc
    return hama.ASRModel()


def emissions(recognizer: Any, pcm: np.ndarray, rate: int) -> list[Emission]:
    """The phonemes hama hears in ``pcm``, each at the middle of its CTC frame."""
    from hama.asr import ASR_OUTPUT_FRAME_SAMPLES

    frame = ASR_OUTPUT_FRAME_SAMPLES / recognizer.model_sample_rate
    result = recognizer.transcribe_waveform(np.asarray(pcm, dtype=np.float32), rate)
    return [Emission(s.phoneme, (s.start_frame + 0.5) * frame)
            for s in recognizer.phoneme_spans(result)]


def _is_mark(symbol: str) -> bool:
    """A token with no mouth shape of its own: length, tone, a lone diacritic, ``<unk>``."""
    if symbol in _PAUSES or symbol in _ALIASES:
        return False
    return symbol.startswith("<") or ipa_visemes(symbol, "en") == ["sil"]


def phonemes(emitted: Sequence[Emission], reach: float = REACH) -> list[PhonemeSpan]:
    """Timed IPA phonemes from CTC emissions (see the module's docstring).

    A mark (``ː``, ``ʰ``, a tone, ``<unk>``) is dropped, its frame shared by its neighbours;
    a pause token is silence. So every symbol hama can emit reaches the animator as a
    phoneme it knows or as a pause, never as an unknown that would read as silence.
    """
    kept = [Emission(_ALIASES.get(e.symbol, e.symbol), e.time)
              for e in emitted if not _is_mark(e.symbol)]
    spans = []
    for i, e in enumerate(kept):
        if e.symbol in _PAUSES:
            continue
        before = kept[i - 1].time if i else -np.inf
        after = kept[i + 1].time if i + 1 < len(kept) else np.inf
        start = max(0.5 * (before + e.time), e.time - reach, 0.0)
        spans.append(PhonemeSpan(e.symbol, start, min(0.5 * (e.time + after), e.time + reach)))
    return spans


def animate(recognizer: Any, pcm: np.ndarray, rate: int, fps: float) -> np.ndarray:
    """Full frames of the procedural animator on what hama hears (English IPA)."""
    spans = phonemes(emissions(recognizer, pcm, rate))
    return SpeechAnimator(fps=fps).add(pcm, rate, spans, lang="en", alphabet="ipa").frames
