"""serve --ray: speech synthesized by a Ray Serve deployment on a real local Ray cluster
(``.ci/run`` starts its head and sets ``TALKBRIDGE_TEST_RAY``), and the one-line exits."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time

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


def test_replicas_that_ask_for_a_gpu_the_cluster_lacks_are_one_line_at_start(ray_address,
                                                                            tmp_path):
    """Serve would wait for the GPU without end; the front says so and exits instead."""
    config = tmp_path / "talkbridge.toml"
    config.write_text("[scale]\nnetwork_gpus = 0.5\nnetwork_replicas = 2\n")
    run = subprocess.run([sys.executable, "-m", "bridge.cli", "serve", "--port", "0", "--ray",
                          ray_address, "--config", str(config)], capture_output=True, text=True,
                         timeout=120, check=False)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [
        "talkbridge serve: [scale] network_gpus 0.5 × 2 replica(s) needs 1 GPU(s) and the "
        "cluster has 0: start a GPU node with `ray start --address HEAD:6379 --num-gpus N`, "
        "or set network_gpus = 0 for CPUs"]
    assert "serving" not in run.stdout


def test_network_replicas_0_keeps_the_network_here_and_speech_on_the_cluster(ray_address):
    """``[scale] network_replicas = 0``: the front deploys no network step and steps its
    streams itself (no ``network_on``), while its sentences are still spoken on the cluster."""
    from ray import serve
    from ray.serve.exceptions import RayServeException

    from bridge.cli.serve import _on_ray
    from bridge.dialogue.config import DialogueConfig
    from bridge.server import scale, scale_network
    from bridge.server.host import default_registry

    scale.connect(ray_address)
    with contextlib.suppress(RayServeException):  # no Serve running yet: nothing to delete
        serve.delete(scale_network.APP)  # one that an earlier test left running
    try:
        # No dialogue, so no recognizer either: one left running would hold half a CPU of
        # the head that the lost-node test's replicas need.
        config = ServerConfig(port=0, warm_up=False, dialogue=DialogueConfig(enabled=False))
        registry, remote = _on_ray(ray_address, {"scale": {"network_replicas": 0}},
                                   default_registry(), config)
        assert "network_on" not in remote and "asr" not in remote
        assert scale_network.APP not in serve.status().applications
        provider, voice = registry.resolve(None)
        chunk = next(iter(provider.synthesize("Hello there.", voice)))
        assert chunk.meta["replica_pid"] != os.getpid()
    finally:
        serve.delete(scale.APP)


def test_replica_counts_out_of_range_are_one_line():
    from bridge.cli.serve import _replicas

    with pytest.raises(SystemExit, match=r"\[scale\] network_replicas -1: a whole number 0-1024 "
                                         r"\(0: in this process\)"):
        _replicas({"scale": {"network_replicas": -1}}, "network_replicas", least=0)
    with pytest.raises(SystemExit, match=r"\[scale\] replicas 0: a whole number 1-1024$"):
        _replicas({"scale": {"replicas": 0}}, "replicas")


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


def test_bench_ray_splits_the_synthesis_hop_into_the_call_and_the_replicas_work(cluster,
                                                                                 registry):
    """``bench --ray``'s synthesis section: both sides, and the hop split by the replica's
    own timing (values not held to targets: the machine is shared)."""
    from bridge.server import scale
    from bridge.tools import bench_ray

    report = bench_ray.synthesis(registry, scale.remote_registry(registry, cluster), runs=2)
    assert report["tts_first_audio_ms_local"] > 0 and report["tts_times_real_time_ray"] > 0
    assert 0 < report["tts_first_audio_replica_synthesis_ms"] < report["tts_first_audio_ms_ray"]
    assert report["tts_first_audio_call_overhead_ms"] == round(
        report["tts_first_audio_ms_ray"] - report["tts_first_audio_replica_synthesis_ms"], 2)


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


@pytest.fixture
def second_node(ray_address):
    """A second Ray node (one CPU) that joins the test cluster, in its own process group so
    that the test can kill all of it at once, as a lost machine; stopped after the test."""
    import ray

    alive = lambda: {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    before = alive()
    ray_cli = os.path.join(os.path.dirname(sys.executable), "ray")
    node = subprocess.Popen([ray_cli, "start", "--address", ray_address, "--num-cpus", "1",
                             "--disable-usage-stats", "--block"], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not alive() - before:
            assert node.poll() is None, f"the second node's `ray start` exited {node.returncode}"
            assert time.monotonic() < deadline, "the second node did not join within 60 s"
            time.sleep(0.2)
        yield (alive() - before).pop(), node
    finally:
        if node.poll() is None:
            os.killpg(node.pid, signal.SIGKILL)
        node.wait()


def test_a_lost_node_costs_its_sentences_one_retry_and_serve_restarts_its_replica(
        cluster, registry, second_node, caplog):
    """Two replicas, one on each node; the second node dies (every process of it at once)
    with sentences in flight on it. Those sentences are asked again on the head's replica and
    all come back; Serve marks the node dead and starts its replica again on the head."""
    import ray
    from ray import serve

    from bridge.server import scale

    node_id, node = second_node
    handle = scale.deploy(None, replicas=2)  # Serve spreads replicas across the nodes
    provider, voice = scale.remote_registry(registry, handle).resolve(None)
    said = lambda text: next(iter(provider.synthesize(text, voice))).meta
    where = {(m["replica_node"], m["replica_pid"]) for m in (said("Warm.") for _ in range(12))}
    assert node_id in {n for n, _ in where}, f"no replica on the second node: {where}"

    text = ("Peter Piper picked a peck of pickled peppers, and a big black bug bit a big "
            "black bear, but the big black bear bit the big black bug back.")
    with caplog.at_level(logging.WARNING, logger="bridge.server.scale"), \
            concurrent.futures.ThreadPoolExecutor(8) as pool:
        asked = [pool.submit(said, text) for _ in range(8)]  # four queue on each replica
        time.sleep(0.3)
        os.killpg(node.pid, signal.SIGKILL)  # the machine is gone: raylet, workers, replica
        spoken = [f.result(timeout=120) for f in asked]
    retried = [r for r in caplog.records if "retrying on another replica" in r.getMessage()]
    assert retried, "no sentence was in flight on the lost node"
    assert len(spoken) == 8 and all(m["replica_node"] != node_id for m in spoken)

    deadline = time.monotonic() + 90  # the head marks the node dead after missed heartbeats
    while True:
        dead = node_id not in {n["NodeID"] for n in ray.nodes() if n["Alive"]}
        state = serve.status().applications[scale.APP].deployments["Synthesizer"]
        if dead and state.replica_states.get("RUNNING", 0) == 2:
            break
        assert time.monotonic() < deadline, f"Serve did not restore 2 replicas: {state}"
        time.sleep(0.5)
    after = {m["replica_pid"] for m in (said("Again.") for _ in range(12))}
    assert len(after) == 2  # both replicas answer, now on the surviving node
