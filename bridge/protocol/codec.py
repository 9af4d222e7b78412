"""Bytes ⇄ messages for wire protocol v1, and the binary payloads inside them.

This is the one place untrusted bytes become Python objects, so it is strict and total:
:func:`decode_client` returns a valid message or raises a :class:`~.errors.ProtocolError`
with a stable code, and nothing else ever escapes (no msgpack, Unicode or overflow errors
for the transport to guess about). Field rules live in one table, :data:`_SCHEMAS`, next
to nothing else, so the C++ and C# decoders can be checked against it line by line.

Only syntax and ranges are checked here. What depends on the session (protocol version,
known voices, text length) is the session's call, and unknown keys are ignored so newer
clients keep working with older servers.

:func:`encode` is deterministic: ``type`` first, then the dataclass fields in order, ``None``
fields left off, floats always as float64. The golden fixtures depend on that.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable, Mapping
from typing import NamedTuple, cast

import msgpack
import numpy as np

from bridge.protocol import messages as m
from bridge.protocol.errors import (
    InvalidField,
    MalformedMessage,
    MessageTooLarge,
    MissingType,
    TextFrameRefused,
    UnknownType,
)
from bridge.protocol.images import NotAnImage, media_type

MAX_MESSAGE_BYTES = 1 << 20
ENCODINGS: tuple[str, ...] = ("f16", "f32")
FPS_RANGE: tuple[int, int] = (1, 240)
RATE_RANGE: tuple[int, int] = (8000, 192000)
MAX_HELLO_CHANNELS = 128
#: seq and n fit a signed 32-bit int, which is what the engine plugins hold them in.
MAX_COUNT = 2**31 - 1

Check = Callable[[object], object]


class _Reject(Exception):
    """Why one value is refused; :func:`_build` adds the message type and field name."""


# ---- value checks -----------------------------------------------------------------------


_KIND_NAMES: tuple[tuple[type, str], ...] = (
    (bool, "bool"), (int, "int"), (float, "float"), (str, "str"), (bytes, "bin"),
    (list, "array"), (dict, "map"),
)


def _kind(value: object) -> str:
    """msgpack's name for a value's type: the vocabulary of client authors in any language."""
    if value is None:
        return "nil"
    for cls, name in _KIND_NAMES:
        if isinstance(value, cls):
            return name
    return type(value).__name__


def _show(value: object, limit: int = 40) -> str:
    """A repr short enough that a 1 MiB string can't blow up the error message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _expected(what: str, value: object) -> _Reject:
    return _Reject(f"expected {what}, got {_kind(value)}")


def _in_range(value: float, lo: float | None, hi: float | None) -> None:
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        bounds = f"{lo}..{hi}" if lo is not None and hi is not None else (
            f">= {lo}" if lo is not None else f"<= {hi}")
        raise _Reject(f"must be {bounds}, got {value}")


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise _expected("str", value)
    return value


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise _expected("bool", value)
    return value


def _bin(value: object) -> bytes:
    """Binary payloads must be msgpack bin: a str would have been decoded as UTF-8 already."""
    if not isinstance(value, bytes):
        raise _expected("bin", value)
    return value


def _number(value: object) -> float:
    """Any finite msgpack number as a float: many encoders write 1.0 as the int 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _expected("float", value)
    try:
        number = float(value)
    except OverflowError:
        raise _Reject(f"{_show(value)} is out of range for a float") from None
    if not math.isfinite(number):
        raise _Reject(f"must be finite, got {number}")
    return number


def _int(lo: int | None = None, hi: int | None = None) -> Check:
    """An int check; bools are refused although Python counts them as ints."""
    def check(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _expected("int", value)
        _in_range(value, lo, hi)
        return value
    return check


def _float(lo: float | None = None) -> Check:
    def check(value: object) -> float:
        number = _number(value)
        _in_range(number, lo, None)
        return number
    return check


def _image(value: object) -> bytes:
    """JPEG or PNG bytes of at most 1 MiB (see :mod:`bridge.protocol.images`)."""
    data = _bin(value)
    try:
        media_type(data)
    except NotAnImage as exc:
        raise _Reject(str(exc)) from None
    return data


def _unit(value: object) -> float:
    """A weight in 0..1 (a gesture's strength)."""
    number = _number(value)
    _in_range(number, 0.0, 1.0)
    return number


def _enum(*allowed: str) -> Check:
    def check(value: object) -> str:
        text = _str(value)
        if text not in allowed:
            raise _Reject(f"must be one of {', '.join(allowed)}; got {_show(text)}")
        return text
    return check


def _names(max_items: int | None) -> Check:
    """A non-empty array of str, as a tuple so the message stays immutable."""
    def check(value: object) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise _expected("array of str", value)
        if not value:
            raise _Reject("must not be empty")
        if max_items is not None and len(value) > max_items:
            raise _Reject(f"has {len(value)} entries; at most {max_items} are allowed")
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise _Reject(f"entry {i}: expected str, got {_kind(item)}")
        return tuple(value)
    return check


def _emotion(value: object) -> str | dict[str, float]:
    """A named emotion, or a blend {name: weight} with every weight in 0..1."""
    if isinstance(value, str):
        return value
    if not isinstance(value, dict):
        raise _expected("str or map", value)
    blend: dict[str, float] = {}
    for name, weight in value.items():
        if not isinstance(name, str):
            raise _Reject(f"keys must be str, got {_kind(name)}")
        try:
            blend[name] = _number(weight)
            _in_range(blend[name], 0.0, 1.0)
        except _Reject as exc:
            raise _Reject(f"weight of {_show(name)}: {exc}") from None
    return blend


_FPS = _int(*FPS_RANGE)
_RATE = _int(*RATE_RANGE)
_COUNT = _int(0, MAX_COUNT)
_TIME = _float(0.0)       # a position on an audio clock: never before the first sample
_CLOCK = _float()         # someone else's clock: any finite value
_ENCODING = _enum(*ENCODINGS)

#: Field rules for every message. Required vs optional comes from the dataclass defaults.
_SCHEMAS: dict[type[m.Message], dict[str, Check]] = {
    m.Hello: {"protocol": _int(), "client": _str, "token": _str, "fps": _FPS,
              "channels": _names(MAX_HELLO_CHANNELS), "audio_rate": _RATE,
              "encoding": _ENCODING, "user": _str},
    m.Say: {"text": _str, "id": _str, "voice": _str, "lang": _str, "emotion": _emotion},
    m.AudioIn: {"id": _str, "rate": _RATE, "data": _bin, "end": _bool},
    m.Mic: {"rate": _RATE, "data": _bin},
    m.Chat: {"text": _str},
    m.Interrupt: {"id": _str},
    m.Playback: {"id": _str, "state": _enum("started", "position", "finished"),
                 "position": _TIME, "interrupted": _bool},
    m.Ping: {"t": _CLOCK},
    m.Image: {"data": _image, "t": _TIME, "prompt": _str},
    m.Welcome: {"protocol": _int(), "session": _str, "server": _str, "fps": _FPS,
                "channels": _names(None), "audio_rate": _RATE, "encoding": _ENCODING},
    m.Utterance: {"id": _str, "state": _enum("start", "end"),
                  "source": _enum("say", "dialogue", "audio_in"), "text": _str,
                  "reason": _enum("done", "interrupted", "error")},
    m.Audio: {"id": _str, "seq": _COUNT, "t": _TIME, "data": _bin},
    m.Curves: {"id": _str, "seq": _COUNT, "t": _TIME, "fps": _FPS, "n": _COUNT, "data": _bin},
    m.Clear: {"id": _str},
    m.Transcript: {"text": _str, "final": _bool},
    m.Reply: {"id": _str, "text": _str, "final": _bool, "emotion": _str},
    m.Error: {"code": _str, "message": _str, "fatal": _bool, "ref": _str},
    m.Pong: {"t": _CLOCK, "server_t": _CLOCK},
    m.Gesture: {"id": _str, "t": _TIME, "name": _str, "duration": _float(0.0), "strength": _unit},
}


class _Field(NamedTuple):
    name: str
    check: Check
    required: bool


def _fields_of(cls: type[m.Message]) -> tuple[_Field, ...]:
    """Join a schema row with its dataclass, failing at import if the two drift apart."""
    checks = _SCHEMAS[cls]
    fields = dataclasses.fields(cls)
    if [f.name for f in fields] != list(checks):
        raise AssertionError(f"_SCHEMAS[{cls.__name__}] does not list its fields in order")
    return tuple(
        _Field(f.name, checks[f.name],
               f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
        for f in fields
    )


def _float_fields(cls: type[m.Message]) -> frozenset[str]:
    """The fields typed ``float`` or ``float | None``: written as float64 even when given 2."""
    hints = typing.get_type_hints(cls)
    return frozenset(f.name for f in dataclasses.fields(cls)
                     if hints[f.name] is float or set(typing.get_args(hints[f.name])) == {
                         float, type(None)})


_FIELDS: dict[type[m.Message], tuple[_Field, ...]] = {cls: _fields_of(cls) for cls in _SCHEMAS}
_FLOATS: dict[type[m.Message], frozenset[str]] = {cls: _float_fields(cls) for cls in _SCHEMAS}


# ---- decoding ---------------------------------------------------------------------------


def check_size(data: bytes, limit: int = MAX_MESSAGE_BYTES) -> None:
    """Refuse a message before decoding it, so its size never turns into memory."""
    if len(data) > limit:
        raise MessageTooLarge(f"message of {len(data)} bytes exceeds the limit of {limit} bytes")


def decode_client(data: bytes) -> m.ClientMessage:
    """One client frame → its message, or a typed :class:`~.errors.ProtocolError`."""
    return cast(m.ClientMessage, _decode(data, m.CLIENT_TYPES, m.SERVER_TYPES))


def decode_server(data: bytes) -> m.ServerMessage:
    """One server frame → its message: the same rules, for tests, tools and plugin fixtures."""
    return cast(m.ServerMessage, _decode(data, m.SERVER_TYPES, m.CLIENT_TYPES))


def _decode(data: bytes, types: Mapping[str, type[m.Message]],
            other_side: Mapping[str, type[m.Message]]) -> m.Message:
    body = _unpack(data)
    if not isinstance(body, dict):
        raise MalformedMessage(f"a message is a msgpack map, got {_kind(body)}")
    if not all(isinstance(key, str) for key in body):
        raise MalformedMessage("message keys must be str")
    return _build(_message_class(body, types, other_side), body)


def _unpack(data: bytes) -> object:
    """msgpack → Python, with every failure of the library turned into MalformedMessage."""
    if isinstance(data, str):
        raise TextFrameRefused("text is not part of protocol v1; send msgpack in binary frames")
    try:
        return msgpack.unpackb(
            data, raw=False, strict_map_key=False, use_list=True,
            object_pairs_hook=_map, ext_hook=_refuse_ext,
            max_ext_len=0,  # also refuses the timestamp ext, which skips ext_hook
        )
    except (ValueError, TypeError, OverflowError, msgpack.UnpackException) as exc:
        raise MalformedMessage(_why_unpack_failed(exc)) from None


def _why_unpack_failed(exc: Exception) -> str:
    if isinstance(exc, msgpack.ExtraData):
        return "trailing bytes after the msgpack map"
    if isinstance(exc, UnicodeDecodeError):
        return "a str is not valid UTF-8 (send binary data as msgpack bin)"
    if isinstance(exc, msgpack.StackError):
        return "msgpack nested too deeply"
    if "max_ext_len" in str(exc):
        return "msgpack extension types are not part of protocol v1"
    return f"not a msgpack message ({str(exc) or type(exc).__name__})"


def _map(pairs: list[tuple[object, object]]) -> dict[object, object]:
    """Build a map, refusing repeated keys: decoders in other languages would disagree on them."""
    try:
        result = dict(pairs)
    except TypeError:
        raise MalformedMessage("a map key is an array or a map") from None
    if len(result) != len(pairs):
        raise MalformedMessage("a map repeats a key")
    return result


def _refuse_ext(code: int, data: bytes) -> object:
    raise MalformedMessage(f"msgpack extension type {code} is not part of protocol v1")


def _message_class(body: dict[str, object], types: Mapping[str, type[m.Message]],
                   other_side: Mapping[str, type[m.Message]]) -> type[m.Message]:
    name = body.get("type")
    if name is None:
        raise MissingType("the message has no 'type'")
    if not isinstance(name, str):
        raise InvalidField(f"type: expected str, got {_kind(name)}", field="type")
    cls = types.get(name)
    if cls is None:
        hint = " (it travels the other way)" if name in other_side else ""
        raise UnknownType(f"unknown message type {_show(name)}{hint}; "
                          f"known: {', '.join(types)}")
    return cls


def _build(cls: type[m.Message], body: dict[str, object]) -> m.Message:
    """Check each field of ``cls`` in ``body``; nil counts as absent, extra keys are ignored."""
    values: dict[str, object] = {}
    for name, check, required in _FIELDS[cls]:
        value = body.get(name)
        if value is None:
            if required:
                problem = "must not be nil" if name in body else "is required"
                raise InvalidField(f"{cls.TYPE}.{name} {problem}", field=name)
            continue
        try:
            values[name] = check(value)
        except _Reject as exc:
            raise InvalidField(f"{cls.TYPE}.{name}: {exc}", field=name) from None
    return cls(**values)  # type: ignore[arg-type]  # checked field by field above


# ---- encoding ---------------------------------------------------------------------------


def encode(msg: m.Message) -> bytes:
    """A message → one msgpack map: deterministic bytes, ``type`` first, ``None`` omitted."""
    cls = type(msg)
    if cls not in _FIELDS:
        raise TypeError(f"not a protocol message: {cls.__name__}")
    floats = _FLOATS[cls]
    body: dict[str, object] = {"type": msg.TYPE}
    for field in _FIELDS[cls]:
        value = getattr(msg, field.name)
        if value is not None:
            body[field.name] = float(value) if field.name in floats else _wire_value(value)
    return cast(bytes, msgpack.packb(body, use_bin_type=True, default=_numpy_scalar))


def _wire_value(value: object) -> object:
    """Emotion weights go out as floats even when given as ints, like every other float."""
    if isinstance(value, dict):
        return {key: float(weight) for key, weight in value.items()}
    return value


def _numpy_scalar(value: object) -> object:
    """Let numpy scalars (a frame count, a float32 time) through as their Python values."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot encode {type(value).__name__} in a protocol message")


# ---- payloads ---------------------------------------------------------------------------


_CURVE_DTYPES: dict[str, np.dtype] = {"f16": np.dtype("<f2"), "f32": np.dtype("<f4")}
_PCM_DTYPE = np.dtype("<i2")


def encode_curves(frames: np.ndarray, encoding: str) -> bytes:
    """(n, channels) weights → row-major little-endian f16/f32 bytes for ``curves.data``."""
    dtype = _CURVE_DTYPES.get(encoding)
    if dtype is None:
        raise ValueError(f"unknown curve encoding {encoding!r}; use one of {', '.join(ENCODINGS)}")
    array = np.asarray(frames)
    if array.ndim != 2:
        raise ValueError(f"curve frames must be 2-D (n, channels), got shape {array.shape}")
    return array.astype(dtype, order="C", copy=False).tobytes(order="C")


def decode_curves(data: bytes, n: int, n_channels: int, encoding: str) -> np.ndarray:
    """``curves.data`` → float32 (n, n_channels); a size mismatch is the sender's fault."""
    dtype = _CURVE_DTYPES.get(encoding)
    if dtype is None:
        raise InvalidField(f"unknown curve encoding {_show(encoding)}", field="encoding")
    if n < 0 or n_channels < 0:
        raise InvalidField(f"negative curve shape ({n}, {n_channels})", field="n")
    expected = n * n_channels * dtype.itemsize
    if len(data) != expected:
        raise InvalidField(f"curves.data has {len(data)} bytes; {n} frames × {n_channels} "
                           f"channels of {encoding} take {expected}", field="data")
    return np.frombuffer(data, dtype=dtype).reshape(n, n_channels).astype(np.float32)


def encode_pcm16(samples: np.ndarray) -> bytes:
    """Mono samples → PCM16 LE; floats in [-1, 1] are clipped and scaled, int16 passes through."""
    array = np.asarray(samples)
    if array.ndim > 1:
        raise ValueError(f"PCM is mono: expected 1-D samples, got shape {array.shape}")
    if array.dtype.kind == "i" and array.dtype.itemsize == 2:  # int16 in either byte order
        return array.astype(_PCM_DTYPE, copy=False).tobytes()
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"PCM samples must be float in [-1, 1] or int16, got {array.dtype}")
    clipped = np.clip(np.nan_to_num(array.astype(np.float64), nan=0.0), -1.0, 1.0)
    return np.rint(clipped * 32767.0).astype(_PCM_DTYPE).tobytes()


def decode_pcm16(data: bytes) -> np.ndarray:
    """PCM16 LE bytes → int16 samples in native order; an odd length can't be PCM16."""
    if len(data) % 2:
        raise InvalidField(f"PCM16 data has an odd length ({len(data)} bytes)", field="data")
    return np.frombuffer(data, dtype=_PCM_DTYPE).astype(np.int16)
