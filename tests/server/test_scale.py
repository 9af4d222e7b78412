"""serve --ray: speech synthesized by a Ray Serve deployment on a real local Ray cluster
(``.ci/run`` starts its head and sets ``TALKBRIDGE_TEST_RAY``), and the one-line exits."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys

import pytest

from bridge.server.host import Server, ServerConfig
from bridge.session.config import SessionConfig
from tests.support.wsclient import Client


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_head_is_one_line_and_a_non_zero_exit():
    port = _closed_port()
    run = subprocess.run([sys.executable, "-m", "bridge.cli", "serve", "--port", "0", "--ray",
                          f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=60,
                         check=False)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [
        f"talkbridge serve: [scale] ray 127.0.0.1:{port} is unreachable (Connection refused): "
        "start a head with `ray start --head` or fix the address"]


@pytest.fixture(scope="module")
def cluster(ray_address):
    """The synthesizer, deployed once for the module on the test cluster."""
    from ray import serve

    from bridge.server import scale

    handle = scale.deploy(None, replicas=1)
    yield handle
    serve.delete(scale.APP)


async def test_a_say_is_synthesized_on_the_cluster_and_animated_here(cluster, registry):
    from bridge.server import scale

    remote = scale.remote_registry(registry, cluster)
    provider, voice = remote.resolve(None)
    (chunk,) = await asyncio.to_thread(  # as the server's worker threads call it
        lambda: list(provider.synthesize("Papa bought a big blue boat.", voice)))
    assert chunk.meta["replica_pid"] != os.getpid()  # a Ray worker spoke it
    assert chunk.duration > 1.0 and any(p.phoneme.strip() == "b" for p in chunk.phonemes)

    server = Server(ServerConfig(port=0, warm_up=False, session=SessionConfig(idle=False)),
                    tts=remote)
    await server.start()
    try:
        client, _ = await Client.open(server.port)
        await client.send({"type": "say", "id": "r", "text": "Hello there. How are you today?"})
        msgs = await client.utterance("r", timeout=60)
        await client.close()
    finally:
        await server.stop()
    assert msgs[-1]["reason"] == "done"
    assert sum(len(m["data"]) for m in msgs if m["type"] == "audio") > 2 * 22050  # > 1 s PCM16
    assert sum(m["n"] for m in msgs if m["type"] == "curves") > 60


def test_a_killed_replica_costs_its_sentence_a_retry_not_an_error(cluster, registry):
    """Serve restarts a dead replica; the sentence in flight is retried and comes back."""
    import ray

    from bridge.server import scale

    remote = scale.remote_registry(registry, cluster)
    provider, voice = remote.resolve(None)
    before = next(iter(provider.synthesize("One.", voice))).meta["replica_pid"]
    actors = [a for a in ray.util.list_named_actors(all_namespaces=True)
              if "Synthesizer" in a["name"]]
    assert actors
    for actor in actors:
        ray.kill(ray.get_actor(actor["name"], namespace=actor["namespace"]), no_restart=False)
    (chunk,) = list(provider.synthesize("Still here after the crash.", voice))
    assert chunk.duration > 0.5 and chunk.meta["replica_pid"] != before
