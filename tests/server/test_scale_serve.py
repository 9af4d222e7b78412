"""A real ``talkbridge serve --ray``: one ``say`` over WebSocket, spoken by the cluster, then SIGINT.

The front is a subprocess on a free port that joins the cluster at ``TALKBRIDGE_TEST_RAY``
(skipped when it is unset, as the other scale tests are), deploys its replicas there and
serves a client end to end: the utterance ends ``done`` with audio and curves. SIGINT then
stops it within 10 s.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.support.ray_cluster import address_or_skip
from tests.support.wsclient import Client

ROOT = Path(__file__).resolve().parents[2]
SERVE_LINE = re.compile(r"talkbridge serving ws://127\.0\.0\.1:(\d+)/v1/stream")


@pytest.fixture
def front(tmp_path):
    """``talkbridge serve --ray`` on a free port; killed at the end if it still runs."""
    address = address_or_skip()
    (tmp_path / "talkbridge.toml").write_text('[dialogue]\nmemory = ":memory:"\n')
    proc = subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "serve", "--port", "0", "--ray", address,
         "--config", str(tmp_path / "talkbridge.toml"), "--drain-seconds", "1"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: list[str] = []
    port: list[int] = []
    ready = threading.Event()

    def read() -> None:
        for line in proc.stdout:
            lines.append(line)
            match = SERVE_LINE.search(line)
            if match and not port:
                port.append(int(match.group(1)))
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert ready.wait(120) and port, "".join(lines[-30:])
        yield proc, port[0], lines
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_serve_ray_speaks_a_say_then_stops_on_sigint(front):
    proc, port, lines = front
    client, welcome = await Client.open(port)
    assert welcome["type"] == "welcome"
    await client.send({"type": "say", "id": "r1", "text": "Papa bought a big blue boat."})
    msgs = await client.utterance("r1", timeout=30)
    await client.close()

    assert msgs[-1]["reason"] == "done", msgs[-1]
    audio = [m for m in msgs if m["type"] == "audio" and m.get("id") == "r1"]
    curves = [m for m in msgs if m["type"] == "curves" and m.get("id") == "r1"]
    assert sum(len(m["data"]) for m in audio) > 16000  # well over 0.5 s of PCM16
    assert sum(m["n"] for m in curves) > 30
    assert any("on the Ray cluster" in line for line in lines), "".join(lines[-30:])

    proc.send_signal(signal.SIGINT)
    code = await asyncio.to_thread(proc.wait, 10)  # raises TimeoutExpired past 10 s
    assert code == 0, "".join(lines[-30:])
