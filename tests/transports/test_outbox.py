"""The outbox's rules, without sockets."""

from __future__ import annotations

import asyncio

import pytest

from bridge.protocol import messages as m
from bridge.transports.outbox import Outbox


def curves(utt: str, seq: int) -> m.Curves:
    return m.Curves(id=utt, seq=seq, t=seq * 0.05, fps=60, n=3, data=b"\0" * 312)


def audio(utt: str, seq: int) -> m.Audio:
    return m.Audio(id=utt, seq=seq, t=seq * 0.05, data=b"\0" * 10)


async def drain(box: Outbox) -> list[m.ServerMessage]:
    out = []
    while len(box):
        out.append(await box.get())
    return out


async def test_oldest_idle_curves_go_first_with_one_warning():
    box = Outbox(max_curves=4, max_audio=4)
    await box.put(curves("u", 0))
    for seq in range(6):
        await box.put(curves("idle", seq))
    msgs = await drain(box)
    assert isinstance(msgs[0], m.Error) and msgs[0].code == "slow_consumer"
    assert [(x.id, x.seq) for x in msgs[1:]] == [("u", 0), ("idle", 3), ("idle", 4), ("idle", 5)]
    assert box.dropped == 3


async def test_audio_waits_for_space_and_is_never_dropped():
    box = Outbox(max_curves=100, max_audio=2)
    await box.put(audio("u", 0))
    await box.put(audio("u", 1))
    blocked = asyncio.create_task(box.put(audio("u", 2)))
    await asyncio.sleep(0.01)
    assert not blocked.done()
    assert (await box.get()).seq == 0
    await asyncio.wait_for(blocked, 1)
    assert [x.seq for x in await drain(box)] == [1, 2]


async def test_clear_purges_the_utterance_but_nothing_else():
    box = Outbox()
    await box.put(m.Gesture(id="a", t=0.5, name="nod", duration=0.6, strength=0.7))
    await box.put(audio("a", 0))
    await box.put(curves("a", 0))
    await box.put(curves("idle", 0))
    await box.put(audio("b", 0))
    await box.put(m.Clear(id="a"))
    msgs = await drain(box)
    assert [(type(x).__name__, x.id) for x in msgs] == [("Curves", "idle"), ("Audio", "b"),
                                                         ("Clear", "a")]
    assert (box._curves, box._audio) == (0, 0)  # a gesture counted as neither


async def test_a_new_episode_warns_again():
    box = Outbox(max_curves=1)
    for _ in range(2):
        await box.put(curves("idle", 0))
        await box.put(curves("idle", 1))
        codes = [x.code for x in await drain(box) if isinstance(x, m.Error)]
        assert codes == ["slow_consumer"]
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(box.get(), 0.01)  # empty: the reader caught up
