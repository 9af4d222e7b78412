"""audio_in: curves only, streamed as the client's audio arrives, through the batched network."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import torch

from blendshape.net.model import AudioToFace, ModelConfig
from bridge.server.host import Server, ServerConfig
from bridge.session.config import SessionConfig
from tests.support.wsclient import Client, curves_array


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A small untrained network: these tests are about the stream, not the face quality."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "tiny.pt"
    torch.save(AudioToFace(ModelConfig(hidden=32)).checkpoint(), path)
    return path


@pytest.fixture(params=["torch", "auto"])
async def server(request, registry, checkpoint):
    """The server's batch in PyTorch and in ``auto``, its default (ONNX Runtime's 8-bit graph
    on a CPU)."""
    srv = Server(ServerConfig(port=0, weights=str(checkpoint), session=SessionConfig(idle=False),
                              engine=request.param), tts=registry)
    assert srv.network.engine.name == {"torch": "torch", "auto": "onnxruntime-int8"}[request.param]
    await srv.start()
    yield srv
    await srv.stop()


@pytest.fixture(scope="module")
def speech(espeak, registry):
    _, voice = registry.resolve(voice="espeak:en-us")
    chunk = next(iter(espeak.synthesize("Papa bought a big blue boat.", voice)))
    return (chunk.pcm * 32767).astype("<i2"), chunk.rate


async def test_audio_in_streams_curves_covering_the_audio(server, speech):
    pcm, rate = speech
    client, welcome = await Client.open(server.port, channels=["arkit52", "visemes"], fps=60)
    step = rate // 50  # 20 ms chunks
    half = len(pcm) // 2 // step * step
    for i in range(0, len(pcm), step):
        if i == half:  # streamed: curves for the first half come before the rest is sent
            early = await client.until(lambda m: m["type"] == "curves")
        await client.send({"type": "audio_in", "id": "mine", "rate": rate,
                           "data": pcm[i:i + step].tobytes(), "end": i + step >= len(pcm)})
    msgs = early + await client.utterance("mine")
    await client.close()
    assert msgs[0] == {"type": "utterance", "id": "mine", "state": "start", "source": "audio_in"}
    assert msgs[-1]["reason"] == "done"
    curves = [m for m in msgs if m["type"] == "curves"]
    assert not [m for m in msgs if m["type"] == "audio"]
    frame = 0
    for m in curves:  # contiguous on the utterance clock
        assert m["t"] == pytest.approx(frame / 60)
        arr = curves_array(m, len(welcome["channels"]))
        assert np.all(arr >= 0) and np.all(arr <= 1.001)
        frame += m["n"]
    assert abs(frame / 60 - len(pcm) / rate) <= 1 / 60 + 1e-9
    assert len(curves) >= 4  # sent all at once, each half still arrives in 250 ms slices
    assert max(m["n"] for m in curves) <= 16  # ≤ 250 ms of frames per batch, at 60 fps


async def test_audio_in_refusals(server, speech, registry, tmp_path):
    pcm, rate = speech
    client, _ = await Client.open(server.port)
    await client.send({"type": "audio_in", "id": "a", "rate": rate, "data": pcm[:800].tobytes()})
    assert (await client.recv())["state"] == "start"
    await client.send({"type": "audio_in", "id": "a", "rate": 16000, "data": pcm[:800].tobytes()})
    msg = await client.until(lambda m: m["type"] == "error")
    assert msg[-1]["code"] == "invalid_field"
    await client.send({"type": "interrupt", "id": "a"})
    after = await client.until(lambda m: m["type"] == "utterance")
    assert after[-2:] == [{"type": "clear", "id": "a"},
                          {"type": "utterance", "id": "a", "state": "end", "source": "audio_in",
                           "reason": "interrupted"}]
    await client.close()
    no_net = Server(ServerConfig(port=0, weights=str(tmp_path / "none.pt")), tts=registry)
    await no_net.start()
    try:
        other, _ = await Client.open(no_net.port)
        await other.send({"type": "audio_in", "id": "b", "rate": rate, "data": pcm[:800].tobytes()})
        err = await other.until(lambda m: m["type"] == "error")
        assert err[-1]["code"] == "unsupported" and "talkbridge train" in err[-1]["message"]
        await other.close()
    finally:
        await no_net.stop()


async def test_a_clip_sent_whole_is_heard_whole_by_the_offline_model(server, speech):
    """No audio is still to come, so the offline quality model hears the whole clip: the
    client's mouth follows that model's curves, in the quarter-second slices a stream gets."""
    from blendshape import rig
    from blendshape.net.stream import animate_clip, load_for_files

    pcm, rate = speech
    client, welcome = await Client.open(server.port, channels=["arkit52"], fps=60)
    await client.send({"type": "audio_in", "id": "whole", "rate": rate, "data": pcm.tobytes(),
                       "end": True})
    msgs = await client.utterance("whole")
    await client.close()
    curves = [m for m in msgs if m["type"] == "curves"]
    assert msgs[-1]["reason"] == "done" and max(m["n"] for m in curves) <= 16
    assert [m["seq"] for m in curves] == list(range(len(curves)))
    got = np.concatenate([curves_array(m, 52) for m in curves])
    assert abs(len(got) / 60 - len(pcm) / rate) <= 1 / 60 + 1e-9
    audio = pcm.astype(np.float32) / 32768
    offline = animate_clip(load_for_files("offline"), audio, rate, 60)[:, :52]
    jaw = rig.ARKIT_INDEX["jawOpen"]
    assert np.corrcoef(got[:, jaw], offline[:len(got), jaw])[0, 1] > 0.99


async def test_say_cannot_take_the_id_of_an_open_audio_in(server, speech):
    """One id, one utterance: a ``say`` reusing an open ``audio_in``'s id is refused, and the
    client never sees a second ``utterance start`` for that id."""
    pcm, rate = speech
    client, _ = await Client.open(server.port)
    await client.send({"type": "audio_in", "id": "x", "rate": rate, "data": pcm[:800].tobytes()})
    assert (await client.recv())["state"] == "start"
    await client.send({"type": "say", "id": "x", "text": "Hello there."})
    msgs = await client.until(lambda m: m["type"] == "error")
    assert msgs[-1]["code"] == "duplicate_id" and "'x'" in msgs[-1]["message"]
    await client.send({"type": "audio_in", "id": "x", "rate": rate, "data": pcm[800:1600].tobytes(),
                       "end": True})
    msgs += await client.utterance("x")
    await client.close()
    starts = [m for m in msgs if m["type"] == "utterance" and m["state"] == "start"]
    assert starts == []  # the one start came first, before the say
    assert msgs[-1]["source"] == "audio_in" and msgs[-1]["reason"] == "done"
    assert not [m for m in msgs if m["type"] == "audio"]  # nothing of the say was spoken


async def test_a_stream_far_ahead_of_its_animation_is_refused_and_an_ended_id_is_closed(
        registry, checkpoint, speech):
    pcm, rate = speech
    srv = Server(ServerConfig(port=0, weights=str(checkpoint),
                              session=SessionConfig(idle=False, max_audio_in_backlog=1.0)),
                 tts=registry)
    await srv.start()
    try:
        client, _ = await Client.open(srv.port)
        clip = np.tile(pcm, 4)[:3 * rate].tobytes()  # 3 s at once, then more straight away
        await client.send({"type": "audio_in", "id": "flood", "rate": rate, "data": clip})
        await client.send({"type": "audio_in", "id": "flood", "rate": rate, "data": clip})
        error = (await client.until(lambda m: m["type"] == "error"))[-1]
        assert error["code"] == "queue_full" and "real time" in error["message"]
        await client.send({"type": "audio_in", "id": "flood", "rate": rate, "data": b"",
                           "end": True})
        await client.send({"type": "audio_in", "id": "flood", "rate": rate,
                           "data": pcm[:800].tobytes()})
        error = (await client.until(lambda m: m["type"] == "error"))[-1]
        assert error["code"] == "invalid_field" and "already ended" in error["message"]
        msgs = await client.utterance("flood")
        frames = sum(m["n"] for m in msgs if m["type"] == "curves")
        assert abs(frames / 60 - 3.0) <= 2 / 60  # the accepted 3 s, all animated
        await client.send({"type": "ping", "t": 1.0})  # the session goes on
        assert (await client.until(lambda m: m["type"] == "pong"))[-1]["t"] == 1.0
        await client.close()
    finally:
        await srv.stop()


async def test_idle_frames_pause_while_audio_in_drives_the_face(registry, checkpoint, speech):
    pcm, rate = speech
    srv = Server(ServerConfig(port=0, weights=str(checkpoint), session=SessionConfig(idle=True)),
                 tts=registry)
    await srv.start()
    try:
        client, _ = await Client.open(srv.port)
        await client.until(lambda m: m["type"] == "curves", skip_idle=False)  # idle is running
        step = rate // 50
        for i in range(0, rate // 2, step):  # 0.5 s in real time: ten idle chunks' worth
            await client.send({"type": "audio_in", "id": "perf", "rate": rate,
                               "data": pcm[i:i + step].tobytes(), "end": i + step >= rate // 2})
            await asyncio.sleep(0.02)
        msgs = await client.until(lambda m: m.get("state") == "start", skip_idle=False)
        msgs = await client.until(lambda m: m.get("state") == "end", skip_idle=False)
        assert [m for m in msgs if m["type"] == "curves" and m["id"] == "perf"]
        assert not [m for m in msgs if m.get("id") == "idle"]  # one face, one driver
        resumed = await client.until(lambda m: m.get("id") == "idle", skip_idle=False)
        assert resumed[-1]["type"] == "curves"
        await client.close()
    finally:
        await srv.stop()


async def test_concurrent_streams_share_batches(server, speech):
    pcm, rate = speech
    clients = [(await Client.open(server.port))[0] for _ in range(4)]
    step = rate // 50
    for i in range(0, len(pcm), step):
        for k, client in enumerate(clients):
            await client.send({"type": "audio_in", "id": f"s{k}", "rate": rate,
                               "data": pcm[i:i + step].tobytes(), "end": i + step >= len(pcm)})
    results = [await c.utterance(f"s{k}") for k, c in enumerate(clients)]
    frames = [sum(m["n"] for m in r if m["type"] == "curves") for r in results]
    assert len(set(frames)) == 1  # same audio, same frames, whatever the batching
    data = [b"".join(m["data"] for m in r if m["type"] == "curves") for r in results]
    # Same audio → same mouth, whatever the batch composition (eyes differ: each session
    # blinks on its own schedule).
    mouth = [np.frombuffer(d, "<f2").astype(np.float32).reshape(-1, 52)[:, 14:41] for d in data]
    for other in mouth[1:]:
        np.testing.assert_allclose(other, mouth[0], atol=2e-3)
    assert server.network.largest >= 2
    for c in clients:
        await c.close()


def test_take_slices_the_front_and_keeps_the_rest():
    from collections import deque

    from bridge.session.audio_in import take as _take

    chunks = deque([np.arange(3.0), np.arange(3.0, 5.0), np.arange(5.0, 9.0)])
    np.testing.assert_array_equal(_take(chunks, 4), np.arange(4.0))
    np.testing.assert_array_equal(np.concatenate(chunks), np.arange(4.0, 9.0))
    np.testing.assert_array_equal(_take(chunks, 10), np.arange(4.0, 9.0))
    assert not chunks
