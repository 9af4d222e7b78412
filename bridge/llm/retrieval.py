"""Small TF-IDF retrieval over words and character trigrams: no model, no download.

Character trigrams make paraphrases and typos match ("whats ur name" ~ "what is your
name"); words keep longer passages apart. Chat-speak and contractions are spelled out
first, and words lose their commonest suffixes ("jokes" ~ "joke", "supported" ~
"support"). Good enough to route a kiosk's questions to the right canned answer or
knowledge paragraph in well under a millisecond.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Sequence

_WORD = re.compile(r"[\w']+", re.UNICODE)
_STOP = frozenset("a an the is are was were be to of and or in on at for it its i you me my "
                  "your we us do does did can could would will shall should please am "
                  "this that there have has just so very really".split())
#: What people type (and ASR hears) → what the examples spell.
_SPELLING = {
    "what's": "what is", "whats": "what is", "how's": "how is", "hows": "how is",
    "who's": "who is", "whos": "who is", "where's": "where is", "it's": "it is",
    "that's": "that is", "i'm": "i am", "im": "i am", "you're": "you are", "youre": "you are",
    "ur": "your", "u": "you", "r": "are", "ya": "you", "thx": "thanks", "thanx": "thanks",
    "ty": "thank you", "pls": "please", "plz": "please", "cya": "see you", "gonna": "going to",
    "wanna": "want to", "can't": "can not", "cannot": "can not", "won't": "will not",
    "don't": "do not", "doesn't": "does not", "isn't": "is not", "let's": "let us",
}


def normalize(text: str) -> list[str]:
    """Lower-case words with contractions and chat-speak spelled out."""
    out: list[str] = []
    for word in _WORD.findall(text.lower().replace("\u2019", "'")):
        out.extend(_SPELLING.get(word, word).split())
    return out


def stem(word: str) -> str:
    """A crude suffix stripper: enough for "jokes"/"joke" and "supported"/"support"."""
    if len(word) > 6 and word.endswith("ies"):
        return word[:-3] + "y"
    for suffix, keep in (("ing", 4), ("ed", 4), ("s", 3)):
        if word.endswith(suffix) and len(word) - len(suffix) >= keep - 1 and \
                not word.endswith("ss"):
            return word[:-len(suffix)]
    return word


#: Words that say what kind of question it is, not what it is about: they pick intents
#: ("who are you") but mislead a search of knowledge ("what is the capital of France").
QUESTION_WORDS = frozenset("what how who which why where when whom whose tell explain know "
                           "about with there here".split())


def features(text: str, light: frozenset[str] = _STOP) -> Counter[str]:
    """Weighted word and character-trigram counts; ``light`` words weigh little."""
    out: Counter[str] = Counter()
    for word in normalize(text):
        if word in light:
            out["w:" + word] += 0.5  # function words count a little: "how are you"
            continue
        root = stem(word.strip("'"))
        out["w:" + root] += 3
        padded = f" {root} "
        for i in range(len(padded) - 2):
            out["c:" + padded[i:i + 3]] += 1
    return out


class Index:
    """Cosine similarity between a query and fixed documents (TF-IDF weighted)."""

    def __init__(self, documents: Sequence[str], *, topical: bool = False) -> None:
        # topical: question words weigh little (for knowledge, not for intents)
        self._light = _STOP | QUESTION_WORDS if topical else _STOP
        feats = [features(d, self._light) for d in documents]
        df: Counter[str] = Counter()
        for f in feats:
            df.update(f.keys())
        n = max(1, len(documents))
        self._idf = {k: math.log((1 + n) / (1 + v)) + 1.0 for k, v in df.items()}
        # A query word no document has is rare, not absent: it must lower the similarity
        # ("how do I connect unreal" is not "how are you").
        self._unseen = math.log(1 + n) + 1.0
        self._vectors = [self._weigh(f) for f in feats]

    def __len__(self) -> int:
        return len(self._vectors)

    def _weigh(self, feats: Counter[str]) -> dict[str, float]:
        vec = {k: v * self._idf.get(k, self._unseen) for k, v in feats.items()}
        norm = math.sqrt(sum(x * x for x in vec.values())) or 1.0
        return {k: x / norm for k, x in vec.items()}

    def scores(self, query: str) -> list[float]:
        """The cosine similarity of ``query`` with every document, in document order."""
        q = self._weigh(features(query, self._light))
        return [sum(w * d.get(k, 0.0) for k, w in q.items()) for d in self._vectors]

    def blended(self, query: str) -> list[float]:
        """sqrt(cosine × coverage): long passages are not punished for their length.

        Coverage is the share of the query's weight that the document contains at all; the
        cosine keeps a passage that merely mentions a word below one that is about it.
        """
        q = self._weigh(features(query, self._light))
        out = []
        for d in self._vectors:
            cos = cover = 0.0
            for k, w in q.items():
                if k in d:
                    cos += w * d[k]
                    cover += w * w
            out.append(math.sqrt(max(0.0, cos) * cover))
        return out

    def best(self, query: str) -> tuple[int, float]:
        """The index of the closest document and its score; (-1, 0.0) with no documents."""
        scores = self.scores(query)
        if not scores:
            return -1, 0.0
        i = max(range(len(scores)), key=scores.__getitem__)
        return i, scores[i]

    def top(self, query: str, k: int) -> list[tuple[int, float]]:
        """The ``k`` closest documents, best first."""
        scores = self.scores(query)
        ranked = sorted(range(len(scores)), key=scores.__getitem__, reverse=True)
        return [(i, scores[i]) for i in ranked[:max(0, k)]]
