"""``talkbridge bench --ray ADDRESS``: what the hop to a Ray Serve replica costs, side by side
with the same work in this process, in one run (DESIGN §8; issue 23's targets: ≤ 20 ms more
to first audio, ≤ 10 % less throughput).

- **Synthesis**: the first audio of a short sentence (one cluster call), and sentences
  synthesized back to back (seconds of speech per second).
- **Network step**: one 20 ms tick (two feature frames) for batches of 1, 8, 64 and 256
  streams, the states travelling both ways as a server's do; and stream-ticks a second, one
  core in-process against a one-CPU replica that four fronts call at once.

Equal cores: a replica gets one CPU (Ray sets its threads to its share), so this process's
torch runs on one thread for its side too. The Ray replicas share this machine's cores with
this process, as a single-machine cluster does; on separate nodes the compute is the
replica's alone and only the hop (serialization, two local sockets) is added.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

SHORT = "Hello there, how are you?"
SENTENCES = ("Papa bought a big blue boat.", "It sails across the bay every morning.",
             "The gulls circle the harbour.", "We start tomorrow.")
BATCHES = (1, 8, 64, 256)


def _median_ms(values: list[float]) -> float:
    return round(1000.0 * statistics.median(values), 2)


def _first_audio(provider: Any, voice: Any, runs: int) -> tuple[float, float | None]:
    """Median ms to the first chunk, and (through Ray) of that the replica's own synthesis."""
    times, work = [], []
    for _ in range(runs):
        start = time.perf_counter()
        chunk = next(iter(provider.synthesize(SHORT, voice)))
        times.append(time.perf_counter() - start)
        if "replica_seconds" in chunk.meta:
            work.append(chunk.meta["replica_seconds"])
    return _median_ms(times), (_median_ms(work) if work else None)


def _times_real_time(provider: Any, voice: Any, rounds: int) -> float:
    """Seconds of speech per second of wall clock, sentences one after another."""
    audio, start = 0.0, time.perf_counter()
    for _ in range(rounds):
        for sentence in SENTENCES:
            audio += sum(c.duration for c in provider.synthesize(sentence, voice))
    return round(audio / (time.perf_counter() - start), 1)


def synthesis(local: Any, remote: Any, runs: int) -> dict[str, float]:
    """First audio and throughput, in-process against through Ray (the default voice)."""
    out: dict[str, float] = {}
    for label, registry in (("local", local), ("ray", remote)):
        provider, voice = registry.resolve()
        next(iter(provider.synthesize("Warm up.", voice)))
        out[f"tts_first_audio_ms_{label}"], work = _first_audio(provider, voice, runs)
        if work is not None:  # split the hop: the call's own cost, and slower synthesis there
            out["tts_first_audio_replica_synthesis_ms"] = work
        out[f"tts_times_real_time_{label}"] = _times_real_time(provider, voice, max(1, runs // 5))
    out["tts_first_audio_hop_ms"] = round(out["tts_first_audio_ms_ray"]
                                          - out["tts_first_audio_ms_local"], 2)
    out["tts_first_audio_call_overhead_ms"] = round(
        out["tts_first_audio_ms_ray"] - out["tts_first_audio_replica_synthesis_ms"], 2)
    out["tts_throughput_ray_vs_local"] = round(out["tts_times_real_time_ray"]
                                               / out["tts_times_real_time_local"], 3)
    return out


def _tick_ms(engine: Any, n: int, runs: int) -> float:
    from bridge.tools.bench import batched_tick_seconds

    return round(1000.0 * batched_tick_seconds(engine, n, runs, warm=True), 2)


def _stream_ticks_per_s(engine: Any, fronts: int, per_front: int, seconds: float) -> float:
    """Stream-ticks stepped per second by ``fronts`` callers at once, each with its own batch
    of ``per_front`` streams (one caller: this process's own batch, in turn)."""
    from concurrent.futures import ThreadPoolExecutor

    feats = np.zeros((per_front, 2, engine.config.n_mels), np.float32) - 6.0
    state = engine.initial_state(per_front)
    deadline = time.perf_counter() + seconds

    def front(_: int) -> int:
        ticks = 0
        while time.perf_counter() < deadline:
            engine.step(feats, state)
            ticks += per_front
        return ticks

    start = time.perf_counter()
    with ThreadPoolExecutor(fronts) as pool:
        ticks = sum(pool.map(front, range(fronts)))
    return round(ticks / (time.perf_counter() - start))


def network(local: Any, remote: Any, runs: int, seconds: float = 3.0) -> dict[str, float]:
    """One 20 ms tick for batches of streams, in-process (one torch thread) against Ray;
    throughput over ``seconds`` each side."""
    import torch

    out: dict[str, float] = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for n in BATCHES:
            here, there = _tick_ms(local, n, runs), _tick_ms(remote, n, runs)
            out[f"network_batch_{n}_ms_per_20ms_tick_local"] = here
            out[f"network_batch_{n}_ms_per_20ms_tick_ray"] = there
            out[f"network_batch_{n}_hop_ms"] = round(there - here, 2)
        # Throughput: one core in-process, 256 streams a step; one 1-CPU replica, four
        # fronts of 64 streams each calling at once (its passes join what queued).
        out["network_stream_ticks_per_s_local"] = _stream_ticks_per_s(local, 1, 256, seconds)
        out["network_stream_ticks_per_s_ray_4_fronts"] = _stream_ticks_per_s(remote, 4, 64, seconds)
        out["network_throughput_ray_vs_local"] = round(
            out["network_stream_ticks_per_s_ray_4_fronts"]
            / out["network_stream_ticks_per_s_local"], 3)
    finally:
        torch.set_num_threads(threads)
    big = BATCHES[-1]
    out[f"network_throughput_ray_vs_local_batch_{big}"] = round(
        out[f"network_batch_{big}_ms_per_20ms_tick_local"]
        / out[f"network_batch_{big}_ms_per_20ms_tick_ray"], 3)
    return out


def run(address: str, runs: int = 10) -> dict[str, float]:
    """Deploy a synthesizer (1 CPU) and a network step (1 CPU) on the cluster at ``address``,
    measure both sides, and take the deployments down again."""
    from ray import serve

    from blendshape.net.stream import load_network
    from bridge.server import scale, scale_network
    from bridge.server.host import default_registry

    scale.connect(address)
    report: dict[str, Any] = {"ray_address": address, "runs": runs}
    local = default_registry()
    try:
        remote = scale.remote_registry(local, scale.deploy(None, replicas=1))
        report.update(synthesis(local, remote, runs))
    finally:
        serve.delete(scale.APP)
    # PyTorch on both sides, as docs/scaling.md's hop figures were measured (the server's
    # default on a CPU is the 8-bit graph since 2026-12-08; the hop is the same call).
    engine = load_network(None, None, "torch")
    try:
        handle = scale_network.deploy(None, engine="torch", cpus_per_replica=1.0)
        report.update(network(engine, scale_network.RemoteEngine(engine, handle), runs))
    finally:
        serve.delete(scale_network.APP)
    return report
