"""``talkbridge live``: a microphone (or a wav played as one) → the paced outputs."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from bridge.cli.args import (
    add_output_flags,
    emotion_arg,
    load_config,
    positive_fps,
)
from bridge.cli.files import read_audio

log = logging.getLogger("talkbridge")


def add_live(sub) -> None:
    """``talkbridge live``: a microphone, or a wav played as one, → the paced outputs."""
    live = sub.add_parser("live", help="a microphone (or a wav played as one) → face curves to "
                                       "Live Link Face / VMC / VRChat / OSC")
    source = live.add_mutually_exclusive_group(required=True)
    source.add_argument("--mic", action="store_true", help="capture the microphone (needs PortAudio)")
    source.add_argument("--input", type=Path, metavar="FILE.wav",
                        help="a file fed in real time as if a microphone captured it")
    live.add_argument("--device", help="sound device index or name (`python -m sounddevice` lists them)")
    live.add_argument("--play", action="store_true",
                      help="with --input: play the file and follow the device's playback position")
    live.add_argument("--seconds", type=float, help="stop after this much audio (pads a file with silence)")
    live.add_argument("--fps", type=positive_fps, default=None, help="output frame rate (default 60)")
    live.add_argument("--emotion", help="e.g. happy, or happy=0.6,surprised=0.4")
    live.add_argument("--seed", type=int, default=None, help="seed of blinks and gaze")
    live.add_argument("--delay", type=float, default=None,
                      help="seconds from capture to output (default: the pipeline's latency)")
    live.add_argument("--config", type=Path, help="TOML config: [live], [life] and [outputs] tables")
    live.add_argument("--weights", type=Path, help="network checkpoint (default: the shipped one)")
    add_output_flags(live)



def cmd_live(args: argparse.Namespace) -> int:
    from bridge.live import pipeline as live

    return live.main(args, load_config(args.config), read_audio, emotion_arg(args.emotion))
