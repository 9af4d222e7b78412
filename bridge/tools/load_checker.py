"""``talkbridge loadtest``'s checker, sans-I/O: messages and arrival times in, verdicts out.

Each simulated client acts as an engine with a jitter buffer: an utterance starts playing when
its first audio arrives plus the buffer, and a chunk or frame at utterance time t arriving
after ``playback_start + t`` is late. Unit-tested with synthetic times (no sockets, no clock).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

LATE_EVENTS = 50  # late messages the report details, the first ones


class Histogram:
    """Counts at 1 ms resolution: a 10-minute run of 100 sessions checks millions of frames,
    and keeping every value would grow the client's memory with the run."""

    def __init__(self) -> None:
        self._counts: Counter[int] = Counter()
        self.count = 0

    def add(self, seconds: float) -> None:
        self._counts[math.floor(seconds * 1000.0)] += 1
        self.count += 1

    def percentile(self, q: float) -> float | None:
        """The q-th percentile in ms (lower bound of its 1 ms bin); None when empty."""
        if not self.count:
            return None
        rank = max(1, math.ceil(q / 100.0 * self.count))
        seen = 0
        for ms in sorted(self._counts):
            seen += self._counts[ms]
            if seen >= rank:
                return float(ms)
        return float(max(self._counts))


@dataclass(frozen=True)
class Verdict:
    """One message checked: how many frames it carried, how many came after their play time,
    and how far its first frame arrived ahead of its play time (negative: late; None: the
    utterance is not playing yet, so nothing can be late)."""

    frames: int
    late: int
    lead: float | None


class PlayoutChecker:
    """When each frame must be in hand, from when audio arrived (or was sent, for audio_in)."""

    def __init__(self, buffer: float) -> None:
        self.buffer = buffer
        self._start: dict[str, float] = {}                          # id → playback start
        self._sent: dict[str, tuple[list[float], list[float]]] = {}  # audio_in id → (t, wall)

    def sent(self, utt_id: str, t: float, at: float) -> None:
        """The client sent its audio from time ``t`` of utterance ``utt_id`` at ``at``."""
        times, walls = self._sent.setdefault(utt_id, ([], []))
        times.append(t)
        walls.append(at)

    def audio(self, utt_id: str, t: float, at: float) -> Verdict:
        """The first audio of an utterance starts its playback ``buffer`` later."""
        self._start.setdefault(utt_id, at + self.buffer)
        return self._check([t], at, self._due(utt_id))

    def curves(self, utt_id: str, t: float, n: int, fps: float, at: float) -> Verdict:
        due = self._due(utt_id)
        if due is None:
            return Verdict(n, 0, None)
        return self._check([t + k / fps for k in range(n)], at, due)

    def forget(self, utt_id: str) -> None:
        self._start.pop(utt_id, None)
        self._sent.pop(utt_id, None)

    def _due(self, utt_id: str) -> Callable[[float], float] | None:
        if utt_id in self._sent:
            times, walls = self._sent[utt_id]
            return lambda t: walls[max(0, bisect_right(times, t + 1e-9) - 1)] + self.buffer
        start = self._start.get(utt_id)
        return None if start is None else (lambda t: start + t)

    @staticmethod
    def _check(times: list[float], at: float, due: Callable[[float], float] | None) -> Verdict:
        if due is None:
            return Verdict(len(times), 0, None)
        dues = [due(t) for t in times]
        return Verdict(len(times), sum(at > d for d in dues), dues[0] - at)


@dataclass
class Tally:
    """What every client saw, in plain counters (one event loop: no locks)."""

    sent: Counter[str] = field(default_factory=Counter)
    received: Counter[str] = field(default_factory=Counter)
    frames: Counter[str] = field(default_factory=Counter)  # audio chunks, curve rows, idle rows
    late: Counter[str] = field(default_factory=Counter)    # late frames by utterance source
    worst_late: float = 0.0                                # s past its play time, the worst one
    started: float = 0.0                                   # loop time the run began
    late_events: list[dict[str, Any]] = field(default_factory=list)  # the first late messages
    lead: Histogram = field(default_factory=Histogram)
    response: dict[str, Histogram] = field(default_factory=dict)  # kind → ask to first frame
    busy_answer: Histogram = field(default_factory=Histogram)     # ask to its `busy` refusal
    errors: Counter[str] = field(default_factory=Counter)
    turns: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)  # "kind: close code reason" → count


class ClientView:
    """One client's reading of the stream: every received message goes through here."""

    def __init__(self, buffer: float, tally: Tally) -> None:
        self.checker = PlayoutChecker(buffer)
        self.tally = tally
        self.sources: dict[str, str] = {}  # utterance id → say | dialogue | audio_in
        self._asked: tuple[str, float] | None = None
        self._fresh: set[str] = set()      # utterances with no frame yet

    def ask(self, kind: str, at: float) -> None:
        """A turn began at ``at``; its first frame back times the server's response."""
        self._asked = (kind, at)

    def receive(self, msg: dict[str, Any], at: float) -> dict[str, Any] | None:
        """Count and check one message; an ``utterance end`` is handed back to the driver."""
        kind = msg.get("type", "?")
        self.tally.received[kind] += 1
        utt_id = str(msg.get("id", ""))
        if kind == "audio":
            t = float(msg["t"])
            self._frame(utt_id, at, self.checker.audio(utt_id, t, at), "audio", t)
        elif kind == "curves" and utt_id == "idle":
            self.tally.frames["idle"] += int(msg["n"])
        elif kind == "curves":
            t = float(msg["t"])
            verdict = self.checker.curves(utt_id, t, int(msg["n"]), float(msg["fps"]), at)
            self._frame(utt_id, at, verdict, "curves", t)
        elif kind == "utterance" and msg.get("state") == "start":
            self.sources[utt_id] = str(msg.get("source", "say"))
            self._fresh.add(utt_id)
        elif kind == "utterance":
            self.checker.forget(utt_id)
            self.sources.pop(utt_id, None)
            self._fresh.discard(utt_id)
            return msg
        elif kind == "error" and msg.get("code") == "busy":
            self.tally.turns["busy"] += 1  # admission control's answer, not a fault
            if self._asked is not None:  # a refusal must come at once: timed like a first frame
                self.tally.busy_answer.add(at - self._asked[1])
                self._asked = None
            return msg  # ends the turn that asked
        elif kind == "error":
            self.tally.errors[str(msg.get("code", "?"))] += 1
        return None

    def _frame(self, utt_id: str, at: float, verdict: Verdict, what: str, t: float) -> None:
        """Count a message's frames; a late one is also noted with its place in the run and
        in its utterance (a sentence boundary, a stall of every stream at once)."""
        tally = self.tally
        tally.frames[what] += verdict.frames
        if verdict.lead is not None:
            tally.lead.add(verdict.lead)
        if verdict.late:
            source, lateness = self.sources.get(utt_id, "?"), -(verdict.lead or 0.0)
            tally.late[source] += verdict.late
            tally.worst_late = max(tally.worst_late, lateness)
            if len(tally.late_events) < LATE_EVENTS:
                tally.late_events.append({
                    "run_s": round(at - tally.started, 2), "source": source, "what": what,
                    "utterance_t": round(t, 3), "frames": verdict.late,
                    "late_ms": round(lateness * 1000, 1)})
        if utt_id in self._fresh:
            self._fresh.discard(utt_id)
            if self._asked is not None:
                kind, asked_at = self._asked
                tally.response.setdefault(kind, Histogram()).add(at - asked_at)
                self._asked = None


