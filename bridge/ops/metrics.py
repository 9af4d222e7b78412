"""Counters and histograms, rendered in the Prometheus text format for ``GET /metrics``.

No dependency: the exposition format (version 0.0.4) is a few lines of text per family.
Code anywhere in the server records through the module functions, which write to one
process-wide :data:`REGISTRY`::

    metrics.inc("talkbridge_messages_received_total", type="say")
    metrics.observe("talkbridge_provider_latency_seconds", 0.21, provider="piper", stage="tts")

A name seen for the first time becomes a counter (``inc``) or a histogram with
:data:`LATENCY_BUCKETS` (``observe``); :func:`describe` gives one help text and its own
buckets. Label values are escaped; keep them to a small known set (types, codes, provider
names), never ids or text. Safe to call from worker threads.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Seconds, from a fast provider call to a slow cloud LLM's first token.
LATENCY_BUCKETS: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                      1.0, 2.5, 5.0, 10.0)

Labels = tuple[tuple[str, str], ...]


@dataclass
class _Family:
    name: str
    kind: str                     # "counter", "gauge" or "histogram"
    help: str
    buckets: tuple[float, ...] = ()
    values: dict[Labels, float] = field(default_factory=dict)
    hists: dict[Labels, "_Histogram"] = field(default_factory=dict)


@dataclass
class _Histogram:
    counts: list[int]
    total: float = 0.0
    count: int = 0


class Registry:
    """Every metric family of one process."""

    def __init__(self) -> None:
        self._families: dict[str, _Family] = {}
        self._lock = threading.Lock()

    def describe(self, name: str, kind: str, help: str,
                 buckets: Sequence[float] = LATENCY_BUCKETS) -> None:
        """Declare a family up front: its help text (and a histogram's bucket bounds)."""
        with self._lock:
            family = self._families.get(name)
            if family is None:
                self._families[name] = _Family(name, kind, help, tuple(sorted(buckets)))
            elif family.kind != kind:
                raise ValueError(f"metric {name} is a {family.kind}, not a {kind}")

    def inc(self, name: str, value: float = 1.0, **labels: object) -> None:
        with self._lock:
            family = self._family(name, "counter")
            key = _key(labels)
            family.values[key] = family.values.get(key, 0.0) + value

    def set(self, name: str, value: float, **labels: object) -> None:
        with self._lock:
            self._family(name, "gauge").values[_key(labels)] = value

    def observe(self, name: str, value: float, **labels: object) -> None:
        with self._lock:
            family = self._family(name, "histogram")
            key = _key(labels)
            hist = family.hists.get(key)
            if hist is None:
                hist = family.hists[key] = _Histogram([0] * len(family.buckets))
            index = bisect.bisect_left(family.buckets, value)  # le: value <= bound
            if index < len(hist.counts):
                hist.counts[index] += 1
            hist.total += value
            hist.count += 1

    def value(self, name: str, **labels: object) -> float:
        """A counter's or gauge's current value (0 if never set); for tests and tools."""
        with self._lock:
            family = self._families.get(name)
            return family.values.get(_key(labels), 0.0) if family else 0.0

    def _family(self, name: str, kind: str) -> _Family:
        family = self._families.get(name)
        if family is None:
            family = self._families[name] = _Family(name, kind, "", LATENCY_BUCKETS)
        elif family.kind != kind:
            raise ValueError(f"metric {name} is a {family.kind}, not a {kind}")
        return family

    def render(self, extra: Iterable[tuple[str, str, str, float]] = ()) -> str:
        """The exposition text; ``extra`` adds (name, kind, help, value) samples computed
        by the caller at scrape time (open sessions, drops summed over live sessions)."""
        lines: list[str] = []
        for name, kind, help_text, value in extra:
            lines += _header(name, kind, help_text) + [f"{name} {_number(value)}"]
        with self._lock:
            for family in sorted(self._families.values(), key=lambda f: f.name):
                lines += _header(family.name, family.kind, family.help)
                lines += _samples(family)
        return "\n".join(lines) + "\n"


def _key(labels: dict[str, object]) -> Labels:
    return tuple(sorted((k, str(v)) for k, v in labels.items()))


def _header(name: str, kind: str, help_text: str) -> list[str]:
    escaped = help_text.replace("\\", "\\\\").replace("\n", "\\n")
    return ([f"# HELP {name} {escaped}"] if help_text else []) + [f"# TYPE {name} {kind}"]


def _samples(family: _Family) -> list[str]:
    if family.kind != "histogram":
        return [f"{family.name}{_labels(key)} {_number(v)}" for key, v in sorted(family.values.items())]
    lines = []
    for key, hist in sorted(family.hists.items()):
        cumulative = 0
        for bound, count in zip(family.buckets, hist.counts):
            cumulative += count
            lines.append(f"{family.name}_bucket{_labels(key + (('le', _number(bound)),))} {cumulative}")
        lines.append(f"{family.name}_bucket{_labels(key + (('le', '+Inf'),))} {hist.count}")
        lines.append(f"{family.name}_sum{_labels(key)} {_number(hist.total)}")
        lines.append(f"{family.name}_count{_labels(key)} {hist.count}")
    return lines


def _labels(key: Labels) -> str:
    if not key:
        return ""
    parts = (f'{k}="{_escape(v)}"' for k, v in key)
    return "{" + ",".join(parts) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if float(value).is_integer() and abs(value) < 2**53 else repr(float(value))


REGISTRY = Registry()
inc = REGISTRY.inc
observe = REGISTRY.observe
describe = REGISTRY.describe

# The families the server itself records (DESIGN §3 limits, the outbox's drop rules).
describe("talkbridge_sessions_total", "counter", "WebSocket sessions opened")
describe("talkbridge_messages_received_total", "counter",
         "client messages received, by type (invalid: frames that did not decode)")
describe("talkbridge_messages_sent_total", "counter", "server messages sent, by type")
describe("talkbridge_curve_frames_sent_total", "counter", "curve frames sent (utterance and idle)")
describe("talkbridge_errors_sent_total", "counter", "error messages sent, by code")
describe("talkbridge_connections_refused_total", "counter",
         "connections refused before a session started, by reason")
describe("talkbridge_network_inference_seconds", "histogram",
         "time of one batched forward pass of the audio-to-face network")
describe("talkbridge_network_batch_streams", "histogram", "streams in one network batch",
         buckets=(1, 2, 4, 8, 16, 32, 64))
describe("talkbridge_gc_pause_seconds", "histogram",
         "Python garbage collections (every thread waits), by generation",
         buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5))
describe("talkbridge_provider_latency_seconds", "histogram",
         "provider latency (TTS, ASR, LLM), by provider and stage")
