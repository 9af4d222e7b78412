"""PostgreSQL memory for many fronts: one front hears what another was told, a restart
keeps it, and an outage queues writes while replies go on (a real server, a real proxy cut)."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from bridge.llm.base import ChatMessage
from bridge.llm.memory import MemoryStoreError
from bridge.llm.memory_store import open_memory
from bridge.llm.memory_pg import PostgresMemory
from tests.support.postgres import postgres_url
from tests.support.tcp_proxy import FaultyProxy


@pytest.fixture
def url() -> str:
    return postgres_url()


def test_another_front_and_a_restart_see_what_was_said(url):
    front_a, front_b = open_memory(url), open_memory(url)
    try:
        front_a.add("ann", "user", "my name is Ann")
        front_a.add("ann", "assistant", "Hello Ann!")
        assert front_a.flush()
        assert front_b.history("ann") == [ChatMessage("user", "my name is Ann"),
                                          ChatMessage("assistant", "Hello Ann!")]
        front_b.replace_last_assistant("ann", "Hello…")
        assert front_b.flush()
        assert front_a.history("ann")[-1] == ChatMessage("assistant", "Hello…")
    finally:
        front_a.close()
        front_b.close()
    with open_memory(url) as again:
        assert [m.content for m in again.history("ann")] == ["my name is Ann", "Hello…"]
        assert again.users() == ["ann"]


def test_a_wrong_url_is_one_clear_line_and_the_password_stays_out_of_it(url):
    host_port = url.split("@", 1)[1].split("/", 1)[0]
    bad = url.replace(f"@{host_port}", "@127.0.0.1:1")  # nothing listens on port 1
    with pytest.raises(MemoryStoreError) as caught:
        PostgresMemory(bad)
    text = str(caught.value)
    assert "cannot open the conversation memory" in text and "\n" not in text
    assert "talkbridge:talkbridge@" not in text and ":***@" in text


async def _outage(url: str, caplog) -> None:
    host_port = url.split("@", 1)[1].split("/", 1)[0]
    port = int(host_port.rsplit(":", 1)[1])
    async with FaultyProxy(port) as proxy:
        through = url.replace(host_port, f"127.0.0.1:{proxy.port}")
        memory = await asyncio.to_thread(open_memory, through)
        other = await asyncio.to_thread(open_memory, url)  # another front, straight in
        try:
            memory.add("bo", "user", "before")
            assert await asyncio.to_thread(memory.flush)
            proxy.refusing = True  # the database goes away: no connection gets through
            proxy.cut()
            for text in ("during one", "during two"):
                memory.add("bo", "user", text)  # never raises, never waits
            memory.add("bo", "assistant", "still answering")
            assert [m.content for m in memory.history("bo")] == [
                "before", "during one", "during two", "still answering"]
            await asyncio.sleep(0.5)
            assert not await asyncio.to_thread(memory.flush, 0.2)  # queued, not lost
            assert [m.content for m in other.history("bo")] == ["before"]
            proxy.refusing = False
            assert await asyncio.to_thread(memory.flush, 15.0)
            assert [m.content for m in other.history("bo")] == [
                "before", "during one", "during two", "still answering"]
        finally:
            await asyncio.to_thread(memory.close)
            await asyncio.to_thread(other.close)


def test_an_outage_queues_writes_and_history_goes_on(url, caplog):
    caplog.set_level(logging.WARNING, "bridge.llm.memory_pg")
    asyncio.run(_outage(url, caplog))
    warnings = [r.getMessage() for r in caplog.records]
    assert any("unreachable" in w and "queued" in w for w in warnings)
    assert any("reachable again" in w for w in warnings)
    assert sum("unreachable" in w for w in warnings) == 1  # once per outage, not per retry


def test_threads_share_one_store(url):
    with open_memory(url) as memory:
        def talk(user: str) -> None:
            for i in range(20):
                memory.add(user, "user", f"{user}{i}")
        threads = [threading.Thread(target=talk, args=(u,)) for u in ("a", "b", "c")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert memory.flush()
        for user in ("a", "b", "c"):
            assert [m.content for m in memory.history(user)] == [f"{user}{i}" for i in range(20)]


async def _reply(server_port: int, user: str, text: str) -> str:
    from tests.support.wsclient import Client

    client, _ = await Client.open(server_port, user=user)
    try:
        await client.send({"type": "chat", "text": text})
        msgs = await client.utterance("r1", timeout=60)
        return [m for m in msgs if m["type"] == "reply"][-1]["text"]
    finally:
        await client.close()


async def test_a_user_who_reconnects_through_another_front_keeps_their_memory(url, registry):
    """Two servers behind an imagined load balancer, one PostgreSQL: Ann introduces herself
    on the first; on the second, the character knows her name."""
    from bridge.dialogue.config import DialogueConfig
    from bridge.server.host import Server, ServerConfig
    from bridge.session.config import SessionConfig

    fronts = [Server(ServerConfig(port=0, session=SessionConfig(idle=False),
                                  dialogue=DialogueConfig(memory=url)), tts=registry)
              for _ in range(2)]
    for front in fronts:
        await front.start()
    try:
        assert "Ann" in await _reply(fronts[0].port, "ann", "My name is Ann.")
        await asyncio.to_thread(fronts[0].dialogue.loaded_answering.memory.flush)
        assert "Ann" in await _reply(fronts[1].port, "ann", "What is my name?")
        assert "haven't told me" in await _reply(fronts[1].port, "bob", "What is my name?")
    finally:
        for front in fronts:
            await front.stop()


async def test_with_the_database_down_a_server_still_answers_and_remembers_later(url, registry):
    """PostgreSQL goes away under a running server (a proxy that resets and refuses): turns
    are still answered, the character still knows what was said on this front, and the
    writes reach the database once it is back."""
    from bridge.dialogue.config import DialogueConfig
    from bridge.server.host import Server, ServerConfig
    from bridge.session.config import SessionConfig

    host_port = url.split("@", 1)[1].split("/", 1)[0]
    async with FaultyProxy(int(host_port.rsplit(":", 1)[1])) as proxy:
        through = url.replace(host_port, f"127.0.0.1:{proxy.port}")
        server = Server(ServerConfig(port=0, session=SessionConfig(idle=False),
                                     dialogue=DialogueConfig(memory=through)), tts=registry)
        await server.start()
        try:
            assert "Mei" in await _reply(server.port, "mei", "My name is Mei.")
            proxy.refusing = True
            proxy.cut()
            assert "Mei" in await _reply(server.port, "mei", "What is my name?")
            memory = server.dialogue.loaded_answering.memory
            assert not await asyncio.to_thread(memory.flush, 0.3)  # queued while it is down
            proxy.refusing = False
            assert await asyncio.to_thread(memory.flush, 15.0)
        finally:
            await server.stop()
    with open_memory(url) as direct:
        said = [m.content for m in direct.history("mei")]
    assert said[0] == "My name is Mei." and "What is my name?" in said and len(said) == 4
