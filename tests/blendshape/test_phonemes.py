"""Phoneme → viseme tables against what the real TTS engines emit."""

from __future__ import annotations

import pytest

from blendshape import rig
from blendshape.phonemes import (
    ARPABET_VISEMES,
    PhonemeSpan,
    arpabet_visemes,
    ipa_visemes,
    merge_codepoint_tokens,
    to_viseme_spans,
)

SAMPLES = {
    "en-us": "Papa bought a big blue boat. The quick brown fox jumps over the lazy dog. "
             "She measured the church judge's thin ring.",
    "cmn": "你好，我们今天去北京。日出时，四十只小鸟在树上唱歌。",
    "es": "Hola, ¿cómo estás? El perro corre rápido por la calle. Llueve mucho en junio.",
    "de": "Guten Tag, schöne Grüße aus München. Pfeife zwei Zigaretten. Ich lache über Bücher.",
    "fr-fr": "Bonjour, un bon vin blanc. Je suis heureux de voir le grand château rouge.",
    "ja": "こんにちは、ありがとうございます。東京で寿司を食べました。",
    "et": "Kass sööb tädi juures. Palju õnne, ema ja isa!",  # palatalized s^ d^
}


@pytest.mark.parametrize("lang", sorted(SAMPLES))
def test_every_espeak_phoneme_has_a_viseme(espeak, registry, lang):
    _, voice = registry.resolve(voice=f"espeak:{lang}")
    chunks = list(espeak.synthesize(SAMPLES[lang], voice))
    symbols = {p.phoneme for c in chunks for p in c.phonemes}
    assert len(symbols) > 10
    for symbol in symbols:
        ipa_visemes(symbol, lang, strict=True)  # raises on a gap in the table


def test_every_piper_phoneme_has_a_viseme(piper):
    voice = piper.voices()[0]
    for chunk in piper.synthesize(SAMPLES["en-us"], voice):
        for span in chunk.phonemes:
            ipa_visemes(span.phoneme, "en-us", strict=True)


@pytest.mark.parametrize("symbol,expected", [
    ("p", ["PP"]), ("ˈb", ["PP"]), ("m", ["PP"]), ("f", ["FF"]), ("θ", ["TH"]), ("d", ["DD"]),
    ("ɡ", ["kk"]), ("tʃ", ["CH"]), ("ʃ", ["CH"]), ("s", ["SS"]), ("n", ["nn"]), ("ɹ", ["RR"]),
    ("ˈɑː", ["aa"]), ("ɛ", ["E"]), ("ɪ", ["ih"]), ("o", ["oh"]), ("uː", ["ou"]),
    ("ˈaɪ", ["aa", "ih"]), ("aʊ", ["aa", "ou"]), ("ˈoʊ", ["oh", "ou"]), ("ʊ", ["oh"]), ("tɕh", ["CH"]), ("ɔ̃", ["oh"]), ("h", []),
    ("s^", ["SS"]), ("^", ["sil"]), ("pʰ", ["PP"]), ("ʦ", ["SS"]), ("Φ", ["PP"]),
    # espeak-ng's ASCII names where a language's IPA table lacks one (da, ga, is, om, mi, uz)
    ("ˈ?ɑ", ["aa"]), ("ˈA", ["aa"]), ("l#", ["nn"]), ("t`", ["DD"]), ("ˈu\"", ["ou"]), ("tS", ["CH"]),
    ("", ["sil"]), (" ", ["sil"]), (".", ["sil"]),
])
def test_ipa_symbols(symbol, expected):
    assert ipa_visemes(symbol) == expected


def test_language_overrides():
    assert ipa_visemes("ɔː", "en-us") == ["aa"]  # "bought"
    assert ipa_visemes("ɔ", "fr-fr") == ["oh"]   # "bonne"
    assert ipa_visemes("ɐ", "de") == ["aa"]      # "besser"


def test_arpabet_table_matches_protocols_doc():
    assert arpabet_visemes("AY1") == ["aa", "ih"]
    assert arpabet_visemes("pau") == ["sil"]
    assert arpabet_visemes("hh") == []
    for phone in ("P", "B", "M"):
        assert arpabet_visemes(phone) == ["PP"]
    assert set(ARPABET_VISEMES.values()) <= set(rig.VISEMES)


def test_piper_codepoint_tokens_merge():
    raw = [("^", 0, 1), ("t", 1, 2), ("ʃ", 2, 3), ("ˈ", 3, 4), ("ɑ", 4, 6), ("ː", 6, 7),
           (" ", 7, 9), ("b", 9, 10), ("ɔ", 10, 11), ("̃", 11, 12), (".", 12, 13)]
    merged = merge_codepoint_tokens([PhonemeSpan(p, a / 10, b / 10) for p, a, b in raw])
    assert [(s.phoneme, s.start, s.end) for s in merged] == [
        ("^", 0.0, 0.1), ("tʃ", 0.1, 0.3), ("ɑː", 0.3, 0.8), ("b", 0.8, 1.0),
        ("ɔ̃", 1.0, 1.2), (".", 1.2, 1.3)]


def test_viseme_spans_split_diphthongs_and_absorb_glottals():
    spans = to_viseme_spans([PhonemeSpan("h", 0.0, 0.1), PhonemeSpan("aɪ", 0.1, 0.3),
                             PhonemeSpan("m", 0.3, 0.4)])
    assert [s.viseme for s in spans] == ["aa", "ih", "PP"]
    assert spans[0].start == 0.0  # the glottal's time went to the vowel
    assert spans[2].closure and not spans[0].closure
    assert spans[1].end == pytest.approx(0.3)


def test_an_offglide_rounds_like_arpabets_whether_one_token_or_two():
    """"go": espeak says ``oʊ`` in one event, Piper ``o`` then ``ʊ``; flite's OW is oh → ou.
    A lone ʊ ("book") stays oh."""
    def visemes(tokens, alphabet="ipa"):
        spans = [PhonemeSpan(p, i / 10, (i + 1) / 10) for i, p in enumerate(tokens)]
        return [s.viseme for s in to_viseme_spans(spans, alphabet=alphabet, lang="en-us")]

    assert visemes(["ɡ", "ˈoʊ"]) == visemes(["ɡ", "o", "ʊ"]) == visemes(["g", "ow"], "arpabet") \
        == ["kk", "oh", "ou"]
    assert visemes(["b", "ʊ", "k"]) == ["PP", "oh", "kk"]
    assert visemes(["n", "ˈaʊ"]) == visemes(["n", "aw1"], "arpabet") == ["nn", "aa", "ou"]
    assert visemes(["o", "h", "ʊ"]) == ["oh", "oh"]  # a glottal between: no diphthong


def test_a_syllable_break_inside_a_word_is_timing_not_a_rest():
    """espeak-ng's Mandarin marks syllables with ``.`` inside words (二十 ``ə r s . i``): the
    mark's time goes to the phoneme before it, and only a final full stop stays a rest."""
    raw = [("s", 0, 1), (".", 1, 2), ("i", 2, 3), (".", 3, 4)]
    merged = merge_codepoint_tokens([PhonemeSpan(p, a / 10, b / 10) for p, a, b in raw])
    assert [(s.phoneme, s.start, s.end) for s in merged] == [
        ("s.", 0.0, 0.2), ("i", 0.2, 0.3), (".", 0.3, 0.4)]
    assert [s.viseme for s in to_viseme_spans(merged)] == ["SS", "ih", "sil"]


def test_mandarin_rising_tone_is_no_mouth_shape_and_its_time_stays_with_the_vowel():
    """espeak-ng writes Mandarin's tone 2 as ``ɜ`` after the vowel (人 ʐˈəɜn): no r-colouring
    of the lips there, the vowel holds through it; English ``ɜ`` (bird) is still a shape."""
    spans = [PhonemeSpan("ʐ", 0.0, 0.1), PhonemeSpan("ˈə", 0.1, 0.2), PhonemeSpan("ɜ", 0.2, 0.3),
             PhonemeSpan("n", 0.3, 0.4)]
    visemes = to_viseme_spans(spans, lang="cmn")
    assert [v.viseme for v in visemes] == ["CH", "E", "nn"]
    assert (visemes[1].start, visemes[1].end) == (0.1, 0.3) and visemes[2].start == 0.3
    assert [v.viseme for v in to_viseme_spans([PhonemeSpan("ɜ", 0.0, 0.2)], lang="en-us")] == ["RR"]
    assert ipa_visemes("ʐˈəɜn", lang="cmn") == ["CH", "E", "nn"]


def test_mandarin_e_is_unrounded_and_u_u_umlaut_o_are_rounded():
    """饿 hē 喝 (espeak-ng ``o-``, IPA ɤ) opens the jaw without a pucker; 五 女 我 round."""
    assert ipa_visemes("χˈo-5", lang="cmn") == ["kk", "E"]
    assert ipa_visemes("ɤ", lang="cmn") == ["E"]
    assert [ipa_visemes(v, lang="cmn") for v in ("u", "y", "o")] == [["ou"], ["ou"], ["oh"]]
    assert ipa_visemes("o", lang="en-us") == ["oh"]
