"""Split text into sentences so speech can start after the first one is synthesized."""

from __future__ import annotations

import re

# A sentence ends at . ! ? … (or CJK 。！？) followed by space/end, keeping closing quotes.
_END = re.compile(r"""(?<=[.!?…])["'”’)\]]*\s+|(?<=[。！？])\s*""")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st jr sr vs etc e.g i.e inc ltd co mt no fig approx".split()
)


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``, whitespace-trimmed, none empty.

    Common abbreviations (``Dr.``, ``e.g.``) and decimal numbers do not end a sentence.
    """
    parts: list[str] = []
    start = 0
    for match in _END.finditer(text):
        candidate = text[start:match.start()].strip()
        if not candidate:
            continue
        last_word = candidate.rsplit(None, 1)[-1].rstrip(".").lower()
        if candidate.endswith(".") and last_word in _ABBREVIATIONS:
            continue
        parts.append(text[start:match.end()].strip())
        start = match.end()
    tail = text[start:].strip()
    if tail:
        parts.append(tail)
    return [p for p in parts if p]


_CLAUSE = re.compile(r"(?<=[,;:，；：])\s*")


def streaming_pieces(text: str, first_max_chars: int = 60, min_words: int = 3) -> list[str]:
    """Sentences, with a long first sentence cut after its first clause.

    Speech can only start once the first piece is synthesized, so a long opening sentence
    ("Well, as I was saying to the captain yesterday, …") is split at its first comma that
    leaves at least ``min_words`` words before it; the rest follows as its own piece while
    the first plays. Later sentences stay whole: their prosody matters more than their
    latency, which is hidden behind playback.
    """
    sentences = split_sentences(text)
    if not sentences or len(sentences[0]) <= first_max_chars:
        return sentences
    first = sentences[0]
    for match in _CLAUSE.finditer(first):
        head, tail = first[:match.start()].strip(), first[match.end():].strip()
        if len(head.split()) >= min_words and tail:
            return [head, tail, *sentences[1:]]
    return sentences
