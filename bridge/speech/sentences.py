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
