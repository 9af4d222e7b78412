"""``talkbridge bench``: latency and throughput, measured side by side in one run.

Wall-clock numbers on a shared machine are noisy, so each figure is a median over several
runs, and the animators are compared as ratios measured in the same process.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from typing import Any

import msgpack
import numpy as np

from blendshape import procedural
from blendshape.animator import SpeechAnimator
from blendshape.phonemes import to_viseme_spans
from blendshape.train.metrics import energy_baseline

log = logging.getLogger(__name__)

TWO_SENTENCES = "Papa bought a big blue boat. It sails across the bay every morning."
LONG_FIRST = ("Well, as I was telling the harbour master only yesterday afternoon, the old blue "
              "boat needs fresh paint before the summer race. We start tomorrow.")


def _median_ms(values: list[float]) -> float:
    return round(1000.0 * statistics.median(values), 1)


def _p90_ms(values: list[float]) -> float:
    return round(1000.0 * float(np.percentile(values, 90)), 1)


def energy_jaw(pcm: np.ndarray, rate: int, times: np.ndarray) -> np.ndarray:
    """The baseline many lip-sync plugins ship (the one ``talkbridge eval`` scores)."""
    return energy_baseline(procedural.loudness(pcm, rate, times))


def _animator_rtf(tts, runs: int) -> dict[str, float]:
    provider, voice = tts.resolve()
    chunks = list(provider.synthesize(TWO_SENTENCES, voice))
    duration = sum(c.duration for c in chunks)
    times_proc: list[float] = []
    times_energy: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        animator = SpeechAnimator(fps=60)
        for c in chunks:
            animator.add(c.pcm, c.rate, c.phonemes, c.lang)
        times_proc.append(time.perf_counter() - start)
        start = time.perf_counter()
        for c in chunks:
            energy_jaw(c.pcm, c.rate, np.arange(0, c.duration, 1 / 60))
        times_energy.append(time.perf_counter() - start)
    tts_times = []
    for _ in range(max(3, runs // 3)):
        start = time.perf_counter()
        for _c in provider.synthesize(TWO_SENTENCES, voice):
            pass
        tts_times.append(time.perf_counter() - start)
    spans = sum(len(to_viseme_spans(c.phonemes, lang=c.lang)) for c in chunks)
    return {
        "speech_seconds": round(duration, 3),
        "viseme_spans": spans,
        "procedural_rtf": round(statistics.median(times_proc) / duration, 5),
        "energy_baseline_rtf": round(statistics.median(times_energy) / duration, 5),
        "procedural_vs_energy_cost_ratio": round(statistics.median(times_proc)
                                                 / max(statistics.median(times_energy), 1e-9), 1),
        "tts_piper_rtf": round(statistics.median(tts_times) / duration, 4),
    }


def _voices(registry, runs: int) -> dict[str, float]:
    """Each embedded neural voice side by side, in one run: time to its first sentence's audio
    and how many times faster than real time it speaks (warm: one call first loads it)."""
    out: dict[str, float] = {}
    wanted = {"piper": None, "kokoro": "kokoro:af_heart"}
    for name, voice_id in wanted.items():
        try:
            provider, voice = registry.resolve(voice_id) if voice_id else registry.resolve()
        except LookupError:
            continue  # not installed (talkbridge[kokoro])
        if provider.name != name:
            continue
        list(provider.synthesize("Hello.", voice))  # load the model
        firsts, rtfs = [], []
        for _ in range(max(2, runs // 3)):
            start = time.perf_counter()
            chunks = iter(provider.synthesize(TWO_SENTENCES, voice))
            first = next(chunks)
            firsts.append(time.perf_counter() - start)
            speech = first.duration + sum(c.duration for c in chunks)
            rtfs.append(speech / (time.perf_counter() - start))
        out[f"tts_{name}_first_audio_ms"] = _median_ms(firsts)
        out[f"tts_{name}_times_real_time"] = round(statistics.median(rtfs), 1)
    return out


async def _latency(runs: int, text: str, label: str) -> dict[str, float]:
    from websockets.asyncio.client import connect

    from bridge.server.host import Server, ServerConfig

    server = Server(ServerConfig(port=0))
    await server.start()
    first_audio: list[float] = []
    first_curves: list[float] = []
    try:
        url = f"ws://127.0.0.1:{server.port}/v1/stream"
        for i in range(runs):
            async with connect(url, compression=None) as ws:
                await ws.send(msgpack.packb({"type": "hello", "protocol": 1, "client": "bench"}))
                msgpack.unpackb(await ws.recv())
                start = time.perf_counter()
                await ws.send(msgpack.packb({"type": "say", "id": f"b{i}", "text": text}))
                audio_at = curves_at = None
                while audio_at is None or curves_at is None:
                    msg = msgpack.unpackb(await ws.recv())
                    if msg.get("id") != f"b{i}":
                        continue
                    now = time.perf_counter() - start
                    if msg["type"] == "audio" and audio_at is None:
                        audio_at = now
                    elif msg["type"] == "curves" and curves_at is None:
                        curves_at = now
                first_audio.append(audio_at)
                first_curves.append(curves_at)
                await ws.send(msgpack.packb({"type": "interrupt"}))
                while not (msg.get("type") == "utterance" and msg.get("state") == "end"):
                    msg = msgpack.unpackb(await ws.recv())  # drain, so the close is read
    finally:
        await server.stop()
    return {
        f"{label}_say_to_first_audio_ms_p50": _median_ms(first_audio),
        f"{label}_say_to_first_audio_ms_p90": _p90_ms(first_audio),
        f"{label}_say_to_first_curves_ms_p50": _median_ms(first_curves),
        f"{label}_say_to_first_curves_ms_p90": _p90_ms(first_curves),
    }


def _network(runs: int) -> dict[str, float]:
    """The network's cost: one stream on one thread, whole files, and batches of many
    streams, for each engine side by side in this run: ``network_int8_*`` is what live
    streams get on a CPU (``talkbridge live``, ``engine = "auto"``), ``network_*`` the float
    ONNX Runtime graph whole files get, ``network_torch_*`` the same weights in PyTorch."""
    import torch

    from blendshape.net.engine import ExportFailed, Int8Engine, OrtEngine, TorchEngine
    from blendshape.net.stream import WeightsNotFound, load_for_files, load_model
    from blendshape.weights import OFFLINE_CHECKPOINT

    try:
        model = load_model(device=torch.device("cpu"))
    except WeightsNotFound as exc:
        return {"network": f"skipped: {exc}"}  # type: ignore[dict-item]
    engines: dict[str, Any] = {}
    for prefix, kind in (("network", OrtEngine), ("network_int8", Int8Engine)):
        try:
            engines[prefix] = kind(model)
        except ExportFailed as exc:
            log.warning("bench: no %s (%s)", kind.name, exc)
    engines["network_torch"] = TorchEngine(model)
    report: dict[str, Any] = {"network_parameters": model.param_count(),
                              "network_lookahead_ms": model.config.lookahead * 10 + 10,
                              "network_engine": next(iter(engines.values())).name}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for prefix, engine in engines.items():
            report.update(_one_thread(prefix, engine, runs))
        if OFFLINE_CHECKPOINT.exists():
            offline = load_for_files("offline", device=torch.device("cpu"))
            report.update(_one_thread("network_offline", offline, runs, stream=False))
    finally:
        torch.set_num_threads(threads)
    for prefix, engine in engines.items():  # batches: the server's threads
        report.update(_batches(prefix, engine, runs))
    report.update(_front_ticks(engines["network"] if "network" in engines else
                               engines["network_torch"], runs))
    return report


def _one_thread(prefix: str, engine: Any, runs: int, stream: bool = True) -> dict[str, float]:
    """Seconds per second of audio on one thread: 20 ms chunks as a live stream arrives,
    and a whole 10 s file, where the look-ahead costs nothing."""
    from blendshape.net.stream import Batcher, Stream, animate_clip

    rng = np.random.default_rng(0)
    audio = (0.1 * rng.normal(size=16_000 * 10)).astype(np.float32)
    out: dict[str, float] = {}
    if stream:
        batcher, times = Batcher(engine), []
        for _ in range(max(1, runs // 5)):
            live = Stream(engine, 16_000)
            start = time.perf_counter()
            for i in range(0, len(audio), 320):
                batcher.push(live, audio[i:i + 320])
            times.append(time.perf_counter() - start)
        out[f"{prefix}_rtf_one_stream_one_thread"] = round(statistics.median(times) / 10.0, 5)
    times = []
    for _ in range(max(3, runs // 3)):
        start = time.perf_counter()
        animate_clip(engine, audio, 16_000, 60)
        times.append(time.perf_counter() - start)
    name = f"{prefix}_rtf_whole_file_one_thread" if not stream else \
        f"{prefix}_realtime_rtf_whole_file_one_thread"
    out[name] = round(statistics.median(times) / 10.0, 5)
    return out


def batched_tick_seconds(engine: Any, n: int, repeats: int, warm: bool = False) -> float:
    """Median seconds of one 20 ms tick (two feature frames) for ``n`` streams in one
    batched step (``warm``: one untimed tick first)."""
    from blendshape.net.stream import Batcher, Stream

    batcher = Batcher(engine)
    streams = [Stream(engine, 16_000) for _ in range(n)]
    feats = np.zeros((2, engine.config.n_mels), np.float32) - 6.0
    if warm:
        batcher.step(streams, [feats] * n)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        batcher.step(streams, [feats] * n)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _batches(prefix: str, engine: Any, runs: int) -> dict[str, float]:
    """One 20 ms tick (two feature frames) for n streams in one batched step."""
    out: dict[str, float] = {}
    sustained = 0
    for n in (1, 8, 32, 64, 128, 256, 512):
        per_tick = batched_tick_seconds(engine, n, max(3, runs // 2))
        out[f"{prefix}_batch_{n}_ms_per_20ms_tick"] = round(per_tick * 1000, 2)
        if per_tick < 0.02:
            sustained = n
    out[f"{prefix}_streams_sustained_cpu"] = sustained
    return out


def _front_ticks(engine: Any, runs: int) -> dict[str, float]:
    """A front's whole tick for n ``audio_in`` streams: every stream's 20 ms of audio to
    log-mel (noise floors included, as the server computes them, all streams together),
    then the batched step. The batch figures above start from features already made;
    a front pays for them too, per stream, and at 256 streams they cost more than the step.
    Beside it, the same features one stream at a time (how the server made them before)."""
    from blendshape.net.stream import Batcher, Stream, stream_features

    rng = np.random.default_rng(1)
    out: dict[str, float] = {}
    sustained = 0
    for n in (1, 8, 64, 256):
        audio = (0.05 * rng.normal(size=(n, 16_000))).astype(np.float32)
        batcher = Batcher(engine)
        ticks: dict[str, list[float]] = {"together": [], "one_by_one": []}
        for way, times in ticks.items():
            streams = [Stream(engine, 16_000) for _ in range(n)]
            for i in range(0, max(3, runs // 2) * 320 + 6_400, 320):  # 0.2 s to settle
                start = time.perf_counter()
                chunks = [(a[i:i + 320], False) for a in audio]
                feats = (stream_features(streams, chunks) if way == "together" else
                         [s.features(*c) for s, c in zip(streams, chunks)])
                batcher.step(streams, feats)
                if i >= 6_400:
                    times.append(time.perf_counter() - start)
        per_tick = statistics.median(ticks["together"])
        out[f"network_front_tick_{n}_ms"] = round(1000 * per_tick, 2)
        out[f"network_front_tick_{n}_one_by_one_ms"] = round(
            1000 * statistics.median(ticks["one_by_one"]), 2)
        if per_tick < 0.02:
            sustained = n
    out["network_front_streams_sustained_cpu"] = sustained
    return out


def _live_latency(registry, runs: int) -> dict[str, float]:
    """Live mode, mic sample → curve out: real speech pushed in 10 ms chunks.

    Chunk i is captured by the end of its last sample (its arrival); the frame that shows
    the sound at time τ goes out when the chunk that completes it has been computed, so its
    latency is that chunk's arrival − τ + the chunk's compute time.
    """
    import torch

    from blendshape.layers.life import LifeLayer
    from blendshape.net.features import resample
    from blendshape.net.stream import WeightsNotFound, load_network
    from bridge.live.pipeline import DELAY_MARGIN, LiveAnimator

    try:
        model = load_network(device=torch.device("cpu"))  # what `talkbridge live` runs
    except WeightsNotFound as exc:
        return {"live_mic_to_curve_ms": f"skipped: {exc}"}  # type: ignore[dict-item]
    provider, voice = registry.resolve()
    chunks = list(provider.synthesize(TWO_SENTENCES, voice))
    speech = np.concatenate([c.pcm for c in chunks])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    measured: dict[int, tuple[list[float], list[float], list[float]]] = {}
    try:
        for rate in (16_000, 48_000):
            audio = resample(speech, chunks[0].rate, rate) if rate != chunks[0].rate else speech
            totals, waits, compute = [], [], []
            for _ in range(max(1, runs // 5)):
                animator = LiveAnimator(model, rate, 60, life=LifeLayer(seed=0), emotion="happy")
                n = rate // 100
                for i in range(0, len(audio) - n + 1, n):
                    start = time.perf_counter()
                    out = animator.push(audio[i:i + n], t=i / rate)
                    spent = time.perf_counter() - start
                    arrival = (i + n) / rate
                    if i >= 10 * n:  # after warm-up
                        compute.append(spent)
                        waits.extend(arrival - out.times)
                        totals.extend(arrival - out.times + spent)
            measured[rate] = (totals, waits, compute)
    finally:
        torch.set_num_threads(threads)
    totals, waits, compute = measured[16_000]
    lookahead = (model.config.lookahead + 1) * 10
    return {
        "live_mic_to_curve_ms_p50": _median_ms(totals),
        "live_mic_to_curve_ms_p90": _p90_ms(totals),
        "live_mic_to_curve_lookahead_ms": lookahead,  # the network's 40 ms + one 10 ms hop
        "live_mic_to_curve_chunk_and_60fps_wait_ms_p50": round(_median_ms(waits) - lookahead, 1),
        "live_mic_to_curve_compute_ms_per_10ms_chunk_p50": round(1000 * statistics.median(compute), 2),
        "live_mic_to_curve_compute_ms_per_10ms_chunk_p90": round(_p90_ms(compute), 2),
        "live_mic_48k_to_curve_ms_p50": _median_ms(measured[48_000][0]),
        "live_mic_48k_to_curve_ms_p90": _p90_ms(measured[48_000][0]),
        "live_mic_48k_resampler_delay_ms": round(1000 * LiveAnimator(model, 48_000).resampler.delay, 1),
        "live_paced_output_delay_ms": round(1000 * (LiveAnimator(model, 16_000).latency(0.01)
                                                    + DELAY_MARGIN), 1),
    }


def run_bench(runs: int = 10) -> dict[str, float]:
    from bridge.server.host import default_registry

    report: dict[str, float] = {}
    report["latency_runs"] = runs
    report.update(asyncio.run(_latency(runs, TWO_SENTENCES, "two_sentences")))
    report.update(asyncio.run(_latency(runs, LONG_FIRST, "long_first_sentence")))
    report.update(_animator_rtf(default_registry(), runs))
    report.update(_voices(default_registry(), runs))
    report["procedural_lookahead_ms"] = "whole sentence (phoneme timings from TTS)"  # type: ignore[assignment]
    report.update(_network(runs))
    report.update(_live_latency(default_registry(), runs))
    from bridge.tools.bench_dialogue import dialogue_latency

    report.update(dialogue_latency(runs))
    return report
