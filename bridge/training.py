"""Wire the embedded TTS voices into the network's corpus builder (``talkbridge train``).

``blendshape.train`` knows nothing of providers; this module chooses the voices: espeak-ng
in nine languages with male and female variants, espeak-ng's MBROLA voices where they are
installed, and the Piper voice. flite and festival voices are never used here — they are how
``talkbridge eval`` checks that the network generalizes to speakers it never heard.

Why MBROLA: espeak's formant voices are one synthetic timbre in many disguises. The network
fit them (viseme agreement 0.78–0.80 on unseen sentences) and not voices cut from
recordings (0.39–0.52 on flite's and on MBROLA's, the same sentences). MBROLA's diphones
are recordings of real speakers, with espeak's exact timings.

Why Piper without duration noise: with Piper's default ``noise_w`` the teacher's curves
from its alignments matched its audio worse as the previous network heard it (same 8
sentences; jawOpen correlation 0.52 against 0.83, mean |lag| 3.3 frames against 0.4). An
acoustic check saw a smaller gap (36 closures between vowels: the quietest 5 ms fell in
the span 64 % against 69 % of the time), so this is a cleaner target, not a fixed bug.
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
#: Shares of the corpus's duration; without MBROLA voices, espeak takes theirs.
SHARES = {"espeak": 0.40, "mbrola": 0.40, "piper": 0.20}
#: MBROLA databases that lack many of the diphones espeak asks of them: MBROLA puts silence
#: there, which the teacher doesn't know of. Missing diphones per phoneme over 30–40 training
#: sentences each: es1 21 %, es3 26 %, it3 and it4 6 %, jp2 most; de8 16 % and vz1 16 % of
#: 30 sentences' phonemes came out silent. Kept: br1–br4 1.8–3 %, de1–de3 and their English
#: 0.4–1.7 %, ca2 0.9 %, the others (en1, us1–us3, fr1–fr7, ca1, de4–de7, af1-en, nl2-en,
#: gr2-en, hu1-en, ro1-en, ...) 0–0.5 %.
MBROLA_SKIP = ("es1", "es2", "es3", "es4", "it1", "it2", "it3", "it4", "jp1", "jp2", "jp3",
               "de8", "vz1")


def training_registry() -> TTSRegistry:
    """The embedded voices as the corpus uses them: Piper's duration noise off, MBROLA on."""
    from .speech.tts.espeak import EspeakTTS, MbrolaTTS
    from .speech.tts.piper import PiperTTS

    return TTSRegistry([PiperTTS(duration_noise=0.0), EspeakTTS(), MbrolaTTS()])


def _text_lang(lang: str) -> str:
    """An MBROLA voice's language → the corpus text's (``en-uk`` → ``en-gb``)."""
    return {"en-uk": "en-gb", "es-es": "es", "pt-br": "pt"}.get(lang, lang)


def mbrola_voices(registry: TTSRegistry):
    """(provider, voice, text lang) for each installed MBROLA voice; [] when there are none."""
    provider = registry.provider("mbrola")
    if provider is None:
        return []
    try:
        voices = provider.voices()
    except Exception as exc:  # noqa: BLE001 - no system espeak-ng: train without them
        log.warning("no MBROLA voices (%s): the corpus uses espeak and Piper only", exc)
        return []
    return [(provider, v, _text_lang(v.lang)) for v in voices
            if v.id.split(":")[-1] not in MBROLA_SKIP and _has_text(_text_lang(v.lang))]


def _has_text(lang: str) -> bool:
    try:
        next(sentences(lang))
    except KeyError:  # e.g. Dutch: its database still reads English as mb-nl2-en
        return False
    return True


def corpus_voices(registry: TTSRegistry):
    """(provider, voice, lang) for every espeak and Piper training voice."""
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
    """Clips until ``minutes`` of speech in the ``SHARES`` of espeak, MBROLA and Piper voices.

    ``progress(minutes made, minutes asked)`` is called after every clip.
    """
    espeak_voices, piper_voices = corpus_voices(registry)
    pools = {"espeak": espeak_voices, "mbrola": mbrola_voices(registry), "piper": piper_voices}
    rng = np.random.default_rng(seed)
    texts = {lang: sentences(lang, seed) for pool in pools.values() for _, _, lang in pool}
    budget = {kind: minutes * 60 * SHARES[kind] if pools[kind] else 0.0 for kind in pools}
    budget["espeak"] += minutes * 60 - sum(budget.values())
    clips: list[Clip] = []
    made = 0.0  # seconds, all kinds
    started = time.time()
    for kind, pool in pools.items():
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
