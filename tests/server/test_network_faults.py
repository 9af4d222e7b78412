"""Faults of the network between engine and server, injected by a TCP proxy on loopback:
latency, a frozen link, a connection reset mid-utterance. One client's network never
stops another's session."""

from __future__ import annotations

import asyncio

import pytest

from bridge.server.host import Server, ServerConfig
from bridge.session.config import SessionConfig
from tests.support.tcp_proxy import FaultyProxy
from tests.support.wsclient import Client

TWO = "Papa bought a big blue boat. It sails across the bay."
LONG = " ".join(["The harbour master waves from the pier, and the gulls circle the boats."] * 6)


@pytest.fixture
async def server(registry):
    srv = Server(ServerConfig(port=0, session=SessionConfig(lead=30.0, idle=False)), tts=registry)
    await srv.start()
    yield srv
    await srv.stop()


def _contiguous(msgs: list[dict], kind: str) -> bool:
    seqs = [m["seq"] for m in msgs if m["type"] == kind]
    return bool(seqs) and seqs == list(range(len(seqs)))


async def test_latency_both_ways_loses_and_reorders_nothing(server):
    async with FaultyProxy(server.port, delay=0.15) as proxy:
        client, welcome = await Client.open(proxy.port)
        assert welcome["type"] == "welcome"
        await client.send({"type": "ping", "t": 7.0})
        assert (await client.until(lambda m: m["type"] == "pong"))[-1]["t"] == 7.0
        await client.send({"type": "say", "id": "far", "text": TWO})
        msgs = await client.utterance("far")
        assert msgs[-1]["reason"] == "done"
        assert _contiguous(msgs, "audio") and _contiguous(msgs, "curves")
        assert not [m for m in msgs if m["type"] == "error"]
        await client.close()


async def test_a_reset_mid_utterance_ends_that_session_only(server):
    direct, _ = await Client.open(server.port)
    async with FaultyProxy(server.port) as proxy:
        client, _ = await Client.open(proxy.port)
        assert server.session_count == 2
        await client.send({"type": "say", "id": "cut", "text": LONG})
        await direct.send({"type": "say", "id": "stays", "text": TWO})
        await client.until(lambda m: m["type"] == "audio")
        proxy.cut()  # RST both ways: no close frame, no FIN
        for _ in range(100):
            if server.session_count == 1:
                break
            await asyncio.sleep(0.05)
        assert server.session_count == 1
    msgs = await direct.utterance("stays")
    assert msgs[-1]["reason"] == "done" and _contiguous(msgs, "audio")
    again, welcome = await Client.open(server.port)  # and the server takes new sessions
    assert welcome["type"] == "welcome"
    await again.close()
    await direct.close()


async def test_a_frozen_link_holds_its_session_back_and_others_go_on(server):
    async with FaultyProxy(server.port) as proxy:
        client, _ = await Client.open(proxy.port)
        proxy.stall()  # nothing reaches the client; nothing is closed
        await client.send({"type": "say", "id": "held", "text": LONG})
        await asyncio.sleep(1.0)
        frozen_at = proxy.bytes_down
        direct, _ = await Client.open(server.port)
        await direct.send({"type": "say", "id": "free", "text": TWO})
        msgs = await direct.utterance("free")  # unaffected while the other link is frozen
        assert msgs[-1]["reason"] == "done" and _contiguous(msgs, "audio")
        assert proxy.bytes_down == frozen_at
        assert server.session_count == 2  # a stalled link is not a dead one
        proxy.resume()
        held = await client.utterance("held", timeout=60)
        # Held back, never dropped: every audio chunk arrives, in order, once the link thaws.
        assert held[-1]["reason"] == "done" and _contiguous(held, "audio")
        await client.close()
        await direct.close()
