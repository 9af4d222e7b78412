"""Pacing and idle timing on a virtual clock: seconds of streaming run in milliseconds."""

from __future__ import annotations

import asyncio

import pytest

from bridge.protocol import messages as m
from bridge.session.config import SessionConfig
from bridge.session.session import Session
from tests.support.clock import InstantClock


async def _run(registry, lead: float, text: str, idle: bool = False):
    clock = InstantClock()
    sent: list[tuple[float, m.ServerMessage]] = []

    async def send(msg):
        sent.append((clock.now, msg))

    session = Session(id="s", send=send, tts=registry, config=SessionConfig(lead=lead, idle=idle),
                      clock=clock, sleep=clock.sleep)
    await session.handle(m.Hello(protocol=1, client="t"))
    await session.handle(m.Say(text=text, id="u"))
    for _ in range(10_000):
        if any(isinstance(x, m.Utterance) and x.state == "end" for _, x in sent):
            break
        await asyncio.sleep(0.001)
    await session.close()
    return clock, sent


async def test_audio_is_sent_at_most_lead_seconds_ahead(registry):
    clock, sent = await _run(registry, lead=0.3, text="Papa bought a big blue boat. Then he sailed.")
    audio = [(at, msg) for at, msg in sent if isinstance(msg, m.Audio)]
    assert len(audio) > 20
    first_at = audio[0][0]
    for at, msg in audio:
        # Never more than `lead` ahead of the wall clock since the first chunk ...
        assert msg.t - (at - first_at) <= 0.3 + 1e-6
    # ... and the whole utterance took about its own duration on the virtual clock.
    last_at, last = audio[-1]
    assert last_at - first_at == pytest.approx(last.t - 0.3, abs=0.06)


async def test_idle_frames_follow_the_clock(registry, instant_clock):
    clock = instant_clock
    sent: list[tuple[float, m.ServerMessage]] = []

    async def send(msg):
        sent.append((clock.now, msg))

    session = Session(id="s", send=send, tts=registry, clock=clock, sleep=clock.sleep)
    await session.handle(m.Hello(protocol=1, client="t", fps=60))
    while clock.now < 110.0:
        await asyncio.sleep(0)
    await session.close()
    idle = [msg for _, msg in sent if isinstance(msg, m.Curves) and msg.id == "idle"]
    frames = sum(msg.n for msg in idle)
    assert frames == pytest.approx(600, abs=6)  # 10 virtual seconds at 60 fps
    for prev, nxt in zip(idle, idle[1:]):
        assert nxt.t == pytest.approx(prev.t + prev.n / 60)
