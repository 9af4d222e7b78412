"""Argument types and config loading every command family shares: checked before anything loads."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_output_flags(parser: argparse.ArgumentParser) -> None:
    """The paced UDP outputs, the same flags for ``serve`` and ``live`` (``[outputs]`` keys)."""
    parser.add_argument("--livelink", metavar="HOST:PORT",
                        help="send Live Link Face UDP to Unreal (default port 11111)")
    parser.add_argument("--subject", help="Live Link subject name (default TalkBridge)")
    parser.add_argument("--vmc", metavar="HOST:PORT", help="send VMC (default port 39539)")
    parser.add_argument("--vmc-mode", help="perfectsync (ARKit names) or vrm0 (A I U E O …)")
    parser.add_argument("--vrchat", metavar="HOST:PORT",
                        help="send VRChat avatar parameters (default port 9000)")
    parser.add_argument("--vrchat-map", help="retarget map name or .json (default arkit-vrcft-v2)")
    parser.add_argument("--osc", metavar="HOST:PORT", help="send plain OSC /talkbridge/<channel>")


def port_arg(text: str) -> int:
    """A TCP port, checked before anything loads: ``bind()`` would raise an OverflowError."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value}: a port is 0-65535 (0 picks a free one)")
    return value


def positive_fps(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 240:
        raise argparse.ArgumentTypeError("fps must be between 1 and 240")
    return value


def emotion_arg(text: str | None) -> str | dict[str, float] | None:
    """``happy`` or ``happy=0.7,surprised=0.3``."""
    if not text or "=" not in text:
        return text
    mix = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        mix[name.strip()] = float(weight)
    return mix


def load_config(path: Path | None) -> dict:
    if path is None:
        return {}
    import tomllib

    with open(path, "rb") as fh:
        return tomllib.load(fh)


def config_port(value: object) -> int:
    try:
        return port_arg(str(value))
    except argparse.ArgumentTypeError as exc:
        raise SystemExit(f"talkbridge serve: [server] port {exc}") from None
