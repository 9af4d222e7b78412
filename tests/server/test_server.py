"""A real server on 127.0.0.1 (ephemeral port) and real clients over WebSocket + msgpack."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import msgpack
import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from blendshape import rig
from bridge.server.host import Server, ServerConfig
from bridge.session.config import SessionConfig
from tests.support.wsclient import Client, curves_array, pack, pcm_array

A = rig.ARKIT_INDEX
TWO = "Papa bought a big blue boat. It sails across the bay."


async def _server(registry, **session) -> Server:
    server = Server(ServerConfig(port=0, session=SessionConfig(**session)), tts=registry)
    await server.start()
    return server


@pytest.fixture
async def server(registry):
    srv = await _server(registry, lead=30.0)  # stream as fast as it synthesizes
    yield srv
    await srv.stop()


@pytest.fixture
async def paced(registry):
    srv = await _server(registry, lead=0.2)
    yield srv
    await srv.stop()


async def test_say_streams_interleaved_audio_and_curves(server):
    client, welcome = await Client.open(server.port, channels=["arkit52", "visemes"])
    assert welcome["type"] == "welcome" and welcome["protocol"] == 1
    assert welcome["fps"] == 60 and welcome["audio_rate"] == 48000 and welcome["encoding"] == "f16"
    assert welcome["channels"] == list(rig.ARKIT52 + rig.VISEME_CHANNELS)
    await client.send({"type": "say", "id": "u1", "text": TWO})
    msgs = await client.utterance("u1")
    await client.close()
    assert msgs[0] == {"type": "utterance", "id": "u1", "state": "start", "source": "say", "text": TWO}
    assert msgs[-1]["reason"] == "done"
    body = [m for m in msgs[1:-1] if m["type"] != "gesture"]  # body cues may come between
    kinds = [m["type"] for m in body]
    assert set(kinds) == {"audio", "curves"}
    assert kinds[:4] == ["audio", "curves", "audio", "curves"]  # interleaved
    audio = [m for m in body if m["type"] == "audio"]
    curves = [m for m in body if m["type"] == "curves"]
    assert [m["seq"] for m in audio] == list(range(len(audio)))
    # Contiguous on the utterance clock: each chunk starts where the last one ended.
    pcm_pos = 0
    for m in audio:
        assert m["t"] == pytest.approx(pcm_pos / 48000, abs=1e-9)
        pcm_pos += len(pcm_array(m))
    frame_pos = 0
    frames = []
    for m in curves:
        assert m["fps"] == 60 and m["t"] == pytest.approx(frame_pos / 60)
        frames.append(curves_array(m, len(welcome["channels"])))
        frame_pos += m["n"]
    frames = np.concatenate(frames)
    duration = pcm_pos / 48000
    assert duration > 2.0
    assert abs(frame_pos / 60 - duration) <= 1 / 60 + 1e-9
    assert frames[:, A["jawOpen"]].max() > 0.3
    assert frames[:, A["mouthPressLeft"]].max() > 0.6
    visemes = frames[:, 52:]
    assert np.all(visemes.sum(axis=1) <= 1.01)
    # The audio is speech, not silence.
    pcm = np.concatenate([pcm_array(m) for m in audio]).astype(np.float32)
    assert np.sqrt(np.mean(pcm ** 2)) > 500


async def test_interrupt_stops_within_one_chunk(paced):
    client, _ = await Client.open(paced.port)
    long_text = " ".join(["This sentence keeps the character talking for a while."] * 6)
    await client.send({"type": "say", "id": "long", "text": long_text})
    await client.until(lambda m: m["type"] == "audio")
    loop = asyncio.get_running_loop()
    read_at = loop.time()
    await asyncio.sleep(0.3)
    sent_at = loop.time()
    await client.send({"type": "interrupt"})
    after = await client.until(lambda m: m["type"] == "utterance" and m["state"] == "end")
    cleared_at = loop.time()
    await client.close()
    assert after[-1]["reason"] == "interrupted"
    assert after[-2] == {"type": "clear", "id": "long"}
    sent_audio = sum(len(pcm_array(m)) for m in after if m["type"] == "audio") / 48000
    # Only what was in flight: speech paced to real time since the last read, the lead
    # (0.2 s), and at most one more 50 ms chunk while the interrupt was being handled.
    in_flight = (cleared_at - read_at) + 0.2 + 0.05
    assert sent_audio <= in_flight + 0.02, (sent_audio, in_flight, cleared_at - sent_at)


async def test_idle_curves_keep_coming_between_utterances(paced):
    client, welcome = await Client.open(paced.port, fps=30)
    loop = asyncio.get_running_loop()
    start = loop.time()
    idle = []
    while loop.time() - start < 1.0:
        msg = await client.recv(skip_idle=False)
        if msg.get("id") == "idle":
            idle.append(msg)
    await client.close()
    frames = sum(m["n"] for m in idle)
    assert 10 <= frames <= 36  # paced in real time (the exact rate: test_session_clock)
    ts = [m["t"] for m in idle]
    assert all(b > a for a, b in zip(ts, ts[1:]))
    arr = np.concatenate([curves_array(m, 52) for m in idle])
    assert arr.min() >= 0 and arr.max() <= 1


async def test_idle_pauses_during_an_utterance(server):
    client, _ = await Client.open(server.port)
    await client.send({"type": "say", "id": "x", "text": "Hello."})
    msgs = []
    while True:
        msg = await client.recv(skip_idle=False)
        msgs.append(msg)
        if msg["type"] == "utterance" and msg["state"] == "end":
            break
    await client.close()
    start = next(i for i, m in enumerate(msgs) if m["type"] == "utterance")
    inside = msgs[start + 1:-1]
    assert not [m for m in inside if m.get("id") == "idle"][2:]  # at most one in flight


async def test_two_sessions_do_not_share_state(server):
    a, wa = await Client.open(server.port, channels=["visemes"], fps=30, audio_rate=16000)
    b, wb = await Client.open(server.port, channels=["arkit52", "head"], encoding="f32")
    assert wa["session"] != wb["session"]
    await a.send({"type": "say", "id": "same", "text": "Blue boat."})
    await b.send({"type": "say", "id": "same", "text": "A big blue boat sails far away."})
    ma, mb = await asyncio.gather(a.utterance("same"), b.utterance("same"))
    ca = [m for m in ma if m["type"] == "curves"]
    cb = [m for m in mb if m["type"] == "curves"]
    assert all(m["fps"] == 30 and len(m["data"]) == m["n"] * 15 * 2 for m in ca)
    assert all(m["fps"] == 60 and len(m["data"]) == m["n"] * 55 * 4 for m in cb)
    dur_a = sum(len(pcm_array(m)) for m in ma if m["type"] == "audio") / 16000
    dur_b = sum(len(pcm_array(m)) for m in mb if m["type"] == "audio") / 48000
    assert dur_b > dur_a * 1.5
    await a.close()
    await b.close()


async def test_ping_pong(server):
    client, _ = await Client.open(server.port)
    await client.send({"type": "ping", "t": 12.5})
    pong = await client.recv()
    assert pong["type"] == "pong" and pong["t"] == 12.5 and pong["server_t"] >= 0
    await client.close()


async def _expect_error(client: Client, code: str) -> dict:
    msg = await client.recv()
    assert msg["type"] == "error", msg
    assert msg["code"] == code, msg
    assert isinstance(msg["message"], str) and msg["message"]
    return msg


async def _still_alive(client: Client) -> None:
    await client.send({"type": "ping", "t": 1.0})
    assert (await client.recv())["type"] == "pong"


@pytest.mark.parametrize("frame,code", [
    (b"\xc1\xc1\xc1", "malformed"),                      # not msgpack
    (pack([1, 2, 3]), "malformed"),                      # not a map
    (pack({"text": "hi"}), "missing_type"),
    (pack({"type": "dance"}), "unknown_type"),
    (pack({"type": "say", "text": 42}), "invalid_field"),
    (pack({"type": "say"}), "invalid_field"),
    (pack({"type": "ping", "t": "now"}), "invalid_field"),
    (pack({"type": "say", "text": ""}), "empty_text"),
    (pack({"type": "say", "text": "x" * 100_000}), "text_too_long"),
    (pack({"type": "say", "text": "hi", "voice": "nobody"}), "unknown_voice"),
    (pack({"type": "say", "text": "hi", "emotion": "bored"}), "unknown_emotion"),
    (pack({"type": "mic", "rate": 16000, "data": b"\0\0\0"}), "invalid_field"),
])
async def test_bad_input_gets_an_error_and_the_session_lives(server, frame, code):
    client, _ = await Client.open(server.port)
    await client.ws.send(frame)
    msg = await _expect_error(client, code)
    assert msg["fatal"] is False
    await _still_alive(client)
    await client.close()


async def test_text_frame_is_refused(server):
    client, _ = await Client.open(server.port)
    await client.ws.send('{"type": "say"}')
    await _expect_error(client, "text_frame")
    await _still_alive(client)
    await client.close()


async def test_unknown_voice_lists_the_voices(server):
    client, _ = await Client.open(server.port)
    await client.send({"type": "say", "text": "hi", "voice": "nobody"})
    msg = await _expect_error(client, "unknown_voice")
    assert "piper:en_US-joe-medium" in msg["message"] and "espeak:de" in msg["message"]
    await client.close()


async def test_say_before_hello_closes_with_policy_error(server):
    async with connect(f"ws://127.0.0.1:{server.port}/v1/stream", compression=None) as ws:
        await ws.send(pack({"type": "say", "text": "hi"}))
        msg = msgpack.unpackb(await ws.recv())
        assert msg["code"] == "hello_required" and msg["fatal"] is True
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd.code == 1008


async def test_wrong_protocol_version_is_fatal(server):
    async with connect(f"ws://127.0.0.1:{server.port}/v1/stream", compression=None) as ws:
        await ws.send(pack({"type": "hello", "protocol": 2, "client": "future"}))
        msg = msgpack.unpackb(await ws.recv())
        assert msg["code"] == "unsupported_protocol"
        with pytest.raises(ConnectionClosed):
            await ws.recv()


async def test_token_is_required_when_configured(registry):
    srv = await _server(registry, token="s3cret")
    try:
        async with connect(f"ws://127.0.0.1:{srv.port}/v1/stream", compression=None) as ws:
            await ws.send(pack({"type": "hello", "protocol": 1, "client": "x", "token": "nope"}))
            assert msgpack.unpackb(await ws.recv())["code"] == "unauthorized"
        client, welcome = await Client.open(srv.port, token="s3cret")
        assert welcome["type"] == "welcome"
        await client.close()
    finally:
        await srv.stop()


async def test_a_raised_message_limit_holds_for_the_protocol_rules_too(registry):
    """``ServerConfig.max_message_bytes`` is one limit: a 1.5 MiB message under a 2 MiB limit
    reaches the session (here: a text over max_text_chars) instead of message_too_large."""
    srv = Server(ServerConfig(port=0, max_message_bytes=2 << 20, warm_up=False,
                              session=SessionConfig(idle=False)), tts=registry)
    await srv.start()
    try:
        client, _ = await Client.open(srv.port)
        await client.ws.send(pack({"type": "say", "id": "big", "text": "a" * (3 << 19)}))
        reply = (await client.until(lambda m: m["type"] == "error", timeout=10))[-1]
        assert reply["code"] == "text_too_long"
        await _still_alive(client)
        await client.close()
    finally:
        await srv.stop()


async def test_ten_megabyte_message_closes_cleanly_and_others_carry_on(server):
    other, _ = await Client.open(server.port)
    client, _ = await Client.open(server.port)
    await client.ws.send(pack({"type": "say", "text": "a" * (10 << 20)}))
    with pytest.raises(ConnectionClosed) as info:
        while True:
            await client.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 1009
    await _still_alive(other)
    await other.close()


async def test_client_vanishing_mid_utterance_leaves_the_server_healthy(server):
    client, _ = await Client.open(server.port)
    await client.send({"type": "say", "id": "gone", "text": TWO})
    await client.until(lambda m: m["type"] == "audio")
    client.ws.transport.abort()  # no close frame: the peer just disappears
    for _ in range(50):
        if server.session_count == 0:
            break
        await asyncio.sleep(0.05)
    assert server.session_count == 0
    fresh, _ = await Client.open(server.port)
    await fresh.send({"type": "say", "id": "ok", "text": "Still here."})
    assert (await fresh.utterance("ok"))[-1]["reason"] == "done"
    await fresh.close()


async def test_queued_utterances_play_in_order(server):
    client, _ = await Client.open(server.port)
    await client.send({"type": "say", "id": "one", "text": "One."})
    await client.send({"type": "say", "id": "two", "text": "Two."})
    await client.send({"type": "say", "id": "two", "text": "Again."})
    msgs = await client.utterance("two")
    await client.close()
    marks = [(m["id"], m["state"]) for m in msgs if m["type"] == "utterance"]
    assert marks == [("one", "start"), ("one", "end"), ("two", "start"), ("two", "end")]
    assert any(m["type"] == "error" and m["code"] == "duplicate_id" for m in msgs)


async def test_healthz_and_unknown_paths(server):
    def get(path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, ""

    status, body = await asyncio.to_thread(get, "/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok"
    status, body = await asyncio.to_thread(get, "/")
    assert status == 200 and "/v1/stream" in body
    status, _ = await asyncio.to_thread(get, "/nope")
    assert status == 404


async def _stalled_client(port: int):
    """A client whose socket barely buffers and whose library stops reading at once."""
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    ws = await connect(f"ws://127.0.0.1:{port}/v1/stream", sock=sock, compression=None,
                       max_queue=1, max_size=None)
    return Client(ws)


async def _session_of(server, client: str):
    for _ in range(200):
        for session in server._sessions.values():
            if session.hello is not None and session.hello.client == client:
                return session
        await asyncio.sleep(0.01)
    raise AssertionError(f"no session for {client}")


async def test_slow_reader_gets_idle_curves_dropped_one_error_others_unaffected(server):
    slow = await _stalled_client(server.port)
    await slow.send({"type": "hello", "protocol": 1, "client": "slow", "fps": 240,
                     "channels": ["arkit52", "head", "eyes", "visemes"], "encoding": "f32"})
    fast, _ = await Client.open(server.port)
    session = await _session_of(server, "slow")
    sizes = []
    for _ in range(150):  # the slow client reads nothing until frames are being dropped
        await asyncio.sleep(0.1)
        sizes.append(len(session.outbox))
        if session.outbox.dropped > 20:
            break
    assert session.outbox.dropped > 20
    await fast.send({"type": "say", "id": "f", "text": "I am served on time."})
    assert (await fast.utterance("f"))[-1]["reason"] == "done"
    assert max(sizes) <= 56 + 2  # bounded: the curve backlog plus the error
    await slow.send({"type": "say", "id": "s", "text": "Now I read again."})
    msgs = await slow.until(lambda m: m.get("type") == "utterance" and m.get("state") == "end",
                            timeout=60, skip_idle=False)
    assert [m["code"] for m in msgs if m["type"] == "error"] == ["slow_consumer"]
    idle = [m["seq"] for m in msgs if m["type"] == "curves" and m["id"] == "idle"]
    assert idle == sorted(idle) and idle[-1] - idle[0] + 1 > len(idle)  # gaps: oldest dropped
    assert msgs[-1]["reason"] == "done"
    await slow.close()
    await fast.close()


async def test_slow_reader_holds_the_utterance_back_with_bounded_memory(server):
    slow = await _stalled_client(server.port)
    await slow.send({"type": "hello", "protocol": 1, "client": "slow2"})
    long_text = " ".join(["A slow reader must never make the server buffer without bound."] * 12)
    await slow.send({"type": "say", "id": "s", "text": long_text})
    session = await _session_of(server, "slow2")
    sizes = []
    for _ in range(30):
        await asyncio.sleep(0.1)
        sizes.append(len(session.outbox))
    assert max(sizes) <= 48 + 56 + 4
    msgs = await slow.until(lambda m: m.get("type") == "utterance" and m.get("state") == "end",
                            timeout=120)
    audio = [m["seq"] for m in msgs if m["type"] == "audio" and m["id"] == "s"]
    curves = [m["seq"] for m in msgs if m["type"] == "curves" and m["id"] == "s"]
    assert audio == list(range(len(audio))) and curves == audio  # nothing of it lost
    assert sum(len(pcm_array(m)) for m in msgs if m["type"] == "audio") / 48000 > 30
    await slow.close()
