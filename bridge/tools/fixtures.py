"""Golden messages: one real message of every type, written as the Python codec writes it.

The C++ and C# decoders test against these files, so a change to the codec that would
break an engine plugin shows up as a diff in ``tests/fixtures/protocol/``. They are one
consistent session: the ``hello`` asks for ``arkit52``, the ``welcome`` lists those 52
columns, and the ``curves`` carry 3 frames of them. Curve weights are multiples of 1/16 so
float16 stores them exactly and other decoders can compare with ``==``.

Usage: ``python -m bridge.tools.fixtures [DIR] [--check]``; ``--check`` writes nothing
and exits 1 when a file is missing or differs.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from blendshape.rig import ARKIT52
from bridge.protocol import messages as m
from bridge.protocol.codec import encode, encode_curves, encode_pcm16
from bridge.tools.images import png

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "protocol"

UTTERANCE_ID = "u1"
SAY_TEXT = "Hello there! Nice to meet you."

#: The non-zero weights of the 3 curve frames; every other channel is 0.
CURVE_WEIGHTS: dict[str, tuple[float, float, float]] = {
    "eyeBlinkLeft": (0.0, 0.5, 1.0),
    "eyeBlinkRight": (0.0, 0.5, 1.0),
    "jawOpen": (0.25, 0.5, 0.375),
    "mouthFunnel": (0.0, 0.125, 0.25),
    "mouthSmileLeft": (0.0625, 0.0625, 0.0625),
    "mouthSmileRight": (0.0625, 0.0625, 0.0625),
    "browInnerUp": (0.1875, 0.125, 0.0625),
}


#: The image fixture's picture: a real 2×2 RGB PNG (red, green / blue, white), 82 bytes.
FIXTURE_PNG = png([[(255, 0, 0), (0, 255, 0)], [(0, 0, 255), (255, 255, 255)]])


def curve_frames() -> np.ndarray:
    """The 3 × 52 frames every curves fixture carries."""
    frames = np.zeros((3, len(ARKIT52)), dtype=np.float32)
    for name, weights in CURVE_WEIGHTS.items():
        frames[:, ARKIT52.index(name)] = weights
    return frames


def sine_pcm16(rate: int, seconds: float = 0.01, hz: float = 440.0,
               amplitude: float = 0.5) -> bytes:
    """A short tone; computed with ``math.sin`` so the bytes don't depend on numpy's SIMD."""
    count = round(rate * seconds)
    samples = [amplitude * math.sin(2.0 * math.pi * hz * i / rate) for i in range(count)]
    return encode_pcm16(np.array(samples, dtype=np.float64))


def fixture_messages() -> dict[str, m.Message]:
    """File stem → message, for every message type (utterance and curves twice)."""
    return {**_client_fixtures(), **_server_fixtures()}


def _client_fixtures() -> dict[str, m.Message]:
    return {
        "hello": m.Hello(protocol=1, client="talkbridge-unreal/0.1", token="s3cret", fps=60,
                         channels=("arkit52",), audio_rate=48000, encoding="f16"),
        "say": m.Say(text=SAY_TEXT, id=UTTERANCE_ID, voice="piper:en_US-joe-medium",
                     lang="en", emotion={"happy": 0.75}),
        "audio_in": m.AudioIn(id="perf1", rate=16000, data=sine_pcm16(16000), end=False),
        "mic": m.Mic(rate=16000, data=sine_pcm16(16000)),
        "chat": m.Chat(text="What's the weather like?"),
        "interrupt": m.Interrupt(id=UTTERANCE_ID),
        "playback": m.Playback(id=UTTERANCE_ID, state="finished", position=1.5,
                               interrupted=False),
        "ping": m.Ping(t=12.5),
        "image": m.Image(data=FIXTURE_PNG, t=3.5, prompt="What am I holding?"),
    }


def _server_fixtures() -> dict[str, m.Message]:
    frames = curve_frames()
    return {
        "welcome": m.Welcome(protocol=1, session="s1", server="talkbridge/0.1.0", fps=60,
                             channels=ARKIT52, audio_rate=48000, encoding="f16"),
        "utterance_start": m.Utterance(id=UTTERANCE_ID, state="start", source="say",
                                       text=SAY_TEXT),
        "utterance_end": m.Utterance(id=UTTERANCE_ID, state="end", source="say", reason="done"),
        "audio": m.Audio(id=UTTERANCE_ID, seq=0, t=0.0, data=sine_pcm16(48000)),
        "curves": m.Curves(id=UTTERANCE_ID, seq=0, t=0.0, fps=60, n=len(frames),
                           data=encode_curves(frames, "f16")),
        "curves_f32": m.Curves(id=UTTERANCE_ID, seq=0, t=0.0, fps=60, n=len(frames),
                               data=encode_curves(frames, "f32")),
        "clear": m.Clear(id=UTTERANCE_ID),
        "transcript": m.Transcript(text="what's the weather like", final=True),
        "reply": m.Reply(id="d1", text="Sunny all afternoon.", final=False),
        "error": m.Error(code="unknown_voice",
                         message="unknown voice 'nobody'; available: piper:en_US-joe-medium, "
                                 "espeak:en",
                         fatal=False, ref="u2"),
        "pong": m.Pong(t=12.5, server_t=3.25),
        "gesture": m.Gesture(id=UTTERANCE_ID, t=0.25, name="nod", duration=0.625, strength=0.75),
    }


def write_fixtures(directory: Path = DEFAULT_DIR) -> list[Path]:
    """Write every fixture; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for stem, msg in fixture_messages().items():
        path = directory / f"{stem}.msgpack"
        path.write_bytes(encode(msg))
        paths.append(path)
    return paths


def stale_fixtures(directory: Path = DEFAULT_DIR) -> list[Path]:
    """The fixture files that are missing or differ from what the codec writes now."""
    return [
        directory / f"{stem}.msgpack"
        for stem, msg in fixture_messages().items()
        if not (directory / f"{stem}.msgpack").is_file()
        or (directory / f"{stem}.msgpack").read_bytes() != encode(msg)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bridge.tools.fixtures",
                                     description="Write the golden protocol messages.")
    parser.add_argument("directory", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a fixture is missing or out of date")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_fixtures(args.directory)
        for path in stale:
            print(f"out of date: {path}", file=sys.stderr)
        return 1 if stale else 0
    for path in write_fixtures(args.directory):
        print(f"{path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
