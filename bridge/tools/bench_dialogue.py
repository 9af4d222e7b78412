"""Voice-to-voice latency of the dialogue loop: end of the user's speech → first reply audio.

A client streams a spoken question (flite's voice when installed, else Piper's) as ``mic``
messages in real time, and marks the moment the last audible sample of the question was
sent; the figure is the time from there to the first ``audio`` of the reply. The server's
own per-turn marks (turn end, ASR final, first token, first sentence, first audio sent)
come from the same runs.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import msgpack
import numpy as np
import soxr

QUESTIONS = ("What is your name?", "How are you?", "Tell me a joke.")
RATE = 16000
CHUNK = 0.02


def _speech(text: str) -> tuple[np.ndarray, str]:
    """int16 PCM at 16 kHz, and which voice spoke it."""
    if shutil.which("flite"):
        from bridge.tools.evaluation import flite

        with tempfile.TemporaryDirectory() as tmp:
            pcm, rate, _ = flite(text, "slt", Path(tmp))
        voice = "flite slt"
    else:
        from bridge.speech.tts.piper import PiperTTS

        tts = PiperTTS()
        chunks = list(tts.synthesize(text, tts.voices()[0]))
        rate, pcm = chunks[0].rate, np.concatenate([c.pcm for c in chunks])
        voice = "piper joe"
    pcm = soxr.resample(pcm, rate, RATE)
    return (np.clip(pcm, -1, 1) * 32767).astype("<i2"), voice


async def _one_turn(port: int, pcm: np.ndarray) -> float | None:
    from websockets.asyncio.client import connect

    loud = np.flatnonzero(np.abs(pcm) > 600)
    last_loud = int(loud[-1]) if len(loud) else len(pcm)
    async with connect(f"ws://127.0.0.1:{port}/v1/stream", compression=None) as ws:
        await ws.send(msgpack.packb({"type": "hello", "protocol": 1, "client": "bench"}))
        msgpack.unpackb(await ws.recv())
        loop = asyncio.get_running_loop()
        marks: dict[str, float] = {}

        async def read() -> None:
            while True:
                msg = msgpack.unpackb(await ws.recv())
                if msg.get("type") == "audio" and msg.get("id") == "r1":
                    marks["audio"] = loop.time()
                    return

        reader = asyncio.create_task(read())
        step = int(CHUNK * RATE)
        start = loop.time()
        for k, i in enumerate(range(0, len(pcm), step)):
            await ws.send(msgpack.packb({"type": "mic", "rate": RATE,
                                         "data": pcm[i:i + step].tobytes()}))
            if i <= last_loud < i + step:  # the sample leaves with this chunk, paced in real time
                marks["speech_end"] = loop.time() + (last_loud - i) / RATE - CHUNK
            delay = start + (k + 1) * CHUNK - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if reader.done():
                break
        try:
            await asyncio.wait_for(reader, 10)
        except asyncio.TimeoutError:
            return None
        await ws.send(msgpack.packb({"type": "interrupt"}))
        return marks["audio"] - marks["speech_end"]


async def _bench(runs: int, asr: str | None = None) -> dict[str, object]:
    from bridge.dialogue.config import DialogueConfig
    from bridge.server.host import Server, ServerConfig
    from bridge.session.config import SessionConfig

    server = Server(ServerConfig(port=0, session=SessionConfig(idle=False),
                                 dialogue=DialogueConfig(warm_up=True,
                                                         asr={"provider": asr} if asr else {})))
    await server.start()
    speech = {q: _speech(q) for q in QUESTIONS}
    pad = (np.random.default_rng(0).normal(0, 30, int(0.3 * RATE))).astype("<i2")
    tail = (np.random.default_rng(1).normal(0, 30, int(1.2 * RATE))).astype("<i2")
    latencies: list[float] = []
    breakdowns: list[dict[str, float]] = []
    misses = 0
    try:
        for i in range(runs):
            pcm, voice = speech[QUESTIONS[i % len(QUESTIONS)]]
            before = {s.id for s in server._sessions.values()}
            latency = await _one_turn(server.port, np.concatenate([pad, pcm, tail]))
            if latency is None:
                misses += 1
                continue
            latencies.append(latency)
            for session in server._sessions.values():
                if session.id not in before and session.dialogue and session.dialogue.metrics:
                    last = session.dialogue.metrics[-1]
                    breakdowns.append({**last.breakdown(), "prepared": int(last.prepared)})
            await asyncio.sleep(0.2)
    finally:
        await server.stop()
    report: dict[str, object] = {"dialogue_user_voice": voice, "dialogue_unanswered": misses,
                                 "dialogue_end_silence_ms": server.config.dialogue.turn.end_silence * 1000}
    if latencies:
        report["dialogue_speech_end_to_first_audio_ms_p50"] = round(1000 * statistics.median(latencies), 1)
        report["dialogue_speech_end_to_first_audio_ms_p90"] = round(
            1000 * float(np.percentile(latencies, 90)), 1)
    report["dialogue_turns_prepared_during_pause"] = sum(b.get("prepared", 0) for b in breakdowns)
    for key in ("turn_end_ms", "asr_final_ms", "llm_first_token_ms", "first_sentence_ms",
                "first_audio_sent_ms"):
        values = [b[key] for b in breakdowns if key in b]
        if values:
            report[f"dialogue_server_{key[:-3]}_ms_p50"] = round(statistics.median(values), 1)
    return report


def dialogue_latency(runs: int = 10, asr: str | None = None) -> dict[str, object]:
    """The figures above with the default recognizer, or ``asr`` (e.g. "pocketsphinx")."""
    started = time.perf_counter()
    report = asyncio.run(_bench(runs, asr))
    report["dialogue_bench_seconds"] = round(time.perf_counter() - started, 1)
    return report
