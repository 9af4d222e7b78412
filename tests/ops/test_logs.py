"""Log lines carry their session, come as text or JSON lines, and never hold a token."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from bridge.ops import logs
from bridge.server.host import Server, ServerConfig
from bridge.session.config import SessionConfig
from tests.support.wsclient import Client


class Capture(logging.Handler):
    """The handler ``logs.install`` would configure, collecting formatted lines."""

    def __init__(self, json_lines: bool = False, secrets=()) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.addFilter(logs.Redact(secrets))
        self.addFilter(logs.SessionTag())
        self.setFormatter(logs.JsonFormatter() if json_lines else logs.TextFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def capture():
    handlers = []

    def attach(**kwargs) -> Capture:
        handler = Capture(**kwargs)
        logging.getLogger().addHandler(handler)
        handlers.append(handler)
        return handler

    old = logging.getLogger().level
    logging.getLogger().setLevel(logging.DEBUG)
    yield attach
    for handler in handlers:
        logging.getLogger().removeHandler(handler)
    logging.getLogger().setLevel(old)


async def test_tasks_started_for_a_session_log_with_its_id(capture):
    handler = capture()
    log = logging.getLogger("bridge.test")

    async def worker() -> None:  # like the session's utterance and idle tasks
        log.info("from a child task")

    async def connection(sid: str) -> None:
        logs.session_id.set(sid)
        log.info("from the connection")
        await asyncio.create_task(worker())

    await asyncio.gather(connection("aaa"), connection("bbb"))
    log.info("from the server")
    lines = handler.lines
    assert sum("session=aaa: from" in line for line in lines) == 2
    assert sum("session=bbb: from" in line for line in lines) == 2
    assert [line for line in lines if "from the server" in line][0].split(" ")[3] == "bridge.test:"


def test_json_lines_and_redaction(capture):
    handler = capture(json_lines=True, secrets=["hunter2-secret"])
    log = logging.getLogger("bridge.test")
    token = logs.session_id.set("s1")
    try:
        log.warning("config said %s", "hunter2-secret")
        log.info("GET /v1/stream?token=abc123&x=1 with Authorization: Bearer xyz789")
        log.warning("listening without a token: anyone can connect")
        try:
            raise RuntimeError("bad token=hunter2-secret")
        except RuntimeError:
            log.exception("failed")
    finally:
        logs.session_id.reset(token)
    docs = [json.loads(line) for line in handler.lines]
    assert [d["session"] for d in docs] == ["s1"] * 4
    assert docs[2]["msg"] == "listening without a token: anyone can connect"  # prose is kept
    assert docs[0] == {**docs[0], "level": "WARNING", "logger": "bridge.test",
                       "msg": "config said [redacted]"}
    assert "abc123" not in docs[1]["msg"] and "xyz789" not in docs[1]["msg"]
    assert "token=[redacted]" in docs[1]["msg"] and "x=1" in docs[1]["msg"]
    assert "hunter2" not in docs[3]["exc"] and "RuntimeError" in docs[3]["exc"]


async def test_a_real_session_logs_with_its_id_and_no_token(registry, capture):
    handler = capture(secrets=())  # no redaction: the code itself must not log the token
    server = Server(ServerConfig(port=0, warm_up=False,
                                 session=SessionConfig(token="t0ken-5ecret-77")), tts=registry)
    await server.start()
    try:
        bad, _ = await Client.open(server.port, token="wr0ng-t0ken-88")
        good, welcome = await Client.open(server.port, token="t0ken-5ecret-77")
        await good.send({"type": "say", "text": 42})
        await good.recv()
        await good.close()
        for _ in range(100):
            if server.session_count == 0:
                break
            await asyncio.sleep(0.02)
    finally:
        await server.stop()
    text = "\n".join(handler.lines)
    assert "t0ken-5ecret-77" not in text and "wr0ng-t0ken-88" not in text
    sid = welcome["session"]
    mine = [line for line in handler.lines if f"session {sid}" in line]
    assert mine and all(f"session={sid}" in line for line in mine)
    assert any("invalid_field" in line for line in mine)
    assert any("unauthorized" in line and "session=" in line for line in handler.lines)
