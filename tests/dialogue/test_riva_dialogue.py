"""The dialogue loop on NVIDIA Riva: recognition and the reply's voice from a local gRPC
server that implements Riva's services (tests/speech/fake_riva.py)."""

from __future__ import annotations

import asyncio

import numpy as np

from bridge.dialogue.config import DialogueConfig
from bridge.server.host import Server, ServerConfig
from bridge.session.config import SessionConfig
from bridge.speech.tts.config import make_registry
from tests.dialogue.conftest import flite_speech, silence, stream_mic
from tests.speech.fake_riva import FakeRiva
from tests.support.wsclient import Client


async def _talk(riva: FakeRiva, tmp_path, tts: dict | None = None) -> list[dict]:
    config = DialogueConfig(asr={"provider": "riva", "server": riva.address, "timeout": 2.0},
                            voice="riva:English-US.Female-1" if tts else None)
    server = Server(ServerConfig(port=0, session=SessionConfig(idle=False), dialogue=config),
                    tts=make_registry(tts))
    await server.start()
    try:
        client, _ = await Client.open(server.port)
        got: list[dict] = []

        async def read():
            while True:
                msg = await client.recv(timeout=20)
                got.append(msg)
                if msg["type"] == "utterance" and msg["state"] == "end" or msg["type"] == "error":
                    return

        reader = asyncio.create_task(read())
        question = flite_speech("What is your name?", tmp_path)
        await stream_mic(client, np.concatenate([silence(0.3), question, silence(1.0)]))
        await asyncio.wait_for(reader, 20)
        await client.send({"type": "ping", "t": 1.0})
        got.append(await client.recv())
        return got
    finally:
        await server.stop()


async def test_riva_recognizes_and_speaks_the_reply(tmp_path):
    with FakeRiva(script=("what is your name",), speech="espeak") as riva:
        got = await _talk(riva, tmp_path, tts={"riva": {"server": riva.address}})
    finals = [m["text"] for m in got if m["type"] == "transcript" and m["final"]]
    assert finals == ["what is your name"]
    assert riva.seen_configs and riva.seen_tts  # both services were called
    replies = [m for m in got if m["type"] == "reply"]
    assert "Ada" in replies[-1]["text"]
    assert any(m["type"] == "audio" for m in got) and any(m["type"] == "curves" for m in got)
    assert got[-2]["reason"] == "done"


async def test_riva_refusing_credentials_costs_the_turn_not_the_session(tmp_path):
    with FakeRiva(fault="unauthenticated") as riva:
        got = await _talk(riva, tmp_path)
    error = next(m for m in got if m["type"] == "error")
    assert error["code"] == "provider_failed" and not error["fatal"]
    assert "speech recognition" in error["message"]
    assert got[-1]["type"] == "pong"
