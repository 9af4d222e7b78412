"""Gestures end to end: a real server on loopback, read with plain msgpack and raw UDP.

The character says "Yes, absolutely. Do you really think so? I don't know." — once as a
``say`` and once as a dialogue reply of an offline persona — and the test finds the words in
the audio it receives (the pauses between them), not from the server's own alignment: the
nod must start within 150 ms of "Yes", the tilt must span the question, the shrug must land
on "I don't know". The life layer's head motion is switched off, so every head movement in
the curves (WebSocket and Live Link Face) is a gesture's.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from pathlib import Path

import numpy as np
import pytest

from blendshape import rig
from blendshape.layers.life import LifeConfig
from bridge.dialogue.config import DialogueConfig
from bridge.server.host import Server, ServerConfig
from bridge.session.config import SessionConfig
from bridge.transports.pacing import OutputsConfig
from tests.support.wsclient import Client, curves_array

TEXT = "Yes, absolutely. Do you really think so? I don't know."
RATE = 48000
#: A pause between words or sentences; a plosive's closure inside a word is shorter.
PAUSE = 0.12
PERSONA = f"""
name: Nod
gestures:
  strength: 0.8
intents:
  - name: agree
    examples: [do you agree, do you agree with me]
    answer: "{TEXT}"
    emotion: neutral
"""


@pytest.fixture
async def server(registry, tmp_path: Path):
    persona = tmp_path / "persona.yaml"
    persona.write_text(PERSONA, encoding="utf-8")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    still = LifeConfig(head=False, breathing=False)  # only gestures move the head
    srv = Server(ServerConfig(
        port=0, outputs=OutputsConfig(livelink=f"127.0.0.1:{sock.getsockname()[1]}"),
        session=SessionConfig(idle=False, life=still),
        dialogue=DialogueConfig(memory=":memory:", persona=str(persona))), tts=registry)
    await srv.start()
    srv.udp = sock  # type: ignore[attr-defined]
    yield srv
    await srv.stop()
    sock.close()


def voiced_segments(msgs: list[dict]) -> list[tuple[float, float]]:
    """Where the received audio is voiced, split at pauses of at least PAUSE seconds."""
    pcm = np.concatenate([np.frombuffer(m["data"], "<i2") for m in msgs if m["type"] == "audio"])
    hop = RATE // 100
    frames = pcm[: len(pcm) // hop * hop].astype(np.float64).reshape(-1, hop) / 32768
    db = 20 * np.log10(np.sqrt((frames ** 2).mean(axis=1)) + 1e-9)
    voiced = db > db.max() - 40
    segments: list[list[float]] = []
    for i in np.flatnonzero(voiced):
        t = i / 100
        if segments and t - segments[-1][1] < PAUSE:
            segments[-1][1] = t + 0.01
        else:
            segments.append([t, t + 0.01])
    return [(a, b) for a, b in segments]


def check_gestures(msgs: list[dict], utt: str) -> dict[str, dict]:
    """The gestures of ``utt`` land on their words; returns the first of each name."""
    gestures = [m for m in msgs if m["type"] == "gesture"]
    assert gestures and all(g["id"] == utt for g in gestures)
    assert all(0 <= g["strength"] <= 1 and g["duration"] > 0 for g in gestures)
    first = {}
    for g in gestures:
        first.setdefault(g["name"], g)
    assert {"nod", "tilt", "shrug"} <= set(first), [g["name"] for g in gestures]
    segments = voiced_segments(msgs)
    assert len(segments) == 4, f"Yes | absolutely | the question | I don't know: {segments}"
    yes, _, question, dont_know = segments
    nod, tilt, shrug = first["nod"], first["tilt"], first["shrug"]
    assert abs(nod["t"] - yes[0]) <= 0.150, (nod, yes)
    assert tilt["t"] <= question[0] + 0.1 and tilt["t"] + tilt["duration"] >= question[1] - 0.15
    assert tilt["t"] >= yes[1]  # not over the first sentence
    assert abs(shrug["t"] - dont_know[0]) <= 0.150 and shrug["t"] + shrug["duration"] >= dont_know[1] - 0.15
    # Each arrives before the audio it lands on.
    for g in gestures:
        covering = next(k for k, m in enumerate(msgs) if m["type"] == "audio"
                        and m["t"] + len(m["data"]) / 2 / RATE > g["t"])
        assert msgs.index(g) < covering, g
    return first


def head_curves(msgs: list[dict], channels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    curves = [m for m in msgs if m["type"] == "curves"]
    frames = np.vstack([curves_array(m, len(channels)) for m in curves])
    times = np.concatenate([m["t"] + np.arange(m["n"]) / m["fps"] for m in curves])
    return times, frames[:, channels.index("headPitch")]


def check_the_nod_moves_the_head(msgs: list[dict], welcome: dict, nod: dict,
                                 gestures: list[dict]) -> None:
    times, pitch = head_curves(msgs, welcome["channels"])
    inside = (times > nod["t"]) & (times < nod["t"] + nod["duration"])
    assert pitch[inside].max() > 0.08  # chin down ~5°+ (life's head motion is off)
    moving = np.zeros(len(times), bool)
    for g in gestures:
        moving |= (times >= g["t"] - 0.02) & (times <= g["t"] + g["duration"] + 0.02)
    assert not pitch[~moving].any()  # nothing else moves the head


def livelink_head_pitch(sock: socket.socket) -> np.ndarray:
    values = []
    while True:
        try:
            data = sock.recv(65535)
        except BlockingIOError:
            return np.array(values)
        pos = 1
        pos += 4 + struct.unpack_from(">i", data, pos)[0]
        pos += 4 + struct.unpack_from(">i", data, pos)[0] + 16
        values.append(struct.unpack_from(">61f", data, pos + 1)[rig.LIVELINK61.index("HeadPitch")])


async def test_say_nods_on_yes_tilts_over_the_question_and_shrugs(server):
    client, welcome = await Client.open(server.port, channels=["arkit52", "head"])
    await client.send({"type": "say", "id": "u", "text": TEXT})
    msgs = await client.utterance("u")
    await asyncio.sleep(0.7)  # Live Link lags the WebSocket by the lead
    await client.close()
    first = check_gestures(msgs, "u")
    gestures = [m for m in msgs if m["type"] == "gesture"]
    check_the_nod_moves_the_head(msgs, welcome, first["nod"], gestures)
    assert first["nod"]["strength"] == pytest.approx(0.75)  # the server's style: no persona
    pitch = livelink_head_pitch(server.udp)
    assert len(pitch) > 30 and pitch.max() > 0.08  # Live Link Face shows the nod too


async def test_a_dialogue_reply_gestures_in_its_personas_style(server):
    client, welcome = await Client.open(server.port, channels=["head"])
    await client.send({"type": "chat", "text": "do you agree with me"})
    msgs = await client.utterance("r1")
    await client.close()
    assert [m for m in msgs if m["type"] == "reply"][-1]["text"] == TEXT
    first = check_gestures(msgs, "r1")
    check_the_nod_moves_the_head(msgs, welcome, first["nod"],
                                 [m for m in msgs if m["type"] == "gesture"])
    assert first["nod"]["strength"] == pytest.approx(0.8 * 0.75)  # gestures: strength 0.8
