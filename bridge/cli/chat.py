"""``talkbridge chat``: the dialogue loop in a terminal (see :mod:`bridge.cli.terminal_chat`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from bridge.cli.args import (
    load_config,
)
from bridge.cli.serve import dialogue_config

log = logging.getLogger("talkbridge")


def add_chat(sub) -> None:
    """``talkbridge chat``."""
    chat = sub.add_parser("chat", help="a conversation in the terminal (speaks when there "
                          "are speakers)")
    chat.add_argument("--config", type=Path, help="TOML config file ([dialogue], [asr], [llm])")
    chat.add_argument("--voice", help="voice id of the replies (see `talkbridge voices`)")
    chat.add_argument("--user", default="terminal", help="whose memory to use")
    chat.add_argument("--memory", help="the conversation memory: a SQLite file (default "
                      "~/.local/share/talkbridge/memory.sqlite3), a postgresql:// URL, or "
                      ":memory: (forgets)")
    chat.add_argument("--no-audio", action="store_true", help="text only")



def cmd_chat(args: argparse.Namespace) -> int:
    from bridge.cli.terminal_chat import run_chat
    from bridge.speech.tts.config import make_registry

    conf = load_config(args.config)
    config = dialogue_config(conf, args.memory)
    return asyncio.run(run_chat(make_registry(conf.get("tts")), config, args.user, args.voice,
                                audio=not args.no_audio))
