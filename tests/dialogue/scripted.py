"""A dialogue on scripted ears, in virtual time: no wall clock, no flite, no threads.

The user's "speech" is a loud tone and their silence a quiet hiss; :class:`LevelVAD` scores a
frame as speech by its level, and :class:`ScriptedASR` hears each turn as the next line of a
script. Everything blocking runs inline (:class:`InlineExecutor`) and every sleep is on one
:class:`~tests.support.clock.VirtualClock`, so the session's pacing and the user's microphone
interleave exactly as they would in real time, and a test of seconds runs in milliseconds.
The real parts stay real: the session, its speech pipeline and a voice, the dialogue, the turn
machine, the persona and the memory.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any, Callable

import numpy as np

from bridge.dialogue.config import DialogueConfig
from bridge.dialogue.runner import Dialogue
from bridge.dialogue.services import DialogueServices, Listening
from bridge.protocol import codec
from bridge.protocol import messages as m
from bridge.session.config import SessionConfig
from bridge.session.session import Session
from tests.support.clock import VirtualClock

RATE = 16000
FRAME = 0.02  # seconds of microphone audio a mic message carries


class InlineExecutor(concurrent.futures.Executor):
    """Runs each job at once, on the caller's thread: nothing happens outside virtual time."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting caller
            future.set_exception(exc)
        return future


class _LevelStream:
    def __init__(self, frame: int) -> None:
        self.frame, self._rest = frame, np.zeros(0, np.float32)

    def push(self, pcm: np.ndarray) -> np.ndarray:
        audio = np.concatenate([self._rest, np.asarray(pcm, np.float32)])
        n = len(audio) // self.frame
        frames = audio[:n * self.frame].reshape(n, self.frame)
        self._rest = audio[n * self.frame:]
        return (np.sqrt((frames ** 2).mean(axis=1)) > 0.05).astype(np.float32)

    def reset(self) -> None:
        self._rest = np.zeros(0, np.float32)


class LevelVAD:
    """Speech is any 32 ms frame louder than -26 dBFS: the tone is, the hiss isn't."""

    name, rate, frame_samples = "level", RATE, 512

    def new_stream(self) -> _LevelStream:
        return _LevelStream(self.frame_samples)


class _ScriptedStream:
    def __init__(self, text: str) -> None:
        self.text = text

    def push(self, pcm: np.ndarray) -> str | None:
        return self.text.split()[0] if self.text else None  # a partial: the first word

    def finish(self) -> str:
        return self.text

    def cancel(self) -> None:
        pass


class ScriptedASR:
    """Each finished turn is heard as the next line of ``lines`` ("" once they run out)."""

    name, rate = "scripted", RATE

    def __init__(self, lines: list[str]) -> None:
        self.lines = list(lines)
        self.turns = 0

    def new_stream(self, lang: str | None = None) -> _ScriptedStream:
        text = self.lines[self.turns] if self.turns < len(self.lines) else ""
        self.turns += 1
        return _ScriptedStream(text)


def tone(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def hiss(seconds: float) -> np.ndarray:
    return np.random.default_rng(0).normal(0, 0.001, int(seconds * RATE)).astype(np.float32)


class ScriptedDialogue:
    """One session with its dialogue loop, driven by a test in virtual time."""

    def __init__(self, registry: Any, lines: list[str], user: str = "ann") -> None:
        self.clock = VirtualClock()
        self.sent: list[tuple[float, m.ServerMessage]] = []
        self.services = DialogueServices(DialogueConfig(memory=":memory:"), InlineExecutor(),
                                         listening=Listening(LevelVAD(), ScriptedASR(lines)))
        self.services.warm_up()  # the persona and memory, now: no load inside virtual time
        self.session = Session(id="s", send=self._send, tts=registry,
                               config=SessionConfig(idle=False), executor=InlineExecutor(),
                               clock=self.clock, sleep=self.clock.sleep,
                               make_dialogue=lambda s: Dialogue(s, self.services))
        self.user = user

    async def _send(self, msg: m.ServerMessage) -> None:
        self.sent.append((self.clock.now, msg))

    async def open(self) -> None:
        await self.session.handle(m.Hello(protocol=1, client="test", user=self.user))

    async def say(self, pcm: np.ndarray) -> float:
        """Stream ``pcm`` as mic messages in (virtual) real time; when the first one left."""
        start = self.clock.now
        step = int(FRAME * RATE)
        for i in range(0, len(pcm), step):
            data = codec.encode_pcm16(pcm[i:i + step])
            await self.session.handle(m.Mic(rate=RATE, data=data))
            await self.clock.sleep(FRAME)
        return start

    async def until(self, done: Callable[[], bool], limit: float = 60.0) -> None:
        """Let virtual time pass (in mic-frame steps) until ``done()``; fail after ``limit`` s."""
        end = self.clock.now + limit
        while not done():
            assert self.clock.now < end, f"not done within {limit} s of virtual time"
            await self.clock.sleep(FRAME)

    def of(self, kind: type, **fields: Any) -> list[tuple[float, Any]]:
        return [(t, msg) for t, msg in self.sent if isinstance(msg, kind)
                and all(getattr(msg, k) == v for k, v in fields.items())]

    def memory(self) -> list[tuple[str, str]]:
        answering = self.services.loaded_answering
        assert answering is not None and answering.memory is not None
        return [(msg.role, msg.content) for msg in answering.memory.history(self.user)]

    async def close(self) -> None:
        await self.session.close()
