"""Outputs end to end: a real server, real UDP sockets on loopback, independent receivers."""

from __future__ import annotations

import asyncio
import socket
import struct

import numpy as np
import pytest
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message import OscMessage

from blendshape import rig
from bridge.server.host import Server, ServerConfig
from bridge.session.config import SessionConfig
from bridge.transports.pacing import FrameTimeline, OutputPump, OutputsConfig, OutputTarget
from bridge.transports.udp_outputs import OutputError, VmcOutput, head_quaternion
from tests.support.wsclient import Client


def _udp_receiver() -> tuple[socket.socket, int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock, sock.getsockname()[1]


def _drain(sock: socket.socket) -> list[bytes]:
    out = []
    while True:
        try:
            out.append(sock.recv(65535))
        except BlockingIOError:
            return out


def _osc_messages(datagrams: list[bytes]) -> list[OscMessage]:
    out = []
    for data in datagrams:
        if OscBundle.dgram_is_bundle(data):
            out.extend(OscBundle(data))
        else:
            out.append(OscMessage(data))
    return out


def _livelink_values(data: bytes) -> tuple[str, np.ndarray]:
    pos = 1
    n = struct.unpack_from(">i", data, pos)[0]; pos += 4 + n
    n = struct.unpack_from(">i", data, pos)[0]
    subject = data[pos + 4:pos + 4 + n].decode(); pos += 4 + n + 16
    assert data[pos] == 61
    return subject, np.array(struct.unpack_from(">61f", data, pos + 1))


async def test_speech_reaches_every_output_paced_in_real_time(registry):
    socks = {name: _udp_receiver() for name in ("livelink", "vmc", "vrchat", "osc")}
    outputs = OutputsConfig(livelink=f"127.0.0.1:{socks['livelink'][1]}", subject="Ada",
                            vmc=f"127.0.0.1:{socks['vmc'][1]}", vrchat=f"127.0.0.1:{socks['vrchat'][1]}",
                            osc=f"127.0.0.1:{socks['osc'][1]}")
    server = Server(ServerConfig(port=0, outputs=outputs, session=SessionConfig(lead=0.3)),
                    tts=registry)
    await server.start()
    try:
        client, _ = await Client.open(server.port, fps=30)
        await client.send({"type": "say", "id": "u", "text": "Papa bought a big blue boat."})
        loop = asyncio.get_running_loop()
        start = loop.time()
        msgs = await client.utterance("u")
        await asyncio.sleep(0.6)  # the outputs lag the WebSocket by the lead
        elapsed = loop.time() - start
        await client.close()
    finally:
        await server.stop()
    got = {name: _drain(sock) for name, (sock, _) in socks.items()}
    duration = sum(len(m["data"]) // 2 for m in msgs if m["type"] == "audio") / 48000
    # Live Link: one packet per tick at 30 fps, the session's subject, jaw moving.
    packets = got["livelink"]
    assert 0.5 * elapsed * 30 < len(packets) <= 1.1 * elapsed * 30 + 2  # exact rate: virtual clock
    subjects, values = zip(*(_livelink_values(p) for p in packets))
    assert set(subjects) == {"Ada"}
    jaw = np.array(values)[:, rig.LIVELINK61.index("JawOpen")]
    assert jaw.max() > 0.3 and (jaw > 0.1).sum() / 30 < duration + 0.2  # speech, then rest
    # VMC: Blend/Val for the perfect-sync names, then Apply, OK and T.
    vmc = _osc_messages(got["vmc"])
    addresses = {m.address for m in vmc}
    assert {"/VMC/Ext/Blend/Val", "/VMC/Ext/Blend/Apply", "/VMC/Ext/OK", "/VMC/Ext/T",
            "/VMC/Ext/Bone/Pos"} <= addresses
    names = {m.params[0] for m in vmc if m.address == "/VMC/Ext/Blend/Val"}
    assert {"JawOpen", "MouthClose", "EyeBlinkLeft"} <= names
    # VRChat: VRCFT v2 names under the avatar parameters.
    vrc = {m.address for m in _osc_messages(got["vrchat"])}
    assert "/avatar/parameters/FT/v2/JawOpen" in vrc and "/avatar/parameters/FT/v2/LipPucker" in vrc
    # Plain OSC: one message per channel.
    plain = _osc_messages(got["osc"])
    assert "/talkbridge/jawOpen" in {m.address for m in plain}
    assert all(isinstance(m.params[0], float) for m in plain)
    for sock, _ in socks.values():
        sock.close()


def test_timeline_places_utterance_frames_on_the_clock_and_falls_back_to_idle():
    timeline = FrameTimeline()
    frames = np.arange(10, dtype=np.float32)[:, None] * np.ones((1, 74), np.float32)
    timeline.utterance("u", wall_start=100.0, first_frame=0, frames=frames, fps=10)
    assert timeline.frame_at(100.25)[0] == pytest.approx(2.5)  # interpolated
    idle = np.full((1, 74), -1.0, np.float32)
    timeline.idle([101.5], idle)
    assert timeline.frame_at(101.6)[0] == -1.0                  # after the utterance: idle
    timeline.clear("u")
    assert timeline.frame_at(100.25) is None                    # cleared, no idle yet then


async def test_pump_ticks_at_fps_on_a_virtual_clock(instant_clock):
    clock = instant_clock
    clock.now = 50.0
    sent = []

    class Sink:
        def send(self, datagrams):
            sent.append((clock.now, datagrams))

        def close(self):
            pass

    pump = OutputPump([OutputTarget(VmcOutput(), Sink())], fps=60, t0=50.0,
                      clock=clock, sleep=clock.sleep)
    pump.timeline.idle([50.0], np.zeros((1, 74), np.float32))
    task = asyncio.create_task(pump.run())
    while clock.now < 52.0:
        await asyncio.sleep(0)
    task.cancel()
    times = [t for t, _ in sent]
    assert len(times) == pytest.approx(120, abs=2)
    assert np.allclose(np.diff(times), 1 / 60)


def test_bad_output_settings_fail_at_start():
    with pytest.raises(OutputError, match="port"):
        OutputsConfig(vmc="127.0.0.1:notaport").build(1)
    with pytest.raises(OutputError, match="cannot send"):
        OutputsConfig(livelink="no-such-host.invalid:11111").build(1)
    with pytest.raises(ValueError, match="shipped"):
        OutputsConfig(vrchat="127.0.0.1", vrchat_map="missing-map").build(1)
    with pytest.raises(OutputError, match="perfectsync"):
        VmcOutput(mode="weird")


def test_head_quaternion_is_unit_and_identity_at_rest():
    assert head_quaternion(0, 0, 0) == pytest.approx((0, 0, 0, 1))
    q = np.array(head_quaternion(0.3, -0.2, 0.1))
    assert np.linalg.norm(q) == pytest.approx(1.0)
