"""Wire the embedded TTS voices into the network's corpus builder (``talkbridge train``).

``blendshape.train`` knows nothing of providers; this module chooses the voices: espeak-ng
in nine languages with male and female variants, and the Piper voice. flite and festival
voices are never used here — they are how ``talkbridge eval`` checks that the network
generalizes to speakers it never heard.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import replace
from typing import Callable

import numpy as np

from blendshape.train.corpus import Clip, build_clip
from blendshape.train.texts import sentences

from .speech.tts.registry import TTSRegistry

log = logging.getLogger(__name__)

ESPEAK_LANGS = ("en-us", "en-gb", "cmn", "es", "de", "fr-fr", "it", "pt", "ja")
ESPEAK_VARIANTS = ("", "+m1", "+m3", "+m7", "+f1", "+f2", "+f4")
PIPER_SHARE = 0.3  # of the corpus's duration


def corpus_voices(registry: TTSRegistry):
    """(provider, voice, lang) for every training voice."""
    voices = []
    for lang in ESPEAK_LANGS:
        provider, base = registry.resolve(voice=f"espeak:{lang}")
        for variant in ESPEAK_VARIANTS:
            voices.append((provider, replace(base, id=base.id + variant, name=base.name + variant), lang))
    piper = [(p, v, v.lang) for p, v in (registry.resolve(voice=x.id) for x in registry.voices()
                                         if x.provider == "piper")]
    return voices, piper


def build_corpus(registry: TTSRegistry, minutes: float, seed: int = 0,
                 progress: Callable[[float, float], None] | None = None) -> list[Clip]:
    """Clips until ``minutes`` of speech, ~30 % Piper, the rest spread over espeak voices.

    ``progress(minutes made, minutes asked)`` is called after every clip.
    """
    espeak_voices, piper_voices = corpus_voices(registry)
    rng = np.random.default_rng(seed)
    texts = {lang: sentences(lang, seed) for lang in {v[2] for v in espeak_voices + piper_voices}}
    budget = {"piper": minutes * 60 * PIPER_SHARE if piper_voices else 0.0}
    budget["espeak"] = minutes * 60 - budget["piper"]
    clips: list[Clip] = []
    made = 0.0  # seconds, all kinds
    started = time.time()
    for kind, pool in (("espeak", espeak_voices), ("piper", piper_voices)):
        total = 0.0
        for provider, voice, lang in itertools.cycle(pool) if pool else ():
            if total >= budget[kind]:
                break
            text = " ".join(next(texts[lang]) for _ in range(int(rng.integers(1, 3))))
            try:
                clip = build_clip(provider.synthesize(text, voice), voice.id, lang, text)
            except ValueError:
                continue
            clips.append(clip)
            total += clip.duration
            made += clip.duration
            if progress is not None:
                progress(round(min(made / 60, minutes), 1), minutes)
        log.info("%s: %.1f min in %d clips (%.0f s)", kind, total / 60,
                 sum(c.voice.startswith(kind) for c in clips), time.time() - started)
    return clips
