"""Turn-taking: who speaks when. A pure state machine, events in, actions out.

Everything about timing decisions lives here, so it is tested on scripted timelines with
no audio, no models and no event loop. Times are seconds on the microphone's clock (samples
received / rate), which the runner maps to wall time only for metrics.

The user's speech goes through three stages:

* **onset**: the detector scored a frame as speech. Recognition starts at once (with a
  little pre-roll), so the transcript is nearly ready when the user stops.
* **confirmed**: ``min_speech`` seconds of speech accumulated. Only now is it a turn; a
  cough or a door slam shorter than that is dropped (``CancelListening``) and never
  interrupts the character.
* **pause**: ``prefetch_silence`` seconds without speech. The turn is probably over, so
  the runner may prepare the answer to the partial transcript (``Prefetch``); if the final
  transcript matches, the reply starts with its first sentence already synthesized.
* **end**: ``end_silence`` seconds without speech. The recognizer is asked for its final
  text; a non-empty one becomes a ``Respond``.

While the character is replying, confirmed user speech longer than ``min_barge_in`` is a
barge-in: ``Interrupt`` goes out on that very frame.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Union


class TurnConfigError(ValueError):
    """A turn-taking setting is out of range; the message names it."""


@dataclass(frozen=True, slots=True)
class TurnConfig:
    """Turn-taking policy. Defaults aim at ≤ 0.5 s from end of speech to the answer."""

    speech_threshold: float = 0.5    # frame probability that counts as speech
    silence_threshold: float = 0.35  # below this a frame counts as silence (hysteresis)
    min_speech: float = 0.2          # s of speech before a sound is a user turn
    min_barge_in: float = 0.3        # s of confirmed speech that interrupts the character
    end_silence: float = 0.25        # s of silence that ends the user's turn
    prefetch_silence: float = 0.1    # s of silence after which the answer is prepared
    onset_gap: float = 0.3           # s of silence that drops an unconfirmed onset
    preroll: float = 0.25            # s of audio before the onset given to the recognizer
    max_turn: float = 30.0           # s: a user turn is cut here (a stuck detector, noise)

    def __post_init__(self) -> None:
        for name in ("min_speech", "min_barge_in", "end_silence", "onset_gap", "preroll",
                     "prefetch_silence"):
            value = getattr(self, name)
            if not 0.0 <= value <= 10.0:
                raise TurnConfigError(f"dialogue.{name} = {value}: use 0 to 10 seconds")
        if not 0.0 < self.silence_threshold <= self.speech_threshold < 1.0:
            raise TurnConfigError(
                "need 0 < dialogue.silence_threshold <= dialogue.speech_threshold < 1 "
                f"(got {self.silence_threshold}, {self.speech_threshold})")
        if self.max_turn <= self.min_speech:
            raise TurnConfigError("dialogue.max_turn must be longer than dialogue.min_speech")


# ---- actions -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartListening:
    """Open a recognizer stream fed with mic audio from ``t`` (onset minus pre-roll)."""

    t: float


@dataclass(frozen=True, slots=True)
class CancelListening:
    """The onset was noise: drop the recognizer stream without a transcript."""

    t: float


@dataclass(frozen=True, slots=True)
class UserSpeaking:
    """The onset is confirmed as a user turn (for metrics and UIs)."""

    t: float


@dataclass(frozen=True, slots=True)
class Prefetch:
    """The user paused: prepare the answer to what they said so far (it may be discarded)."""

    t: float


@dataclass(frozen=True, slots=True)
class FinishListening:
    """The user's turn ended at ``t`` (their last speech): ask for the final transcript."""

    t: float


@dataclass(frozen=True, slots=True)
class Interrupt:
    """Stop the character's reply now: cancel the model, the voice and the playback."""

    reason: str  # "barge_in" | "new_turn"


@dataclass(frozen=True, slots=True)
class Respond:
    """Answer ``text``; ``heard_end`` is when the user stopped (None for typed turns)."""

    text: str
    heard_end: float | None = None


Action = Union[StartListening, CancelListening, UserSpeaking, Prefetch, FinishListening, Interrupt,
               Respond]


#: Seconds of a reply the user must have heard for a barge-in to replace their turn. Less,
#: and the user was only pausing: what they say next continues the same turn.
UNHEARD = 0.4


def is_continuation(played: float, onset_ago: float) -> bool:
    """Did the user barge in before hearing any of the reply?

    ``played`` is how far the reply has played at the client (s); ``onset_ago`` how long
    ago, in microphone time, the user began to speak. Their difference is what was heard.
    """
    return played - onset_ago < UNHEARD


class _Mic(enum.Enum):
    SILENT = "silent"
    ONSET = "onset"        # speech seen, not yet min_speech of it
    SPEAKING = "speaking"  # a confirmed user turn
    ENDED = "ended"        # turn over, waiting for the final transcript


@dataclass
class TurnTaking:
    """One conversation's turn state. Feed it events; do what the returned actions say."""

    config: TurnConfig = field(default_factory=TurnConfig)
    replying: bool = field(default=False, init=False)
    _mic: _Mic = field(default=_Mic.SILENT, init=False)
    _onset: float = field(default=0.0, init=False)
    _speech: float = field(default=0.0, init=False)      # speech seconds in this turn
    _silence: float = field(default=0.0, init=False)     # current run of silence
    _last_speech: float = field(default=0.0, init=False)
    _barged: bool = field(default=False, init=False)
    _prefetched: bool = field(default=False, init=False)

    @property
    def listening(self) -> bool:
        """True while a recognizer stream should receive audio."""
        return self._mic in (_Mic.ONSET, _Mic.SPEAKING)

    @property
    def onset(self) -> float:
        """Mic time when the current (or last) user speech began."""
        return self._onset

    def vad(self, t: float, prob: float, frame: float) -> list[Action]:
        """One detector frame of ``frame`` seconds ending at ``t`` with speech ``prob``."""
        cfg = self.config
        speech = prob >= cfg.speech_threshold
        silence = prob < cfg.silence_threshold
        out: list[Action] = []
        if self._mic in (_Mic.SILENT, _Mic.ENDED):
            if speech:
                self._mic, self._onset = _Mic.ONSET, t - frame
                self._speech, self._silence, self._last_speech = frame, 0.0, t
                self._barged = False
                out.append(StartListening(max(0.0, self._onset - cfg.preroll)))
                out.extend(self._maybe_confirm(t))
            return out
        if speech:
            self._speech += frame
            self._silence = 0.0
            self._last_speech = t
            self._prefetched = False  # the user went on: an earlier guess is stale
        elif silence:
            self._silence += frame
        if self._mic is _Mic.ONSET:
            if self._silence >= cfg.onset_gap:
                self._mic = _Mic.SILENT
                return [CancelListening(t)]
            return self._maybe_confirm(t)
        # SPEAKING
        if self._silence >= cfg.end_silence or t - self._onset >= cfg.max_turn:
            self._mic = _Mic.ENDED
            return [FinishListening(self._last_speech if self._silence else t)]
        if self._silence >= cfg.prefetch_silence and not self._prefetched:
            self._prefetched = True
            out.append(Prefetch(t))
        out.extend(self._maybe_barge_in())
        return out

    def _maybe_confirm(self, t: float) -> list[Action]:
        if self._speech + 1e-9 < self.config.min_speech:
            return []
        self._mic = _Mic.SPEAKING
        return [UserSpeaking(t), *self._maybe_barge_in()]

    def _maybe_barge_in(self) -> list[Action]:
        if self.replying and not self._barged and self._speech + 1e-9 >= self.config.min_barge_in:
            self._barged = True
            self.replying = False
            return [Interrupt("barge_in")]
        return []

    def transcript(self, text: str, heard_end: float | None) -> list[Action]:
        """The final transcript of a finished turn ("" when nothing was recognized)."""
        text = text.strip()
        if not text:
            return []  # a noise the recognizer had no words for: nothing to answer
        return self._respond(text, heard_end)

    def chat(self, text: str) -> list[Action]:
        """A typed turn: answered at once, interrupting any reply in progress."""
        text = text.strip()
        return self._respond(text, None) if text else []

    def _respond(self, text: str, heard_end: float | None) -> list[Action]:
        out: list[Action] = []
        if self.replying:
            out.append(Interrupt("new_turn"))
        self.replying = True
        out.append(Respond(text, heard_end))
        return out

    def reply_ended(self) -> None:
        """The reply finished (done, interrupted by the engine, or failed)."""
        self.replying = False
