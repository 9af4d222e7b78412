"""One connection's framing rules, sans-I/O: frames in, events out.

The shape of websockets' own ``Protocol``: a transport feeds every frame it receives to
:meth:`ConnectionRules.receive` and acts on what comes back — a decoded message for the
session, or a refusal to send (and, when it is fatal, the close code to close with). The
session's own refusals go through :meth:`ConnectionRules.refuse`, so every fault reaches the
client the same way. Which messages a connection takes in which phase (hello first) is the
session's lifecycle table (``bridge.session.lifecycle``). No sockets, no asyncio: tested with
bytes alone, and any transport (WebSocket today, others later) applies the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.protocol import codec
from bridge.protocol import errors as err
from bridge.protocol import messages as m


@dataclass(frozen=True)
class Received:
    """A frame that decoded to a client message: hand it to the session."""

    msg: m.ClientMessage


@dataclass(frozen=True)
class Refused:
    """A fault to report: send ``reply``; then close with ``close_code`` unless it is None."""

    error: err.TalkbridgeError
    reply: m.Error
    close_code: int | None


class ConnectionRules:
    """Binary msgpack frames only, each at most ``max_bytes``, each a known client message."""

    def __init__(self, max_bytes: int = codec.MAX_MESSAGE_BYTES) -> None:
        self.max_bytes = max_bytes

    def receive(self, frame: str | bytes) -> Received | Refused:
        try:
            if isinstance(frame, str):
                raise err.TextFrameRefused("text frames are not part of protocol v1; send "
                                           "msgpack in binary frames")
            codec.check_size(frame, self.max_bytes)
            return Received(codec.decode_client(frame))
        except err.TalkbridgeError as exc:
            return self.refuse(exc)

    @staticmethod
    def refuse(exc: err.TalkbridgeError, ref: str | None = None) -> Refused:
        """``exc`` as the client hears it; a fatal one closes the connection (1008 unless the
        error names another code)."""
        close = (exc.close_code or err.POLICY_VIOLATION) if exc.fatal else None
        return Refused(exc, err.error_message(exc, ref=ref), close)

    @staticmethod
    def send(msg: m.ServerMessage) -> bytes:
        """A server message as the frame to write."""
        return codec.encode(msg)
