"""Sans-I/O wire protocol v1: typed messages, the msgpack codec, validation and errors.

Bytes in → a typed message or a typed error; a message out → bytes. The WebSocket
transport, the tests and replay tools all share this one core, and it imports nothing
from the rest of ``bridge`` (no asyncio, no torch), so it stays usable on its own.
"""

from __future__ import annotations

from bridge.protocol.codec import (
    ENCODINGS,
    MAX_MESSAGE_BYTES,
    check_size,
    decode_client,
    decode_curves,
    decode_pcm16,
    decode_server,
    encode,
    encode_curves,
    encode_pcm16,
)
from bridge.protocol.errors import (
    ERROR_CLASSES,
    DuplicateId,
    EmptyText,
    HelloRequired,
    InvalidField,
    MalformedMessage,
    MessageTooLarge,
    MissingType,
    ProtocolError,
    ProviderError,
    QueueFull,
    RequestError,
    ServerError,
    SlowConsumer,
    TalkbridgeError,
    TextFrameRefused,
    TextTooLong,
    Unauthorized,
    UnknownChannel,
    UnknownEmotion,
    UnknownType,
    UnknownVoice,
    Unsupported,
    UnsupportedProtocol,
    error_message,
)
from bridge.protocol.images import MAX_IMAGE_BYTES, NotAnImage, media_type
from bridge.protocol.messages import (
    CLIENT_TYPES,
    SERVER_TYPES,
    Audio,
    AudioIn,
    Chat,
    Clear,
    ClientMessage,
    Curves,
    Error,
    Gesture,
    Hello,
    Image,
    Interrupt,
    Message,
    Mic,
    Ping,
    Playback,
    Pong,
    Reply,
    Say,
    ServerMessage,
    Transcript,
    Utterance,
    Welcome,
)

__all__ = [
    # codec
    "ENCODINGS", "MAX_MESSAGE_BYTES", "check_size", "decode_client", "decode_curves",
    "decode_pcm16", "decode_server", "encode", "encode_curves", "encode_pcm16",
    # errors
    "ERROR_CLASSES", "DuplicateId", "EmptyText", "HelloRequired", "InvalidField",
    "MalformedMessage", "MessageTooLarge", "MissingType", "ProtocolError", "ProviderError",
    "QueueFull", "RequestError", "ServerError", "SlowConsumer", "TalkbridgeError",
    "TextFrameRefused", "TextTooLong", "Unauthorized", "UnknownChannel", "UnknownEmotion",
    "UnknownType", "UnknownVoice", "Unsupported", "UnsupportedProtocol", "error_message",
    # images
    "MAX_IMAGE_BYTES", "NotAnImage", "media_type",
    # messages
    "CLIENT_TYPES", "SERVER_TYPES", "Audio", "AudioIn", "Chat", "Clear", "ClientMessage",
    "Curves", "Error", "Gesture", "Hello", "Image", "Interrupt", "Message", "Mic", "Ping",
    "Playback", "Pong", "Reply", "Say", "ServerMessage", "Transcript", "Utterance", "Welcome",
]
