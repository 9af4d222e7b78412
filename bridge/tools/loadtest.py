"""``talkbridge loadtest``: many concurrent sessions against one server; is every frame on time?

A talking face is judged where it plays. Each simulated client here acts as an engine with a
jitter buffer of ``buffer`` seconds: an utterance starts playing when its first audio arrives
plus the buffer, and an audio chunk or curves frame at utterance time t that arrives after
``playback_start + t`` is *late* (the engine would have had to stall or freeze the face). For
``audio_in`` the client owns the audio, so the curves for audio time t are due ``buffer``
after the client sent that audio. Idle curves carry no deadline; they are only counted.

The checker (:mod:`bridge.tools.load_checker`) is sans-I/O: messages and arrival times in,
verdicts out, unit-tested with synthetic times; the options are in :mod:`~bridge.tools.
load_options` and the report in :mod:`~bridge.tools.load_report`. The server runs in its own process
(``talkbridge serve --port 0``) so the CPU and memory read from ``/proc`` every second are
the server's, not the clients'. The clients' own event-loop lag is measured too: a busy
client stamps arrivals late, and that must not be blamed on the server.

Bounded on purpose: at most 500 sessions for at most an hour, on loopback unless a remote
``--url`` is allowed explicitly. A test tool, not a flood.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import msgpack
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from bridge.tools.load_checker import ClientView, Histogram, Tally
from bridge.tools.load_options import LoadOptions, check_url
from bridge.tools.load_report import Sample, build_report, read_sample, summarize_samples

CHUNK = 0.02  # audio_in: 20 ms per message, sent in real time
SENTENCES = (
    "Papa bought a big blue boat.", "It sails across the bay every morning.",
    "The harbour master waves from the pier.", "We will paint it red before the summer race.",
    "Fresh bread smells wonderful at dawn.", "Could you pass me the map, please?",
    "The wind is picking up from the west.", "Nobody expected the storm to pass so quickly.",
)
PROMPTS = ("what is your name", "tell me a joke", "how are you", "what can you do")
CLIP_TEXT = "Papa bought a big blue boat. It sails across the bay every morning."
_SERVING = re.compile(r"talkbridge serving (wss?://\S+)")


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
            if end is not None and end.get("code") == "busy":  # refused at once: back off
                await asyncio.sleep(min(1.0, max(0.0, self.stop_at - loop.time())))
                return not cut
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
