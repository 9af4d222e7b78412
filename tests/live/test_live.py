"""Live mode: a voice through the network, emotion and life, out to real UDP receivers.

The pipeline runs on a virtual clock (seconds of speech in well under a second of test
time) into real loopback sockets, parsed by independent decoders; the CLI runs as a user
runs it, received by a python-osc server.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import socket
import struct
import subprocess
import sys
import threading
import wave
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from blendshape import rig
from blendshape.layers.emotion import UnknownEmotionError
from blendshape.layers.life import LifeConfig, LifeConfigError, LifeLayer
from blendshape.net.stream import load_model
from bridge.live.audio_in import LowLatencyResampler
from bridge.live.pipeline import (
    DELAY_MARGIN,
    AudioDeviceError,
    DeviceClock,
    FileSource,
    LiveAnimator,
    LiveConfig,
    LiveError,
    LiveTimeline,
    MicSource,
    PlaybackSource,
    build_live,
    require_sounddevice,
    run_live,
)
from bridge.transports.pacing import OutputsConfig
from bridge.transports.udp_outputs import OutputError
from tests.support.clock import VirtualClock
from tests.transports.test_pacing import _drain, _livelink_values, _osc_messages

CLI = [sys.executable, "-m", "bridge.cli"]
FPS = 60
LEAD_IN, TAIL = 1.0, 3.5  # seconds of silence around the speech
JAW = rig.LIVELINK61.index("JawOpen")
BLINK = rig.LIVELINK61.index("EyeBlinkLeft")


def _receiver() -> tuple[socket.socket, int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock, sock.getsockname()[1]


def _livelink_frame(data: bytes) -> float:
    """Frame number + sub-frame of a Live Link Face packet (PROTOCOLS.md §2)."""
    pos = 1
    for _ in range(2):
        pos += 4 + struct.unpack_from(">i", data, pos)[0]
    number, sub, _, _ = struct.unpack_from(">ifii", data, pos)
    return number + sub


@pytest.fixture(scope="module")
def model():
    return load_model(device=torch.device("cpu"))


@pytest.fixture(scope="module")
def speech(piper):
    """'Papa bought a big blue boat.' with silence before and after, as a mic would hear it."""
    chunks = list(piper.synthesize("Papa bought a big blue boat.", piper.voices()[0]))
    rate = chunks[0].rate
    voice = np.concatenate([c.pcm for c in chunks])
    pcm = np.concatenate([np.zeros(int(LEAD_IN * rate), np.float32), voice,
                          np.zeros(int(TAIL * rate), np.float32)])
    return pcm, rate, len(voice) / rate


@pytest.fixture
def speech_wav(speech, tmp_path):
    pcm, rate, _ = speech
    path = tmp_path / "speech.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(pcm, -1, 1) * 32767).astype("<i2").tobytes())
    return path


# ---- the core --------------------------------------------------------------------------


def _push_all(animator: LiveAnimator, pcm: np.ndarray, n: int) -> list:
    outs = [animator.push(pcm[i:i + n], t=5.0 + i / animator.rate) for i in range(0, len(pcm), n)]
    return outs + [animator.finish()]


def test_chunk_size_changes_nothing(model, speech):
    pcm, rate, _ = speech
    pcm = pcm[:int(3.0 * rate)]
    results = []
    for n in (rate // 100, 815):
        animator = LiveAnimator(model, rate, FPS, life=LifeLayer(seed=2), emotion="happy")
        outs = _push_all(animator, pcm, n)
        results.append(np.concatenate([o.frames for o in outs]))
        times = np.concatenate([o.times for o in outs])
        np.testing.assert_allclose(times, 5.0 + np.arange(len(times)) / FPS)  # on the caller's clock
    assert len(results[0]) == round(3.0 * FPS)
    np.testing.assert_allclose(results[0], results[1], atol=1e-4)


def test_frames_come_out_within_the_stated_latency(model, speech):
    pcm, rate, _ = speech
    animator = LiveAnimator(model, 16000, FPS, life=LifeLayer(seed=0))
    from blendshape.net.features import resample

    audio = resample(pcm[:int(2 * rate)], rate)
    chunk = 160
    worst = 0.0
    for i in range(0, len(audio), chunk):
        out = animator.push(audio[i:i + chunk], t=i / 16000)
        arrival = (i + chunk) / 16000  # the chunk is there once its last sample is
        if len(out):
            worst = max(worst, arrival - out.times[0])
    assert animator.lookahead == pytest.approx(0.05)
    # 50 ms of look-ahead and hop, and the 60 fps frame a third of a network frame past one
    # waits two thirds of one (6.7 ms); 10 ms chunks end on network frames, so no more.
    assert worst == pytest.approx(0.05 + 0.02 / 3)
    assert worst <= animator.latency(0.01) + 1e-9  # ≤ 76.7 ms before compute


def test_a_48k_microphone_gets_the_16k_face_with_2_ms_of_resampling(model, speech):
    """Our resampler instead of soxr's streaming one (which holds back 20–40 ms)."""
    from blendshape.net.features import resample

    pcm, rate, _ = speech
    pcm = pcm[:int(3.0 * rate)]
    a16, a48 = resample(pcm, rate), resample(pcm, rate, 48000)
    reference = np.concatenate([o.frames for o in _push_all(LiveAnimator(model, 16000, FPS), a16, 160)])
    live48 = LiveAnimator(model, 48000, FPS)
    frames = np.concatenate([o.frames for o in _push_all(live48, a48, 480)])
    assert live48.resampler.delay < 0.003 and live48.latency(0.01) < 0.075
    assert frames.shape == reference.shape
    jaw = rig.ARKIT_INDEX["jawOpen"]
    # What the network says follows the audio closely. The lips its closure decision seals
    # (decide.py) ramp in over 0.05 of PP's lead, so where PP and the next viseme are neck
    # and neck, the two resamplings' tiny differences move them more, in a frame or two.
    # (Piper draws new noise every run: over 32 draws the network's own channels differed
    # by 0.015 at most, the decided lips by up to 0.16 in at most 2 frames of 180.)
    diff = np.abs(frames[:, :52] - reference[:, :52])
    lips = [rig.ARKIT_INDEX[n] for n in ("mouthClose", "mouthPressLeft", "mouthPressRight")]
    assert np.delete(diff, lips, axis=1).max() < 0.04
    assert diff[:, lips].max() < 0.3 and (diff[:, lips].max(axis=1) > 0.05).sum() <= 3
    assert np.corrcoef(frames[:, jaw], reference[:, jaw])[0, 1] > 0.995
    # Any chunking of the 48 kHz audio gives the same 16 kHz samples.
    whole = LowLatencyResampler(48000).push(a48)
    parts = LowLatencyResampler(48000)
    cut = np.concatenate([parts.push(a48[i:i + 317]) for i in range(0, len(a48), 317)])
    np.testing.assert_array_equal(whole, cut)


def test_emotion_changes_mid_stream(model, speech):
    pcm, rate, _ = speech
    animator = LiveAnimator(model, rate, FPS, emotion=None, emotion_ramp=0.4)
    animator.set_emotion("surprised", at=1.0)
    frames = np.concatenate([o.frames for o in _push_all(animator, pcm[:int(2 * rate)], rate // 50)])
    brow = frames[:, rig.ARKIT_INDEX["browInnerUp"]]
    base = brow[:55]
    assert brow[round(1.4 * FPS):].min() > base.max() + 0.4
    assert (np.diff(brow[FPS:round(1.4 * FPS)]) > -0.02).all()


# ---- the whole pipeline on a virtual clock into real sockets ------------------------------


async def test_live_pipeline_reaches_real_receivers_paced_at_fps(model, speech, virtual_clock):
    pcm, rate, speech_seconds = speech
    socks = {name: _receiver() for name in ("livelink", "vmc", "osc")}
    got: dict[str, list[bytes]] = {name: [] for name in socks}
    clock = virtual_clock
    outputs = OutputsConfig(livelink=f"127.0.0.1:{socks['livelink'][1]}", subject="Mic",
                            vmc=f"127.0.0.1:{socks['vmc'][1]}", osc=f"127.0.0.1:{socks['osc'][1]}")
    # Blinks every 1–1.5 s here, so the silent tail surely shows some.
    config = LiveConfig(outputs=outputs, fps=FPS, life=LifeConfig(blink_interval=(1.0, 1.5)))
    animator, pump, timeline = build_live(model, rate, config, clock, clock.sleep)
    source = FileSource(pcm, rate, 0.01, clock, clock.sleep)
    start = clock()

    def drain():
        for name, (sock, _) in socks.items():
            got[name].extend(_drain(sock))

    stats = await clock.run(run_live(source, animator, pump, timeline), each=drain)
    drain()
    total = len(pcm) / rate
    delay = timeline.delay
    assert delay == pytest.approx(animator.latency(0.01) + DELAY_MARGIN) and delay <= 0.1
    # Paced: one Live Link packet per 1/60 s tick, consecutive frame numbers, none late.
    packets = got["livelink"]
    frames = np.array([_livelink_frame(p) for p in packets])
    assert len(packets) == pytest.approx(total * FPS, abs=3)
    np.testing.assert_allclose(np.diff(frames), 1.0, atol=1e-3)
    assert stats.late_ticks == 0 and stats.sent == len(packets)
    assert clock() - start == pytest.approx(total + delay, abs=0.05)
    # The mouth opens during the speech and rests in the silence around it.
    subjects, values = zip(*(_livelink_values(p) for p in packets))
    assert set(subjects) == {"Mic"}
    values = np.array(values)
    heard = frames / FPS - delay  # the moment of sound each packet shows
    jaw = values[:, JAW]
    speaking = (heard > LEAD_IN + 0.1) & (heard < LEAD_IN + speech_seconds - 0.1)
    silent = (heard < LEAD_IN - 0.2) | (heard > LEAD_IN + speech_seconds + 0.3)
    assert jaw[speaking].max() > 0.3 and np.median(jaw[speaking]) > 0.1
    assert jaw[silent].max() < 0.1
    # Idle frames are alive: blinks in the silent tail.
    tail = heard > LEAD_IN + speech_seconds + 0.3
    assert values[tail, BLINK].max() > 0.9
    # VMC and plain OSC carry the same face.
    vmc = _osc_messages(got["vmc"])
    vmc_jaw = [m.params[1] for m in vmc if m.address == "/VMC/Ext/Blend/Val" and m.params[0] == "JawOpen"]
    assert len(vmc_jaw) == len(packets) and max(vmc_jaw) > 0.3
    assert {"/VMC/Ext/Blend/Apply", "/VMC/Ext/OK", "/VMC/Ext/Bone/Pos"} <= {m.address for m in vmc}
    osc_jaw = [m.params[0] for m in _osc_messages(got["osc"]) if m.address == "/talkbridge/jawOpen"]
    np.testing.assert_allclose(osc_jaw, jaw, atol=1e-5)
    for sock, _ in socks.values():
        sock.close()


def test_timeline_holds_the_newest_frame_when_one_is_late():
    from bridge.live.pipeline import LiveFrames

    timeline = LiveTimeline(10, position=lambda now: now)
    frames = np.arange(3, dtype=np.float32)[:, None] * np.ones((1, 74), np.float32)
    timeline.add(LiveFrames(0, frames, 100.0 + np.arange(3) / 10, 10))
    assert timeline.frame_at(99.0) is None
    assert timeline.frame_at(100.15)[0] == pytest.approx(1.5)
    assert timeline.frame_at(100.5)[0] == 2.0 and timeline.late == 1
    with pytest.raises(ValueError, match="in order"):
        timeline.add(LiveFrames(7, frames, 100.7 + np.arange(3) / 10, 10))


# ---- sound devices (faked: this machine has none) ------------------------------------------


class FakeSoundDevice:
    """The bits of the sounddevice API the live sources use, driven by a virtual clock."""

    class PortAudioError(Exception):
        pass

    class CallbackStop(Exception):
        pass

    def __init__(self, clock: VirtualClock, rates=(16000, 48000), input_pcm=None) -> None:
        self.clock, self.rates, self.input_pcm = clock, rates, input_pcm
        self.opened: list[dict] = []

    def query_devices(self, device, kind):
        if device not in (None, 0):
            raise ValueError(f"no device {device}")
        return {"name": "fake", "default_samplerate": 48000.0}

    def check_input_settings(self, samplerate, **_):
        if samplerate not in self.rates:
            raise self.PortAudioError("invalid sample rate")

    def InputStream(self, **kw):
        self.opened.append(kw)
        return _FakeStream(self, kw, output=False)

    def OutputStream(self, **kw):
        self.opened.append(kw)
        return _FakeStream(self, kw, output=True)


class _FakeStream:
    latency = 0.01

    def __init__(self, sd: FakeSoundDevice, kw: dict, output: bool) -> None:
        self.sd, self.kw, self.output = sd, kw, output
        self.task: asyncio.Task | None = None

    def __enter__(self):
        self.task = asyncio.ensure_future(self._run())
        return self

    def __exit__(self, *exc):
        self.task.cancel()

    async def _run(self):
        block = self.kw.get("blocksize") or 256
        pos = 0
        while True:
            await self.sd.clock.sleep(block / self.kw["samplerate"])
            now = self.sd.clock()
            when = SimpleNamespace(currentTime=now, inputBufferAdcTime=now - 0.005,
                                   outputBufferDacTime=now + 0.02)
            if self.output:
                out = np.zeros((block, 1), np.float32)
                try:
                    self.kw["callback"](out, block, when, None)
                except self.sd.CallbackStop:
                    self.kw["finished_callback"]()
                    return
            else:
                data = self.sd.input_pcm[pos:pos + block]
                pos += block
                self.kw["callback"](np.pad(data, (0, block - len(data)))[:, None], block, when, None)


async def test_microphone_source_feeds_the_pipeline(model, speech, virtual_clock):
    from blendshape.net.features import resample

    pcm, rate, _ = speech
    clock = virtual_clock
    sd = FakeSoundDevice(clock, input_pcm=resample(pcm[:int(2.5 * rate)], rate))
    mic = MicSource(device=0, chunk=0.01, clock=clock, sd=sd)
    assert mic.rate == 16000  # no resampler when the device can do 16 kHz
    sock, port = _receiver()
    config = LiveConfig(outputs=OutputsConfig(osc=f"127.0.0.1:{port}"), fps=30)
    animator, pump, timeline = build_live(model, mic.rate, config, clock, clock.sleep)
    got: list[bytes] = []
    stats = await clock.run(run_live(mic, animator, pump, timeline, seconds=2.0),
                            each=lambda: got.extend(_drain(sock)))
    got.extend(_drain(sock))
    assert sd.opened[0]["samplerate"] == 16000 and sd.opened[0]["blocksize"] == 160
    assert stats.seconds == pytest.approx(2.0) and stats.late_ticks == 0
    jaw = [m.params[0] for m in _osc_messages(got) if m.address == "/talkbridge/jawOpen"]
    assert len(jaw) == pytest.approx(2.0 * 30, abs=3) and max(jaw) > 0.3
    assert animator.t0 == pytest.approx(1000.0 + 0.01 - 0.005)  # capture time: the ADC time
    sock.close()
    with pytest.raises(AudioDeviceError, match="python -m sounddevice"):
        MicSource(device=7, sd=sd)


async def test_played_file_follows_the_device_playback_position(model, speech, virtual_clock):
    pcm, rate, _ = speech
    pcm = pcm[:int(2.0 * rate)]
    clock = virtual_clock
    sd = FakeSoundDevice(clock)
    source = PlaybackSource(pcm, rate, chunk=0.01, clock=clock, sleep=clock.sleep, sd=sd)
    sock, port = _receiver()
    config = LiveConfig(outputs=OutputsConfig(livelink=f"127.0.0.1:{port}"), fps=FPS)
    animator, pump, timeline = build_live(model, rate, config, clock, clock.sleep,
                                          position=source.clock.position)
    got: list[bytes] = []
    start = clock()
    stats = await clock.run(run_live(source, animator, pump, timeline),
                            each=lambda: got.extend(_drain(sock)))
    got.extend(_drain(sock))
    # Frames start when the sound reaches the speaker (the fake DAC is 20 ms behind), and
    # the run ends with the playback.
    assert stats.late_ticks == 0
    assert clock() - start == pytest.approx(2.0 + 0.02, abs=0.05)
    assert len(got) == pytest.approx(2.0 * FPS, abs=4)
    jaw = np.array([_livelink_values(p)[1][JAW] for p in got])
    assert jaw.max() > 0.3
    sock.close()


def test_device_clock_is_monotone_and_never_passes_what_was_written():
    clock = DeviceClock(1000)
    assert clock.position(5.0) == float("-inf")
    clock.observe(dac_time=10.0, sample=0, frames=100)
    assert clock.position(10.05) == pytest.approx(0.05)
    assert clock.position(11.0) == pytest.approx(0.1)    # only 100 samples written
    clock.observe(dac_time=10.09, sample=100, frames=100)
    assert clock.position(10.09) == pytest.approx(0.1)   # never backwards
    assert clock.position(10.14) == pytest.approx(0.15)


def test_no_portaudio_is_a_clear_error():
    try:
        importlib.import_module("sounddevice")
    except OSError:
        pass
    else:  # pragma: no cover - a machine with PortAudio
        pytest.skip("PortAudio is installed here")
    with pytest.raises(AudioDeviceError, match="apt install libportaudio2"):
        require_sounddevice("--mic")
    with pytest.raises(AudioDeviceError, match="--play needs the PortAudio"):
        PlaybackSource(np.zeros(10, np.float32), 16000)


# ---- settings ------------------------------------------------------------------------------


def test_bad_settings_fail_before_anything_runs(model):
    outputs = {"outputs": {"osc": "127.0.0.1:9"}}
    with pytest.raises(LifeConfigError, match=r"unknown \[life\] key 'blnk'"):
        LiveConfig.from_tables({**outputs, "life": {"blnk": 1}}, {})
    with pytest.raises(LiveError, match=r"unknown \[live\] key 'fsp'"):
        LiveConfig.from_tables({**outputs, "live": {"fsp": 30}}, {})
    with pytest.raises(LiveError, match=r"unknown \[outputs\] key"):
        LiveConfig.from_tables({"outputs": {"oscc": "x"}}, {})
    with pytest.raises(UnknownEmotionError):
        LiveConfig.from_tables(outputs, {"emotion": "bored"})
    config = LiveConfig.from_tables({"live": {"fps": 30, "emotion": "sad"},
                                     "life": {"double_blink": 0.5}}, {"osc": ":9001", "fps": 50})
    assert config.fps == 50 and config.emotion == "sad" and config.life.double_blink == 0.5
    with pytest.raises(LiveError, match="no outputs"):
        build_live(model, 16000, LiveConfig(outputs=OutputsConfig()), lambda: 0.0, asyncio.sleep)
    with pytest.raises(OutputError, match="cannot send"):
        build_live(model, 16000, LiveConfig(outputs=OutputsConfig(livelink="no-such-host.invalid")),
                   lambda: 0.0, asyncio.sleep)
    with pytest.raises(OutputError, match="port"):
        build_live(model, 16000, LiveConfig(outputs=OutputsConfig(vmc="127.0.0.1:99999")),
                   lambda: 0.0, asyncio.sleep)


# ---- the command line ----------------------------------------------------------------------


def _osc_server():
    """A python-osc receiver on loopback. One thread and a 4 MB socket buffer: a frame is ~70
    datagrams, and a thread per datagram fell behind on a busy machine until the kernel
    dropped most of them (29 of 75 frames arrived) while the sender kept time."""
    import socket

    from pythonosc.dispatcher import Dispatcher
    from pythonosc.osc_server import BlockingOSCUDPServer

    received: list[tuple[str, float]] = []
    dispatcher = Dispatcher()
    dispatcher.map("/talkbridge/*", lambda address, *args: received.append((address, args[0])))
    server = BlockingOSCUDPServer(("127.0.0.1", 0), dispatcher)
    server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, received


def test_cli_live_input_to_an_osc_server(speech_wav):
    server, received = _osc_server()
    try:
        proc = subprocess.run(CLI + ["live", "--input", str(speech_wav), "--seconds", "2.5",
                                     "--fps", "30", "--osc", f"127.0.0.1:{server.server_address[1]}"],
                              capture_output=True, text=True, timeout=120)
    finally:
        server.shutdown()
        server.server_close()
    assert proc.returncode == 0, proc.stderr
    assert "2.50 s of audio" in proc.stdout
    jaw = [v for a, v in received if a == "/talkbridge/jawOpen"]
    assert len(jaw) == pytest.approx(2.5 * 30, abs=6)   # real time, 30 a second
    assert max(jaw) > 0.3 and min(jaw) < 0.1               # speech from 1 s, silence before
    assert {"/talkbridge/eyeBlinkLeft", "/talkbridge/viseme_PP"} <= {a for a, _ in received}


def test_cli_live_errors_are_clear(speech_wav, tmp_path):
    config = tmp_path / "live.toml"
    config.write_text("[life]\nblnk = 1\n")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    runs = {
        "unknown [life] key 'blnk'": ["--input", str(speech_wav), "--osc", ":9", "--config", str(config)],
        "no outputs": ["--input", str(speech_wav)],
        "--play needs the PortAudio library": ["--input", str(speech_wav), "--play", "--osc", ":9"],
    }
    for message, argv in runs.items():
        proc = subprocess.run(CLI + ["live"] + argv, capture_output=True, text=True, timeout=120, env=env)
        assert proc.returncode == 2 and message in proc.stderr, (message, proc.stderr)
