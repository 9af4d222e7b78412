"""Training text, generated offline: composed coverage sentences plus seeded pseudo-text.

Nothing is downloaded. Each language gets a few sentences written to cover its phonemes
(bilabials, rounded vowels, affricates…), and an endless seeded stream of pseudo-words built
from its own spelling patterns, which the TTS engine pronounces by its letter-to-sound rules:
more phoneme variety per second of audio than any fixed list.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

COVERAGE: dict[str, list[str]] = {
    "en": [
        "Papa bought a big blue boat.", "The quick brown fox jumps over the lazy dog.",
        "She sells sea shells by the sea shore.", "Judge the church by its sharp chimes.",
        "Five wives vowed to visit the valley.", "Think of those three thousand feathers.",
        "My mother made marmalade in May.", "Who knew you would choose the blue shoes?",
        "Ruby rolled the red ring around the room.", "Is it easy to eat cheese in the heat?",
        "How now, brown cow, out on the town?", "Oil boils in the noisy toy factory.",
        "The measure of pleasure is leisure.", "Yes, young Yolanda yelled yesterday.",
        "Go get the big green gate key.", "Little lambs leap along the lane.",
    ],
    "de": [
        "Papa baut ein blaues Boot.", "Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich.",
        "Schöne Grüße aus München.", "Pfeifen und Pfannkuchen passen prima.",
        "Ich möchte mich über die Brücke beeilen.", "Der Bach fließt durch die Wiese.",
    ],
    "es": [
        "Papá compró un barco azul.", "El perro de Rosa corre rápido por la calle.",
        "Llueve mucho en junio y julio.", "Chocolate con churros para el chico.",
        "Zapatos y vasos en la mesa.", "Mi mamá me mima mucho.",
    ],
    "fr": [
        "Papa a acheté un grand bateau bleu.", "Un bon vin blanc pour le chef.",
        "Je suis heureux de voir le château rouge.", "Les chaussettes de l'archiduchesse sont sèches.",
        "Mon oncle boit du jus de pomme.", "Une brune pas très fine.",
    ],
    "it": [
        "Papà ha comprato una barca blu.", "Il gatto mangia la pizza in piazza.",
        "Chi va piano va sano e va lontano.", "Sopra la panca la capra campa.",
    ],
    "pt": [
        "O papai comprou um barco azul.", "O rato roeu a roupa do rei de Roma.",
        "A vida é bela e o mar é bonito.", "Chove muito em junho.",
    ],
    "cmn": [
        "爸爸买了一条蓝色的大船。", "我们今天去北京吃饭。", "四是四，十是十，十四是十四。",
        "妈妈骂马，马慢。", "他喜欢喝绿茶和咖啡。", "日出时，小鸟在树上唱歌。",
    ],
    "ja": [
        "こんにちは、ありがとうございます。", "東京で寿司を食べました。", "パパは青い船を買いました。",
        "となりの客はよく柿食う客だ。", "今日は晴れて、とても暑いです。",
    ],
}

_SYLLABLES: dict[str, tuple[str, str, str]] = {
    # (onsets, vowels, codas) — spelling, not IPA: the engine applies its own rules.
    "en": ("b bl br ch d dr f fl g gr h j k l m n p pl pr r s sh sl st t th tr v w y z",
           "a e i o u ee oo ai oa ou ow ay ie", "b ck d g l m n ng nd p r s sh st t th x"),
    "de": ("b br d f g gr h k kl l m n p pf r s sch sp st t tr w z zw",
           "a e i o u ä ö ü au ei eu ie", "b ch d g l m n ng r s sch t tz"),
    "es": ("b c ch d f g j l ll m n ñ p qu r rr s t v y z",
           "a e i o u ia ie io ua ue", "l n r s z"),
    "fr": ("b bl ch d f g j l m n p pl qu r s t v",
           "a e é è i o ou u eu oi au an on in un", "c l n r s t"),
    "it": ("b c ch d f g gl gn l m n p r s sc t v z", "a e i o u ia ie uo", "l n r s"),
    "pt": ("b c ch d f g j l lh m n nh p r s t v x z", "a e i o u ão ei ou", "l m r s z"),
}
_KANA = ("あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよ"
         "らりるれろわをんがぎぐげござじずぜぞだでどばびぶべぼぱぴぷぺぽきゃしゅちょ")
_HANZI = ("的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过"
          "家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本"
          "见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己"
          "话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平"
          "真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报"
          "立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务")


def _pseudo_sentence(lang: str, rng: np.random.Generator) -> str:
    if lang == "ja":
        words = ["".join(rng.choice(list(_KANA), size=rng.integers(2, 6))) for _ in range(rng.integers(2, 5))]
        return "、".join(words) + "。"
    if lang == "cmn":
        words = ["".join(rng.choice(list(_HANZI), size=rng.integers(1, 4))) for _ in range(rng.integers(3, 7))]
        return "".join(words) + rng.choice(["。", "？", "！"])
    onsets, vowels, codas = (part.split() for part in _SYLLABLES[lang])
    words = []
    for _ in range(rng.integers(3, 9)):
        syllables = []
        for _ in range(rng.integers(1, 4)):
            syl = rng.choice(onsets) if rng.random() < 0.85 else ""
            syl += rng.choice(vowels)
            if rng.random() < 0.35:
                syl += rng.choice(codas)
            syllables.append(syl)
        words.append("".join(syllables))
    text = " ".join(words)
    return text[0].upper() + text[1:] + str(rng.choice([".", ".", "?", "!"]))


def sentences(lang: str, seed: int = 0) -> Iterator[str]:
    """The coverage sentences of ``lang`` (the part before a dash: ``en-us`` → ``en``), then
    pseudo-sentences without end."""
    base = lang.split("-")[0]
    if base == "zh":
        base = "cmn"
    if base not in COVERAGE:
        raise KeyError(f"no training text for language {lang!r}; have {', '.join(COVERAGE)}")
    yield from COVERAGE[base]
    rng = np.random.default_rng(seed)
    while True:
        yield _pseudo_sentence(base, rng)
