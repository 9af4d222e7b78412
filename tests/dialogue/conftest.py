"""A real server with the dialogue loop, and a user who speaks with flite's voice.

The user's speech comes from flite (a voice the character never uses), is resampled to
16 kHz and streamed as ``mic`` messages in real time, like an engine's microphone.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soxr

from bridge.dialogue.config import DialogueConfig
from bridge.server.host import Server, ServerConfig
from bridge.session.config import SessionConfig
from bridge.tools.evaluation import flite

RATE = 16000


def flite_speech(text: str, tmp: Path, voice: str = "slt") -> np.ndarray:
    """``text`` spoken by flite: int16 PCM at 16 kHz."""
    if shutil.which("flite") is None:
        if os.environ.get("CI"):
            pytest.fail("flite is missing: .ci/run installs it")
        pytest.skip("flite is not installed (apt install flite)")
    pcm, rate, _ = flite(text, voice, tmp)
    pcm = soxr.resample(pcm, rate, RATE)
    return (np.clip(pcm, -1, 1) * 32767).astype("<i2")


def silence(seconds: float) -> np.ndarray:
    rng = np.random.default_rng(0)  # a quiet room, not digital zero
    return (rng.normal(0, 30, int(seconds * RATE))).astype("<i2")


async def stream_mic(client, pcm: np.ndarray, chunk: float = 0.02, rate: int = RATE) -> float:
    """Send ``pcm`` as ``mic`` messages paced in real time; the loop time of the last one."""
    loop = asyncio.get_running_loop()
    step = int(chunk * rate)
    start = loop.time()
    for k, i in enumerate(range(0, len(pcm), step)):
        await client.send({"type": "mic", "rate": rate, "data": pcm[i:i + step].tobytes()})
        delay = start + (k + 1) * chunk - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
    return loop.time()


@pytest.fixture
async def dialogue_server(registry):
    srv = Server(ServerConfig(port=0, session=SessionConfig(idle=False),
                              dialogue=DialogueConfig(memory=":memory:")), tts=registry)
    await srv.start()
    yield srv
    await srv.stop()
