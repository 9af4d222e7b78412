"""Wire the embedded TTS voices into the network's corpus builder (``talkbridge train``).

``blendshape.train`` knows nothing of providers; this module chooses the voices: espeak-ng
in nine languages with male and female variants, espeak-ng's MBROLA voices where they are
installed, the Piper voice, and Kokoro-82M's voices where ``talkbridge[kokoro]`` is installed.
flite and festival voices are never used here — they are how ``talkbridge eval`` checks
that the network generalizes to speakers it never heard.

Why Kokoro: the network learns the speakers it has (model card), and the diphone databases
hold 40 of them. Kokoro's 54 voice vectors were learnt from recordings, and every Kokoro
clip here is spoken by a new speaker mixed from two or three of them, at 0.8–1.25× speed:
as many speakers as clips.

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
from bridge.speech.tts.registry import TTSRegistry

log = logging.getLogger(__name__)

ESPEAK_LANGS = ("en-us", "en-gb", "cmn", "es", "de", "fr-fr", "it", "pt", "ja")
ESPEAK_VARIANTS = ("", "+m1", "+m3", "+m7", "+f1", "+f2", "+f4")
#: Shares of the corpus's duration, by the model it trains; a kind that isn't installed
#: (MBROLA, Kokoro) gives its share to espeak. The realtime weights were trained before
#: Kokoro (a fine-tune of them on a corpus with it did not gain, see the model card); the
#: offline model's corpus is 43 % Kokoro.
SHARES = {"espeak": 0.40, "mbrola": 0.40, "piper": 0.20, "kokoro": 0.0}
OFFLINE_SHARES = {"espeak": 0.24, "mbrola": 0.24, "piper": 0.09, "kokoro": 0.43}
#: A Kokoro clip's speaker: a convex mix of this many of its voices, at a speed in this range.
KOKORO_MIX = (2, 3)
KOKORO_SPEED = (0.8, 1.25)
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
    from bridge.speech.tts.espeak import EspeakTTS, MbrolaTTS
    from bridge.speech.tts.kokoro import KokoroTTS
    from bridge.speech.tts.piper import PiperTTS

    return TTSRegistry([PiperTTS(duration_noise=0.0), EspeakTTS(), MbrolaTTS(), KokoroTTS()])


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


class KokoroMixes:
    """Kokoro as the corpus hears it: every clip a new speaker, mixed from 2–3 voices.

    ``synthesize(text, voice)`` reads ``text`` in ``voice.lang`` with ``voice`` mixed with one
    or two others drawn at random, in random proportions, at a random speed; the chunks name
    the mix (``meta["speaker"]``, ``kokoro:…``), which becomes the clip's voice.
    """

    name = "kokoro"

    def __init__(self, tts, rng: np.random.Generator) -> None:
        self.tts, self.rng = tts, rng

    def synthesize(self, text: str, voice):
        from bridge.speech.tts.kokoro import Speaker

        speakers = self.tts.speakers()
        others = [n for n in speakers if n != voice.name]
        count = int(self.rng.integers(KOKORO_MIX[0], KOKORO_MIX[1] + 1)) - 1
        names = [voice.name, *self.rng.choice(others, size=min(count, len(others)), replace=False)]
        mix = Speaker.mix([speakers[n] for n in names], self.rng.dirichlet(np.ones(len(names))))
        speed = float(self.rng.uniform(*KOKORO_SPEED))
        yield from self.tts.speak(text, Speaker(f"kokoro:{mix.name}", mix.vectors), voice.lang, speed)


def kokoro_voices(registry: TTSRegistry, rng: np.random.Generator):
    """(KokoroMixes, voice, lang) twice for each Kokoro voice: reading English, and its own
    language where the corpus has text for it and Kokoro's front end is espeak-ng (not for
    Japanese and Mandarin, which Kokoro reads through its own G2P); [] when not installed.
    Each entry's ``voice.lang`` is the language it reads."""
    from bridge.speech.tts.base import TTSError
    from bridge.speech.tts.kokoro import VOICES_ENV

    provider = registry.provider("kokoro")
    if provider is None:
        return []
    try:
        voices = provider.voices()
    except TTSError as exc:
        log.warning("no Kokoro voices (%s): the corpus goes without them", exc)
        return []
    if len(voices) < 54:
        log.warning("Kokoro: %d voices; for all 54, `npm pack kokoro-js@1.2.1 && tar xzf "
                    "kokoro-js-1.2.1.tgz` and set %s=$PWD/package/voices", len(voices), VOICES_ENV)
    mixes = KokoroMixes(provider, rng)
    pool = []
    for voice in voices:
        english = voice.lang if voice.lang.startswith("en") else "en-us"
        own = voice.lang if voice.lang.split("-")[0] in ("es", "fr", "it", "pt") else english
        pool += [(mixes, replace(voice, lang=lang), lang) for lang in (english, own)]
    readable = set()
    for lang in sorted({lang for _, _, lang in pool}):  # now, not 20 minutes into the corpus
        try:
            provider.phonemize("Hello.", lang)
            readable.add(lang)
        except TTSError as exc:
            log.warning("Kokoro voices won't read %s: %s", lang, exc)
    return [entry for entry in pool if entry[2] in readable]


def build_corpus(registry: TTSRegistry, minutes: float, seed: int = 0,
                 progress: Callable[[float, float], None] | None = None,
                 shares: dict[str, float] = SHARES) -> list[Clip]:
    """Clips until ``minutes`` of speech in ``shares`` of espeak, MBROLA, Piper and Kokoro voices.

    ``progress(minutes made, minutes asked)`` is called after every clip.
    """
    espeak_voices, piper_voices = corpus_voices(registry)
    rng = np.random.default_rng(seed)
    pools = {"espeak": espeak_voices, "mbrola": mbrola_voices(registry), "piper": piper_voices,
             "kokoro": kokoro_voices(registry, np.random.default_rng([seed, 1]))}
    texts = {lang: sentences(lang, seed) for pool in pools.values() for _, _, lang in pool}
    budget = {kind: minutes * 60 * shares[kind] if pools[kind] else 0.0 for kind in pools}
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
                chunks = list(provider.synthesize(text, voice))
                name = chunks[0].meta.get("speaker", voice.id) if chunks else voice.id
                clip = build_clip(chunks, name, lang, text)
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
