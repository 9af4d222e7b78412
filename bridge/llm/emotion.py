"""A reply's emotion: from a tag the model was asked to write, else from the text itself.

The face shows the emotion from the first sentence on, so it must be known before the
first sentence is spoken: a leading tag (``[happy]``) costs the model two tokens; without
one, a small lexicon classifier reads the first sentence, offline and in microseconds.
The names are the emotion layer's (``blendshape.layers.emotion.EMOTIONS``): neutral, happy, sad,
angry, surprised, fear, disgust.
"""

from __future__ import annotations

import re

from bridge.llm.retrieval import stem

EMOTION_NAMES = ("neutral", "happy", "sad", "angry", "surprised", "fear", "disgust")

# ---- tags ---------------------------------------------------------------------------

#: Tag spellings a model may use → the emotion layer's names.
_CANONICAL = {
    "neutral": "neutral", "calm": "neutral", "none": "neutral",
    "happy": "happy", "joy": "happy", "joyful": "happy", "glad": "happy", "excited": "happy",
    "smile": "happy", "smiles": "happy", "laughs": "happy", "cheerful": "happy",
    "sad": "sad", "sadness": "sad", "sorry": "sad", "sighs": "sad",
    "angry": "angry", "anger": "angry", "annoyed": "angry", "mad": "angry",
    "surprised": "surprised", "surprise": "surprised", "amazed": "surprised",
    "gasps": "surprised", "shocked": "surprised",
    "fear": "fear", "afraid": "fear", "scared": "fear", "worried": "fear", "fearful": "fear",
    "disgust": "disgust", "disgusted": "disgust",
}
# [happy]  [emotion: happy]  <emotion=happy>  <emotion="happy"/>  (happy)  *smiles warmly*
_TAG = re.compile(
    r"""^\s*(?:\[\s*(?:emotion\s*[:=]\s*)?([A-Za-z]+)\s*\]
            |<\s*emotion\s*[:=]\s*["']?([A-Za-z]+)["']?\s*/?\s*>
            |\(\s*([A-Za-z]+)\s*\)
            |\*([A-Za-z]+(?:\ [A-Za-z]+){0,3})\*)\s*""", re.VERBOSE)
_OPENERS = {"[": "]", "<": ">", "(": ")", "*": "*"}
_MAX_TAG = 40  # characters held back while waiting to see whether a tag opens the reply


def split_emotion_tag(text: str) -> tuple[str | None, str]:
    """``"[happy] Hi!"`` → ``("happy", "Hi!")``.

    A one-word tag the face has no pose for (``[smug]``, ``*waves*``) is still removed, so
    the voice never reads it out, and gives None: the classifier decides from the text.
    Text that opens with no tag is returned as is.
    """
    match = _TAG.match(text)
    if not match:
        return None, text
    word = next(g for g in match.groups() if g is not None).lower()
    name = _CANONICAL.get(word)
    if name is None and " " not in word and word not in _CANONICAL:
        name = _CANONICAL.get(word.rstrip("s"))
    if name is None:
        guess, confidence = classify_emotion(word)
        name = guess if guess != "neutral" and confidence >= 0.5 else None
    return name, text[match.end():]


class EmotionTagParser:
    """Strips a leading emotion tag from a stream of deltas, however the tag is split.

    Holds back only the first few characters, and only while they could still be a tag;
    after that every delta passes through unchanged.
    """

    def __init__(self) -> None:
        self.emotion: str | None = None
        self._buf = ""
        self._done = False
        self._trim = False

    @property
    def resolved(self) -> bool:
        """Whether the opening is known (tag or no tag): ``emotion`` is final."""
        return self._done

    def push(self, delta: str) -> str:
        """Feed one delta; returns the text that may be spoken now (maybe empty)."""
        if self._done:
            if self._trim:  # the space after a tag that ended exactly at a delta's end
                delta = delta.lstrip()
                self._trim = not delta
            return delta
        self._buf += delta
        stripped = self._buf.lstrip()
        if not stripped:
            return ""
        closer = _OPENERS.get(stripped[0])
        if closer is None or len(self._buf) > _MAX_TAG or closer in stripped[1:]:
            return self._resolve()
        return ""

    def _resolve(self) -> str:
        self._done = True
        self.emotion, rest = split_emotion_tag(self._buf)
        self._trim = self._buf != rest and not rest
        self._buf = ""
        return rest

    def flush(self) -> str:
        """End of stream: whatever was held back."""
        return "" if self._done else self._resolve()


# ---- the classifier -------------------------------------------------------------------

def _words(emotion: str, table: str) -> dict[str, tuple[str, float]]:
    """``"glad fun:0.5"`` → {"glad": (emotion, 1.0), "fun": (emotion, 0.5)}."""
    out = {}
    for item in table.split():
        word, _, weight = item.partition(":")
        out[word] = (emotion, float(weight) if weight else 1.0)
    return out


_LEXICON: dict[str, list[tuple[str, float]]] = {}
for _emotion, _table in {
    "happy": """happy glad great wonderful fantastic awesome love lovely delight delightful joy
        joyful enjoy fun funny excellent nice pleased pleasure congratulations congrats yay
        hooray hurray thank thanks thankful grateful welcome cheers brilliant smile laugh haha
        hehe lol giggle hello:0.7 hi:0.7 perfect beautiful excited exciting celebrate proud
        kind:0.7 splendid superb terrific marvellous marvelous cheerful hope:0.6 hopeful cool:0.6
        sweet:0.7 adore fond bless charming cute best:0.6 win success successful good:0.5
        bravo woohoo relieved relief favourite favorite pleasant enjoyable glorious thrilled
        ecstatic amazing:0.6 fine:0.3 glee lucky""",
    "sad": """sad sorry:0.8 unfortunately unhappy miss lost lose loss lonely alone cry tear weep
        regret grief grieve depressed depressing disappointed disappointing heartbroken
        heartbreaking alas sadly tragic tragedy die died dead death mourn pity empty fail
        failure hopeless miserable gloomy sorrow upset:0.6 hurt pain painful broken cancel:0.6
        cancelled:0.7 canceled:0.7 funeral wish:0.5 shame:0.7 tired:0.5 weary exhausted suffer
        awful:0.5 terrible:0.6 bad:0.4 homesick abandoned destroyed:0.7 gone:0.4 unfortunate""",
    "angry": """angry anger furious fury hate annoyed annoying annoy outrageous outrage
        unacceptable ridiculous mad rage stupid damn irritated irritating livid infuriating
        infuriate enraged idiot fool nonsense dare tolerate:0.8 ruin:0.8 liar lie:0.6 lied:0.8
        cheat cheated insult insulting disrespect disrespectful careless:0.6 rude hostile
        offended outraged frustrated frustrating frustration resent yell shout blame:0.7
        useless:0.7 pathetic excuse:0.6 enough:0.5""",
    "surprised": """wow whoa woah unbelievable incredible surprising surprise surprised
        unexpected unexpectedly astonishing astonished amazed amazing:0.6 suddenly oh:0.5
        omg shocked shocking stunned kidding goodness gosh huh strange:0.7 weird:0.6""",
    "fear": """afraid scared scary fear frightened frightening terrified terrifying terror
        danger dangerous careful:0.7 worried worry anxious anxiety nervous panic threat
        threatening risky creepy haunted ghost hide shaking shake:0.6 tremble dread horror
        alarmed uneasy spooky eerie dark:0.4 shadow:0.6 monster beware collapse:0.5 attack:0.6
        flee run:0.4 hurry:0.4""",
    "disgust": """disgusting disgusted disgust gross yuck yucky eww ew ugh:0.7 nasty revolting
        vile rotten filthy sickening repulsive repugnant foul stink stinky smell:0.4 awful:0.3
        slime slimy maggot mould mold mouldy moldy rancid puke vomit nauseating dirty:0.6 putrid
        grimy sewer:0.5 horrified:0.5""",
}.items():
    for _word, _hit in _words(_emotion, _table).items():
        _LEXICON.setdefault(_word, []).append(_hit)

#: Multi-word cues, matched before single words (their words are then not read again).
_PHRASES: dict[tuple[str, ...], tuple[str, float] | None] = {
    tuple(k.split()): v for k, v in {
        "well done": ("happy", 1.2), "no problem": ("happy", 0.6), "thank you": ("happy", 1.0),
        "good job": ("happy", 1.2), "made my day": ("happy", 1.5), "my pleasure": ("happy", 1.0),
        "passed away": ("sad", 1.5), "break my heart": ("sad", 1.5), "breaks my heart": ("sad", 1.5),
        "let down": ("sad", 1.0), "what a shame": ("sad", 1.2),
        "how dare": ("angry", 2.0), "sick of": ("angry", 1.5), "fed up": ("angry", 1.5),
        "had enough": ("angry", 1.5), "shut up": ("angry", 1.5), "get out": ("angry", 1.0),
        "no way": ("surprised", 1.2), "can not believe": ("surprised", 1.5),
        "out of nowhere": ("surprised", 1.2), "no idea": ("surprised", 0.8),
        "oh my": ("surprised", 1.2), "who knew": ("surprised", 1.2), "did not know": ("surprised", 0.7),
        "what a surprise": ("surprised", 1.5), "never expected": ("surprised", 1.5),
        "did not expect": ("surprised", 1.5), "wait what": ("surprised", 1.5),
        "watch out": ("fear", 1.5), "look out": ("fear", 1.5), "bad feeling": ("fear", 1.5),
        "what if": ("fear", 1.0), "help me": ("fear", 0.8), "do not leave me": ("fear", 1.5),
        "smells awful": ("disgust", 1.5), "tastes awful": ("disgust", 1.5),
        "you dare": ("angry", 2.0), "kind of": None, "sort of": None, "what kind": None,
    }.items()}
_MAX_PHRASE = max(len(p) for p in _PHRASES)

#: "I'm afraid" is an apology unless something frightens ("afraid of", "afraid to").
_POLITE_AFRAID = ("i", "am", "afraid")

_NEGATIONS = frozenset("not no never nothing nobody none neither nor hardly without".split())
_INTENSIFIERS = {"very": 1.5, "so": 1.4, "really": 1.3, "extremely": 1.8, "totally": 1.4,
                 "absolutely": 1.6, "quite": 1.2, "super": 1.5, "incredibly": 1.6, "truly": 1.3,
                 "completely": 1.4, "utterly": 1.6, "deeply": 1.5, "such": 1.3, "most": 1.2,
                 "slightly": 0.6, "somewhat": 0.7, "little": 0.7, "bit": 0.6, "kinda": 0.7}
_EMOTICONS = {":)": "happy", ":-)": "happy", ":d": "happy", ";)": "happy", "<3": "happy",
              ":(": "sad", ":-(": "sad", ":'(": "sad", ":o": "surprised", ":-o": "surprised",
              "\U0001F600": "happy", "\U0001F642": "happy", "\U0001F60A": "happy",
              "\U0001F622": "sad", "\U0001F620": "angry", "\U0001F621": "angry",
              "\U0001F62E": "surprised", "\U0001F631": "fear", "\U0001F922": "disgust"}
_TOKENS = re.compile(r"(?<!\w)[:;][-']?[()dDoOpP](?!\w)|<3"
                     r"|[^\W\d_]+(?:'[^\W\d_]+)?|[.,;:!?]+|[\U0001F300-\U0001FAFF\u2600-\u27BF]")
_PUNCT = re.compile(r"[.,;:!?]+")
_SPELL = {"'m": ["am"], "'re": ["are"], "'s": ["is"], "'ll": ["will"], "'ve": ["have"],
          "'d": ["would"]}
_NOT = {"can't": ["can", "not"], "won't": ["will", "not"], "shan't": ["shall", "not"],
        "cannot": ["can", "not"]}
_CLAUSE_WORDS = frozenset(("but", "though", "although", "however"))


def _tokens(text: str) -> list[str]:
    """Lower-case words (contractions spelled out; SHOUTED words kept upper-case),
    punctuation runs and emoticons."""
    out: list[str] = []
    for tok in _TOKENS.findall(text.replace("\u2019", "'")):
        low = tok.lower()
        if low in _NOT:
            out += _NOT[low]
        elif low.endswith("n't"):
            out += [low[:-3], "not"]
        elif "'" in low and low[low.index("'"):] in _SPELL:
            out += [low[:low.index("'")], *_SPELL[low[low.index("'"):]]]
        else:
            out.append(tok if tok.isupper() and len(tok) > 1 and tok.isalpha() else low)
    return out


def _lookup(word: str) -> list[tuple[str, float]]:
    """Lexicon hits of a word or of its stem ("loved" → love, "cried" → cry)."""
    low = word.lower()
    root = stem(low)
    forms = [low, root, root + "e"]
    if low.endswith(("ied", "ily")):
        forms.append(low[:-3] + "y")
    elif low.endswith("ly"):
        forms.append(low[:-2])
    for form in forms:
        hits = _LEXICON.get(form)
        if hits:
            return hits
    return []


def _is_clause_end(token: str) -> bool:
    return token in _CLAUSE_WORDS or bool(_PUNCT.fullmatch(token))


def _score(tokens: list[str]) -> dict[str, float]:
    scores = dict.fromkeys(EMOTION_NAMES[1:], 0.0)
    i, clause_start = 0, 0
    while i < len(tokens):
        tok = tokens[i]
        if _is_clause_end(tok):
            clause_start = i + 1
            i += 1
            continue
        window = [t.lower() for t in tokens[max(clause_start, i - 3):i]]
        boost = 1.0
        for w in window[-2:]:
            boost *= _INTENSIFIERS.get(w, 1.0)
        if tok.isupper() and len(tok) > 1:  # SHOUTED
            boost *= 1.5
        used, hits = _match_at(tokens, i)
        negated = any(w in _NEGATIONS for w in window) and used == 1
        for emotion, weight in hits:
            if negated:  # "not happy" reads sad; "not afraid", "not bad" read calm
                if emotion == "happy":
                    scores["sad"] += 0.6 * weight * boost
                elif emotion == "sad":
                    scores["happy"] += 0.3 * weight
            else:
                scores[emotion] += weight * boost
        i += used
    return scores


def _match_at(tokens: list[str], i: int) -> tuple[int, list[tuple[str, float]]]:
    """The longest phrase starting at token ``i``, else the word itself: (tokens, hits)."""
    low = [t.lower() for t in tokens[i:i + _MAX_PHRASE + 1]]
    if tuple(low[:3]) == _POLITE_AFRAID:
        after = low[3] if len(low) > 3 else ""
        if after not in ("of", "to", "for", "!"):
            return 3, [("sad", 0.6)]
    for n in range(min(_MAX_PHRASE, len(low)), 1, -1):
        key = tuple(low[:n])
        if key in _PHRASES:  # None: a phrase that hides a word ("kind of" is not kind)
            hit = _PHRASES[key]
            return n, [hit] if hit else []
    if low[0] in _EMOTICONS:
        return 1, [(_EMOTICONS[low[0]], 1.0)]
    return 1, _lookup(tokens[i])


#: "What?", "Wait, what?", "Huh?": a reply that opens with a bare astonished question.
_ASTONISHED = re.compile(r"^\W*(?:(?:really|seriously|what|huh|wait|oh)\W+)*"
                         r"(?:really|seriously|what|huh)\W*\?", re.I)


def _punctuation(text: str, scores: dict[str, float]) -> None:
    stripped = text.rstrip()
    bangs = min(text.count("!"), 3)
    top = max(scores, key=scores.__getitem__)
    if bangs and scores[top] > 0:
        scores[top] *= 1.0 + 0.25 * bangs
    if "?!" in text or "!?" in text:
        scores["surprised"] += 0.8
    if _ASTONISHED.match(stripped) or re.search(r"\b(really|seriously)\s*\?", stripped, re.I):
        scores["surprised"] += 1.0


def classify_emotion(text: str) -> tuple[str, float]:
    """The text's emotion (a name of the emotion layer) and a confidence in 0..1.

    Lexicon words and phrases, scoped negation ("not happy" → sad, "don't worry" → calm),
    intensifiers ("so", "very"), shouting, emoticons and punctuation ("!", "?!",
    "really?"). No evidence is "neutral" at 0.5; the more evidence, and the less it is
    shared with other emotions, the higher the confidence.
    """
    scores = _score(_tokens(text))
    _punctuation(text, scores)
    best = max(scores, key=scores.__getitem__)
    if scores[best] < 0.45:
        return "neutral", 0.5
    strength = 1.0 - 1.0 / (1.0 + scores[best])   # more evidence, more confidence
    share = scores[best] / sum(scores.values())    # and less if emotions compete
    return best, round(min(1.0, 0.35 + 0.65 * strength * share), 3)
