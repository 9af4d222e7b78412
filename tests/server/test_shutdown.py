"""SIGTERM to a real ``talkbridge serve``: stop accepting, drain, interrupt the rest, 1001, exit 0.

One process serves two clients: a short utterance that finishes within the drain deadline
and a long one that doesn't. The same run checks the JSON log lines it wrote: each session's
lines carry its id, and no token (right or wrong) appears anywhere in the output.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.support.wsclient import Client

ROOT = Path(__file__).resolve().parents[2]
SERVE_LINE = re.compile(r"talkbridge serving ws://127\.0\.0\.1:(\d+)/v1/stream")
TOKEN = "drain-t0ken-31f5"
WRONG = "wr0ng-t0ken-c9a2"
DRAIN = 3.0
LONG = " ".join(["This sentence keeps the character talking for quite a while longer."] * 12)


class Serve:
    """``python -m bridge.cli serve --port 0 …`` with both pipes read on threads."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bridge.cli", "serve", "--port", "0", *args], cwd=ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.out: list[str] = []
        self.err: list[str] = []
        self.ready = threading.Event()
        self.port: int | None = None
        threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True).start()

    def _read(self, pipe, lines: list[str]) -> None:
        for line in pipe:
            lines.append(line)
            match = SERVE_LINE.search(line)
            if match:
                self.port = int(match.group(1))
                self.ready.set()
        self.ready.set()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def serve():
    servers: list[Serve] = []

    def start(*args: str) -> Serve:
        server = Serve(*args)
        servers.append(server)
        assert server.ready.wait(120) and server.port, "".join(server.out + server.err)
        return server

    yield start
    for server in servers:
        server.kill()


async def _rest_until_closed(client: Client) -> tuple[list[dict], int | None, float]:
    """Every message up to the close, the close code, and when it came."""
    msgs = []
    try:
        while True:
            msgs.append(await client.recv(timeout=30))
    except ConnectionClosed as exc:
        return msgs, exc.rcvd.code if exc.rcvd else None, time.monotonic()


async def test_sigterm_drains_then_interrupts_then_exits_zero(serve, tmp_path):
    (tmp_path / "tokens").write_text(f"# clients\n{TOKEN}\nother-t0ken\n")
    (tmp_path / "talkbridge.toml").write_text(
        f'[server]\ntokens_file = "tokens"\ndrain_seconds = {DRAIN}\nlog_json = true\n')
    server = serve("--config", str(tmp_path / "talkbridge.toml"))
    url = f"ws://127.0.0.1:{server.port}/v1/stream"
    refused = Client(await connect(url, compression=None))
    await refused.send({"type": "hello", "protocol": 1, "client": "intruder", "token": WRONG})
    assert (await refused.recv())["code"] == "unauthorized"
    short = Client(await connect(f"{url}?token={TOKEN}", compression=None))
    await short.send({"type": "hello", "protocol": 1, "client": "short"})
    short_session = (await short.recv())["session"]
    long, long_welcome = await Client.open(server.port, token=TOKEN)
    await long.send({"type": "say", "id": "long", "text": LONG})
    await long.until(lambda m: m["type"] == "audio")
    await short.send({"type": "say", "id": "short", "text": "Hello there."})
    await short.until(lambda m: m["type"] == "audio")

    server.proc.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    (short_msgs, short_code, _), (long_msgs, long_code, long_closed) = await asyncio.gather(
        _rest_until_closed(short), _rest_until_closed(long))
    await asyncio.sleep(0.2)
    with pytest.raises(OSError):  # no longer accepting
        await connect(url, compression=None, open_timeout=2)
    assert await asyncio.to_thread(server.proc.wait, 30) == 0

    ends = [m for m in short_msgs if m["type"] == "utterance" and m["state"] == "end"]
    assert [(m["id"], m["reason"]) for m in ends] == [("short", "done")]  # finished in the drain
    assert short_code == 1001
    tail = [m for m in long_msgs if m["type"] in ("clear", "utterance")]
    assert tail == [{"type": "clear", "id": "long"},
                    {"type": "utterance", "id": "long", "state": "end", "source": "say",
                     "reason": "interrupted"}]
    assert long_code == 1001
    assert DRAIN - 0.5 <= long_closed - signalled <= DRAIN + 5.0

    output = "".join(server.out + server.err)
    assert TOKEN not in output and WRONG not in output
    records = [json.loads(line) for line in server.err if line.startswith("{")]
    assert records and all({"ts", "level", "logger", "msg", "session"} <= set(r) for r in records)
    for sid in (short_session, long_welcome["session"]):
        mine = [r for r in records if sid in r["msg"]]
        assert mine and all(r["session"] == sid for r in mine), mine
    assert any(r["msg"].endswith("unauthorized: missing or wrong token") and r["session"]
               for r in records)
