"""Phoneme → Oculus viseme mapping for IPA (espeak-ng and Piper), ARPAbet and flite phones.

TTS engines report phonemes in different alphabets and granularities: espeak-ng gives one
event per phoneme with stress and length marks attached (``ˈaɪ``), Piper one token per
code point (``t`` ``ʃ`` ``ˈ`` ``ɔ`` ``ː``), flite lowercase ARPAbet. Everything is reduced
here to timed viseme spans, so the animator never sees an alphabet.

The base IPA table follows the Oculus viseme reference (PROTOCOLS.md §7); per-language
overrides fix the symbols whose lip shape differs by language (French /ɔ/ rounds, English
/ɔː/ as in "bought" opens).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: Marks that carry no mouth shape of their own: stress, length, tone, syllable marks,
#: palatalization, aspiration (``ʲ``, ``ʰ``), and the ASCII marks espeak-ng leaks where a
#: language's IPA table lacks a symbol (Estonian ``t^``, Scots English ``a:``, Oromo ``t```,
#: Icelandic ``l#``, Māori ``u"``).
_PROSODIC = set("ˈˌːˑ'-‿.|‖↗↘˥˦˧˨˩¹²³⁴⁵0123456789ᵝ̩̯ʲʷʰ^:`#\"")
_STRESS = set("ˈˌ")
#: Syllable breaks and tone letters, which Kokoro's and Piper's code-point tokens can carry.
_SYLLABLE = set(".˥˦˧˨˩")
#: Tokens that end a phrase: a following syllable mark is punctuation, not a break.
_PUNCTUATION = set(".,;:!?…")
_LENGTH = set("ːˑ")
#: Tokens that mean a pause or an utterance boundary.
_SILENCE = {"", " ", "_", "^", "$", "#", "sil", "sp", "spn", "pau", "h#", ",", ".", "!", "?",
            ";", ":", "…", "—", "-", "|", "‖", "¡", "¿", "\"", "«", "»"}

#: Two-symbol consonants read as one: affricates. Longest first.
_AFFRICATES = ("tʃ", "dʒ", "ts", "dz", "tɕ", "dʑ", "tʂ", "dʐ", "pf", "tθ", "dð")

#: Symbols that stand for IPA ones: ligatures (``ʦ`` is ``ts``), and the ASCII names espeak-ng
#: leaks where a language's IPA table lacks one (Danish ``?``, Irish ``A``, Uzbek ``tS``, Sámi
#: ``Φ``). Read as the IPA they mean, they get its viseme, affricate and glottal rules.
_ALIASES = str.maketrans({"ʦ": "ts", "ʣ": "dz", "ʧ": "tʃ", "ʤ": "dʒ", "S": "ʃ", "Z": "ʒ",
                          "A": "ɑ", "?": "ʔ", "Φ": "ɸ"})

#: Glottals take the mouth shape of their neighbours instead of one of their own.
TRANSPARENT = frozenset("hɦʔ")

#: A diphthong's second element after a vowel (English oʊ, əʊ, aʊ) rounds the lips further
#: than the lone vowel does (ʊ in "book" → oh): it is the pucker of ARPAbet's OW and AW
#: offglides. Without this, espeak and Piper taught "oh" where flite's timings say "ou".
OFFGLIDES: dict[str, str] = {"ʊ": "ou"}

IPA_VISEMES: dict[str, str] = {
    # bilabials
    "p": "PP", "b": "PP", "m": "PP", "ɓ": "PP", "ʙ": "PP", "ɸ": "PP", "β": "PP",
    # labiodentals
    "f": "FF", "v": "FF", "ʋ": "FF", "ɱ": "FF", "pf": "FF",
    # dentals
    "θ": "TH", "ð": "TH", "tθ": "TH", "dð": "TH",
    # alveolar stops and taps
    "t": "DD", "d": "DD", "ɾ": "DD", "ʈ": "DD", "ɖ": "DD", "ɗ": "DD", "ɽ": "DD",
    # velars, uvulars, pharyngeals
    "k": "kk", "g": "kk", "ɡ": "kk", "ŋ": "kk", "x": "kk", "ɣ": "kk", "q": "kk", "ɢ": "kk",
    "χ": "kk", "ʁ": "kk", "ħ": "kk", "ʕ": "kk", "c": "kk", "ɟ": "kk", "ɰ": "kk",
    # post-alveolars, alveolo-palatals, retroflex sibilants
    "tʃ": "CH", "dʒ": "CH", "ʃ": "CH", "ʒ": "CH", "tɕ": "CH", "dʑ": "CH", "ɕ": "CH",
    "ʑ": "CH", "ʂ": "CH", "ʐ": "CH", "tʂ": "CH", "dʐ": "CH", "ç": "CH", "ʝ": "CH",
    # alveolar sibilants
    "s": "SS", "z": "SS", "ts": "SS", "dz": "SS", "ɬ": "SS", "ɮ": "SS",
    # nasals and laterals
    "n": "nn", "l": "nn", "ɲ": "nn", "ɳ": "nn", "ɭ": "nn", "ʎ": "nn", "ɫ": "nn", "ɴ": "nn",
    "ɺ": "nn",
    # rhotics
    "r": "RR", "ɹ": "RR", "ɻ": "RR", "ʀ": "RR", "ɚ": "RR", "ɝ": "RR", "ɜ": "RR",
    # open vowels
    "a": "aa", "ɑ": "aa", "ɒ": "aa", "ä": "aa", "ɶ": "aa",
    # mid front and central vowels
    "e": "E", "ɛ": "E", "æ": "E", "ə": "E", "ʌ": "E", "ɐ": "E", "ɘ": "E", "ɞ": "E",
    # close front vowels and glides
    "i": "ih", "ɪ": "ih", "j": "ih", "ɨ": "ih", "ɤ": "ih", "ᵻ": "ih",
    # rounded mid vowels
    "o": "oh", "ɔ": "oh", "ʊ": "oh", "ø": "oh", "œ": "oh", "ɵ": "oh",
    # rounded close vowels and labial glides
    "u": "ou", "w": "ou", "ʍ": "ou", "ɥ": "ou", "y": "ou", "ʏ": "ou", "ɯ": "ou", "ʉ": "ou",
}

#: Symbols that are tones, not sounds, in a language's espeak-ng output: espeak-ng writes
#: Mandarin's rising tone (tone 2, 35) as ``ɜ`` after the syllable's vowel (人 ``ʐˈəɜn``, 学
#: ``ɕˈyɛɜ``; tones 1, 3 and 4 come as digits). Tones don't move the lips: such a symbol has
#: no shape, and its time stays with the vowel before it.
LANGUAGE_TONES: dict[str, str] = {"cmn": "ɜ", "zh": "ɜ"}

#: Per-language differences from the base table (keys: espeak-ng language codes, prefix match).
LANGUAGE_OVERRIDES: dict[str, dict[str, str]] = {
    # English "bought", "thought": /ɔː/ is the open AO of ARPAbet, not a rounded mid vowel.
    "en": {"ɔ": "aa", "ɜ": "RR", "ɐ": "E"},
    # German vocalic r (besser) opens like /a/; ɐ is not a schwa there.
    "de": {"ɐ": "aa"},
    # Mandarin (Standard Chinese). Sources: E. Lee & E. Zee, "Standard Chinese (Beijing)",
    # Journal of the International Phonetic Association 33(1), 2003, 109-112 (the IPA's
    # illustration: vowels i y u ɤ o a, apical [ɿ ʅ], rhotic ɚ); S. Duanmu, The Phonology of
    # Standard Chinese, 2nd ed., Oxford UP, 2007 (finals, rounding). What the lips do:
    #   b p m (espeak: p ph m)     → PP, sealed (bilabial stops and nasal)
    #   f                          → FF
    #   u, o, ü (y), -uo, -ou      → ou / oh, rounded (y: front but rounded, as u)
    #   e (ɤ; espeak "o-")         → E, unrounded mid: 饿 喝 个 open the jaw, no pucker
    #   -i after z c s (ɿ, "i̪")    → ih, spread and close (the dental apical vowel)
    #   -i after zh ch sh r (ʅ, "i.") → ih: the retroflex apical vowel, lips neutral
    #   er (ɚ, "ər")               → E then RR
    #   z c s (ts tsh s)           → SS; j q x (tɕ ɕ) and zh ch sh r (tʂ ʂ ʐ) → CH
    #   tones (digits; tone 2 as "ɜ", see LANGUAGE_TONES) → no shape
    # espeak writes the velar fricative as χ; retroflex ɻ (日) is a rhotic.
    "cmn": {"ɻ": "RR", "ɤ": "E"},
    "zh": {"ɻ": "RR", "ɤ": "E"},
    # Japanese /ɯ/ is compressed, closer to a neutral "u" than a pucker.
    "ja": {"ɯ": "ou"},
    # French /ʁ/ is uvular and leaves the lips free; the vowel around it shapes them.
    "fr": {"ʁ": "kk"},
    # Spanish intervocalic /β/ almost closes the lips.
    "es": {"β": "PP"},
}

#: ARPAbet (CMUdict, stress digits ignored) → viseme, from PROTOCOLS.md §7.
ARPABET_VISEMES: dict[str, str] = {
    "AA": "aa", "AE": "E", "AH": "E", "AX": "E", "AO": "aa", "AW": "oh", "AY": "aa",
    "B": "PP", "CH": "CH", "D": "DD", "DH": "TH", "EH": "E", "ER": "RR", "AXR": "RR",
    "EY": "E", "F": "FF", "G": "kk", "HH": "E", "IH": "ih", "IY": "ih", "JH": "CH",
    "K": "kk", "L": "nn", "M": "PP", "N": "nn", "NG": "kk", "OW": "oh", "OY": "oh",
    "P": "PP", "R": "RR", "S": "SS", "SH": "CH", "T": "DD", "TH": "TH", "UH": "oh",
    "UW": "ou", "V": "FF", "W": "ou", "Y": "ih", "Z": "SS", "ZH": "CH",
    "IX": "ih", "UX": "ou", "DX": "DD", "EL": "nn", "EM": "PP", "EN": "nn", "NX": "nn",
    "Q": "sil", "SIL": "sil", "SP": "sil", "SPN": "sil", "PAU": "sil", "H#": "sil",
}

#: ARPAbet diphthongs whose second target visibly changes the mouth.
_ARPABET_GLIDES: dict[str, tuple[str, str]] = {
    "AW": ("aa", "ou"), "AY": ("aa", "ih"), "OY": ("oh", "ih"), "EY": ("E", "ih"),
    "OW": ("oh", "ou"),
}

BILABIAL_VISEME = "PP"
#: Fraction of a diphthong's duration spent on its first target.
_DIPHTHONG_FIRST = 0.55


@dataclass(frozen=True, slots=True)
class PhonemeSpan:
    """A phoneme with its time in seconds, as a TTS engine reports it."""

    phoneme: str
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class VisemeSpan:
    """A viseme target held from ``start`` to ``end`` (seconds).

    ``closure`` marks bilabial stops and nasals, whose lips must meet however short they are.
    """

    viseme: str
    start: float
    end: float
    phoneme: str = ""
    closure: bool = False

    @property
    def center(self) -> float:
        return 0.5 * (self.start + self.end)


class UnknownPhonemeError(ValueError):
    """A phoneme symbol no table covers (only raised in strict mode)."""


def _strip_marks(symbol: str) -> str:
    """Drop stress, length, tone and combining diacritics (nasal tilde, breve...); read
    ligatures and espeak-ng's leaked ASCII names as the IPA they mean."""
    decomposed = unicodedata.normalize("NFD", symbol)
    return "".join(
        ch for ch in decomposed if ch not in _PROSODIC and unicodedata.category(ch) != "Mn"
    ).translate(_ALIASES)


def _tones_for(lang: str | None) -> str:
    if not lang:
        return ""
    code = lang.lower().replace("_", "-")
    return next((tones for key, tones in LANGUAGE_TONES.items()
                 if code == key or code.startswith(key + "-")), "")


def _table_for(lang: str | None) -> dict[str, str]:
    if not lang:
        return IPA_VISEMES
    code = lang.lower().replace("_", "-")
    for key, overrides in LANGUAGE_OVERRIDES.items():
        if code == key or code.startswith(key + "-"):
            return {**IPA_VISEMES, **overrides}
    return IPA_VISEMES


def _split_symbols(core: str) -> list[str]:
    """Split a mark-free IPA string into phoneme symbols, affricates kept whole.

    espeak-ng writes aspiration as a trailing ``h`` (Mandarin ``tɕh``); it is dropped,
    because aspiration does not change the lips.
    """
    out: list[str] = []
    i = 0
    while i < len(core):
        pair = core[i:i + 2]
        if pair in _AFFRICATES:
            out.append(pair)
            i += 2
            continue
        ch = core[i]
        if ch == "h" and out and out[-1] not in _VOWELS:
            i += 1  # aspiration
            continue
        out.append(ch)
        i += 1
    return out


_VOWELS = frozenset(
    k for k, v in IPA_VISEMES.items() if v in {"aa", "E", "ih", "oh", "ou"} and k not in "jwʍɥ"
)


def ipa_visemes(symbol: str, lang: str | None = None, strict: bool = False,
                after_vowel: bool = False) -> list[str]:
    """Visemes for one IPA phoneme as a TTS engine names it (``ˈaʊ`` → ``["aa", "ou"]``).

    An empty list means the symbol is transparent (a glottal): it takes its neighbours' shape.
    Silence and pauses give ``["sil"]``. Unknown symbols give ``["sil"]`` unless ``strict``.
    ``after_vowel``: the phoneme before ended in a vowel, so a leading ``ʊ`` is an offglide
    (Piper reports ``o`` and ``ʊ`` of "go" as two tokens).
    """
    return _ipa(symbol, lang, strict, after_vowel)[0]


def _ipa(symbol: str, lang: str | None, strict: bool, after_vowel: bool) -> tuple[list[str], bool]:
    """:func:`ipa_visemes`, and whether the symbol ends in a vowel (a glottal ends none)."""
    if symbol.strip() in _SILENCE or all(ch in _PROSODIC for ch in symbol):
        return ["sil"], False
    if symbol.startswith("(") and symbol.endswith(")"):
        return [], False  # espeak-ng's language-switch marker, e.g. "(en)"
    table = _table_for(lang)
    if "o-" in symbol and _tones_for(lang):  # espeak-ng's Mandarin ɤ (饿 ˈo-5): unrounded
        symbol = symbol.replace("o-", "ɤ")
    core = _strip_marks(symbol)
    tones = _tones_for(lang)
    if tones and core and all(ch in tones for ch in core):
        return [], after_vowel  # a tone: no shape of its own (to_viseme_spans gives its time back)
    core = "".join(ch for ch in core if ch not in tones)
    if not core:
        return ["sil"], False
    visemes: list[str] = []
    for sym in _split_symbols(core):
        if sym in TRANSPARENT:
            after_vowel = False
            continue
        vis = OFFGLIDES.get(sym) if after_vowel else None
        after_vowel = sym in _VOWELS
        vis = vis or table.get(sym)
        if vis is None:
            if strict:
                raise UnknownPhonemeError(f"no viseme for {sym!r} (in {symbol!r}, lang={lang})")
            vis = "sil"
        if not visemes or visemes[-1] != vis:
            visemes.append(vis)
    return visemes, after_vowel


def arpabet_visemes(symbol: str, strict: bool = False) -> list[str]:
    """Visemes for an ARPAbet or flite phone (``AY1`` → ``["aa", "ih"]``, ``pau`` → sil)."""
    core = re.sub(r"\d", "", symbol.strip()).upper()
    if not core:
        return ["sil"]
    if core in _ARPABET_GLIDES:
        return list(_ARPABET_GLIDES[core])
    if core == "HH":
        return []
    vis = ARPABET_VISEMES.get(core)
    if vis is None:
        if strict:
            raise UnknownPhonemeError(f"no viseme for ARPAbet {symbol!r}")
        return ["sil"]
    return [vis]


def is_pause(phoneme: str) -> bool:
    """A token that marks a pause or a boundary (``_``, ``,``, ``^``, an empty event), not a
    sound: where a sentence's phrases break, for placing its words on the audio."""
    return phoneme.strip() in _SILENCE


def merge_codepoint_tokens(spans: Sequence[PhonemeSpan]) -> list[PhonemeSpan]:
    """Re-join Piper's per-code-point tokens into phonemes.

    Piper aligns every code point, so a stress mark owns time before its vowel and a length
    mark time after it. Stress time goes to the next phoneme, length and combining marks to
    the previous one, and ``t`` + ``ʃ`` become one affricate. A syllable break or a tone
    letter inside a word (espeak-ng's Mandarin: ``ʂ.ɻ``) is timing, not a mouth shape: its time
    goes to the previous phoneme too, so the lips don't rest mid-word; a ``.`` before a space
    or at the end is a sentence's full stop and stays a rest. A word-boundary space splits
    its time between its neighbours: in connected speech the mouth doesn't rest between words.
    """
    out: list[PhonemeSpan] = []
    pending_start: float | None = None  # start time carried by stress marks / spaces
    spans = list(spans)
    for k, span in enumerate(spans):
        ph = span.phoneme
        start = span.start if pending_start is None else pending_start
        if ph and all(c in _STRESS for c in ph):
            pending_start = start
            continue
        mid_word = k + 1 < len(spans) and spans[k + 1].phoneme.strip() not in ("", *_SILENCE) \
            and spans[k + 1].phoneme not in _PUNCTUATION
        if ph and out and (all(c in _LENGTH for c in ph) or _is_combining(ph)
                           or (mid_word and all(c in _SYLLABLE for c in ph))):
            prev = out[-1]
            out[-1] = PhonemeSpan(prev.phoneme + ph, prev.start, span.end)
            pending_start = None
            continue
        if ph == " ":
            mid = 0.5 * (start + span.end)
            if out and out[-1].phoneme.strip() not in _SILENCE:
                prev = out[-1]
                out[-1] = PhonemeSpan(prev.phoneme, prev.start, mid)
                pending_start = mid
            else:
                pending_start = start
            continue
        if out and (out[-1].phoneme + ph) in _AFFRICATES and pending_start is None:
            prev = out[-1]
            out[-1] = PhonemeSpan(prev.phoneme + ph, prev.start, span.end)
            continue
        out.append(PhonemeSpan(ph, start, span.end))
        pending_start = None
    return out


def _is_combining(text: str) -> bool:
    return all(unicodedata.category(c) == "Mn" for c in text)


def to_viseme_spans(
    spans: Iterable[PhonemeSpan], alphabet: str = "ipa", lang: str | None = None
) -> list[VisemeSpan]:
    """Timed phonemes → timed visemes: diphthongs split, glottals absorbed by neighbours."""
    out: list[VisemeSpan] = []
    carry_start: float | None = None
    after_vowel = False
    for span in spans:
        if span.end <= span.start:
            continue
        if alphabet == "arpabet":
            visemes = arpabet_visemes(span.phoneme)
        else:
            visemes, after_vowel = _ipa(span.phoneme, lang, False, after_vowel)
        start = span.start if carry_start is None else carry_start
        if not visemes and out and _is_tone(span.phoneme, lang):  # the vowel's pitch: its time
            out[-1] = VisemeSpan(out[-1].viseme, out[-1].start, span.end, out[-1].phoneme,
                                 out[-1].closure)
            continue
        if not visemes:  # transparent glottal: its time belongs to the next phoneme
            carry_start = start
            continue
        carry_start = None
        out.extend(_split_span(span.phoneme, visemes, start, span.end))
    return out


def _is_tone(phoneme: str, lang: str | None) -> bool:
    tones = _tones_for(lang)
    core = _strip_marks(phoneme)
    return bool(tones and core) and all(ch in tones for ch in core)


def _split_span(phoneme: str, visemes: list[str], start: float, end: float) -> list[VisemeSpan]:
    if len(visemes) == 1:
        vis = visemes[0]
        return [VisemeSpan(vis, start, end, phoneme, vis == BILABIAL_VISEME)]
    dur = end - start
    first_end = start + dur * _DIPHTHONG_FIRST
    rest = (end - first_end) / (len(visemes) - 1)
    bounds = [start, first_end] + [first_end + rest * (i + 1) for i in range(len(visemes) - 1)]
    return [
        VisemeSpan(v, bounds[i], bounds[i + 1], phoneme, v == BILABIAL_VISEME)
        for i, v in enumerate(visemes)
    ]
