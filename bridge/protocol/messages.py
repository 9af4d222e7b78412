"""The messages of wire protocol v1 (DESIGN §3) as frozen dataclasses.

Messages are values: immutable, comparable, free of I/O, so the session, the tests and any
replay tool exchange them without caring how they travel. The field order of each class is
the key order on the wire (after ``type``), and a field that is ``None`` is left off the
wire, which is how optional fields stay optional for decoders in other languages. Ranges and
enums are enforced by :mod:`bridge.protocol.codec`, the only place untrusted data arrives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, TypeAlias

# ---- client → server --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hello:
    """Fixes the session's rates, channel columns and encoding before anything else."""

    TYPE: ClassVar[str] = "hello"
    protocol: int
    client: str
    token: str | None = None
    fps: int = 60
    channels: tuple[str, ...] = ("arkit52",)
    audio_rate: int = 48000
    encoding: str = "f16"
    user: str | None = None  # whose conversation memory the dialogue loop uses


@dataclass(frozen=True, slots=True)
class Say:
    """Text to speak; the server streams audio and curves for it as one utterance."""

    TYPE: ClassVar[str] = "say"
    text: str
    id: str | None = None
    voice: str | None = None
    lang: str | None = None
    emotion: str | dict[str, float] | None = None


@dataclass(frozen=True, slots=True)
class AudioIn:
    """Audio the client already has (its own TTS, a performer): animate it, curves only."""

    TYPE: ClassVar[str] = "audio_in"
    id: str
    rate: int
    data: bytes
    end: bool = False


@dataclass(frozen=True, slots=True)
class Mic:
    """User speech for the dialogue loop; PCM16 mono at ``rate``."""

    TYPE: ClassVar[str] = "mic"
    rate: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Chat:
    """A typed user turn, for engines and terminals without a microphone."""

    TYPE: ClassVar[str] = "chat"
    text: str


@dataclass(frozen=True, slots=True)
class Interrupt:
    """Barge-in from the engine; no id means "stop everything"."""

    TYPE: ClassVar[str] = "interrupt"
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Playback:
    """The engine's playback clock: only the engine knows what the user actually heard."""

    TYPE: ClassVar[str] = "playback"
    id: str
    state: str
    position: float
    interrupted: bool | None = None


@dataclass(frozen=True, slots=True)
class Ping:
    """Round-trip probe; ``t`` is the client's clock, echoed back untouched."""

    TYPE: ClassVar[str] = "ping"
    t: float


@dataclass(frozen=True, slots=True)
class Image:
    """What the engine's camera (or the user's webcam) sees, for the next language-model turn.

    ``data`` is a JPEG or PNG file (≤ 1 MiB); ``t`` is when it was taken, in seconds on the
    session clock (that of ``pong.server_t``), so the model is told its age; a ``prompt``
    starts a turn about it, like a ``chat`` with that text.
    """

    TYPE: ClassVar[str] = "image"
    data: bytes
    t: float | None = None
    prompt: str | None = None


# ---- server → client --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Welcome:
    """The hello as the server will honour it; ``channels`` fixes every curves column."""

    TYPE: ClassVar[str] = "welcome"
    protocol: int
    session: str
    server: str
    fps: int
    channels: tuple[str, ...]
    audio_rate: int
    encoding: str


@dataclass(frozen=True, slots=True)
class Utterance:
    """Brackets an utterance, so engines know when to switch from idle frames and back."""

    TYPE: ClassVar[str] = "utterance"
    id: str
    state: str
    source: str
    text: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Audio:
    """PCM16 at the session's audio rate; ``t`` is its first sample on the utterance clock."""

    TYPE: ClassVar[str] = "audio"
    id: str
    seq: int
    t: float
    data: bytes


@dataclass(frozen=True, slots=True)
class Curves:
    """``n`` frames × len(channels) weights; frame k sits at ``t + k/fps`` on the audio clock."""

    TYPE: ClassVar[str] = "curves"
    id: str
    seq: int
    t: float
    fps: int
    n: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Clear:
    """After an interrupt, whatever the client buffered for ``id`` must never play."""

    TYPE: ClassVar[str] = "clear"
    id: str


@dataclass(frozen=True, slots=True)
class Transcript:
    """What the user said, partial while they speak, so UIs can show captions early."""

    TYPE: ClassVar[str] = "transcript"
    text: str
    final: bool


@dataclass(frozen=True, slots=True)
class Reply:
    """The assistant's text as it streams, for subtitles ahead of the audio."""

    TYPE: ClassVar[str] = "reply"
    id: str
    text: str
    final: bool
    emotion: str | None = None  # the emotion the face shows for this reply


@dataclass(frozen=True, slots=True)
class Error:
    """A fault report; see :mod:`bridge.protocol.errors` for the codes."""

    TYPE: ClassVar[str] = "error"
    code: str
    message: str
    fatal: bool = False
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Pong:
    """Answers ``ping``; ``server_t`` is seconds since ``welcome`` on the server's clock."""

    TYPE: ClassVar[str] = "pong"
    t: float
    server_t: float


@dataclass(frozen=True, slots=True)
class Gesture:
    """A body cue on the utterance clock (``nod``, ``shake``, ``tilt``, ``brow_raise``,
    ``beat``, ``shrug``; more may come): engines play body animations from it. Its head and
    brow part is already in the curves."""

    TYPE: ClassVar[str] = "gesture"
    id: str
    t: float
    name: str
    duration: float
    strength: float


ClientMessage: TypeAlias = Hello | Say | AudioIn | Mic | Chat | Interrupt | Playback | Ping | Image
ServerMessage: TypeAlias = (
    Welcome | Utterance | Audio | Curves | Clear | Transcript | Reply | Error | Pong | Gesture
)
Message: TypeAlias = ClientMessage | ServerMessage

CLIENT_TYPES: dict[str, type[ClientMessage]] = {
    cls.TYPE: cls for cls in (Hello, Say, AudioIn, Mic, Chat, Interrupt, Playback, Ping, Image)
}
SERVER_TYPES: dict[str, type[ServerMessage]] = {
    cls.TYPE: cls
    for cls in (Welcome, Utterance, Audio, Curves, Clear, Transcript, Reply, Error, Pong, Gesture)
}
