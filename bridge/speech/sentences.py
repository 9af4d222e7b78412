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


class SentenceStream:
    """Sentences out of text that arrives in pieces (a language model's deltas).

    A sentence is released as soon as the text after it begins, so TTS starts on the first
    sentence while the model writes the second. The first piece may be cut at a clause,
    like :func:`streaming_pieces`, once it grows past ``first_max_chars``.
    """

    def __init__(self, first_max_chars: int = 60, min_words: int = 3) -> None:
        self._buf = ""
        self._first = True
        self._first_max = first_max_chars
        self._min_words = min_words

    def push(self, delta: str) -> list[str]:
        self._buf += delta
        parts = split_sentences(self._buf)
        # The last part may still grow; it is complete only once text follows its end.
        ready = parts[:-1] if parts and not _ends_sentence(self._buf) else parts
        if self._first and not ready and len(self._buf) > self._first_max:
            pieces = streaming_pieces(self._buf.strip() + " .", self._first_max, self._min_words)
            if len(pieces) > 1:
                ready = [pieces[0]]
        if ready:
            self._first = False
            consumed = self._buf
            for piece in ready:
                at = consumed.find(piece)
                consumed = consumed[at + len(piece):]
            self._buf = consumed
        return ready

    def flush(self) -> list[str]:
        """The rest, when the text is complete."""
        rest, self._buf = split_sentences(self._buf), ""
        return rest


def _ends_sentence(text: str) -> bool:
    """True when ``text`` ends right after a sentence end and its trailing space."""
    return bool(text) and text[-1].isspace() and bool(split_sentences(text)) and \
        len(split_sentences(text + "x")) > len(split_sentences(text))
