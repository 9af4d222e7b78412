"""What both engine-plugin suites need: a real ``talkbridge serve`` on a loopback port."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVE_LINE = re.compile(r"talkbridge serving (ws://\S+)")


@pytest.fixture
def server() -> Iterator[str]:
    """A real ``talkbridge serve`` on a free loopback port, as its URL; stopped with SIGTERM."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "serve", "--port", "0"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    found: list[str] = []
    seen: list[str] = []
    ready = threading.Event()

    def drain() -> None:  # keep reading so a chatty server never blocks on a full pipe
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            match = SERVE_LINE.search(line)
            if match and not found:
                found.append(match.group(1))
                ready.set()
        ready.set()

    threading.Thread(target=drain, daemon=True).start()
    try:
        ready.wait(timeout=120)
        assert found, "the server did not start:\n" + "".join(seen)
        yield found[0]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
