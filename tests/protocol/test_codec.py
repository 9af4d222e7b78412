"""The codec, read like the protocol: messages ⇄ msgpack maps, and every refusal by its code.

Wire forms are checked with plain ``msgpack.unpackb``, an independent decoder, so a bug
that the encoder and decoder share can't hide in a round trip.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.protocol import codec
from bridge.protocol import errors as err
from bridge.protocol import messages as m
from bridge.protocol.images import MAX_IMAGE_BYTES, NotAnImage, media_type
from bridge.tools.fixtures import fixture_messages
from bridge.tools.images import gray_jpeg, solid_png

settings.register_profile("protocol", deadline=None, max_examples=150,
                          suppress_health_check=[HealthCheck.too_slow])
FAST = settings.get_profile("protocol")


JPEG = gray_jpeg(200)
PNG = solid_png(2, 2, (255, 0, 0))


def pack(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False)


def _type_of(data: bytes) -> object:
    return msgpack.unpackb(data, raw=False, strict_map_key=False).get("type")


def decode_any(data: bytes) -> m.Message:
    return codec.decode_server(data) if _type_of(data) in m.SERVER_TYPES \
        else codec.decode_client(data)


# ---- wire form --------------------------------------------------------------------------

WIRE_FORMS: list[tuple[m.Message, dict[str, Any]]] = [
    (m.Hello(protocol=1, client="c"),
     {"type": "hello", "protocol": 1, "client": "c", "fps": 60, "channels": ["arkit52"],
      "audio_rate": 48000, "encoding": "f16"}),
    (m.Hello(protocol=1, client="c", token="t", fps=30, channels=("arkit52", "head"),
             audio_rate=16000, encoding="f32"),
     {"type": "hello", "protocol": 1, "client": "c", "token": "t", "fps": 30,
      "channels": ["arkit52", "head"], "audio_rate": 16000, "encoding": "f32"}),
    (m.Say(text="hi"), {"type": "say", "text": "hi"}),
    (m.Say(text="hi", id="a", voice="v", lang="de", emotion="happy"),
     {"type": "say", "text": "hi", "id": "a", "voice": "v", "lang": "de", "emotion": "happy"}),
    (m.Say(text="hi", emotion={"happy": 1, "sad": 0.25}),
     {"type": "say", "text": "hi", "emotion": {"happy": 1.0, "sad": 0.25}}),
    (m.AudioIn(id="a", rate=16000, data=b"\x01\x02"),
     {"type": "audio_in", "id": "a", "rate": 16000, "data": b"\x01\x02", "end": False}),
    (m.Mic(rate=16000, data=b""), {"type": "mic", "rate": 16000, "data": b""}),
    (m.Chat(text="yo"), {"type": "chat", "text": "yo"}),
    (m.Interrupt(), {"type": "interrupt"}),
    (m.Interrupt(id="a"), {"type": "interrupt", "id": "a"}),
    (m.Playback(id="a", state="position", position=0.5),
     {"type": "playback", "id": "a", "state": "position", "position": 0.5}),
    (m.Playback(id="a", state="finished", position=2, interrupted=True),
     {"type": "playback", "id": "a", "state": "finished", "position": 2.0, "interrupted": True}),
    (m.Ping(t=2), {"type": "ping", "t": 2.0}),
    (m.Welcome(protocol=1, session="s", server="tb", fps=60, channels=("jawOpen",),
               audio_rate=48000, encoding="f16"),
     {"type": "welcome", "protocol": 1, "session": "s", "server": "tb", "fps": 60,
      "channels": ["jawOpen"], "audio_rate": 48000, "encoding": "f16"}),
    (m.Utterance(id="a", state="start", source="say", text="hi"),
     {"type": "utterance", "id": "a", "state": "start", "source": "say", "text": "hi"}),
    (m.Utterance(id="a", state="end", source="audio_in", reason="interrupted"),
     {"type": "utterance", "id": "a", "state": "end", "source": "audio_in",
      "reason": "interrupted"}),
    (m.Audio(id="a", seq=3, t=0.15, data=b"\0\0"),
     {"type": "audio", "id": "a", "seq": 3, "t": 0.15, "data": b"\0\0"}),
    (m.Curves(id="idle", seq=0, t=1, fps=60, n=0, data=b""),
     {"type": "curves", "id": "idle", "seq": 0, "t": 1.0, "fps": 60, "n": 0, "data": b""}),
    (m.Clear(id="a"), {"type": "clear", "id": "a"}),
    (m.Transcript(text="hey", final=False), {"type": "transcript", "text": "hey", "final": False}),
    (m.Reply(id="d", text="Hi.", final=True), {"type": "reply", "id": "d", "text": "Hi.",
                                               "final": True}),
    (m.Error(code="queue_full", message="wait"),
     {"type": "error", "code": "queue_full", "message": "wait", "fatal": False}),
    (m.Error(code="provider_failed", message="tts", fatal=False, ref="u3"),
     {"type": "error", "code": "provider_failed", "message": "tts", "fatal": False, "ref": "u3"}),
    (m.Pong(t=1, server_t=0.5), {"type": "pong", "t": 1.0, "server_t": 0.5}),
    (m.Gesture(id="a", t=0.5, name="nod", duration=1, strength=0.75),
     {"type": "gesture", "id": "a", "t": 0.5, "name": "nod", "duration": 1.0, "strength": 0.75}),
    (m.Image(data=JPEG), {"type": "image", "data": JPEG}),
    (m.Image(data=PNG, t=2, prompt="What is this?"),
     {"type": "image", "data": PNG, "t": 2.0, "prompt": "What is this?"}),
]


def test_wire_forms_cover_every_message_type() -> None:
    covered = {type(msg) for msg, _ in WIRE_FORMS}
    assert covered == set(m.CLIENT_TYPES.values()) | set(m.SERVER_TYPES.values())


@pytest.mark.parametrize("msg,wire", WIRE_FORMS, ids=lambda x: getattr(x, "TYPE", ""))
def test_encode_writes_the_documented_map(msg: m.Message, wire: dict[str, Any]) -> None:
    body = unpack(codec.encode(msg))
    assert body == wire
    assert list(body) == list(wire)  # type first, then fields in order, None left off
    for key, value in wire.items():
        assert type(body[key]) is type(value), key  # 2 goes out as 2.0, bytes as bin


@pytest.mark.parametrize("msg,wire", WIRE_FORMS, ids=lambda x: getattr(x, "TYPE", ""))
def test_decode_reads_the_documented_map(msg: m.Message, wire: dict[str, Any]) -> None:
    assert decode_any(pack(wire)) == msg


@pytest.mark.parametrize("stem", sorted(fixture_messages()))
def test_round_trip(stem: str) -> None:
    msg = fixture_messages()[stem]
    data = codec.encode(msg)
    assert decode_any(data) == msg
    assert codec.encode(decode_any(data)) == data


def test_decoded_messages_have_exact_python_types() -> None:
    msg = codec.decode_client(pack({"type": "hello", "protocol": 1, "client": "c",
                                    "channels": ["arkit52", "visemes"]}))
    assert isinstance(msg, m.Hello) and msg.channels == ("arkit52", "visemes")
    ping = codec.decode_client(pack({"type": "ping", "t": 7}))
    assert isinstance(ping, m.Ping) and type(ping.t) is float and ping.t == 7.0
    say = codec.decode_client(pack({"type": "say", "text": "x", "emotion": {"happy": 1}}))
    assert isinstance(say, m.Say) and say.emotion == {"happy": 1.0}
    assert type(say.emotion["happy"]) is float  # type: ignore[index]


def test_encode_is_deterministic_and_float_fields_are_float64() -> None:
    expected = b"\x82\xa4type\xa4ping\xa1t\xcb?\xf0\x00\x00\x00\x00\x00\x00"  # t: float64 1.0
    assert codec.encode(m.Ping(t=1)) == codec.encode(m.Ping(t=1.0)) == expected
    msg = fixture_messages()["welcome"]
    assert codec.encode(msg) == codec.encode(dataclasses.replace(msg))


def test_encode_accepts_numpy_scalars() -> None:
    msg = m.Curves(id="u", seq=np.int64(2), t=np.float32(0.5), fps=np.int32(60),  # type: ignore[arg-type]
                   n=np.int64(0), data=b"")
    assert codec.encode(msg) == codec.encode(m.Curves(id="u", seq=2, t=0.5, fps=60, n=0, data=b""))


def test_encode_refuses_what_is_not_a_message() -> None:
    with pytest.raises(TypeError):
        codec.encode({"type": "ping", "t": 1.0})  # type: ignore[arg-type]


def test_unknown_keys_are_ignored() -> None:
    frame = pack({"type": "say", "text": "hi", "future": {"nested": [1, 2]}, "speed": 1.5,
                  "blob": b"\x00"})
    assert codec.decode_client(frame) == m.Say(text="hi")


def test_nil_optional_field_counts_as_absent() -> None:
    frame = pack({"type": "hello", "protocol": 1, "client": "c", "fps": None, "token": None})
    assert codec.decode_client(frame) == m.Hello(protocol=1, client="c")


def test_key_order_on_the_wire_does_not_matter() -> None:
    frame = pack({"client": "c", "protocol": 1, "type": "hello"})
    assert codec.decode_client(frame) == m.Hello(protocol=1, client="c")


def test_protocol_version_and_string_lengths_are_left_to_the_session() -> None:
    frame = pack({"type": "hello", "protocol": 99, "client": ""})
    assert codec.decode_client(frame) == m.Hello(protocol=99, client="")
    assert codec.decode_client(pack({"type": "say", "text": "x" * 100_000})).text == "x" * 100_000


def test_bytearray_and_memoryview_frames_decode() -> None:
    frame = pack({"type": "ping", "t": 1.0})
    assert codec.decode_client(bytearray(frame)) == m.Ping(t=1.0)
    assert codec.decode_client(memoryview(frame)) == m.Ping(t=1.0)


# ---- refusals ---------------------------------------------------------------------------


def hello(**fields: Any) -> bytes:
    return pack({"type": "hello", "protocol": 1, "client": "c", **fields})


def say(**fields: Any) -> bytes:
    return pack({"type": "say", "text": "hi", **fields})


def image(**fields: Any) -> bytes:
    return pack({"type": "image", "data": JPEG, **fields})


def raw_map(*pairs: bytes) -> bytes:
    """A fixmap built by hand, for what msgpack.packb won't write (bad UTF-8, repeated keys)."""
    return bytes([0x80 | (len(pairs) // 2)]) + b"".join(pairs)


def fixstr(raw: bytes) -> bytes:
    return bytes([0xA0 | len(raw)]) + raw


PING = pack({"type": "ping", "t": 1.0})

# (id, frame, code, field)
CLIENT_REFUSALS: list[tuple[str, bytes, str, str | None]] = [
    ("not-msgpack", b"\xc1\xc1\xc1", "malformed", None),
    ("empty-frame", b"", "malformed", None),
    ("truncated", PING[:-3], "malformed", None),
    ("array", pack([1, 2, 3]), "malformed", None),
    ("int", pack(7), "malformed", None),
    ("str", pack("hello"), "malformed", None),
    ("nil", pack(None), "malformed", None),
    ("trailing-byte", PING + b"\x00", "malformed", None),
    ("two-messages", PING + PING, "malformed", None),
    ("bad-utf8-value", raw_map(fixstr(b"type"), fixstr(b"chat"), fixstr(b"text"),
                               fixstr(b"\xff\xfe")), "malformed", None),
    ("bad-utf8-key", raw_map(fixstr(b"type"), fixstr(b"ping"), fixstr(b"t"), b"\xcb" + b"\0" * 8,
                             fixstr(b"\xc3\x28"), b"\x01"), "malformed", None),
    ("ext-type", say(extra=msgpack.ExtType(1, b"x")), "malformed", None),
    ("empty-ext", say(extra=msgpack.ExtType(1, b"")), "malformed", None),
    ("ext-in-array", say(extra=[1, msgpack.ExtType(42, b"abcd")]), "malformed", None),
    ("timestamp-ext", pack({"type": "ping", "t": msgpack.Timestamp(1, 0)}), "malformed", None),
    ("int-key", raw_map(fixstr(b"type"), fixstr(b"chat"), fixstr(b"text"), fixstr(b"a"),
                        b"\x01", b"\x02"), "malformed", None),
    ("bin-key", pack({"type": "chat", "text": "x", b"k": 1}), "malformed", None),
    ("repeated-key", raw_map(fixstr(b"type"), fixstr(b"chat"), fixstr(b"text"), fixstr(b"a"),
                             fixstr(b"text"), fixstr(b"b")), "malformed", None),
    ("array-as-key", raw_map(fixstr(b"type"), fixstr(b"chat"), fixstr(b"text"), fixstr(b"a"),
                             fixstr(b"x"), raw_map(b"\x91\x01", b"\x01")), "malformed", None),
    ("too-deep", pack({"type": "chat", "text": "a"})[:-2] + b"\xa1x" + b"\x91" * 5000 + b"\x01",
     "malformed", None),
    ("no-type", pack({"text": "hi"}), "missing_type", None),
    ("nil-type", pack({"type": None, "text": "hi"}), "missing_type", None),
    ("empty-map", pack({}), "missing_type", None),
    ("type-int", pack({"type": 42}), "invalid_field", "type"),
    ("type-bin", pack({"type": b"say", "text": "hi"}), "invalid_field", "type"),
    ("unknown-type", pack({"type": "dance"}), "unknown_type", None),
    ("server-type", pack({"type": "welcome"}), "unknown_type", None),
    ("type-case", pack({"type": "Say", "text": "hi"}), "unknown_type", None),
    ("missing-text", pack({"type": "say"}), "invalid_field", "text"),
    ("nil-text", pack({"type": "say", "text": None}), "invalid_field", "text"),
    ("missing-client", pack({"type": "hello", "protocol": 1}), "invalid_field", "client"),
    ("missing-playback-position", pack({"type": "playback", "id": "a", "state": "started"}),
     "invalid_field", "position"),
    ("int-for-str", pack({"type": "say", "text": 42}), "invalid_field", "text"),
    ("bin-for-str", pack({"type": "say", "text": b"hi"}), "invalid_field", "text"),
    ("str-for-int", hello(fps="60"), "invalid_field", "fps"),
    ("bool-for-int", hello(fps=True), "invalid_field", "fps"),
    ("float-for-int", hello(fps=60.0), "invalid_field", "fps"),
    ("str-protocol", pack({"type": "hello", "protocol": "1", "client": "c"}), "invalid_field",
     "protocol"),
    ("int-for-str-client", pack({"type": "hello", "protocol": 1, "client": 5}), "invalid_field",
     "client"),
    ("int-token", hello(token=5), "invalid_field", "token"),
    ("str-for-float", pack({"type": "ping", "t": "now"}), "invalid_field", "t"),
    ("bool-for-float", pack({"type": "ping", "t": True}), "invalid_field", "t"),
    ("nan", pack({"type": "ping", "t": math.nan}), "invalid_field", "t"),
    ("infinity", pack({"type": "ping", "t": -math.inf}), "invalid_field", "t"),
    ("fps-0", hello(fps=0), "invalid_field", "fps"),
    ("fps-241", hello(fps=241), "invalid_field", "fps"),
    ("fps-huge", hello(fps=2**64 - 1), "invalid_field", "fps"),
    ("rate-low", hello(audio_rate=7999), "invalid_field", "audio_rate"),
    ("rate-high", hello(audio_rate=192_001), "invalid_field", "audio_rate"),
    ("encoding-f64", hello(encoding="f64"), "invalid_field", "encoding"),
    ("encoding-case", hello(encoding="F16"), "invalid_field", "encoding"),
    ("channels-empty", hello(channels=[]), "invalid_field", "channels"),
    ("channels-str", hello(channels="arkit52"), "invalid_field", "channels"),
    ("channels-int-entry", hello(channels=["arkit52", 3]), "invalid_field", "channels"),
    ("channels-129", hello(channels=["jawOpen"] * 129), "invalid_field", "channels"),
    ("str-for-bin", pack({"type": "mic", "rate": 16000, "data": "abc"}), "invalid_field", "data"),
    ("array-for-bin", pack({"type": "mic", "rate": 16000, "data": [0, 0]}), "invalid_field",
     "data"),
    ("mic-rate-low", pack({"type": "mic", "rate": 100, "data": b""}), "invalid_field", "rate"),
    ("audio-in-end-int", pack({"type": "audio_in", "id": "a", "rate": 16000, "data": b"",
                               "end": 1}), "invalid_field", "end"),
    ("audio-in-no-id", pack({"type": "audio_in", "rate": 16000, "data": b""}), "invalid_field",
     "id"),
    ("playback-state", pack({"type": "playback", "id": "a", "state": "paused", "position": 0.0}),
     "invalid_field", "state"),
    ("playback-negative", pack({"type": "playback", "id": "a", "state": "position",
                                "position": -0.5}), "invalid_field", "position"),
    ("playback-interrupted-str", pack({"type": "playback", "id": "a", "state": "finished",
                                       "position": 1.0, "interrupted": "yes"}),
     "invalid_field", "interrupted"),
    ("emotion-int", say(emotion=3), "invalid_field", "emotion"),
    ("emotion-array", say(emotion=["happy"]), "invalid_field", "emotion"),
    ("emotion-weight-high", say(emotion={"happy": 1.5}), "invalid_field", "emotion"),
    ("emotion-weight-negative", say(emotion={"happy": -0.1}), "invalid_field", "emotion"),
    ("emotion-weight-str", say(emotion={"happy": "lots"}), "invalid_field", "emotion"),
    ("emotion-weight-bool", say(emotion={"happy": True}), "invalid_field", "emotion"),
    ("emotion-weight-nan", say(emotion={"happy": math.nan}), "invalid_field", "emotion"),
    ("emotion-int-key", say(emotion={1: 0.5}), "invalid_field", "emotion"),
    ("say-id-int", say(id=5), "invalid_field", "id"),
    ("interrupt-id-int", pack({"type": "interrupt", "id": 5}), "invalid_field", "id"),
    ("chat-text-map", pack({"type": "chat", "text": {"a": 1}}), "invalid_field", "text"),
    ("image-text", image(data=b"<html>hello</html>"), "invalid_field", "data"),
    ("image-empty", image(data=b""), "invalid_field", "data"),
    ("image-gif", image(data=b"GIF89a\x01\x00\x01\x00"), "invalid_field", "data"),
    ("image-webp", image(data=b"RIFF\x1a\x00\x00\x00WEBPVP8 "), "invalid_field", "data"),
    ("image-str", image(data="\xff\xd8\xff"), "invalid_field", "data"),
    ("image-over-1-mib", image(data=b"\xff\xd8\xff" + bytes(MAX_IMAGE_BYTES)),
     "invalid_field", "data"),
    ("image-no-data", pack({"type": "image", "t": 1.0}), "invalid_field", "data"),
    ("image-negative-t", image(t=-1.0), "invalid_field", "t"),
    ("image-prompt-int", image(prompt=3), "invalid_field", "prompt"),
]

SERVER_REFUSALS: list[tuple[str, bytes, str, str | None]] = [
    ("client-type", PING, "unknown_type", None),
    ("utterance-state", pack({"type": "utterance", "id": "a", "state": "middle",
                              "source": "say"}), "invalid_field", "state"),
    ("utterance-source", pack({"type": "utterance", "id": "a", "state": "start",
                               "source": "llm"}), "invalid_field", "source"),
    ("utterance-reason", pack({"type": "utterance", "id": "a", "state": "end", "source": "say",
                               "reason": "bored"}), "invalid_field", "reason"),
    ("curves-negative-seq", pack({"type": "curves", "id": "a", "seq": -1, "t": 0.0, "fps": 60,
                                  "n": 0, "data": b""}), "invalid_field", "seq"),
    ("curves-negative-n", pack({"type": "curves", "id": "a", "seq": 0, "t": 0.0, "fps": 60,
                                "n": -3, "data": b""}), "invalid_field", "n"),
    ("curves-fps", pack({"type": "curves", "id": "a", "seq": 0, "t": 0.0, "fps": 0, "n": 0,
                         "data": b""}), "invalid_field", "fps"),
    ("audio-negative-t", pack({"type": "audio", "id": "a", "seq": 0, "t": -0.1, "data": b""}),
     "invalid_field", "t"),
    ("audio-seq-float", pack({"type": "audio", "id": "a", "seq": 1.0, "t": 0.0, "data": b""}),
     "invalid_field", "seq"),
    ("welcome-channels", pack({"type": "welcome", "protocol": 1, "session": "s", "server": "x",
                               "fps": 60, "channels": [], "audio_rate": 48000,
                               "encoding": "f16"}), "invalid_field", "channels"),
    ("error-fatal-str", pack({"type": "error", "code": "x", "message": "y", "fatal": "no"}),
     "invalid_field", "fatal"),
    ("transcript-no-final", pack({"type": "transcript", "text": "x"}), "invalid_field", "final"),
    ("pong-nan", pack({"type": "pong", "t": 1.0, "server_t": math.nan}), "invalid_field",
     "server_t"),
    ("gesture-strength", pack({"type": "gesture", "id": "a", "t": 0.0, "name": "nod",
                               "duration": 0.5, "strength": 1.5}), "invalid_field", "strength"),
    ("gesture-negative-duration", pack({"type": "gesture", "id": "a", "t": 0.0, "name": "nod",
                                        "duration": -0.5, "strength": 0.5}),
     "invalid_field", "duration"),
    ("gesture-no-name", pack({"type": "gesture", "id": "a", "t": 0.0, "duration": 0.5,
                              "strength": 0.5}), "invalid_field", "name"),
]


def _check_refusal(decode: Callable[[bytes], object], frame: bytes, code: str,
                   field: str | None) -> None:
    with pytest.raises(err.ProtocolError) as info:
        decode(frame)
    exc = info.value
    assert exc.code == code, exc
    assert type(exc) is err.ERROR_CLASSES[code]
    assert not exc.fatal and exc.close_code is None
    assert 0 < len(str(exc)) < 300
    if field is not None:
        assert isinstance(exc, err.InvalidField) and exc.field == field


@pytest.mark.parametrize("name,frame,code,field", CLIENT_REFUSALS,
                         ids=[c[0] for c in CLIENT_REFUSALS])
def test_client_refusals(name: str, frame: bytes, code: str, field: str | None) -> None:
    _check_refusal(codec.decode_client, frame, code, field)


@pytest.mark.parametrize("name,frame,code,field", SERVER_REFUSALS,
                         ids=[c[0] for c in SERVER_REFUSALS])
def test_server_refusals(name: str, frame: bytes, code: str, field: str | None) -> None:
    _check_refusal(codec.decode_server, frame, code, field)


def test_invalid_field_message_names_message_and_field() -> None:
    with pytest.raises(err.InvalidField, match=r"^hello\.fps: must be 1\.\.240, got 0$"):
        codec.decode_client(hello(fps=0))
    with pytest.raises(err.InvalidField, match=r"^say\.text: expected str, got int$"):
        codec.decode_client(pack({"type": "say", "text": 42}))
    with pytest.raises(err.InvalidField, match=r"^say\.text is required$"):
        codec.decode_client(pack({"type": "say"}))


@pytest.mark.parametrize("data,why", [
    (b"<html>hello</html>", r"^image\.data: is not a JPEG or PNG image \(it starts 3c 68 74 6d "),
    (b"", r"^image\.data: is empty"),
    (b"GIF87a\x01\x00", r"^image\.data: is a GIF image; only JPEG and PNG are supported$"),
    (b"RIFF\x1a\x00\x00\x00WEBPVP8 ", r"^image\.data: is a WebP image"),
    (b"\x00\x00\x00\x1cftypheic", r"^image\.data: is a HEIC image"),
    (b"\x89PNG" + bytes(MAX_IMAGE_BYTES), r"^image\.data: has 1048580 bytes; at most 1048576 "),
])
def test_a_bad_image_is_refused_in_one_line_saying_what_is_wrong(data: bytes, why: str) -> None:
    with pytest.raises(err.InvalidField, match=why) as info:
        codec.decode_client(image(data=data))
    assert "\n" not in str(info.value) and len(str(info.value)) < 200


def test_images_are_told_by_their_magic_bytes() -> None:
    assert media_type(JPEG) == "image/jpeg" and media_type(PNG) == "image/png"
    assert media_type(JPEG.ljust(MAX_IMAGE_BYTES, b"\0")) == "image/jpeg"  # 1 MiB is allowed
    with pytest.raises(NotAnImage):
        media_type(b"\x89PNG\r\n\x1a")  # a signature cut short
    msg = codec.decode_client(image(t=1.5, prompt="What is this?"))
    assert msg == m.Image(data=JPEG, t=1.5, prompt="What is this?")


def test_error_messages_stay_short_for_huge_values() -> None:
    frame = pack({"type": "playback", "id": "a", "state": "x" * 500_000, "position": 0.0})
    with pytest.raises(err.InvalidField) as info:
        codec.decode_client(frame)
    assert len(str(info.value)) < 200


def test_unknown_type_says_which_way_it_travels() -> None:
    with pytest.raises(err.UnknownType, match="other way"):
        codec.decode_client(pack({"type": "curves"}))


def test_text_is_refused_as_a_text_frame() -> None:
    with pytest.raises(err.TextFrameRefused) as info:
        codec.decode_client('{"type": "ping", "t": 1}')  # type: ignore[arg-type]
    assert info.value.code == "text_frame"


def test_check_size() -> None:
    codec.check_size(b"x" * codec.MAX_MESSAGE_BYTES)
    with pytest.raises(err.MessageTooLarge) as info:
        codec.check_size(b"x" * (codec.MAX_MESSAGE_BYTES + 1))
    assert info.value.code == "message_too_large" and not info.value.fatal
    with pytest.raises(err.MessageTooLarge):
        codec.check_size(b"x" * 11, limit=10)
    assert codec.MAX_MESSAGE_BYTES == 1 << 20


# ---- errors -----------------------------------------------------------------------------

EXPECTED_CODES: dict[str, tuple[type[err.TalkbridgeError], bool, int | None]] = {
    "text_frame": (err.ProtocolError, False, None),
    "malformed": (err.ProtocolError, False, None),
    "missing_type": (err.ProtocolError, False, None),
    "unknown_type": (err.ProtocolError, False, None),
    "invalid_field": (err.ProtocolError, False, None),
    "message_too_large": (err.ProtocolError, False, None),
    "hello_required": (err.ProtocolError, True, 1008),
    "unsupported_protocol": (err.ProtocolError, True, 1008),
    "unauthorized": (err.ProtocolError, True, 1008),
    "unknown_voice": (err.RequestError, False, None),
    "unknown_emotion": (err.RequestError, False, None),
    "unknown_channel": (err.RequestError, False, None),
    "empty_text": (err.RequestError, False, None),
    "text_too_long": (err.RequestError, False, None),
    "queue_full": (err.RequestError, False, None),
    "duplicate_id": (err.RequestError, False, None),
    "unsupported": (err.RequestError, False, None),
    "too_many_sessions": (err.RequestError, True, 1008),
    "internal": (err.ServerError, False, None),
    "provider_failed": (err.ServerError, False, None),
    "provider_timeout": (err.ServerError, False, None),
    "slow_consumer": (err.ServerError, False, None),
}


def test_error_tree_codes_and_fatality() -> None:
    assert set(err.ERROR_CLASSES) == set(EXPECTED_CODES)
    for code, (branch, fatal, close_code) in EXPECTED_CODES.items():
        cls = err.ERROR_CLASSES[code]
        assert issubclass(cls, branch) and issubclass(cls, err.TalkbridgeError), code
        assert (cls.code, cls.fatal, cls.close_code) == (code, fatal, close_code)
    for a, b in [(err.ProtocolError, err.RequestError), (err.ProtocolError, err.ServerError),
                 (err.RequestError, err.ServerError)]:
        assert not issubclass(a, b) and not issubclass(b, a)


def test_error_message_builds_the_wire_error() -> None:
    exc = err.UnknownVoice("unknown voice 'x'; available: a, b")
    assert err.error_message(exc) == m.Error(code="unknown_voice",
                                             message="unknown voice 'x'; available: a, b")
    assert err.error_message(err.ProviderError("tts died"), ref="u1") == m.Error(
        code="provider_failed", message="tts died", fatal=False, ref="u1")
    fatal = err.error_message(err.HelloRequired("send hello first"))
    assert fatal.fatal is True and fatal.code == "hello_required"
    assert unpack(codec.encode(fatal)) == {"type": "error", "code": "hello_required",
                                           "message": "send hello first", "fatal": True}


def test_invalid_field_keeps_the_field() -> None:
    exc = err.InvalidField("hello was already received", field="type")
    assert exc.field == "type" and str(exc) == "hello was already received"
    assert err.InvalidField("no field").field is None


# ---- properties -------------------------------------------------------------------------

ALL_TYPE_NAMES = sorted(set(m.CLIENT_TYPES) | set(m.SERVER_TYPES))
ALL_FIELD_NAMES = sorted({f.name for cls in (*m.CLIENT_TYPES.values(), *m.SERVER_TYPES.values())
                          for f in dataclasses.fields(cls)})

scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats()
           | st.text(max_size=12) | st.binary(max_size=12))
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=8) | st.integers(-5, 5), inner, max_size=4),
    max_leaves=12,
)
# Maps that look like messages, so the field checks get exercised, not only the parser.
message_like = st.fixed_dictionaries(
    {"type": st.sampled_from(ALL_TYPE_NAMES) | values},
    optional={name: values | st.sampled_from([0, 1, 60, 16000, 48000, 0.5, "f16", "start", "say",
                                               "finished", ["arkit52"], {"happy": 0.5}])
              for name in ALL_FIELD_NAMES},
)


def _decode_or_refuse(data: bytes) -> None:
    """Decoding either gives a valid message (that re-encodes to itself) or a ProtocolError."""
    for decode, types in ((codec.decode_client, m.CLIENT_TYPES),
                          (codec.decode_server, m.SERVER_TYPES)):
        try:
            msg = decode(data)
        except err.ProtocolError:
            continue
        assert type(msg) in types.values()
        assert decode(codec.encode(msg)) == msg


@FAST
@given(st.binary(max_size=256))
def test_arbitrary_bytes_only_raise_protocol_errors(data: bytes) -> None:
    _decode_or_refuse(data)


@FAST
@given(values)
def test_arbitrary_msgpack_only_raises_protocol_errors(value: Any) -> None:
    _decode_or_refuse(pack(value))


@FAST
@given(message_like)
def test_message_like_maps_only_raise_protocol_errors(value: dict[str, Any]) -> None:
    _decode_or_refuse(pack(value))


FIXTURE_FRAMES = [codec.encode(msg) for msg in fixture_messages().values()]


@FAST
@given(st.sampled_from(FIXTURE_FRAMES), st.data())
def test_corrupted_real_frames_only_raise_protocol_errors(frame: bytes,
                                                          data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(frame) - 1))
    op = data.draw(st.sampled_from(["flip", "cut", "insert"]))
    if op == "flip":
        corrupted = frame[:index] + bytes([frame[index] ^ data.draw(st.integers(1, 255))]) \
            + frame[index + 1:]
    elif op == "cut":
        corrupted = frame[:index]
    else:
        corrupted = frame[:index] + data.draw(st.binary(min_size=1, max_size=4)) + frame[index:]
    _decode_or_refuse(corrupted)


texts = st.text(max_size=20)
opt_texts = st.none() | texts
finite = st.floats(allow_nan=False, allow_infinity=False)
times = st.floats(min_value=0.0, allow_nan=False, allow_infinity=False)
rates = st.integers(8000, 192_000)
fps = st.integers(1, 240)
counts = st.integers(0, 2**31 - 1)
blobs = st.binary(max_size=64)
encodings = st.sampled_from(["f16", "f32"])
names = st.lists(texts, min_size=1, max_size=8).map(tuple)
emotions = st.none() | texts | st.dictionaries(texts, st.floats(0.0, 1.0), max_size=4)

valid_messages = st.one_of(
    st.builds(m.Hello, protocol=st.integers(-(2**63), 2**63 - 1), client=texts, token=opt_texts,
              fps=fps, channels=st.lists(texts, min_size=1, max_size=128).map(tuple),
              audio_rate=rates, encoding=encodings),
    st.builds(m.Say, text=texts, id=opt_texts, voice=opt_texts, lang=opt_texts, emotion=emotions),
    st.builds(m.AudioIn, id=texts, rate=rates, data=blobs, end=st.booleans()),
    st.builds(m.Mic, rate=rates, data=blobs),
    st.builds(m.Chat, text=texts),
    st.builds(m.Interrupt, id=opt_texts),
    st.builds(m.Playback, id=texts, state=st.sampled_from(["started", "position", "finished"]),
              position=times, interrupted=st.none() | st.booleans()),
    st.builds(m.Ping, t=finite),
    st.builds(m.Image, data=st.sampled_from([JPEG, PNG]) | blobs.map(lambda b: JPEG[:3] + b),
              t=st.none() | times, prompt=opt_texts),
    st.builds(m.Welcome, protocol=st.integers(0, 10), session=texts, server=texts, fps=fps,
              channels=names, audio_rate=rates, encoding=encodings),
    st.builds(m.Utterance, id=texts, state=st.sampled_from(["start", "end"]),
              source=st.sampled_from(["say", "dialogue", "audio_in"]), text=opt_texts,
              reason=st.none() | st.sampled_from(["done", "interrupted", "error"])),
    st.builds(m.Audio, id=texts, seq=counts, t=times, data=blobs),
    st.builds(m.Curves, id=texts, seq=counts, t=times, fps=fps, n=counts, data=blobs),
    st.builds(m.Clear, id=texts),
    st.builds(m.Transcript, text=texts, final=st.booleans()),
    st.builds(m.Reply, id=texts, text=texts, final=st.booleans()),
    st.builds(m.Error, code=texts, message=texts, fatal=st.booleans(), ref=opt_texts),
    st.builds(m.Pong, t=finite, server_t=finite),
    st.builds(m.Gesture, id=texts, t=times, name=texts, duration=times,
              strength=st.floats(0.0, 1.0)),
)


@FAST
@given(valid_messages)
def test_valid_messages_round_trip(msg: m.Message) -> None:
    data = codec.encode(msg)
    assert decode_any(data) == msg
    body = unpack(data)
    assert next(iter(body)) == "type" and body["type"] == msg.TYPE
    assert set(body) - {"type"} == {f.name for f in dataclasses.fields(msg)
                                    if getattr(msg, f.name) is not None}


@FAST
@given(valid_messages, st.dictionaries(st.text(max_size=8).filter(
    lambda k: k not in ALL_FIELD_NAMES and k != "type"), values, max_size=3))
def test_unknown_keys_never_change_the_message(msg: m.Message, extra: dict[str, Any]) -> None:
    body = {**unpack(codec.encode(msg)), **extra}
    assert decode_any(pack(body)) == msg


# ---- payloads ---------------------------------------------------------------------------


def test_encode_curves_f16_is_row_major_little_endian() -> None:
    frames = np.array([[0.0, 0.25, 1.0], [0.5, 0.125, 0.75]], dtype=np.float32)
    data = codec.encode_curves(frames, "f16")
    assert len(data) == 2 * 3 * 2
    np.testing.assert_array_equal(np.frombuffer(data, "<f2").reshape(2, 3), frames)
    assert data[2:4] == b"\x00\x34"  # 0.25 in IEEE half, little-endian


def test_encode_curves_f32_and_odd_inputs() -> None:
    frames = np.arange(12, dtype=np.float64).reshape(3, 4) / 16
    expected = frames.astype("<f4").tobytes()
    assert codec.encode_curves(frames, "f32") == expected
    assert codec.encode_curves(frames.astype(">f4"), "f32") == expected       # big-endian input
    assert codec.encode_curves(np.asfortranarray(frames), "f32") == expected  # column-major input
    assert codec.encode_curves(frames.tolist(), "f32") == expected            # plain lists


def test_encode_curves_refuses_bad_shapes_and_encodings() -> None:
    with pytest.raises(ValueError):
        codec.encode_curves(np.zeros(5), "f16")
    with pytest.raises(ValueError):
        codec.encode_curves(np.zeros((2, 2)), "f64")


@pytest.mark.parametrize("encoding,dtype", [("f16", "<f2"), ("f32", "<f4")])
def test_decode_curves(encoding: str, dtype: str) -> None:
    frames = np.random.default_rng(0).random((5, 7)).astype(np.float32)
    data = codec.encode_curves(frames, encoding)
    out = codec.decode_curves(data, 5, 7, encoding)
    assert out.shape == (5, 7) and out.dtype == np.float32 and out.flags.writeable
    np.testing.assert_array_equal(out, np.frombuffer(data, dtype).reshape(5, 7).astype(np.float32))
    np.testing.assert_allclose(out, frames, atol=1e-3 if encoding == "f16" else 0)
    assert codec.decode_curves(b"", 0, 7, encoding).shape == (0, 7)


def test_decode_curves_refuses_mismatched_sizes() -> None:
    data = codec.encode_curves(np.zeros((3, 52)), "f16")
    with pytest.raises(err.InvalidField) as info:
        codec.decode_curves(data, 3, 52, "f32")
    assert info.value.field == "data" and info.value.code == "invalid_field"
    with pytest.raises(err.InvalidField):
        codec.decode_curves(data[:-1], 3, 52, "f16")
    with pytest.raises(err.InvalidField):
        codec.decode_curves(data, 4, 52, "f16")
    with pytest.raises(err.InvalidField) as info:
        codec.decode_curves(data, 3, 52, "f64")
    assert info.value.field == "encoding"


def test_encode_pcm16_scales_rounds_and_clips() -> None:
    samples = np.array([0.0, 0.5, 1.0, -1.0, 2.0, -7.0, np.nan, np.inf, 1e-6], dtype=np.float32)
    data = codec.encode_pcm16(samples)
    assert len(data) == 2 * len(samples)
    assert np.frombuffer(data, "<i2").tolist() == [0, 16384, 32767, -32767, 32767, -32767, 0,
                                                   32767, 0]
    assert data[4:6] == b"\xff\x7f"  # 32767, little-endian


def test_encode_pcm16_passes_int16_through() -> None:
    samples = np.array([1, -2, 32767, -32768], dtype=np.int16)
    assert codec.encode_pcm16(samples) == b"\x01\x00\xfe\xff\xff\x7f\x00\x80"
    assert codec.encode_pcm16(samples.astype(">i2")) == codec.encode_pcm16(samples)


def test_encode_pcm16_refuses_ambiguous_input() -> None:
    with pytest.raises(ValueError):
        codec.encode_pcm16(np.zeros((2, 2), dtype=np.float32))  # not mono
    with pytest.raises(ValueError):
        codec.encode_pcm16(np.zeros(4, dtype=np.int32))         # what full scale?


def test_decode_pcm16() -> None:
    samples = codec.decode_pcm16(b"\x01\x00\xfe\xff")
    assert samples.dtype == np.int16 and samples.tolist() == [1, -2] and samples.flags.writeable
    assert codec.decode_pcm16(b"").shape == (0,)
    with pytest.raises(err.InvalidField) as info:
        codec.decode_pcm16(b"\x01\x00\x02")
    assert info.value.field == "data"


@FAST
@given(st.lists(st.floats(-1.0, 1.0, width=32), max_size=64))
def test_pcm16_round_trip_is_within_half_a_step(samples: list[float]) -> None:
    array = np.array(samples, dtype=np.float32)
    back = codec.decode_pcm16(codec.encode_pcm16(array)).astype(np.float64) / 32767.0
    np.testing.assert_allclose(back, array, atol=0.5 / 32767 + 1e-9)
