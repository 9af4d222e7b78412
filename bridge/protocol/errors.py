"""Every fault the bridge reports on the wire, as one exception tree.

The transport turns any :class:`TalkbridgeError` into an ``error`` message (and closes the
connection when it is fatal), so code anywhere in the server reports a fault by raising the
matching class; nothing has to know about sockets. Remote faults (the client sent something
wrong), refused requests and local faults are different branches, so logs and metrics can
tell "their bug" from "our bug" without parsing messages. Each class has a stable ``code``:
clients switch on it, so a code never changes meaning once released.

.. code-block:: text

    TalkbridgeError                       code, fatal, close_code (class attributes)
    ├── ProtocolError                     remote fault: the bytes or fields are wrong
    │   ├── TextFrameRefused              text_frame
    │   ├── MalformedMessage              malformed: not msgpack, not a map, trailing bytes, …
    │   ├── MissingType                   missing_type
    │   ├── UnknownType                   unknown_type
    │   ├── InvalidField                  invalid_field (.field names the offending key)
    │   ├── MessageTooLarge               message_too_large
    │   ├── HelloRequired                 hello_required        fatal, close 1008
    │   ├── UnsupportedProtocol           unsupported_protocol  fatal, close 1008
    │   └── Unauthorized                  unauthorized          fatal, close 1008
    ├── RequestError                      a valid message the server can't carry out
    │   ├── UnknownVoice                  unknown_voice
    │   ├── UnknownEmotion                unknown_emotion
    │   ├── UnknownChannel                unknown_channel
    │   ├── EmptyText                     empty_text
    │   ├── TextTooLong                   text_too_long
    │   ├── QueueFull                     queue_full
    │   ├── Busy                          busy: the server can't start it within max_wait
    │   ├── DuplicateId                   duplicate_id
    │   ├── Unsupported                   unsupported: a type this build does not serve yet
    │   └── TooManySessions               too_many_sessions     fatal, close 1008
    └── ServerError                       internal: local fault, the session carries on
        ├── ProviderError                 provider_failed
        └── SlowConsumer                  slow_consumer

Only policy violations are fatal: the connection closes with 1008 after the ``error``. A
server fault that had to end a session would close with 1011; none does today, because one
broken utterance should never cost the user the conversation.
"""

from __future__ import annotations

from typing import ClassVar

from bridge.protocol.messages import Error

POLICY_VIOLATION = 1008
INTERNAL_ERROR = 1011


class TalkbridgeError(Exception):
    """Root of every fault that goes on the wire; catch this one in transports."""

    code: ClassVar[str] = "internal"
    fatal: ClassVar[bool] = False
    close_code: ClassVar[int | None] = None


# ---- remote faults ----------------------------------------------------------------------


class ProtocolError(TalkbridgeError):
    """The client broke the protocol: fixing it means changing the client."""

    code = "protocol"


class TextFrameRefused(ProtocolError):
    """JSON in a text frame is the most common first mistake; say so by name."""

    code = "text_frame"


class MalformedMessage(ProtocolError):
    """The frame is not one msgpack map with string keys and nothing after it."""

    code = "malformed"


class MissingType(ProtocolError):
    """A map without ``type`` cannot be routed, but the session can carry on."""

    code = "missing_type"


class UnknownType(ProtocolError):
    """Newer clients may send types we don't know; that is reported, never fatal."""

    code = "unknown_type"


class InvalidField(ProtocolError):
    """A known message with a field missing, mistyped or out of range.

    ``field`` names the key so client libraries can point at the line that built it.
    """

    code = "invalid_field"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class MessageTooLarge(ProtocolError):
    """Bounded input is what keeps one client from starving the others."""

    code = "message_too_large"


class HelloRequired(ProtocolError):
    """Nothing is meaningful before ``hello`` fixes the rates, channels and encoding."""

    code = "hello_required"
    fatal = True
    close_code = POLICY_VIOLATION


class UnsupportedProtocol(ProtocolError):
    """Talking past each other in different versions is worse than refusing early."""

    code = "unsupported_protocol"
    fatal = True
    close_code = POLICY_VIOLATION


class Unauthorized(ProtocolError):
    """A wrong token must end the connection before it can cost any compute."""

    code = "unauthorized"
    fatal = True
    close_code = POLICY_VIOLATION


# ---- refused requests -------------------------------------------------------------------


class RequestError(TalkbridgeError):
    """Well-formed, but this server cannot do it (now): the client may retry differently."""

    code = "request"


class UnknownVoice(RequestError):
    """The message should list the voices there are, so the fix is one copy-paste."""

    code = "unknown_voice"


class UnknownEmotion(RequestError):
    """An emotion name or weight key that the emotion layer does not know."""

    code = "unknown_emotion"


class UnknownChannel(RequestError):
    """A ``hello.channels`` entry that is neither a channel set nor a channel name."""

    code = "unknown_channel"


class EmptyText(RequestError):
    """An utterance with nothing to say would only produce a start/end pair."""

    code = "empty_text"


class TextTooLong(RequestError):
    """Long texts are split by the client, so one request can't hold the queue for minutes."""

    code = "text_too_long"


class QueueFull(RequestError):
    """Back-pressure on ``say``: the queue is bounded so memory and latency are too."""

    code = "queue_full"


class Busy(RequestError):
    """Admission control: the server can't start this utterance within ``[scale] max_wait``,
    so it says so at once instead of making the client wait (and everyone slower)."""

    code = "busy"


class DuplicateId(RequestError):
    """Two live utterances with one id would make ``clear`` and ``interrupt`` ambiguous."""

    code = "duplicate_id"


class Unsupported(RequestError):
    """A valid message type that this build does not serve yet (``mic``, ``chat``, …)."""

    code = "unsupported"


# ---- local faults -----------------------------------------------------------------------


class ServerError(TalkbridgeError):
    """Our fault, not the client's: logged with a traceback, reported without one."""

    code = "internal"


class ProviderError(ServerError):
    """A TTS/ASR/LLM provider failed; ``ref`` on the wire names the utterance it cost."""

    code = "provider_failed"


class ProviderTimeout(ProviderError):
    """A provider did not answer within its time-out; the turn ended, the session goes on."""

    code = "provider_timeout"


class SlowConsumer(ServerError):
    """The client reads slower than real time, so curve frames were dropped."""

    code = "slow_consumer"


#: Every concrete code and the class that raises it, for clients that map errors back.
ERROR_CLASSES: dict[str, type[TalkbridgeError]] = {
    cls.code: cls
    for cls in (
        TextFrameRefused, MalformedMessage, MissingType, UnknownType, InvalidField,
        MessageTooLarge, HelloRequired, UnsupportedProtocol, Unauthorized,
        UnknownVoice, UnknownEmotion, UnknownChannel, EmptyText, TextTooLong, QueueFull,
        DuplicateId, Unsupported,
        ServerError, ProviderError, ProviderTimeout, SlowConsumer,
    )
}


def error_message(exc: TalkbridgeError, ref: str | None = None) -> Error:
    """The wire form of ``exc``; ``ref`` names the utterance it concerns, if any."""
    return Error(code=exc.code, message=str(exc) or exc.code, fatal=exc.fatal, ref=ref)


class TooManySessions(RequestError):
    """One address may hold only so many sessions, so one client can't take every slot."""

    code = "too_many_sessions"
    fatal = True
    close_code = POLICY_VIOLATION


ERROR_CLASSES[TooManySessions.code] = TooManySessions
