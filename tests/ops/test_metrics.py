"""``GET /metrics``: scraped from a real server and read back by an independent parser."""

from __future__ import annotations

import asyncio
import gc
import math
import re
import urllib.request

import numpy as np
import pytest

from bridge.ops import metrics
from bridge.ops.gcpause import PauseWatch
from bridge.server.host import Server, ServerConfig
from bridge.session.config import SessionConfig
from tests.support.wsclient import Client

# ---- an independent reader of the text format (0.0.4) ----------------------------------

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(rf"^({_NAME})(?:\{{(.*)\}})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')
_SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "counter": ("",), "gauge": ("",)}


def parse(text: str) -> tuple[dict[str, str], dict[tuple[str, frozenset], float]]:
    """Families by name → type, and samples (name, labels) → value; asserts the grammar."""
    assert text.endswith("\n")
    types: dict[str, str] = {}
    samples: dict[tuple[str, frozenset], float] = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in _SUFFIXES and name not in types, line
            types[name] = kind
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, raw_labels, value = match.groups()
        labels = {}
        if raw_labels:
            consumed = 0
            for label in _LABEL.finditer(raw_labels):
                assert label.start() == consumed, raw_labels
                labels[label.group(1)] = re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)),
                                                label.group(2))
                consumed = label.end()
            assert consumed == len(raw_labels), raw_labels
        family = next((f for f, k in types.items() if any(name == f + s for s in _SUFFIXES[k])), None)
        assert family is not None, f"sample {name} has no TYPE line before it"
        key = (name, frozenset(labels.items()))
        assert key not in samples, f"duplicate sample {line!r}"
        samples[key] = float(value.replace("+Inf", "inf"))
    return types, samples


def histograms_are_consistent(types, samples) -> None:
    for family, kind in types.items():
        if kind != "histogram":
            continue
        series: dict[frozenset, list[tuple[float, float]]] = {}
        for (name, labels), value in samples.items():
            if name == family + "_bucket":
                rest = frozenset((k, v) for k, v in labels if k != "le")
                le = dict(labels)["le"]
                series.setdefault(rest, []).append((math.inf if le == "+Inf" else float(le), value))
        for rest, buckets in series.items():
            buckets.sort()
            counts = [c for _, c in buckets]
            assert counts == sorted(counts), (family, buckets)  # cumulative
            assert buckets[-1][0] == math.inf
            assert samples[(family + "_count", rest)] == counts[-1]
            assert (family + "_sum", rest) in samples


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


# ---- the registry alone -----------------------------------------------------------------


def test_registry_renders_the_exposition_format():
    reg = metrics.Registry()
    reg.describe("t_latency_seconds", "histogram", "a latency\nwith a newline", buckets=(0.1, 1.0))
    reg.inc("t_messages_total", type="say")
    reg.inc("t_messages_total", 2, type="say")
    reg.inc("t_messages_total", type='we"ird\\label\n')
    reg.set("t_open", 3)
    for v in (0.05, 0.1, 0.5, 7.0):
        reg.observe("t_latency_seconds", v, provider="piper")
    reg.observe("t_latency_seconds", 0.2, provider="openai")
    text = reg.render(extra=[("t_extra", "gauge", "computed at scrape", 1.5)])
    types, samples = parse(text)
    assert types == {"t_extra": "gauge", "t_latency_seconds": "histogram",
                     "t_messages_total": "counter", "t_open": "gauge"}
    histograms_are_consistent(types, samples)
    assert value(samples, "t_messages_total", type="say") == 3
    assert value(samples, "t_messages_total", type='we"ird\\label\n') == 1
    assert value(samples, "t_latency_seconds_bucket", provider="piper", le="0.1") == 2  # le: <=
    assert value(samples, "t_latency_seconds_bucket", provider="piper", le="1") == 3
    assert value(samples, "t_latency_seconds_count", provider="piper") == 4
    assert value(samples, "t_latency_seconds_sum", provider="piper") == pytest.approx(7.65)
    assert value(samples, "t_extra") == 1.5 and value(samples, "t_open") == 3
    assert "# HELP t_latency_seconds a latency\\nwith a newline" in text
    with pytest.raises(ValueError):
        reg.observe("t_messages_total", 1.0)


def test_gc_pauses_are_timed_per_generation_and_only_while_watched():
    ticks = iter(range(100))
    watch = PauseWatch(clock=lambda: 0.25 * next(ticks)).start()
    try:
        gc.collect(1)
        gc.collect(2)
    finally:
        watch.stop()
    pauses = watch.drain()
    assert pauses[-2:] == [(0.25, 1), (0.25, 2)]  # each: one tick from start to stop
    assert watch.drain() == []
    gc.collect(0)
    assert watch.drain() == []  # stopped: no callback left behind
    assert watch not in gc.callbacks


# ---- a real server ----------------------------------------------------------------------


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return response.read().decode()


@pytest.fixture
async def server(registry):
    srv = Server(ServerConfig(port=0, warm_up=False, session=SessionConfig(lead=30.0)),
                 tts=registry)
    await srv.start()
    yield srv
    await srv.stop()


async def test_scraped_metrics_count_what_happened(server):
    _, before = parse(await asyncio.to_thread(_scrape, server.port))
    client, _ = await Client.open(server.port)
    await client.send({"type": "say", "id": "m", "text": "Metrics."})
    msgs = await client.utterance("m")
    await client.send({"type": "say", "text": 42})
    assert (await client.recv())["code"] == "invalid_field"
    await client.ws.send(b"\xc1")
    assert (await client.recv())["code"] == "malformed"
    if server.network is not None:
        pcm = (np.sin(np.arange(8000) / 8) * 8000).astype("<i2").tobytes()
        # In two messages: a stream, which the batched network animates (a clip sent whole
        # goes to the offline model instead).
        await client.send({"type": "audio_in", "id": "a", "rate": 16000, "data": pcm[:8000]})
        await client.send({"type": "audio_in", "id": "a", "rate": 16000, "data": pcm[8000:],
                           "end": True})
        await client.utterance("a")
    metrics.observe("talkbridge_provider_latency_seconds", 0.3, provider="fake-llm", stage="first_token")
    await client.send({"type": "ping", "t": 1.0})
    await client.recv()
    gc.collect(2)  # a full collection the server's watch times
    text = await asyncio.to_thread(_scrape, server.port)
    types, after = parse(text)
    histograms_are_consistent(types, after)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert value(after, "talkbridge_sessions_open") == 1
    assert delta("talkbridge_sessions_total") == 1
    assert delta("talkbridge_messages_received_total", type="hello") == 1
    assert delta("talkbridge_messages_received_total", type="say") == 1
    assert delta("talkbridge_messages_received_total", type="invalid") == 2  # 42 as text, \xc1
    assert delta("talkbridge_errors_sent_total", code="invalid_field") == 1
    assert delta("talkbridge_errors_sent_total", code="malformed") == 1
    utterance_frames = sum(m["n"] for m in msgs if m["type"] == "curves")
    assert delta("talkbridge_curve_frames_sent_total") >= utterance_frames > 0
    assert delta("talkbridge_messages_sent_total", type="audio") >= 1
    assert types["talkbridge_curves_dropped_total"] == "counter"
    assert value(after, "talkbridge_provider_latency_seconds_count",
                 provider="fake-llm", stage="first_token") >= 1
    assert delta("talkbridge_gc_pause_seconds_count", generation="2") >= 1
    if server.network is not None:
        assert delta("talkbridge_network_inference_seconds_count") >= 1
        assert delta("talkbridge_network_batch_streams_count") >= 1
    await client.close()
    print(f"metrics scrape: {len(text.encode())} bytes, {len(after)} samples")


async def test_dropped_curves_reach_the_counter(server):
    client, _ = await Client.open(server.port)
    session = next(iter(server._sessions.values()))
    session.outbox.dropped += 5  # as the outbox's drop rule does for a slow reader
    _, live = parse(await asyncio.to_thread(_scrape, server.port))
    await client.close()
    for _ in range(100):
        if server.session_count == 0:
            break
        await asyncio.sleep(0.02)
    _, closed = parse(await asyncio.to_thread(_scrape, server.port))
    assert value(live, "talkbridge_curves_dropped_total") == 5
    assert value(closed, "talkbridge_curves_dropped_total") == 5  # kept after the session ends
    assert value(closed, "talkbridge_sessions_open") == 0
