"""Seeing: the pictures a session's camera sent, kept for the language model's next turns.

A session keeps only its newest picture (a camera sharing every few seconds would
otherwise pile up megabytes, and an older frame says less than the newest one). Each turn
takes it as an :class:`~bridge.llm.base.ImagePart` with its age, as long as it is younger
than ``max_age``: a frame from minutes ago would make the character describe a room the user
has left. Pictures never reach the conversation memory: it keeps text only, so a picture
lives exactly as long as its session.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from bridge.llm.base import ImagePart


@dataclass(frozen=True, slots=True)
class SeenImage:
    """One picture as the session received it."""

    data: bytes
    media_type: str            # "image/jpeg" or "image/png"
    taken: float               # when it was taken, on the session's clock (seconds)
    prompt: str | None = None  # the words it was sent with: the turn it starts is about it


class Sight:
    """The newest ``keep`` pictures of one session; turns see the newest if it is fresh."""

    def __init__(self, max_age: float = 60.0, keep: int = 1) -> None:
        if keep < 1:
            raise ValueError("Sight keeps at least one picture")
        self.max_age = max_age
        self._images: deque[SeenImage] = deque(maxlen=keep)

    def __len__(self) -> int:
        return len(self._images)

    @property
    def latest(self) -> SeenImage | None:
        return self._images[-1] if self._images else None

    def show(self, image: SeenImage) -> None:
        """Keep ``image`` as the newest picture (the oldest beyond ``keep`` is let go)."""
        self._images.append(image)

    def for_turn(self, text: str, now: float) -> tuple[ImagePart, ...]:
        """What a turn saying ``text`` at ``now`` sees: the newest picture with its age, or
        nothing when there is none or it is older than ``max_age``. The picture is ``shown``
        when this turn is the one its ``prompt`` started."""
        image = self.latest
        if image is None:
            return ()
        age = max(0.0, now - image.taken)
        if age > self.max_age:
            return ()
        shown = image.prompt is not None and image.prompt.strip() == text.strip()
        return (ImagePart(image.data, image.media_type, age, shown),)
