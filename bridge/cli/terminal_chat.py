"""``talkbridge chat``: the dialogue loop in a terminal.

It is the same Session and Dialogue a WebSocket client gets, with a ``send`` that prints
the reply as it streams and plays the audio on the speakers when there are any. So what
works here works for an engine, and the other way round.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sys
from dataclasses import replace
from typing import TextIO

import numpy as np

from bridge.dialogue.config import DialogueConfig
from bridge.dialogue.runner import Dialogue
from bridge.dialogue.services import DialogueServices
from bridge.protocol import errors as err
from bridge.protocol import messages as m
from bridge.session.config import SessionConfig
from bridge.session.session import Session
from bridge.speech.tts.registry import TTSRegistry

log = logging.getLogger(__name__)

AUDIO_RATE = 24000


class Speaker:
    """Plays PCM on the default sound device; absent when PortAudio or a device is missing."""

    def __init__(self, rate: int) -> None:
        import sounddevice  # raises OSError without PortAudio

        self._stream = sounddevice.OutputStream(samplerate=rate, channels=1, dtype="int16")
        self._stream.start()

    def play(self, pcm16: bytes) -> None:
        self._stream.write(np.frombuffer(pcm16, dtype="<i2").reshape(-1, 1))

    def close(self) -> None:
        self._stream.stop()
        self._stream.close()


def open_speaker(rate: int) -> Speaker | None:
    try:
        return Speaker(rate)
    except Exception as exc:  # noqa: BLE001 - OSError (no PortAudio), PortAudioError (no device)
        log.info("no sound output (%s): text only", exc)
        return None


class TerminalChat:
    """Prints replies as they form; the next prompt appears when the reply has ended."""

    def __init__(self, out: TextIO, speaker: Speaker | None) -> None:
        self.out = out
        self.speaker = speaker
        self.name = "assistant"
        self._shown = 0
        self.turn_over = asyncio.Event()

    async def send(self, msg: m.ServerMessage) -> None:
        if isinstance(msg, m.Reply):
            if self._shown == 0:
                self.out.write(f"{self.name}> ")
            self.out.write(msg.text[self._shown:])
            self._shown = len(msg.text)
            self.out.flush()
        elif isinstance(msg, m.Audio) and self.speaker is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.speaker.play, msg.data)
        elif isinstance(msg, m.Utterance) and msg.state == "end" and msg.source == "dialogue":
            self.out.write("\n" if self._shown else "")
            self.out.flush()
            self._shown = 0
            self.turn_over.set()
        elif isinstance(msg, m.Error):
            self.out.write(f"\n[{msg.code}] {msg.message}\n")
            self.out.flush()
            if msg.ref is None:
                self.turn_over.set()


async def run_chat(tts: TTSRegistry, config: DialogueConfig, user: str, voice: str | None,
                   audio: bool, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    speaker = open_speaker(AUDIO_RATE) if audio else None
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="chat")
    services = DialogueServices(replace(config, voice=voice or config.voice), executor)
    ui = TerminalChat(stdout, speaker)
    # Without speakers there is nothing to pace: send each reply as fast as it is made.
    session_config = SessionConfig(idle=False, lead=0.5 if speaker else 1e9)
    session = Session(id="chat", send=ui.send, tts=tts, config=session_config, executor=executor,
                      make_dialogue=lambda s: Dialogue(s, services))
    await session.handle(m.Hello(protocol=1, client="talkbridge-chat", user=user,
                                 audio_rate=AUDIO_RATE))
    answering = await services.answering()
    if answering.persona is not None:
        ui.name = answering.persona.name
        if answering.persona.greeting:
            stdout.write(f"{ui.name}> {answering.persona.greeting}\n")
    if speaker is None and audio:
        stdout.write("(no sound device found: text only)\n")
    loop = asyncio.get_running_loop()
    try:
        while True:
            stdout.write("you> ")
            stdout.flush()
            line = await loop.run_in_executor(None, stdin.readline)
            if not line or line.strip() in ("/quit", "/exit"):
                stdout.write("\n")
                return 0
            if not line.strip():
                continue
            ui.turn_over.clear()
            try:
                await session.handle(m.Chat(text=line.strip()))
            except err.TalkbridgeError as exc:
                stdout.write(f"[{exc.code}] {exc}\n")
                continue
            await ui.turn_over.wait()
    finally:
        await session.close()
        if speaker is not None:
            speaker.close()
        executor.shutdown(wait=False, cancel_futures=True)
