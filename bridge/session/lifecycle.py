"""A session's lifecycle as a table: which events each phase takes, and what refuses the rest.

Pure: :func:`step` maps (phase, event) to the next phase or raises the typed error the client
gets. The session applies the step only after the event was handled, so a ``hello`` that
fails (wrong protocol, wrong token) leaves the session waiting for a good one.
"""

from __future__ import annotations

import enum
from typing import Callable

from bridge.protocol import errors as err


class Phase(enum.Enum):
    AWAITING_HELLO = "awaiting_hello"  # connected; nothing but hello is served
    OPEN = "open"                      # greeted: every message is served
    CLOSED = "closed"                  # the client left; late messages are dropped


class Event(enum.Enum):
    HELLO = "hello"
    MESSAGE = "message"  # any other client message
    CLOSE = "close"


#: What each (phase, event) leads to.
TRANSITIONS: dict[tuple[Phase, Event], Phase] = {
    (Phase.AWAITING_HELLO, Event.HELLO): Phase.OPEN,
    (Phase.AWAITING_HELLO, Event.CLOSE): Phase.CLOSED,
    (Phase.OPEN, Event.MESSAGE): Phase.OPEN,
    (Phase.OPEN, Event.CLOSE): Phase.CLOSED,
    (Phase.CLOSED, Event.CLOSE): Phase.CLOSED,
}

#: The events a phase refuses, each with the error the client gets (given the message type).
REFUSALS: dict[tuple[Phase, Event], Callable[[str], err.TalkbridgeError]] = {
    (Phase.AWAITING_HELLO, Event.MESSAGE):
        lambda kind: err.HelloRequired(f"send hello first (got {kind!r})"),
    (Phase.OPEN, Event.HELLO):
        lambda kind: err.InvalidField("hello was already received on this connection",
                                      field="type"),
}


def step(phase: Phase, event: Event, kind: str = "") -> Phase | None:
    """The phase after ``event``; raises the refusal's error; None: drop it (a closed session)."""
    refusal = REFUSALS.get((phase, event))
    if refusal is not None:
        raise refusal(kind)
    return TRANSITIONS.get((phase, event))
