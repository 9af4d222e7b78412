"""Hanyu Pinyin syllables → the IPA phonemes :mod:`blendshape.phonemes` maps to visemes.

Chinese cloud voices (Tencent's ``TextToVoice`` subtitles, iFlytek's and Baidu's timestamps)
time each character and spell it in pinyin with a tone number (``ba4``, ``lü4``, ``shi2``);
this turns one syllable into its initial and its final in IPA, so the lips follow the
syllable's consonant and vowels. Tones move no lip and are dropped.

Sources for the sounds: E. Lee & E. Zee, "Standard Chinese (Beijing)", *Journal of the
International Phonetic Association* 33(1), 2003, 109-112; S. Duanmu, *The Phonology of
Standard Chinese*, 2nd ed., Oxford University Press, 2007. The apical "-i" after z c s is
[ɿ] (written ``i̪`` as espeak-ng does, spread lips), after zh ch sh r it is [ʅ] (``ɻ̩``); ü
is [y] (rounded); e is [ɤ] (unrounded) alone, [ɛ] after i/ü; er is [ɚ].
"""

from __future__ import annotations

import re

#: Initials, longest first where one is the prefix of another (zh before z).
INITIALS: dict[str, str] = {
    "zh": "tʂ", "ch": "tʂ", "sh": "ʂ", "b": "p", "p": "p", "m": "m", "f": "f", "d": "t",
    "t": "t", "n": "n", "l": "l", "g": "k", "k": "k", "h": "x", "j": "tɕ", "q": "tɕ",
    "x": "ɕ", "r": "ʐ", "z": "ts", "c": "ts", "s": "s", "y": "", "w": "",
}
#: Finals (after y/w are restored to i/u/ü spellings), each as its IPA sequence.
FINALS: dict[str, list[str]] = {
    "a": ["a"], "o": ["o"], "e": ["ɤ"], "ê": ["ɛ"], "er": ["ɚ"],
    "ai": ["a", "i"], "ei": ["e", "i"], "ao": ["a", "u"], "ou": ["o", "u"],
    "an": ["a", "n"], "en": ["ə", "n"], "ang": ["a", "ŋ"], "eng": ["ə", "ŋ"], "ong": ["u", "ŋ"],
    "i": ["i"], "ia": ["j", "a"], "ie": ["j", "ɛ"], "iao": ["j", "a", "u"], "iu": ["j", "o", "u"],
    "iou": ["j", "o", "u"], "ian": ["j", "ɛ", "n"], "in": ["i", "n"], "iang": ["j", "a", "ŋ"],
    "ing": ["i", "ŋ"], "iong": ["j", "u", "ŋ"],
    "u": ["u"], "ua": ["w", "a"], "uo": ["w", "o"], "uai": ["w", "a", "i"], "ui": ["w", "e", "i"],
    "uei": ["w", "e", "i"], "uan": ["w", "a", "n"], "un": ["w", "ə", "n"], "uen": ["w", "ə", "n"],
    "uang": ["w", "a", "ŋ"], "ueng": ["w", "ə", "ŋ"],
    "ü": ["y"], "üe": ["ɥ", "ɛ"], "üan": ["ɥ", "ɛ", "n"], "ün": ["y", "n"],
    "m": ["m"], "n": ["n"], "ng": ["ŋ"],  # syllabic nasals (呣 嗯)
}
_SYLLABLE = re.compile(r"^([a-zêü:]+?)([0-5]?)$")


class UnknownSyllable(ValueError):
    """Not a pinyin syllable this table knows."""


def syllable_phonemes(syllable: str) -> list[str]:
    """``"bao3"`` → ``["p", "a", "u"]``; ``"shi4"`` → ``["ʂ", "ɻ̩"]``; ``"lv4"`` → ``["l", "y"]``."""
    text = syllable.strip().lower().replace("u:", "ü").replace("v", "ü")
    match = _SYLLABLE.match(text)
    if not match or not match.group(1):
        raise UnknownSyllable(f"{syllable!r} is not a pinyin syllable")
    body = match.group(1)
    initial = next((i for i in sorted(INITIALS, key=len, reverse=True)
                    if body.startswith(i) and len(body) > len(i)), "")
    final = body[len(initial):]
    if initial == "y":  # yi ya ye yao you yan yin yang ying yong yu yue yuan yun
        final = {"i": "i", "in": "in", "ing": "ing", "u": "ü", "ue": "üe", "uan": "üan",
                 "un": "ün"}.get(final, "i" + final)
    elif initial == "w":  # wu wa wo wai wei wan wen wang weng
        final = final if final == "u" else "u" + final
    elif initial in ("j", "q", "x") and final.startswith("u"):
        final = "ü" + final[1:]  # ju = jü
    if final == "i" and initial in ("z", "c", "s"):
        return [INITIALS[initial], "i̪"]  # the dental apical vowel
    if final == "i" and initial in ("zh", "ch", "sh", "r"):
        return [INITIALS[initial], "ɻ̩"]  # the retroflex apical vowel
    if final not in FINALS:
        raise UnknownSyllable(f"{syllable!r}: no final {final!r}")
    head = [INITIALS[initial]] if INITIALS.get(initial) else []
    return head + FINALS[final]
