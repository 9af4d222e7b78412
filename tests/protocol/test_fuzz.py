"""Fuzzing the one place untrusted bytes enter: the decoder, then a live Session behind it.

``test_codec.py`` already throws arbitrary bytes and msgpack values at the decoder; here the
inputs are aimed at the edges those miss: every field of every message given a value of
each wrong kind, integers past 64 bits and msgpack headers that promise gigabytes, nesting
past the parser's depth limit. Then sequences of valid and invalid frames go to a real
:class:`~bridge.session.session.Session` (a fake instant TTS, a virtual clock): it may only ever
raise the protocol's own errors, and answers ``ping`` afterwards. The long run is
``fuzz/fuzz_decode.py`` (atheris).
"""

from __future__ import annotations

import asyncio
import dataclasses
import struct
from typing import Any

import msgpack
import numpy as np
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from blendshape.phonemes import PhonemeSpan
from bridge.protocol import codec
from bridge.protocol import errors as err
from bridge.protocol import messages as m
from bridge.session.config import SessionConfig
from bridge.session.session import Session
from bridge.speech.tts.base import SpeechChunk, Voice
from bridge.speech.tts.registry import TTSRegistry
from bridge.tools.fixtures import fixture_messages

BOUNDED = settings(max_examples=200, deadline=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SESSION_RUNS = settings(max_examples=200, deadline=None,
                        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

TYPES = {**m.CLIENT_TYPES, **m.SERVER_TYPES}


def pack(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def decode_or_refuse(data: bytes) -> m.Message | None:
    """A message that re-encodes to itself, or None after a ProtocolError: nothing else."""
    result = None
    for decode in (codec.decode_client, codec.decode_server):
        try:
            msg = decode(data)
        except err.ProtocolError:
            continue
        assert decode(codec.encode(msg)) == msg
        result = msg
    return result


# ---- the decoder ------------------------------------------------------------------------

wrong_values = st.one_of(
    st.none(), st.booleans(),
    st.integers(-(2**63), 2**64 - 1),                # every msgpack int width
    st.sampled_from([2**31, 2**32, 2**63 - 1, 2**64 - 1, -(2**63), -1, 0]),
    st.floats(),                                      # nan, inf, -0.0, subnormals
    st.text(max_size=16), st.binary(max_size=16),
    st.lists(st.integers(-(2**63), 2**64 - 1), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(-(2**63), 2**64 - 1), max_size=3),
    st.sampled_from(["", "\x00", "\ud7ff", "x" * 300, "arkit52", "f16", "happy"]),
)
fields_of = {name: [f.name for f in dataclasses.fields(cls)] for name, cls in TYPES.items()}


@st.composite
def mistyped_messages(draw) -> dict[str, Any]:
    """A real message with some of its fields (or its type) replaced by values of any kind."""
    msg = draw(st.sampled_from(list(fixture_messages().values())))
    body = msgpack.unpackb(codec.encode(msg), raw=False)
    for name in draw(st.lists(st.sampled_from(["type", *fields_of[msg.TYPE]]), max_size=4)):
        body[name] = draw(wrong_values)
    return body


@BOUNDED
@given(mistyped_messages())
def test_every_field_of_every_type_refuses_wrong_kinds_with_a_typed_error(body) -> None:
    decode_or_refuse(pack(body))


def _header(kind: str, length: int) -> bytes:
    """A msgpack container or string header that claims ``length`` items or bytes."""
    return {"array32": b"\xdd", "map32": b"\xdf", "str32": b"\xdb", "bin32": b"\xc6",
            "ext32": b"\xc9"}[kind] + struct.pack(">I", length) + (b"\x01" if kind == "ext32" else b"")


@BOUNDED
@given(st.sampled_from(["array32", "map32", "str32", "bin32", "ext32"]),
       st.sampled_from([2**32 - 1, 2**31, 1 << 20, 5]), st.binary(max_size=32),
       st.booleans())
def test_headers_that_promise_huge_payloads_are_refused_without_allocating(kind, length, tail,
                                                                           as_field) -> None:
    assume(len(tail) < length)  # a promise the frame doesn't keep; 5 bytes after "5" is honest
    frame = _header(kind, length) + tail
    if as_field:  # the lie sits inside a well-formed say
        frame = b"\x82\xa4type\xa3say\xa4text" + frame
    assert decode_or_refuse(frame) is None


@BOUNDED
@given(st.integers(1, 5000), st.sampled_from([b"\x91", b"\x81\xa1k"]))
def test_deep_nesting_is_refused_not_a_recursion_error(depth, opener) -> None:
    frame = b"\x82\xa4type\xa3say\xa4text" + opener * depth + b"\xc0"
    decode_or_refuse(frame)


@BOUNDED
@given(st.sampled_from(sorted(TYPES)), st.sampled_from([b"\xcf", b"\xd3"]),
       st.binary(min_size=8, max_size=8), st.sampled_from(["seq", "n", "fps", "rate", "protocol",
                                                          "audio_rate", "t", "position"]))
def test_64_bit_integers_in_any_field_are_refused_or_in_range(type_name, prefix, raw, field) -> None:
    """uint64 / int64 written by hand, at any value (C encoders write them for any int)."""
    frame = b"\x82\xa4type" + pack(type_name) + pack(field) + prefix + raw
    msg = decode_or_refuse(frame)
    if msg is not None and hasattr(msg, field) and field in ("seq", "n"):
        assert 0 <= getattr(msg, field) <= codec.MAX_COUNT


# ---- a live session behind the decoder --------------------------------------------------


class InstantTTS:
    """Speech in no time: a tenth of a second of silence per sentence."""

    name = "fake"

    def voices(self) -> list[Voice]:
        return [Voice(id="fake:a", provider="fake", name="a", lang="en-us")]

    def synthesize(self, text: str, voice: Voice):
        for sentence in [s for s in text.split(".") if s.strip()] or [text]:
            yield SpeechChunk(pcm=np.zeros(1600, np.float32), rate=16000, text=sentence,
                              phonemes=[PhonemeSpan("a", 0.0, 0.05), PhonemeSpan("m", 0.05, 0.1)])


from tests.support.clock import InstantClock  # noqa: E402

REGISTRY = TTSRegistry([InstantTTS()])




ids = st.sampled_from(["u1", "u2", "idle", "", "x" * 40])
plausible = st.one_of(
    st.builds(m.Say, text=st.sampled_from(["Hi.", "One. Two.", "", "   ", "x" * 6000]),
              id=st.none() | ids, voice=st.none() | st.sampled_from(["fake:a", "nobody"]),
              lang=st.none() | st.sampled_from(["en", "xx"]),
              emotion=st.none() | st.sampled_from(["happy", "bored", {"happy": 0.5},
                                                   {"nope": 1.0}])),
    st.builds(m.Interrupt, id=st.none() | ids),
    st.builds(m.Ping, t=st.floats(-1e9, 1e9)),
    st.builds(m.Playback, id=ids, state=st.sampled_from(["started", "position", "finished"]),
              position=st.floats(0, 100), interrupted=st.none() | st.booleans()),
    st.builds(m.AudioIn, id=ids, rate=st.sampled_from([16000, 48000]),
              data=st.binary(max_size=64), end=st.booleans()),
    st.builds(m.Mic, rate=st.just(16000), data=st.binary(max_size=32)),
    st.builds(m.Chat, text=st.text(max_size=20)),
    st.builds(m.Hello, protocol=st.integers(0, 2), client=st.just("again")),
)
good_say = st.builds(m.Say, text=st.sampled_from(["Hi.", "One. Two. Three."]), id=st.none() | ids)
frames = st.one_of(
    good_say.map(codec.encode),
    plausible.map(codec.encode),
    mistyped_messages().map(pack),
    st.binary(max_size=48),
)
steps = st.lists(st.tuples(frames, st.integers(0, 30)), min_size=1, max_size=12)


async def _play(sequence: list[tuple[bytes, int]], idle: bool) -> None:
    clock = InstantClock()
    sent: list[m.ServerMessage] = []

    async def send(msg: m.ServerMessage) -> None:
        assert codec.decode_server(codec.encode(msg)) == msg  # nothing our own decoder refuses
        sent.append(msg)

    session = Session(id="fuzz", send=send, tts=REGISTRY, clock=clock, sleep=clock.sleep,
                      config=SessionConfig(idle=idle, max_queue=3))
    await session.handle(m.Hello(protocol=1, client="fuzz", fps=30))
    try:
        for frame, pause in sequence:
            try:
                await session.handle(codec.decode_client(frame))
            except err.TalkbridgeError as exc:
                assert not exc.fatal, exc  # after a good hello nothing ends the session
            for _ in range(pause):  # let utterances run a little on the virtual clock
                await asyncio.sleep(0)
        event("spoke" if any(isinstance(x, m.Audio) for x in sent) else "did not speak")
        sent.clear()
        await session.handle(m.Ping(t=7.0))
        assert any(isinstance(x, m.Pong) and x.t == 7.0 for x in sent)
    finally:
        await asyncio.wait_for(session.close(), 5)


@SESSION_RUNS
@given(steps, st.booleans())
def test_random_frame_sequences_only_raise_typed_errors_and_leave_the_session_usable(
        sequence, idle) -> None:
    asyncio.run(_play(sequence, idle))


@SESSION_RUNS
@given(st.lists(frames, min_size=1, max_size=4))
def test_before_hello_every_frame_is_refused_with_a_typed_error(sequence) -> None:
    async def play() -> None:
        async def send(msg: m.ServerMessage) -> None:
            pass

        session = Session(id="fuzz", send=send, tts=REGISTRY, config=SessionConfig(idle=False))
        for frame in sequence:
            try:
                msg = codec.decode_client(frame)
                await session.handle(msg)
            except err.TalkbridgeError:
                continue
            assert isinstance(msg, m.Hello) and session.hello is not None
            break
        await session.close()

    asyncio.run(play())
