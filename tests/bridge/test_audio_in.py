"""audio_in: curves only, streamed as the client's audio arrives, through the batched network."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from blendshape.model import AudioToFace, ModelConfig
from bridge.server import Server, ServerConfig
from bridge.session import SessionConfig

from .wsclient import Client, curves_array


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A small untrained network: these tests are about the stream, not the face quality."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "tiny.pt"
    torch.save(AudioToFace(ModelConfig(hidden=32)).checkpoint(), path)
    return path


@pytest.fixture
async def server(registry, checkpoint):
    srv = Server(ServerConfig(port=0, weights=str(checkpoint), session=SessionConfig(idle=False)),
                 tts=registry)
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
    for i in range(0, len(pcm), step):
        await client.send({"type": "audio_in", "id": "mine", "rate": rate,
                           "data": pcm[i:i + step].tobytes(), "end": i + step >= len(pcm)})
    msgs = await client.utterance("mine")
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
    assert len(curves) > 20  # streamed, not one message at the end


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
