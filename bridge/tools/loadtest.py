"""``talkbridge loadtest``: many concurrent sessions against one server; is every frame on time?

A talking face is judged where it plays. Each simulated client here acts as an engine with a
jitter buffer of ``buffer`` seconds: an utterance starts playing when its first audio arrives
plus the buffer, and an audio chunk or curves frame at utterance time t that arrives after
``playback_start + t`` is *late* (the engine would have had to stall or freeze the face). For
``audio_in`` the client owns the audio, so the curves for audio time t are due ``buffer``
after the client sent that audio. Idle curves carry no deadline; they are only counted.

The checker (:class:`PlayoutChecker`, :class:`ClientView`) is sans-I/O: messages and arrival
times in, verdicts out, unit-tested with synthetic times. The server runs in its own process
(``talkbridge serve --port 0``) so the CPU and memory read from ``/proc`` every second are
the server's, not the clients'. The clients' own event-loop lag is measured too: a busy
client stamps arrivals late, and that must not be blamed on the server.

Bounded on purpose: at most 500 sessions for at most an hour, on loopback unless a remote
``--url`` is allowed explicitly. A test tool, not a flood.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import msgpack
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

KINDS = ("say", "audio_in", "chat")
MAX_SESSIONS = 500
MAX_SECONDS = 3600.0
CHUNK = 0.02  # audio_in: 20 ms per message, sent in real time
SENTENCES = (
    "Papa bought a big blue boat.", "It sails across the bay every morning.",
    "The harbour master waves from the pier.", "We will paint it red before the summer race.",
    "Fresh bread smells wonderful at dawn.", "Could you pass me the map, please?",
    "The wind is picking up from the west.", "Nobody expected the storm to pass so quickly.",
)
PROMPTS = ("what is your name", "tell me a joke", "how are you", "what can you do")
CLIP_TEXT = "Papa bought a big blue boat. It sails across the bay every morning."
LATE_EVENTS = 50  # late messages the report details, the first ones
_SERVING = re.compile(r"talkbridge serving (wss?://\S+)")


# ---- options and target ----------------------------------------------------------------

@dataclass(frozen=True)
class LoadOptions:
    """One run's shape; refuses sizes beyond what a test tool should ever open."""

    sessions: int = 10
    seconds: float = 20.0
    mix: tuple[str, ...] = KINDS
    buffer: float = 0.3                      # the client's jitter buffer (s)
    seed: int = 0
    pause: tuple[float, float] = (0.3, 1.0)  # a user's pause between turns (s): idle flows too
    turn_timeout: float = 60.0               # a turn not ended by then counts as an error
    grace: float = 5.0                       # a turn cut at the run's end may take this to end

    def __post_init__(self) -> None:
        if not 1 <= self.sessions <= MAX_SESSIONS:
            raise ValueError(f"--sessions {self.sessions}: use 1 to {MAX_SESSIONS}")
        if not 1.0 <= self.seconds <= MAX_SECONDS:
            raise ValueError(f"--seconds {self.seconds}: use 1 to {MAX_SECONDS:.0f}")
        if not 0.0 <= self.buffer <= 5.0:
            raise ValueError(f"--buffer {self.buffer}: use 0 to 5 seconds")
        if not self.mix or any(k not in KINDS for k in self.mix):
            raise ValueError(f"--mix {','.join(self.mix)}: use a comma list of {', '.join(KINDS)}")

    def kind(self, index: int) -> str:
        """Session ``index``'s role: the mix dealt round-robin, so every kind is present."""
        return self.mix[index % len(self.mix)]


def parse_mix(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, allow_remote: bool) -> None:
    """Loading someone else's server by a typo would be a denial of service: refuse it."""
    if urlsplit(url).scheme not in ("ws", "wss"):
        raise ValueError(f"--url {url}: use ws://HOST:PORT/v1/stream")
    if not allow_remote and not is_loopback(url):
        raise ValueError(f"--url {url} is not on loopback; add --allow-remote if you mean it")


# ---- the checker (sans-I/O) --------------------------------------------------------------

class Histogram:
    """Counts at 1 ms resolution: a 10-minute run of 100 sessions checks millions of frames,
    and keeping every value would grow the client's memory with the run."""

    def __init__(self) -> None:
        self._counts: Counter[int] = Counter()
        self.count = 0

    def add(self, seconds: float) -> None:
        self._counts[math.floor(seconds * 1000.0)] += 1
        self.count += 1

    def percentile(self, q: float) -> float | None:
        """The q-th percentile in ms (lower bound of its 1 ms bin); None when empty."""
        if not self.count:
            return None
        rank = max(1, math.ceil(q / 100.0 * self.count))
        seen = 0
        for ms in sorted(self._counts):
            seen += self._counts[ms]
            if seen >= rank:
                return float(ms)
        return float(max(self._counts))


@dataclass(frozen=True)
class Verdict:
    """One message checked: how many frames it carried, how many came after their play time,
    and how far its first frame arrived ahead of its play time (negative: late; None: the
    utterance is not playing yet, so nothing can be late)."""

    frames: int
    late: int
    lead: float | None


class PlayoutChecker:
    """When each frame must be in hand, from when audio arrived (or was sent, for audio_in)."""

    def __init__(self, buffer: float) -> None:
        self.buffer = buffer
        self._start: dict[str, float] = {}                          # id → playback start
        self._sent: dict[str, tuple[list[float], list[float]]] = {}  # audio_in id → (t, wall)

    def sent(self, utt_id: str, t: float, at: float) -> None:
        """The client sent its audio from time ``t`` of utterance ``utt_id`` at ``at``."""
        times, walls = self._sent.setdefault(utt_id, ([], []))
        times.append(t)
        walls.append(at)

    def audio(self, utt_id: str, t: float, at: float) -> Verdict:
        """The first audio of an utterance starts its playback ``buffer`` later."""
        self._start.setdefault(utt_id, at + self.buffer)
        return self._check([t], at, self._due(utt_id))

    def curves(self, utt_id: str, t: float, n: int, fps: float, at: float) -> Verdict:
        due = self._due(utt_id)
        if due is None:
            return Verdict(n, 0, None)
        return self._check([t + k / fps for k in range(n)], at, due)

    def forget(self, utt_id: str) -> None:
        self._start.pop(utt_id, None)
        self._sent.pop(utt_id, None)

    def _due(self, utt_id: str) -> Callable[[float], float] | None:
        if utt_id in self._sent:
            times, walls = self._sent[utt_id]
            return lambda t: walls[max(0, bisect_right(times, t + 1e-9) - 1)] + self.buffer
        start = self._start.get(utt_id)
        return None if start is None else (lambda t: start + t)

    @staticmethod
    def _check(times: list[float], at: float, due: Callable[[float], float] | None) -> Verdict:
        if due is None:
            return Verdict(len(times), 0, None)
        dues = [due(t) for t in times]
        return Verdict(len(times), sum(at > d for d in dues), dues[0] - at)


@dataclass
class Tally:
    """What every client saw, in plain counters (one event loop: no locks)."""

    sent: Counter[str] = field(default_factory=Counter)
    received: Counter[str] = field(default_factory=Counter)
    frames: Counter[str] = field(default_factory=Counter)  # audio chunks, curve rows, idle rows
    late: Counter[str] = field(default_factory=Counter)    # late frames by utterance source
    worst_late: float = 0.0                                # s past its play time, the worst one
    started: float = 0.0                                   # loop time the run began
    late_events: list[dict[str, Any]] = field(default_factory=list)  # the first late messages
    lead: Histogram = field(default_factory=Histogram)
    response: dict[str, Histogram] = field(default_factory=dict)  # kind → ask to first frame
    errors: Counter[str] = field(default_factory=Counter)
    turns: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)  # "kind: close code reason" → count


class ClientView:
    """One client's reading of the stream: every received message goes through here."""

    def __init__(self, buffer: float, tally: Tally) -> None:
        self.checker = PlayoutChecker(buffer)
        self.tally = tally
        self.sources: dict[str, str] = {}  # utterance id → say | dialogue | audio_in
        self._asked: tuple[str, float] | None = None
        self._fresh: set[str] = set()      # utterances with no frame yet

    def ask(self, kind: str, at: float) -> None:
        """A turn began at ``at``; its first frame back times the server's response."""
        self._asked = (kind, at)

    def receive(self, msg: dict[str, Any], at: float) -> dict[str, Any] | None:
        """Count and check one message; an ``utterance end`` is handed back to the driver."""
        kind = msg.get("type", "?")
        self.tally.received[kind] += 1
        utt_id = str(msg.get("id", ""))
        if kind == "audio":
            t = float(msg["t"])
            self._frame(utt_id, at, self.checker.audio(utt_id, t, at), "audio", t)
        elif kind == "curves" and utt_id == "idle":
            self.tally.frames["idle"] += int(msg["n"])
        elif kind == "curves":
            t = float(msg["t"])
            verdict = self.checker.curves(utt_id, t, int(msg["n"]), float(msg["fps"]), at)
            self._frame(utt_id, at, verdict, "curves", t)
        elif kind == "utterance" and msg.get("state") == "start":
            self.sources[utt_id] = str(msg.get("source", "say"))
            self._fresh.add(utt_id)
        elif kind == "utterance":
            self.checker.forget(utt_id)
            self.sources.pop(utt_id, None)
            self._fresh.discard(utt_id)
            return msg
        elif kind == "error":
            self.tally.errors[str(msg.get("code", "?"))] += 1
        return None

    def _frame(self, utt_id: str, at: float, verdict: Verdict, what: str, t: float) -> None:
        """Count a message's frames; a late one is also noted with its place in the run and
        in its utterance (a sentence boundary, a stall of every stream at once)."""
        tally = self.tally
        tally.frames[what] += verdict.frames
        if verdict.lead is not None:
            tally.lead.add(verdict.lead)
        if verdict.late:
            source, lateness = self.sources.get(utt_id, "?"), -(verdict.lead or 0.0)
            tally.late[source] += verdict.late
            tally.worst_late = max(tally.worst_late, lateness)
            if len(tally.late_events) < LATE_EVENTS:
                tally.late_events.append({
                    "run_s": round(at - tally.started, 2), "source": source, "what": what,
                    "utterance_t": round(t, 3), "frames": verdict.late,
                    "late_ms": round(lateness * 1000, 1)})
        if utt_id in self._fresh:
            self._fresh.discard(utt_id)
            if self._asked is not None:
                kind, asked_at = self._asked
                tally.response.setdefault(kind, Histogram()).add(at - asked_at)
                self._asked = None


# ---- /proc sampling (pure parsing) -------------------------------------------------------

@dataclass(frozen=True)
class Sample:
    t: float      # s since the clients started
    cpu: float    # CPU seconds the process has used (user + system, with reaped children)
    rss: float    # resident memory, MB


def cpu_seconds(stat: str, ticks: int) -> float:
    """From ``/proc/<pid>/stat``; split after the last ')' since the name may hold spaces."""
    fields = stat.rsplit(")", 1)[1].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / ticks  # utime stime cutime cstime


def rss_mb(status: str) -> float:
    """``VmRSS`` of ``/proc/<pid>/status`` (kB) in MB."""
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise ValueError("no VmRSS line: the process is gone")


def read_sample(pid: int, t: float) -> Sample:
    ticks = os.sysconf("SC_CLK_TCK")
    return Sample(t, cpu_seconds(Path(f"/proc/{pid}/stat").read_text(), ticks),
                  rss_mb(Path(f"/proc/{pid}/status").read_text()))


def summarize_samples(samples: list[Sample], seconds: float) -> dict[str, Any] | None:
    """CPU % (mean over the run, max over 1 s intervals) and RSS growth after warm-up.

    Growth compares the median RSS of the run's second tenth (loading voices, the first
    sessions' buffers and the allocator's pools are warm-up, not growth) with that of its
    last tenth, while the load is still on. Medians, not single samples: the voice gives
    its arena back every 30 s, so RSS saws up and down by tens of MB, and two single
    samples measured where in that saw they fell. Samples after the run (clients closing)
    count only towards ``max``.
    """
    if len(samples) < 2:
        return None
    rates = [100.0 * (b.cpu - a.cpu) / (b.t - a.t) for a, b in zip(samples, samples[1:]) if b.t > a.t]
    span = samples[-1].t - samples[0].t
    warm = _median_rss(samples, 0.1 * seconds, 0.2 * seconds)
    last = _median_rss(samples, 0.9 * seconds, seconds)
    step = max(1, len(samples) // 10)
    return {
        "cpu_percent": {"mean": round(100.0 * (samples[-1].cpu - samples[0].cpu) / span, 1),
                        "max": round(max(rates), 1)},
        "rss_mb": {"first": round(warm, 1), "first_at_s": round(0.1 * seconds, 1),
                   "last": round(last, 1), "max": round(max(s.rss for s in samples), 1),
                   "growth_percent": round(100.0 * (last - warm) / warm, 2),
                   "series": [[round(s.t), round(s.rss, 1)] for s in samples[::step]]},
        "samples": len(samples),
    }


def _median_rss(samples: list[Sample], start: float, end: float) -> float:
    """Median RSS of the samples in [start, end]; the nearest sample if none falls there."""
    inside = [s.rss for s in samples if start <= s.t <= end]
    if not inside:
        return min(samples, key=lambda s: abs(s.t - start)).rss
    return statistics.median(inside)


# ---- the report (pure) -------------------------------------------------------------------

def build_report(opts: LoadOptions, tally: Tally, elapsed: float, server: dict[str, Any] | None,
                 lag: Histogram, client_cpu: float, load: tuple[float, float]) -> dict[str, Any]:
    checked = tally.frames["audio"] + tally.frames["curves"]
    late = sum(tally.late.values())
    errors = dict(sorted(tally.errors.items()))
    growth = server["rss_mb"]["growth_percent"] if server else None
    return {
        "sessions": opts.sessions,
        "seconds": opts.seconds,
        "elapsed_s": round(elapsed, 1),
        "mix": dict(Counter(opts.kind(i) for i in range(opts.sessions))),
        "buffer_ms": round(opts.buffer * 1000),
        "turns": dict(tally.turns),
        "messages": {"sent": sum(tally.sent.values()), "received": sum(tally.received.values()),
                     "received_by_type": dict(sorted(tally.received.items()))},
        "frames": {"audio": tally.frames["audio"], "curves": tally.frames["curves"],
                   "idle": tally.frames["idle"], "checked": checked},
        "late": {"frames": late, "share": round(late / checked, 6) if checked else 0.0,
                 "by_source": dict(tally.late), "worst_ms": round(tally.worst_late * 1000, 1),
                 "first": tally.late_events},
        "lead_ms": {"p1": tally.lead.percentile(1), "p50": tally.lead.percentile(50),
                    "p99": tally.lead.percentile(99)},
        "first_frame_ms": {kind: {"p50": h.percentile(50), "p99": h.percentile(99)}
                           for kind, h in sorted(tally.response.items())},
        "errors": errors,
        "dropped_connections": sum(tally.dropped.values()),
        "dropped_by": dict(tally.dropped),
        "server": server,
        "client": {"cpu_percent": round(client_cpu, 1), "loop_lag_ms": {
            "p99": lag.percentile(99), "max": lag.percentile(100)}},
        "machine": {"cpus": os.cpu_count(), "load_start": load[0], "load_end": load[1]},
        "ok": not errors and not tally.dropped and not late and checked > 0
        and (growth is None or growth < 5.0),
    }


def format_report(r: dict[str, Any]) -> str:
    """The report for a terminal; ``--json`` prints the whole dict."""
    srv = r["server"]
    lines = [
        f"sessions     {r['sessions']} ({', '.join(f'{k} {v}' for k, v in r['mix'].items())}), "
        f"buffer {r['buffer_ms']} ms",
        f"seconds      {r['seconds']:g} (ran {r['elapsed_s']}); turns "
        + ", ".join(f"{k} {v}" for k, v in r["turns"].items()),
        f"messages     sent {r['messages']['sent']}, received {r['messages']['received']}",
        f"frames       audio {r['frames']['audio']}, curves {r['frames']['curves']}, "
        f"idle {r['frames']['idle']} (not checked)",
        f"late frames  {r['late']['frames']} ({100 * r['late']['share']:.3f} %) "
        f"{r['late']['by_source'] or ''} worst {r['late']['worst_ms']} ms",
        *[f"  late at    {e['run_s']} s: {e['source']} {e['what']} t={e['utterance_t']} s, "
          f"{e['frames']} frames, {e['late_ms']} ms" for e in r["late"].get("first", [])[:5]],
        f"lead ms      p1 {r['lead_ms']['p1']}, p50 {r['lead_ms']['p50']}, p99 {r['lead_ms']['p99']}",
        "first frame  " + ", ".join(f"{k} p50 {v['p50']} / p99 {v['p99']} ms"
                                    for k, v in r["first_frame_ms"].items()),
    ]
    if srv:
        lines += [f"server cpu % mean {srv['cpu_percent']['mean']}, max {srv['cpu_percent']['max']}",
                  f"server RSS   {srv['rss_mb']['first']} MB (median from {srv['rss_mb']['first_at_s']} s) → "
                  f"{srv['rss_mb']['last']} MB (last tenth; growth {srv['rss_mb']['growth_percent']} %, "
                  f"max {srv['rss_mb']['max']})"]
    for generation, row in sorted((r.get("server_gc") or {}).items()):
        lines.append(f"server gc {generation}  {row.get('count', 0):.0f} collections, "
                     f"{row.get('sum', 0)} s in all, over 20 ms {row['over_20ms']:.0f}, "
                     f"over 50 ms {row['over_50ms']:.0f}")
    lines += [f"errors       {r['errors'] or 'none'}; dropped connections {r['dropped_connections']}"
              f" {r['dropped_by'] or ''}",
              f"client       cpu {r['client']['cpu_percent']} %, loop lag p99 "
              f"{r['client']['loop_lag_ms']['p99']} ms, max {r['client']['loop_lag_ms']['max']} ms",
              f"machine      {r['machine']['cpus']} cpus, load {r['machine']['load_start']} → "
              f"{r['machine']['load_end']}"]
    warned = r.get("server_log_warnings") or {}
    if warned.get("count"):
        lines.append(f"server log   {warned['count']} WARNING/ERROR lines; last: {warned['last'][-1]}")
    lines.append("verdict      " + ("ok" if r["ok"] else
                                    "NOT ok (late frames, errors, drops or growth ≥ 5 %)"))
    return "\n".join(lines)


# ---- the clients (I/O) -------------------------------------------------------------------

def speech_clip(rate: int = 16000) -> tuple[bytes, int]:
    """The audio_in clip, synthesized once by espeak-ng (light, in-process) as PCM16."""
    import numpy as np
    import soxr

    from bridge.speech.tts.espeak import EspeakTTS

    tts = EspeakTTS()
    voice = next(v for v in tts.voices() if v.lang.startswith("en"))
    chunks = list(tts.synthesize(CLIP_TEXT, voice))
    pcm = soxr.resample(np.concatenate([c.pcm for c in chunks]), chunks[0].rate, rate)
    return (np.clip(pcm, -1, 1) * 32767).astype("<i2").tobytes(), rate


def _close_story(ws: Any) -> str:
    """Which side closed, with what: a client keepalive timeout (we sent 1011, got nothing)
    reads very differently from a server that closed the session itself."""
    proto = ws.protocol
    rcvd, sent = proto.close_rcvd, proto.close_sent
    if rcvd is not None:
        return f"server closed {rcvd.code} {rcvd.reason}".strip()
    if sent is not None:
        return f"client closed {sent.code} {sent.reason}".strip()
    return "connection lost (no close frame)"


class _Client:
    """One simulated engine: a reader that checks every frame as it lands, and a driver."""

    def __init__(self, ws: Any, view: ClientView, opts: LoadOptions, kind: str,
                 stop_at: float) -> None:
        self.ws, self.view, self.opts, self.kind = ws, view, opts, kind
        self.stop_at = stop_at  # the run's end: a turn still speaking then is interrupted
        self.ends: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.closing = False
        self.gone = False

    async def read(self) -> None:
        """Read continuously (a fast reader): the server must never hold frames for us."""
        loop = asyncio.get_running_loop()
        try:
            async for raw in self.ws:
                end = self.view.receive(msgpack.unpackb(raw, raw=False), loop.time())
                if end is not None:
                    self.ends.put_nowait(end)
        except ConnectionClosed:
            pass
        if not self.closing:  # the server or a keepalive ended it: say who, and why
            self.view.tally.dropped[f"{self.kind}: {_close_story(self.ws)}"] += 1
        self.gone = True
        self.ends.put_nowait(None)

    async def send(self, msg: dict[str, Any]) -> bool:
        try:
            await self.ws.send(msgpack.packb(msg, use_bin_type=True))
        except ConnectionClosed:
            return False
        self.view.tally.sent[msg["type"]] += 1
        return True

    async def wait_end(self, match: Callable[[dict[str, Any]], bool], cut: bool = False) -> bool:
        """Wait for the turn's ``utterance end``. When the run is over, interrupt the turn
        so the run ends on time (``cut``: already interrupted); a turn that outlives its
        timeout is an error, one that outlives the interrupt by ``grace`` is let go."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.opts.turn_timeout
        while not self.gone:
            if cut:
                deadline = min(deadline, max(loop.time(), self.stop_at) + self.opts.grace)
            wait = deadline - loop.time() if cut else min(deadline, self.stop_at) - loop.time()
            try:
                end = await asyncio.wait_for(self.ends.get(), max(0.0, wait))
            except TimeoutError:
                if cut:
                    return False
                if loop.time() < deadline:  # the run is over: cut this turn short
                    self.view.tally.turns["cut_at_end"] += 1
                    if not await self.send({"type": "interrupt"}):
                        return False
                    cut = True
                    continue
                self.view.tally.errors["client_turn_timeout"] += 1
                return False
            if end is not None and match(end):
                return not cut
        return False

    async def say(self, n: int, rng: random.Random, clip: tuple[bytes, int]) -> bool:
        utt_id = f"s{n}"
        text = " ".join(rng.sample(SENTENCES, rng.randint(1, 3)))
        self.view.ask("say", asyncio.get_running_loop().time())
        return (await self.send({"type": "say", "id": utt_id, "text": text})
                and await self.wait_end(lambda m: m.get("id") == utt_id))

    async def chat(self, n: int, rng: random.Random, clip: tuple[bytes, int]) -> bool:
        self.view.ask("chat", asyncio.get_running_loop().time())
        return (await self.send({"type": "chat", "text": rng.choice(PROMPTS)})
                and await self.wait_end(lambda m: m.get("source") == "dialogue"))

    async def audio_in(self, n: int, rng: random.Random, clip: tuple[bytes, int]) -> bool:
        """Stream the clip in real time, 20 ms a message, as an engine's audio would come."""
        pcm, rate = clip
        utt_id, step = f"a{n}", int(CHUNK * rate) * 2
        loop = asyncio.get_running_loop()
        start = loop.time()
        self.view.ask("audio_in", start)
        for k, i in enumerate(range(0, len(pcm), step)):
            if loop.time() >= self.stop_at:  # the run is over: close the stream now
                self.view.tally.turns["cut_at_end"] += 1
                await self.send({"type": "interrupt", "id": utt_id})
                return await self.wait_end(lambda m: m.get("id") == utt_id, cut=True)
            self.view.checker.sent(utt_id, k * CHUNK, loop.time())
            if not await self.send({"type": "audio_in", "id": utt_id, "rate": rate,
                                    "data": pcm[i:i + step], "end": i + step >= len(pcm)}):
                return False
            await asyncio.sleep(max(0.0, start + (k + 1) * CHUNK - loop.time()))
        return await self.wait_end(lambda m: m.get("id") == utt_id)


async def _session(index: int, url: str, opts: LoadOptions, tally: Tally, delay: float,
                   deadline: float, clip: tuple[bytes, int]) -> None:
    """Connect after ``delay`` (a ramp, not a thundering herd), talk until ``deadline``."""
    await asyncio.sleep(delay)
    kind, rng = opts.kind(index), random.Random(opts.seed * 1000003 + index)
    try:
        ws = await connect(url, compression=None, max_size=None, open_timeout=30)
    except Exception as exc:  # noqa: BLE001 - refused, reset, timed out: counted and reported
        tally.errors[f"client_connect_failed:{type(exc).__name__}"] += 1
        return
    client = _Client(ws, ClientView(opts.buffer, tally), opts, kind, deadline)
    reader = asyncio.create_task(client.read())
    turn = {"say": client.say, "audio_in": client.audio_in, "chat": client.chat}[kind]
    loop = asyncio.get_running_loop()
    try:
        name = f"loadtest-{index}"
        if await client.send({"type": "hello", "protocol": 1, "client": name, "user": name}):
            n = 0
            while loop.time() < deadline and not client.gone:
                n += 1
                if not await turn(n, rng, clip):
                    break
                tally.turns[kind] += 1
                await asyncio.sleep(rng.uniform(*opts.pause))
    finally:
        client.closing = True
        await ws.close()
        await reader


async def _sample(pid: int, t0: float, out: list[Sample]) -> None:
    loop = asyncio.get_running_loop()
    while True:
        try:
            out.append(read_sample(pid, loop.time() - t0))
        except (OSError, ValueError):
            return
        await asyncio.sleep(1.0)


async def _watch_lag(lag: Histogram, period: float = 0.05) -> None:
    """How late this loop wakes: arrivals are stamped that much late when it is busy."""
    loop = asyncio.get_running_loop()
    while True:
        before = loop.time()
        await asyncio.sleep(period)
        lag.add(loop.time() - before - period)


async def run_load(url: str, opts: LoadOptions, pid: int | None = None) -> dict[str, Any]:
    """Run the clients against ``url``; sample process ``pid`` (the server) when given."""
    clip = speech_clip()
    tally, lag, samples = Tally(), Histogram(), []
    loop = asyncio.get_running_loop()
    load_start, cpu_start = round(os.getloadavg()[0], 2), read_sample(os.getpid(), 0.0).cpu
    t0 = tally.started = loop.time()
    watchers = [asyncio.create_task(_watch_lag(lag))]
    if pid is not None:
        watchers.append(asyncio.create_task(_sample(pid, t0, samples)))
    ramp = min(5.0, opts.seconds / 10)
    deadline = t0 + opts.seconds
    sessions = [asyncio.create_task(_session(i, url, opts, tally, ramp * i / opts.sessions,
                                             deadline, clip)) for i in range(opts.sessions)]
    _, late_ones = await asyncio.wait(sessions, timeout=opts.seconds + opts.turn_timeout + 15)
    for task in late_ones:
        task.cancel()
    await asyncio.gather(*sessions, return_exceptions=True)
    elapsed = loop.time() - t0
    for task in watchers:
        task.cancel()
    client_cpu = 100.0 * (read_sample(os.getpid(), 0.0).cpu - cpu_start) / elapsed
    return build_report(opts, tally, elapsed, summarize_samples(samples, opts.seconds), lag,
                        client_cpu, (load_start, round(os.getloadavg()[0], 2)))


# ---- the server in its own process -------------------------------------------------------

class ServerProcess:
    """``talkbridge serve --port 0`` with no per-address limit and a memory that forgets."""

    def __init__(self, start_timeout: float = 180.0) -> None:
        self.start_timeout = start_timeout
        self._dir = tempfile.TemporaryDirectory(prefix="talkbridge-loadtest-")
        self.log = Path(self._dir.name) / "server.log"
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> str:
        config = Path(self._dir.name) / "loadtest.toml"
        config.write_text('[dialogue]\nmemory = ":memory:"\n')
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bridge.cli", "serve", "--port", "0", "--config", str(config),
                 "--max-sessions-per-ip", "0", "--drain-seconds", "1"],
                stdout=subprocess.PIPE, stderr=log, text=True)
        found: list[str] = []
        ready = threading.Event()
        threading.Thread(target=self._drain_stdout, args=(found, ready), daemon=True).start()
        if not ready.wait(self.start_timeout) or not found:
            self.stop()
            raise RuntimeError(f"the server did not start; its log ends:\n{self.log_tail()}")
        return found[0]

    def _drain_stdout(self, found: list[str], ready: threading.Event) -> None:
        """Find the serving line, then keep reading so the pipe never fills."""
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            match = _SERVING.search(line)
            if match and not found:
                found.append(match.group(1))
                ready.set()
        ready.set()

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def warnings(self, keep: int = 20) -> tuple[int, list[str]]:
        """How many WARNING/ERROR lines the server logged, and the last ``keep`` of them:
        a drop or a late burst usually has its cause there."""
        found = [line for line in self.log.read_text(errors="replace").splitlines()
                 if " WARNING " in line or " ERROR " in line]
        return len(found), found[-keep:]

    def stop(self) -> int | None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode if self.proc is not None else None
        self._dir.cleanup()
        return code


_GC_BUCKET = re.compile(r'^talkbridge_gc_pause_seconds_(bucket|count|sum)\{generation="(\d+)"'
                        r'(?:,le="([^"]+)")?\} (\S+)$', re.M)


def gc_pauses(stream_url: str) -> dict[str, dict[str, float]] | None:
    """The server's garbage-collection pauses from its ``/metrics``, by generation.

    ``over_20ms`` / ``over_50ms`` count the collections that could have made a frame late;
    None when the server has no such metric or cannot be scraped.
    """
    import urllib.request

    parts = urlsplit(stream_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    try:
        with urllib.request.urlopen(f"{scheme}://{parts.netloc}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return None
    out: dict[str, dict[str, float]] = {}
    within: dict[tuple[str, str], float] = {}  # (generation, le) → collections that short
    for kind, generation, le, value in _GC_BUCKET.findall(text):
        row = out.setdefault(generation, {})
        if kind == "bucket":
            within[generation, le] = float(value)
        else:
            row[kind] = round(float(value), 3)
    for generation, row in out.items():
        for ms, le in ((20, "0.02"), (50, "0.05")):
            row[f"over_{ms}ms"] = row.get("count", 0) - within.get((generation, le), 0)
    return out or None


def run(opts: LoadOptions, url: str | None = None, allow_remote: bool = False) -> dict[str, Any]:
    """The CLI's entry: against ``url``, or against a server of our own on loopback."""
    if url is not None:
        check_url(url, allow_remote)
        report = asyncio.run(run_load(url, opts))
        report["server_gc"] = gc_pauses(url)
        return report
    server = ServerProcess()
    target = server.start()
    try:
        report = asyncio.run(run_load(target, opts, server.proc.pid if server.proc else None))
        report["server_gc"] = gc_pauses(target)
    finally:
        alive = server.proc is not None and server.proc.poll() is None
        tail = "" if alive else server.log_tail()
        warned, warnings = server.warnings()
        code = server.stop()
    if not alive:  # it died under load: that is the finding
        report["errors"]["server_exited"] = 1
        report["ok"] = False
        report["server_log_tail"] = tail
    report["server_exit_code"] = code
    report["server_log_warnings"] = {"count": warned, "last": warnings}
    return report
