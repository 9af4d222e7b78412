"""What the user actually heard of a reply, from the engine's playback position.

After a barge-in the assistant must remember where it was cut off, not the whole answer
the model wrote: otherwise it later refers to things the user never heard. The server
knows where each sentence sits on the utterance's audio clock; the engine reports how
far it played (``playback`` messages). Words inside the sentence being spoken are
apportioned by time, which is exact enough at word granularity.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CUT_MARK = "…"


@dataclass(frozen=True, slots=True)
class SpokenSentence:
    start: float  # utterance seconds of its first sample
    end: float
    text: str


@dataclass
class SpokenReply:
    """The sentences of one reply as they were sent, on its audio clock."""

    sentences: list[SpokenSentence] = field(default_factory=list)

    def add(self, start: float, end: float, text: str) -> None:
        self.sentences.append(SpokenSentence(start, end, text.strip()))

    @property
    def duration(self) -> float:
        return self.sentences[-1].end if self.sentences else 0.0

    def full_text(self) -> str:
        return " ".join(s.text for s in self.sentences if s.text)

    def heard(self, position: float) -> str:
        """The text played up to ``position`` seconds; cut mid-sentence with a mark."""
        parts: list[str] = []
        for s in self.sentences:
            if position >= s.end - 1e-6:
                parts.append(s.text)
                continue
            if position > s.start and s.end > s.start:
                words = s.text.split()
                n = int(len(words) * (position - s.start) / (s.end - s.start))
                if n:
                    parts.append(" ".join(words[:n]) + CUT_MARK)
            break
        return " ".join(p for p in parts if p)
