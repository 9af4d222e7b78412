"""The connection's framing rules, sans-I/O: bytes in, events out, no socket anywhere."""

from __future__ import annotations

import msgpack

from bridge.protocol import errors as err
from bridge.protocol import messages as m
from bridge.protocol.connection import ConnectionRules, Received, Refused


def test_a_binary_msgpack_frame_becomes_the_client_message():
    event = ConnectionRules().receive(msgpack.packb({"type": "say", "text": "Hi.", "id": "a"}))
    assert isinstance(event, Received)
    assert isinstance(event.msg, m.Say) and event.msg.text == "Hi." and event.msg.id == "a"


def test_a_text_frame_is_refused_and_the_connection_stays_open():
    event = ConnectionRules().receive('{"type": "say", "text": "Hi."}')
    assert isinstance(event, Refused)
    assert event.reply.code == "text_frame" and event.reply.fatal is False
    assert event.close_code is None
    assert "binary" in event.reply.message


def test_garbage_and_unknown_types_are_reported_never_fatal():
    rules = ConnectionRules()
    garbage = rules.receive(b"\xc1\xc1\xc1")
    unknown = rules.receive(msgpack.packb({"type": "dance", "steps": 3}))
    assert isinstance(garbage, Refused) and garbage.reply.code == "malformed"
    assert isinstance(unknown, Refused) and unknown.reply.code == "unknown_type"
    assert garbage.close_code is None and unknown.close_code is None


def test_a_frame_over_the_limit_is_refused_before_it_is_decoded():
    rules = ConnectionRules(max_bytes=64)
    event = rules.receive(msgpack.packb({"type": "say", "text": "x" * 100}))
    assert isinstance(event, Refused) and event.reply.code == "message_too_large"
    assert "64" in event.reply.message and event.close_code is None
    assert isinstance(rules.receive(msgpack.packb({"type": "say", "text": "x" * 40})), Received)


def test_a_sessions_fatal_refusal_closes_with_its_code_and_names_the_utterance():
    refused = ConnectionRules.refuse(err.Unauthorized("missing or wrong token"), ref="u1")
    assert refused.close_code == err.POLICY_VIOLATION and refused.reply.ref == "u1"
    decoded = msgpack.unpackb(ConnectionRules.send(refused.reply))
    assert decoded["type"] == "error" and decoded["code"] == "unauthorized"
    assert decoded["fatal"] is True and decoded["ref"] == "u1"
