"""Where a sentence's words fall in its audio, from the TTS phoneme timings.

Voices report phonemes, not words (Piper's merged tokens lose the spaces; espeak-ng reports
phoneme events). The words are placed the way a reader would: the sentence's pauses (a
comma's silence, a full stop) cut the phonemes into phrases, which match the text's phrases
when the counts agree; inside a phrase the phonemes are shared among its words in
proportion to their letters. A word then starts within a phoneme or two of its true onset
(~60 ms), which is what a gesture on it needs. A voice with no timings at all gets its
words spread over the audio's voiced span.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from blendshape.phonemes import PhonemeSpan, is_pause

#: A word: letters and digits, with inner apostrophes (don't, it's) and hyphens (well-known).
_WORD = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")
#: Punctuation after which a voice pauses: it ends a phrase.
_BREAK = re.compile(r"[,;:.!?…—–()\"«»]")


@dataclass(frozen=True, slots=True)
class Word:
    """One word of a sentence and its time in the sentence's audio (seconds)."""

    text: str
    start: float
    end: float
    #: The punctuation right after the word (``","``, ``"?"``, ``""``): where phrases end.
    after: str = ""

    @property
    def key(self) -> str:
        """The word as the planner's tables spell it: lower case, plain apostrophe."""
        return self.text.lower().replace("’", "'")


@dataclass(frozen=True, slots=True)
class _TextWord:
    text: str
    after: str
    phrase: int


def text_words(text: str) -> list[_TextWord]:
    """The words of ``text`` in order, each with its phrase number and following punctuation."""
    out: list[_TextWord] = []
    phrase = 0
    matches = list(_WORD.finditer(text))
    for k, match in enumerate(matches):
        gap_end = matches[k + 1].start() if k + 1 < len(matches) else len(text)
        gap = text[match.end():gap_end]
        marks = "".join(_BREAK.findall(gap))
        out.append(_TextWord(match.group(), marks, phrase))
        if marks:
            phrase += 1
    return out


def _phrases(phonemes: Sequence[PhonemeSpan]) -> list[list[PhonemeSpan]]:
    """The voiced phonemes, cut into runs at every pause token."""
    runs: list[list[PhonemeSpan]] = [[]]
    for span in phonemes:
        if is_pause(span.phoneme):
            if runs[-1]:
                runs.append([])
        elif span.end > span.start:
            runs[-1].append(span)
    return [run for run in runs if run]


def _spread(words: Sequence[_TextWord], run: Sequence[PhonemeSpan]) -> list[Word]:
    """Share ``run``'s phonemes among ``words`` in proportion to their letters."""
    weights = [max(1, len(w.text)) for w in words]
    total = float(sum(weights))
    n = len(run)
    out: list[Word] = []
    cumulative = 0
    for word, weight in zip(words, weights):
        first = cumulative / total
        cumulative += weight
        last = cumulative / total
        if n >= len(words):
            i = min(n - 1, round(first * n))
            j = max(i + 1, min(n, round(last * n)))
            start, end = run[i].start, run[j - 1].end
        else:  # fewer phonemes than words (a number read as one token): by time
            t0, t1 = run[0].start, run[-1].end
            start, end = t0 + first * (t1 - t0), t0 + last * (t1 - t0)
        out.append(Word(word.text, start, end, word.after))
    return out


def align_words(text: str, phonemes: Sequence[PhonemeSpan],
                voiced: tuple[float, float] | None = None) -> list[Word]:
    """The words of ``text`` with their times in the sentence's audio.

    ``phonemes`` are the sentence's timings (seconds from its first sample). Without any,
    ``voiced`` (the first and last moment the audio is voiced) spreads the words over it;
    with neither there is nothing to place them on and the result is empty.
    """
    words = text_words(text)
    if not words:
        return []
    runs = _phrases(phonemes)
    if not runs:
        if voiced is None or voiced[1] <= voiced[0]:
            return []
        return _spread(words, [PhonemeSpan("", voiced[0], voiced[1])])
    phrase_count = words[-1].phrase + 1
    if len(runs) == phrase_count:
        out: list[Word] = []
        for phrase, run in enumerate(runs):
            members = [w for w in words if w.phrase == phrase]
            if members:
                out.extend(_spread(members, run))
        return out
    # The voice paused where the text has no mark, or ran marks together: one phrase.
    return _spread(words, [span for run in runs for span in run])
