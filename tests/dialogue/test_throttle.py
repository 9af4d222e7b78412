"""Mic audio faster than real time is held back, not buffered: on a virtual clock."""

from __future__ import annotations

import asyncio

import numpy as np

from bridge.dialogue.config import DialogueConfig
from bridge.dialogue.runner import Dialogue
from bridge.dialogue.services import DialogueServices
from bridge.protocol import messages as m
from bridge.session.config import SessionConfig
from bridge.session.session import Session


async def test_a_client_sending_mic_audio_ten_times_too_fast_is_slowed_to_real_time(registry, instant_clock):
    clock = instant_clock
    services = DialogueServices(DialogueConfig(mic_burst=1.0))
    sent = []

    async def send(msg):
        sent.append(msg)

    session = Session(id="s", send=send, tts=registry, config=SessionConfig(idle=False),
                      clock=clock, sleep=clock.sleep,
                      make_dialogue=lambda s: Dialogue(s, services))
    await session.handle(m.Hello(protocol=1, client="t"))
    chunk = np.zeros(1600, "<i2").tobytes()  # 100 ms at 16 kHz
    start = clock.now
    for _ in range(100):  # 10 s of audio, sent back to back
        await session.handle(m.Mic(rate=16000, data=chunk))
    elapsed = clock.now - start
    # Real time minus the one-second burst the client may run ahead.
    assert 10.0 - 1.0 - 0.11 <= elapsed <= 10.0 - 1.0 + 0.11
    await session.close()


async def test_a_pause_does_not_bank_credit_for_a_later_burst(registry, instant_clock):
    clock = instant_clock
    services = DialogueServices(DialogueConfig(mic_burst=0.5))

    async def send(msg):
        pass

    session = Session(id="s", send=send, tts=registry, config=SessionConfig(idle=False),
                      clock=clock, sleep=clock.sleep,
                      make_dialogue=lambda s: Dialogue(s, services))
    await session.handle(m.Hello(protocol=1, client="t"))
    clock.now += 60.0  # a minute of silence from the client
    start = clock.now
    chunk = np.zeros(1600, "<i2").tobytes()
    for _ in range(30):
        await session.handle(m.Mic(rate=16000, data=chunk))
    assert clock.now - start >= 3.0 - 0.5 - 0.11
    await session.close()
    await asyncio.sleep(0)
