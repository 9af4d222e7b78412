"""serve --ray: the network's batched streaming step as a Ray Serve deployment, on the real
local Ray cluster of ``.ci/run``; the curves are the in-process ones, a killed replica costs
a retry, and a cluster that can't step ends the streams, not the session."""

from __future__ import annotations

import asyncio
import os
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from blendshape.layers.life import LifeConfig
from blendshape.net.stream import Batcher, Stream, load_network
from bridge.server.host import Server, ServerConfig
from bridge.session.config import SessionConfig
from tests.support.wsclient import Client, curves_array

STILL = LifeConfig(blinks=False, gaze=False, head=False, breathing=False)


@pytest.fixture(scope="module")
def network(ray_address):
    """The shipped network's step, deployed once for the module (half a CPU: the head has 2)."""
    from ray import serve

    from bridge.server import scale_network

    handle = scale_network.deploy(None, engine="torch", cpus_per_replica=0.5)
    yield handle
    serve.delete(scale_network.APP)


@pytest.fixture(scope="module")
def local():
    return load_network(None, None, "torch")


@pytest.fixture(scope="module")
def speech(espeak, registry):
    """Two voices' worth of audio, 16-bit as a client sends it."""
    out = []
    for voice_id, text in (("espeak:en-us", "Papa bought a big blue boat."),
                           ("espeak:en-us", "Where are the mice?")):
        _, voice = registry.resolve(voice=voice_id)
        chunk = next(iter(espeak.synthesize(text, voice)))
        out.append(((chunk.pcm * 32767).astype("<i2"), chunk.rate))
    return out


def _stream_all(batcher: Batcher, clips: list[tuple[np.ndarray, int]]) -> list[np.ndarray]:
    """Every clip as a live stream in 20 ms chunks, all streams in one batch a tick."""
    streams = [Stream(batcher.engine, rate) for _, rate in clips]
    chunks = [[pcm[i:i + rate // 50] for i in range(0, len(pcm), rate // 50)] for pcm, rate in clips]
    out: list[list[np.ndarray]] = [[] for _ in clips]
    for tick in range(max(map(len, chunks))):
        live = [i for i, c in enumerate(chunks) if tick < len(c)]
        feats = [streams[i].features(chunks[i][tick] / 32768.0, tick == len(chunks[i]) - 1)
                 for i in live]
        for i, weights in zip(live, batcher.step([streams[i] for i in live], feats)):
            out[i].append(weights)
    return [np.concatenate(w) for w in out]


#: Where the head writes its Serve replicas' logs (``ray start``'s default temp dir).
REPLICA_LOGS = Path("/tmp/ray/session_latest/logs/serve")


def _replica_log_sizes() -> dict[Path, int]:
    return {p: p.stat().st_size for p in REPLICA_LOGS.glob("replica_talkbridge-network_*.log")}


def test_streams_stepped_on_the_cluster_are_the_in_process_ones(network, local, speech):
    """... and a tick writes no line to the replica's log: Serve's access log would add one
    a tick per front, 100 a second each, for as long as the show runs."""
    from bridge.server.scale_network import RemoteEngine

    remote = RemoteEngine(local, network)
    before = _replica_log_sizes()
    here, there = _stream_all(Batcher(local), speech), _stream_all(Batcher(remote), speech)
    assert remote.replica_pids and os.getpid() not in remote.replica_pids  # a Ray worker ran it
    for a, b in zip(here, there):
        assert a.shape == b.shape and len(a) > 50
        assert np.abs(a - b).max() < 1e-4
    after = _replica_log_sizes()
    assert after, f"no replica log under {REPLICA_LOGS}"
    written = b"".join(p.read_bytes()[before.get(p, 0):] for p in after)
    assert b"CALL step" not in written, written.decode(errors="replace")[-500:]


def test_calls_from_many_fronts_share_one_pass(network, local):
    """Eight fronts step at once: the replica joins calls that queued while it worked, and
    each front still gets its own streams' results."""
    from concurrent.futures import ThreadPoolExecutor

    from bridge.server.scale_network import RemoteEngine

    remote = RemoteEngine(local, network)
    rng = np.random.default_rng(1)
    feats = [rng.normal(-6, 1, (4, 2, local.config.n_mels)).astype(np.float32) for _ in range(8)]

    def front(x: np.ndarray) -> np.ndarray:
        return np.concatenate([remote.step(x, remote.initial_state(len(x)))[0]
                               for _ in range(10)])

    with ThreadPoolExecutor(8) as fronts:
        results = list(fronts.map(front, feats))
    assert remote.most_joined > 1
    for x, got in zip(feats, results):
        alone = Batcher(local).engine.step(x, local.initial_state(len(x)))[0]
        assert np.abs(np.concatenate([alone] * 10) - got).max() < 1e-4


def test_bench_ray_reports_the_hop_side_by_side(network, local):
    """``talkbridge bench --ray``'s network section runs and reports both sides (values are
    not held to targets: the machine is shared)."""
    from bridge.server.scale_network import RemoteEngine
    from bridge.tools import bench_ray

    report = bench_ray.network(local, RemoteEngine(local, network), runs=2, seconds=0.2)
    for n in bench_ray.BATCHES:
        assert report[f"network_batch_{n}_ms_per_20ms_tick_ray"] > 0
        assert report[f"network_batch_{n}_ms_per_20ms_tick_local"] > 0
    assert report["network_stream_ticks_per_s_ray_4_fronts"] > 0


def test_a_killed_replica_costs_a_tick_a_retry_and_the_stream_goes_on(network, local, speech):
    """The state travels with each call: the restarted replica serves the stream's next step
    as the dead one would have, so the curves are unchanged."""
    import ray

    from bridge.server.scale_network import RemoteEngine

    pcm, rate = speech[0]
    remote = RemoteEngine(local, network)
    streams = {e: Stream(e, rate) for e in (local, remote)}
    batchers = {e: Batcher(e) for e in (local, remote)}
    step = rate // 50
    got: dict[object, list[np.ndarray]] = {local: [], remote: []}
    for n, i in enumerate(range(0, len(pcm), step)):
        if n == 20:  # mid-utterance
            before = set(remote.replica_pids)
            for actor in ray.util.list_named_actors(all_namespaces=True):
                if "NetworkStep" in actor["name"]:
                    ray.kill(ray.get_actor(actor["name"], namespace=actor["namespace"]),
                             no_restart=False)
        for engine in (local, remote):
            got[engine].append(batchers[engine].push(streams[engine], pcm[i:i + step] / 32768.0,
                                                     last=i + step >= len(pcm)))
    assert remote.replica_pids - before  # another replica answered after the kill
    here, there = np.concatenate(got[local]), np.concatenate(got[remote])
    assert here.shape == there.shape and np.abs(here - there).max() < 1e-4


async def _audio_in(server: Server, clip: tuple[np.ndarray, int]) -> tuple[np.ndarray, list]:
    """``clip`` sent as a live audio_in stream; its curves (f32) and the messages."""
    pcm, rate = clip
    client, welcome = await Client.open(server.port, encoding="f32")
    step = rate // 50
    for i in range(0, len(pcm), step):
        await client.send({"type": "audio_in", "id": "mic", "rate": rate,
                           "data": pcm[i:i + step].tobytes(), "end": i + step >= len(pcm)})
    msgs = await client.utterance("mic", timeout=60)
    await client.close()
    n = len(welcome["channels"])
    curves = [curves_array(m, n, "f32") for m in msgs if m["type"] == "curves"]
    return (np.concatenate(curves) if curves else np.zeros((0, n))), msgs


def _config() -> ServerConfig:
    return ServerConfig(port=0, warm_up=False, engine="torch",
                        session=SessionConfig(idle=False, life=STILL))


async def test_an_audio_in_stream_through_a_ray_server_has_the_in_process_curves(
        network, registry, speech):
    from bridge.server.scale_network import remote_engine

    curves = []
    for hook in (None, partial(remote_engine, network)):
        server = Server(_config(), tts=registry, network_on=hook)
        await server.start()
        try:
            got, msgs = await _audio_in(server, speech[0])
        finally:
            await server.stop()
        assert msgs[-1]["reason"] == "done"
        curves.append(got)
    assert server.network.engine.name == "ray" and server.network.engine.replica_pids
    assert curves[0].shape == curves[1].shape and len(curves[0]) > 60
    assert np.abs(curves[0] - curves[1]).max() < 1e-4


async def test_a_cluster_that_cannot_step_ends_the_stream_with_an_error_and_the_session_stays(
        network, local, registry, speech):
    """Last in the module: the deployment is deleted under a running server, so both tries
    fail; that audio_in ends with an error naming the cause, and the session still speaks."""
    from ray import serve

    from bridge.server import scale_network

    def short_hop(engine):
        remote = scale_network.RemoteEngine(engine, network)
        remote.timeout_s = 1.0
        return remote

    server = Server(_config(), tts=registry, network_on=short_hop)
    await server.start()
    try:
        await asyncio.to_thread(serve.delete, scale_network.APP)
        _, msgs = await _audio_in(server, speech[1])
        errors = [m for m in msgs if m["type"] == "error"]
        assert msgs[-1]["reason"] == "error" and len(errors) == 1
        assert errors[0]["ref"] == "mic" and "Ray cluster could not step" in errors[0]["message"]
        client, _ = await Client.open(server.port)
        await client.send({"type": "say", "id": "after", "text": "Still here."})
        assert (await client.utterance("after", timeout=60))[-1]["reason"] == "done"
        await client.close()
    finally:
        await server.stop()
