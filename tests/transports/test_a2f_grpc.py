"""Audio2Face-3D's gRPC API served by talkbridge, driven by a client on NVIDIA's own stubs.

The client follows NVIDIA's sample (``Audio2Face-3D-Samples``,
``scripts/audio2face_3d_api_client/a2f_3d/client/service.py``): a header with the audio
format and the face, post-processing and blendshape parameters of NVIDIA's configs, one
second of PCM per message with the emotions on the first, ``end_of_audio``; a reader that
collects the header, the animation data, the event and the status until EOF.

The server is the one ``talkbridge serve --a2f-grpc`` builds (``[outputs] a2f_grpc``), on an
ephemeral loopback port, and once the real ``serve`` process.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

grpc = pytest.importorskip("grpc", reason="pip install 'talkbridge[a2f]'")
pytest.importorskip("nvidia_audio2face_3d", reason="pip install 'talkbridge[a2f]'")

from nvidia_ace.audio_pb2 import AudioHeader
from nvidia_ace.status_pb2 import Status
from nvidia_audio2face_3d.audio2face_pb2_grpc import (
    A2FControllerServiceStub,
    add_A2FControllerServiceServicer_to_server,
)
from nvidia_audio2face_3d.messages_pb2 import (
    AudioWithEmotion,
    AudioWithEmotionStream,
    AudioWithEmotionStreamHeader,
    BlendShapeParameters,
    EmotionParameters,
    EmotionPostProcessingParameters,
    EmotionWithTimeCode,
    EventType,
    FaceParameters,
)

from blendshape import rig
from bridge.server.host import Server, ServerConfig
from bridge.session.config import SessionConfig
from bridge.transports import a2f_mapping as mapping
from bridge.transports.a2f_grpc import A2FServicer, bearer_token
from bridge.transports.a2f_setup import listen_address
from bridge.transports.pacing import OutputsConfig
from tests.support.tls import self_signed

CLI = [sys.executable, "-m", "bridge.cli"]
TEXT = "Papa bought a big blue boat. It sails across the bay."
TOKEN = "a2f-s3cret"
#: Audio2Face-3D's ARKit names, spelled out (not derived from the code under test).
NAMES = [
    "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft",
    "EyeSquintLeft", "EyeWideLeft", "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight",
    "EyeLookOutRight", "EyeLookUpRight", "EyeSquintRight", "EyeWideRight", "JawForward",
    "JawLeft", "JawRight", "JawOpen", "MouthClose", "MouthFunnel", "MouthPucker", "MouthLeft",
    "MouthRight", "MouthSmileLeft", "MouthSmileRight", "MouthFrownLeft", "MouthFrownRight",
    "MouthDimpleLeft", "MouthDimpleRight", "MouthStretchLeft", "MouthStretchRight",
    "MouthRollLower", "MouthRollUpper", "MouthShrugLower", "MouthShrugUpper", "MouthPressLeft",
    "MouthPressRight", "MouthLowerDownLeft", "MouthLowerDownRight", "MouthUpperUpLeft",
    "MouthUpperUpRight", "BrowDownLeft", "BrowDownRight", "BrowInnerUp", "BrowOuterUpLeft",
    "BrowOuterUpRight", "CheekPuff", "CheekSquintLeft", "CheekSquintRight", "NoseSneerLeft",
    "NoseSneerRight", "TongueOut",
]
#: Audio2Face-3D's ten emotions, as NVIDIA's configs list them.
A2F_EMOTIONS = ("amazement", "anger", "cheekiness", "disgust", "fear", "grief", "joy",
                "outofbreath", "pain", "sadness")
#: NVIDIA's tongue poses, in its configs' multipliers too: we don't have them, and ignore them.
TONGUE = ("TongueTipUp", "TongueTipDown", "TongueRollUp", "TongueIn", "TongueWide")


# ---- NVIDIA's sample client, on its stubs ----------------------------------------------


@dataclass
class Result:
    """What NVIDIA's sample reader collects, in arrival order."""

    parts: list[str] = field(default_factory=list)   # oneof names as they came
    names: list[str] = field(default_factory=list)
    audio_header: AudioHeader | None = None
    times: list[float] = field(default_factory=list)
    frames: list[list[float]] = field(default_factory=list)
    audio: bytearray = field(default_factory=bytearray)
    audio_times: list[tuple[float, int]] = field(default_factory=list)  # (time_code, samples)
    events: list[int] = field(default_factory=list)
    status: Status | None = None

    @property
    def weights(self) -> np.ndarray:
        return np.array(self.frames, np.float32)


def header(rate: int, *, bits: int = 16, channels: int = 1, emotion: dict | None = None,
           **extra) -> AudioWithEmotionStream:
    """The first message, with the parameters of NVIDIA's ``config_mark.yml``: multipliers 1
    and offsets 0 (its tongue poses too), no preferred-emotion override of ours."""
    names = NAMES + list(TONGUE)
    fields = {
        "audio_header": AudioHeader(samples_per_second=rate, bits_per_sample=bits,
                                    channel_count=channels,
                                    audio_format=AudioHeader.AUDIO_FORMAT_PCM),
        "face_params": FaceParameters(float_params={"upperFaceStrength": 1.0,
                                                    "lowerFaceStrength": 1.3,
                                                    "tongueStrength": 1.3}),
        "blendshape_params": BlendShapeParameters(bs_weight_multipliers={n: 1.0 for n in names},
                                                  bs_weight_offsets={n: 0.0 for n in names}),
        "emotion_params": EmotionParameters(beginning_emotion=emotion or {}),
    }
    return AudioWithEmotionStream(audio_stream_header=AudioWithEmotionStreamHeader(
        **(fields | extra)))


def chunks(pcm: np.ndarray, rate: int, emotions: list[EmotionWithTimeCode] | None = None,
           ) -> list[AudioWithEmotionStream]:
    """One second per message, the timed emotions on the first (as NVIDIA's sample)."""
    out = []
    for i in range(len(pcm) // rate + 1):
        piece = pcm[i * rate:(i + 1) * rate]
        out.append(AudioWithEmotionStream(audio_with_emotion=AudioWithEmotion(
            audio_buffer=piece.astype("<i2").tobytes(), emotions=emotions if i == 0 else None)))
    return out


END = AudioWithEmotionStream(end_of_audio=AudioWithEmotionStream.EndOfAudio())


async def read_from_stream(stream) -> Result:
    result = Result()
    while True:
        message = await stream.read()
        if message == grpc.aio.EOF:
            return result
        part = message.WhichOneof("stream_part")
        result.parts.append(part)
        if part == "animation_data_stream_header":
            result.names = list(message.animation_data_stream_header.skel_animation_header.blend_shapes)
            result.audio_header = message.animation_data_stream_header.audio_header
        elif part == "animation_data":
            for weights in message.animation_data.skel_animation.blend_shape_weights:
                result.times.append(weights.time_code)
                result.frames.append(list(weights.values))
            audio = message.animation_data.audio
            if audio.audio_buffer:
                result.audio_times.append((audio.time_code, len(audio.audio_buffer) // 2))
                result.audio += audio.audio_buffer
        elif part == "event":
            result.events.append(message.event.event_type)
        elif part == "status":
            result.status = message.status


async def process(port: int, messages: list[AudioWithEmotionStream], *, metadata=None,
                  credentials=None) -> Result:
    """One ``ProcessAudioStream`` call: a writer task and a reader task, as NVIDIA's app."""
    target = f"127.0.0.1:{port}"
    channel = (grpc.aio.secure_channel(target, credentials) if credentials
               else grpc.aio.insecure_channel(target))
    async with channel:
        stream = A2FControllerServiceStub(channel).ProcessAudioStream(metadata=metadata)

        async def write_to_stream() -> None:
            for message in messages:
                await stream.write(message)

        write = asyncio.create_task(write_to_stream())
        read = asyncio.create_task(read_from_stream(stream))
        try:
            return await read  # ends after the server has had every message, or refused one
        finally:
            write.cancel()
            read.cancel()
            await asyncio.gather(write, read, return_exceptions=True)


async def refused(port: int, messages: list[AudioWithEmotionStream], *, metadata=None,
                  credentials=None) -> grpc.aio.AioRpcError:
    """Send ``messages`` (the one to refuse last), then read the status. Nothing is written
    after it: a Python asyncio client still writing when the server ends the call may report
    INTERNAL in place of the server's status (grpc/grpc#36066, a client bug)."""
    target = f"127.0.0.1:{port}"
    channel = (grpc.aio.secure_channel(target, credentials) if credentials
               else grpc.aio.insecure_channel(target))
    async with channel:
        stream = A2FControllerServiceStub(channel).ProcessAudioStream(metadata=metadata)
        for message in messages:
            await stream.write(message)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await read_from_stream(stream)
    return info.value


# ---- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def speech(piper, tmp_path_factory) -> tuple[Path, np.ndarray, int]:
    """Piper's voice on a real sentence, as the 16-bit wav a client would send."""
    import soundfile

    parts = list(piper.synthesize(TEXT, piper.voices()[0]))
    rate = parts[0].rate
    pcm = np.concatenate([np.asarray(p.pcm, np.float32) for p in parts])
    pcm16 = np.clip(np.round(pcm * 32767), -32768, 32767).astype(np.int16)
    path = tmp_path_factory.mktemp("a2f") / "speech.wav"
    soundfile.write(str(path), pcm16, rate, subtype="PCM_16")
    return path, pcm16, rate


async def _server(registry, **config) -> Server:
    server = Server(ServerConfig(port=0, warm_up=False,
                                 outputs=OutputsConfig(a2f_grpc="127.0.0.1:0"), **config),
                    tts=registry)
    await server.start()
    return server


@pytest.fixture
async def server(registry):
    srv = await _server(registry)
    yield srv
    await srv.stop()


# ---- the stream, end to end ------------------------------------------------------------


async def test_nvidia_sample_flow_gets_the_realtime_curves_of_talkbridge_animate(server, speech,
                                                                                 tmp_path):
    path, pcm, rate = speech
    neutral = [EmotionWithTimeCode(time_code=0.0, emotion={e: 0.0 for e in A2F_EMOTIONS})]
    post = EmotionPostProcessingParameters(emotion_contrast=1.0, live_blend_coef=0.7,
                                           enable_preferred_emotion=True,
                                           preferred_emotion_strength=0.5, emotion_strength=0.6,
                                           max_emotions=3)
    result = await process(server.a2f_port, [header(rate, emotion_post_processing_params=post),
                                             *chunks(pcm, rate, neutral), END])

    # The header first, the data, then the end event, then the status (NVIDIA's order).
    assert result.parts[0] == "animation_data_stream_header"
    assert set(result.parts[1:-2]) == {"animation_data"}
    assert result.parts[-2:] == ["event", "status"]
    assert result.events == [EventType.END_OF_A2F_AUDIO_PROCESSING]
    assert result.status.code == Status.SUCCESS
    assert result.names == NAMES
    assert (result.audio_header.samples_per_second, result.audio_header.bits_per_sample,
            result.audio_header.channel_count) == (rate, 16, 1)

    # 30 fps on the audio's clock, as many frames as the audio lasts, time codes rising.
    duration = len(pcm) / rate
    assert len(result.times) == int(np.ceil(duration * mapping.FPS - 1e-9))
    assert np.all(np.diff(result.times) > 0)
    assert result.times == pytest.approx(np.arange(len(result.times)) / 30, abs=1e-9)

    # The audio comes back as it went, each piece stamped where it starts.
    assert bytes(result.audio) == pcm.astype("<i2").tobytes()
    starts = np.cumsum([0] + [n for _, n in result.audio_times])[:-1]
    assert [t for t, _ in result.audio_times] == pytest.approx(starts / rate, abs=1e-9)

    # The curves are the server's network on the whole clip: on a CPU its batch runs the
    # 8-bit graph, which streams exactly as it animates a clip (float32 kernels aside) ...
    from blendshape import procedural
    from blendshape.layers.life import LifeLayer
    from blendshape.net.engine import Int8Engine
    from blendshape.net.stream import animate_clip, load_model

    assert server.network.engine.name == "onnxruntime-int8"
    audio = pcm.astype(np.float32) / 32768  # as animate reads the wav, with its life layer
    whole = animate_clip(Int8Engine(load_model(device="cpu")), audio, rate, mapping.FPS)
    times = np.arange(len(whole)) / mapping.FPS
    LifeLayer(seed=0).apply(whole, times, loudness=procedural.loudness(audio, rate, times))
    arkit = [rig.ALL_CHANNELS.index(name[0].lower() + name[1:]) for name in NAMES]
    np.testing.assert_allclose(result.weights, whole[:, arkit], atol=1e-5, rtol=0)
    # ... and `talkbridge animate --quality realtime` of the same file, whose float graph is
    # the faster on files, within 8-bit quantization of them: ~3e-4 on average, but a close
    # call (PP's lead on the closure ramp) moves a frame's lips by more, and Piper's sentence
    # is a new draw every run (ten draws, network curves alone: max 0.014-0.035, 99.9th
    # percentile 0.009-0.014; 0.062 once with the life layer on top). The JSON keeps 4
    # decimals.
    out = tmp_path / "animate.json"
    run = await asyncio.to_thread(
        subprocess.run, CLI + ["animate", str(path), "--quality", "realtime", "--fps", "30", "-o",
                               str(out)], check=False, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    doc = json.loads(out.read_text())
    frames = np.array(doc["frames"], np.float32)
    columns = [doc["channels"].index(name[0].lower() + name[1:]) for name in NAMES]
    assert result.weights.shape == (len(frames), 52)
    gap = np.abs(result.weights - frames[:, columns])
    assert gap.mean() < 1e-3 and np.quantile(gap, 0.999) < 0.03 and gap.max() < 0.2, (
        gap.mean(), np.quantile(gap, 0.999), gap.max())
    jaw = NAMES.index("JawOpen")
    assert result.weights[:, jaw].max() > 0.3   # it speaks


async def test_emotions_and_blendshape_params_shape_the_curves(server, speech):
    _, pcm, rate = speech
    pcm = pcm[:rate * 2]
    plain = await process(server.a2f_port, [header(rate), *chunks(pcm, rate), END])
    joyful = await process(server.a2f_port, [header(rate, emotion={"joy": 1.0}),
                                             *chunks(pcm, rate), END])
    smile, cheek = NAMES.index("MouthSmileLeft"), NAMES.index("CheekSquintLeft")
    assert joyful.weights[:, cheek].mean() > plain.weights[:, cheek].mean() + 0.2
    assert joyful.weights[:, smile].mean() > plain.weights[:, smile].mean()

    # NVIDIA's config zeroes the gaze shapes with multipliers; offsets add; clamping holds 0..1.
    look = [NAMES.index(n) for n in NAMES if n.startswith("EyeLook")]
    shaped = header(rate, blendshape_params=BlendShapeParameters(
        bs_weight_multipliers={NAMES[i]: 0.0 for i in look} | {"JawOpen": 3.0},
        bs_weight_offsets={"CheekPuff": 0.25}, enable_clamping_bs_weight=True))
    result = await process(server.a2f_port, [shaped, *chunks(pcm, rate), END])
    assert np.all(result.weights[:, look] == 0)
    puff = NAMES.index("CheekPuff")
    assert np.allclose(result.weights[:, puff], plain.weights[:, puff] + 0.25)
    assert result.weights.max() <= 1.0 and result.weights[:, NAMES.index("JawOpen")].max() == 1.0


# ---- bad input ---------------------------------------------------------------------------


BAD = [
    ("bits", lambda rate: [header(rate, bits=24)], "bits_per_sample 24: only 16-bit PCM"),
    ("channels", lambda rate: [header(rate, channels=2)], "channel_count 2: only mono"),
    ("rate low", lambda rate: [header(8000)], "samples_per_second 8000 is out of range"),
    ("rate high", lambda rate: [header(192000)], "samples_per_second 192000 is out of range"),
    ("chunk first", lambda rate: chunks(np.zeros(rate // 10, np.int16), rate)[:1],
     "an audio chunk came before the audio_stream_header"),
    ("oversized", lambda rate: [header(rate), chunks(np.zeros(11 * rate, np.int16), 11 * rate)[0]],
     "an audio_buffer of 11.0 s: at most 10 s"),
    ("odd bytes", lambda rate: [header(rate), AudioWithEmotionStream(
        audio_with_emotion=AudioWithEmotion(audio_buffer=b"\x00\x01\x02"))], "3 bytes"),
    ("two headers", lambda rate: [header(rate), header(rate)], "a second audio_stream_header"),
]


async def test_bad_input_is_invalid_argument_saying_why_and_other_streams_go_on(server, speech):
    _, pcm, rate = speech
    target = f"127.0.0.1:{server.a2f_port}"
    async with grpc.aio.insecure_channel(target) as channel:
        good = A2FControllerServiceStub(channel).ProcessAudioStream()
        reader = asyncio.create_task(read_from_stream(good))
        await good.write(header(rate))
        await good.write(chunks(pcm, rate)[0])
        for name, messages, wanted in BAD:  # while the good stream is open
            error = await refused(server.a2f_port, messages(16000))
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, name
            assert wanted in error.details(), (name, error.details())
        for message in [*chunks(pcm, rate)[1:], END]:
            await good.write(message)
        result = await reader
    assert result.status.code == Status.SUCCESS
    assert len(result.times) == int(np.ceil(len(pcm) / rate * 30 - 1e-9))


async def test_a_stream_that_sends_nothing_for_the_idle_limit_is_ended():
    """The servicer alone on a gRPC server, with a stand-in for the network."""
    class Network:
        def new_stream(self, rate: int) -> object:
            return object()

        async def submit(self, stream, pcm, last=False) -> np.ndarray:
            return np.zeros((0, 67), np.float32)

    server = grpc.aio.server()
    add_A2FControllerServiceServicer_to_server(A2FServicer(Network(), idle_seconds=0.3), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        error = await refused(port, [header(16000)])  # then silence
        assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert error.details().startswith("no message for 0.3 s")
    finally:
        await server.stop(None)


# ---- token and TLS, as on the WebSocket ------------------------------------------------


async def test_the_websocket_token_is_required_in_grpc_metadata(registry, speech):
    _, pcm, rate = speech
    server = await _server(registry, session=SessionConfig(token=frozenset({TOKEN})))
    try:
        for metadata in (None, (("authorization", "Bearer wrong"),), (("authorization", TOKEN),)):
            error = await refused(server.a2f_port, [], metadata=metadata)  # refused before any
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "authorization: Bearer <token>" in error.details()
        result = await process(server.a2f_port, [header(rate), *chunks(pcm[:rate], rate), END],
                               metadata=(("authorization", f"Bearer {TOKEN}"),))
        assert result.status.code == Status.SUCCESS and result.names == NAMES
    finally:
        await server.stop()


async def test_tls_uses_the_servers_certificate(registry, speech, tmp_path):
    _, pcm, rate = speech
    cert, key = self_signed(tmp_path)
    server = await _server(registry, tls_cert=str(cert), tls_key=str(key))
    try:
        assert server.a2f.secure
        trust = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        result = await process(server.a2f_port, [header(rate), *chunks(pcm[:rate], rate), END],
                               credentials=trust)
        assert result.status.code == Status.SUCCESS
        error = await asyncio.wait_for(refused(server.a2f_port, []), 10)  # plain text to TLS
        assert error.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await server.stop()


# ---- the mapping, sans-I/O ---------------------------------------------------------------


def test_names_are_arkit_in_audio2face_spelling():
    assert list(mapping.BLENDSHAPE_NAMES) == NAMES
    assert [n[0].lower() + n[1:] for n in NAMES] == list(rig.ARKIT52)


def test_audio2face_emotions_map_onto_ours():
    assert mapping.emotion_mix({"joy": 1.0, "grief": 0.5}) == {"happy": 1.0, "sad": 0.5}
    assert mapping.emotion_mix({"amazement": 2.0, "outofbreath": 1.0}) == {"surprised": 1.0}
    assert mapping.emotion_mix({"pain": 1.0}) == {"disgust": 0.6, "angry": 0.4}
    # max_emotions keeps the strongest; unknown names and zeros drop out; the strength scales.
    mix = mapping.emotion_mix({"joy": 0.2, "anger": 0.9, "fear": 0.5, "bliss": 1.0}, 2, 0.5)
    assert mix == pytest.approx({"angry": 0.45, "fear": 0.25})
    assert set(A2F_EMOTIONS) == set(mapping.EMOTION_MAP)


def test_timed_emotions_start_at_their_time_code():
    stream = mapping.A2FStream()
    stream.receive(header(16000))
    joy = EmotionWithTimeCode(time_code=1.0, emotion={"joy": 1.0})
    stream.receive(AudioWithEmotionStream(audio_with_emotion=AudioWithEmotion(
        audio_buffer=np.zeros(32000, "<i2").tobytes(), emotions=[joy])))
    stream.receive(END)
    [reply] = stream.frames(np.zeros((200, 67), np.float32), last=True)
    weights = np.array([w.values for w in reply.animation_data.skel_animation.blend_shape_weights])
    cheek = weights[:, NAMES.index("CheekSquintLeft")]
    assert len(weights) == 60 and np.all(cheek[:30] == 0)
    assert cheek[-1] == pytest.approx(0.35)  # the happy pose, ramped in over 0.5 s


def test_enable_preferred_emotion_false_leaves_the_timed_emotions_out():
    stream = mapping.A2FStream()
    stream.receive(header(16000, emotion_post_processing_params=EmotionPostProcessingParameters(
        enable_preferred_emotion=False)))
    joy = EmotionWithTimeCode(time_code=0.0, emotion={"joy": 1.0})
    stream.receive(AudioWithEmotionStream(audio_with_emotion=AudioWithEmotion(
        audio_buffer=np.zeros(1600, "<i2").tobytes(), emotions=[joy])))
    stream.receive(END)
    [reply] = stream.frames(np.zeros((10, 67), np.float32), last=True)
    values = np.array([w.values for w in reply.animation_data.skel_animation.blend_shape_weights])
    assert np.all(values[:, NAMES.index("CheekSquintLeft")] == 0)


def test_audio_after_the_end_and_an_end_before_the_header_are_refused():
    stream = mapping.A2FStream()
    with pytest.raises(mapping.A2FInputError, match="end_of_audio came before"):
        stream.receive(END)
    stream.receive(header(16000))
    stream.receive(END)
    with pytest.raises(mapping.A2FInputError, match="after end_of_audio"):
        stream.receive(chunks(np.zeros(10, np.int16), 16000)[0])


@pytest.mark.parametrize("text, address", [
    ("52000", ("127.0.0.1", 52000)), (":52000", ("127.0.0.1", 52000)),
    ("0.0.0.0:52000", ("0.0.0.0", 52000)), ("[::1]:0", ("::1", 0)),
])
def test_listen_address(text, address):
    assert listen_address(text, "127.0.0.1") == address


@pytest.mark.parametrize("text", ["localhost", "127.0.0.1:http", "70000", ""])
def test_listen_address_refuses_in_one_line(text):
    with pytest.raises(ValueError, match=r"--a2f-grpc .*(HOST:\]PORT|0-65535)"):
        listen_address(text, "127.0.0.1")


def test_bearer_token_comes_from_authorization_metadata():
    assert bearer_token((("function-id", "x"), ("authorization", "Bearer T1"))) == "T1"
    assert bearer_token((("authorization", "Basic T1"),)) is None
    assert bearer_token(None) is None


# ---- the command line ----------------------------------------------------------------------


def _serve(*flags: str, code: str | None = None) -> subprocess.CompletedProcess:
    argv = ["serve", "--port", "0", *flags]
    command = CLI + argv if code is None else [
        sys.executable, "-c", f"{code}; from bridge.cli.app import main; raise SystemExit(main({argv!r}))"]
    return subprocess.run(command, check=False, capture_output=True, text=True, timeout=60)


def test_serve_without_the_extra_says_what_to_install_in_one_line():
    run = _serve("--a2f-grpc", "0", code="import sys; sys.modules['nvidia_audio2face_3d'] = None")
    assert run.returncode != 0
    assert run.stderr.strip().splitlines() == [
        ("talkbridge serve: --a2f-grpc needs gRPC and NVIDIA's Audio2Face-3D stubs "
         "(nvidia_audio2face_3d is missing): pip install 'talkbridge[a2f]'")]


def test_serve_on_a_taken_a2f_port_exits_at_once_with_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = _serve("--a2f-grpc", str(port))
    assert run.returncode != 0
    assert run.stderr.strip().splitlines() == [
        (f"talkbridge serve: can't listen on 127.0.0.1:{port} (Address already in use): is "
         "another server there? Pick another --a2f-grpc port, or stop it")]


def test_serve_refuses_a_bad_a2f_address_in_one_line(tmp_path):
    config = tmp_path / "talkbridge.toml"
    config.write_text('[outputs]\na2f_grpc = "localhost"\n')
    run = _serve("--config", str(config))
    assert run.returncode != 0
    assert run.stderr.strip().splitlines() == [
        "talkbridge serve: --a2f-grpc 'localhost': give [HOST:]PORT, e.g. 52000 or 0.0.0.0:52000"]


async def test_the_real_serve_process_serves_the_a2f_api(speech):
    _, pcm, rate = speech
    proc = await asyncio.create_subprocess_exec(
        *CLI, "serve", "--port", "0", "--a2f-grpc", "0", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        lines = [(await asyncio.wait_for(proc.stdout.readline(), 120)).decode() for _ in range(2)]
        assert "Audio2Face-3D gRPC at http://127.0.0.1:" in lines[1], lines
        port = int(lines[1].split("http://127.0.0.1:")[1].split()[0])
        result = await process(port, [header(rate), *chunks(pcm[:rate], rate), END])
        assert result.status.code == Status.SUCCESS and len(result.times) == 30
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.fixture(scope="module")
def engine():
    from blendshape.net.stream import load_network

    return load_network(None, engine="torch")


# 1.0335 s and 2.0005 s end just past a frame: the stream's last network frame is held.
@pytest.mark.parametrize("seconds", [0.35, 1.0335, 1.37, 2.0005, 3.21])
def test_any_clip_length_gets_the_frames_of_a_whole_clip(speech, engine, seconds):
    """A stream's network frames stop at the last whole 10 ms of audio; a whole clip's
    frames hold the last one to the end of the audio: the stream holds it too."""
    from blendshape.layers.life import LifeLayer
    from blendshape.net.stream import Batcher, Stream, animate_clip

    _, pcm, rate = speech
    pcm = pcm[:round(seconds * rate)]
    batcher, network = Batcher(engine), Stream(engine, rate)
    stream = mapping.A2FStream()
    stream.receive(header(rate))
    replies = []
    for message in [*chunks(pcm, rate), END]:
        step = stream.receive(message)
        last = isinstance(step, mapping.Ended)
        audio = np.zeros(0, np.float32) if last else step.pcm
        replies += stream.frames(batcher.push(network, audio, last=last), last=last)
    got = np.array([w.values for r in replies
                    for w in r.animation_data.skel_animation.blend_shape_weights])
    whole = animate_clip(engine, pcm.astype(np.float32) / 32768, rate, mapping.FPS)
    LifeLayer(mapping.LIFE_SEED).apply(whole, np.arange(len(whole)) / mapping.FPS)
    assert len(got) == len(whole) == int(np.ceil(len(pcm) / rate * mapping.FPS - 1e-9))
    np.testing.assert_allclose(got, whole[:, :52], atol=1e-5, rtol=0)
