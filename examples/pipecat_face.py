"""A real Pipecat pipeline, offline: text → talkbridge's Piper voice (as a Pipecat TTS
service) → talkbridge's face processor → a sink that keeps what came out.

    pip install 'talkbridge[pipecat]'
    python examples/pipecat_face.py OUT.json ["Some text to say."]

writes the curves the processor emitted (``fps``, ``channels``, ``frames``, ``t`` of the first
frame, ``duration`` of the audio) to OUT.json and the audio beside it (OUT.wav). In a live
bot, put ``FaceProcessor()`` right after your TTS service; an RTVI-enabled transport carries
its ``talkbridge-face`` messages to the client, which plays each frame when the audio at its
``t`` plays.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import wave
from pathlib import Path

from pipecat.frames.frames import EndFrame, Frame, TTSAudioRawFrame, TTSSpeakFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.runner import WorkerRunner
from pipecat.pipeline.worker import PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.processors.frameworks.rtvi import RTVIServerMessageFrame

from bridge.integrations.pipecat import FACE, FaceProcessor, TalkbridgeTTSService

TEXT = "Hello! I am a Pipecat bot with a talkbridge face. Watch my lips as I speak."


class Sink(FrameProcessor):
    """The end of the pipeline: keeps the audio and the face messages."""

    def __init__(self) -> None:
        super().__init__()
        self.audio = bytearray()
        self.rate = 0
        self.faces: list[dict] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TTSAudioRawFrame):
            self.audio += frame.audio
            self.rate = frame.sample_rate
        elif isinstance(frame, RTVIServerMessageFrame) and frame.data.get("type") == FACE:
            self.faces.append(frame.data)
        await self.push_frame(frame, direction)


async def run(text: str, out: Path) -> dict:
    """Speak ``text`` through the pipeline; write OUT.json and OUT.wav; return the JSON."""
    sink = Sink()
    worker = PipelineWorker(Pipeline([TalkbridgeTTSService(), FaceProcessor(), sink]),
                            enable_rtvi=False, idle_timeout_secs=None)
    await worker.queue_frames([TTSSpeakFrame(text), EndFrame()])
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await runner.run()
    if not sink.faces:
        raise SystemExit("the face processor emitted nothing: see the log above")
    channels = next(m["channels"] for m in sink.faces if "channels" in m)
    frames = [row for m in sink.faces for row in m["frames"]]
    result = {"fps": sink.faces[0]["fps"], "channels": channels, "frames": frames,
              "t": sink.faces[0]["t"], "duration": len(sink.audio) / 2 / sink.rate,
              "messages": len(sink.faces)}
    out.write_text(json.dumps(result))
    with wave.open(str(out.with_suffix(".wav")), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sink.rate)
        w.writeframes(bytes(sink.audio))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="where the curves go (JSON); the audio goes beside it")
    parser.add_argument("text", nargs="?", default=TEXT)
    args = parser.parse_args()
    result = asyncio.run(run(args.text, args.out))
    print(f"{len(result['frames'])} frames at {result['fps']:g} fps for "
          f"{result['duration']:.2f} s of audio → {args.out}")


if __name__ == "__main__":
    main()
