"""talkbridge: a voice and a talking face for game characters. `talkbridge COMMAND --help`
says more; the README has a five-minute tour."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Callable, Sequence

from bridge.cli import chat, dev, files, live, network, serve
from bridge.protocol.errors import TalkbridgeError

#: Each command: the function adding its parser (in ``--help``'s order) and the one running it.
COMMANDS: dict[str, tuple[Callable[[argparse._SubParsersAction], None],
                          Callable[[argparse.Namespace], int]]] = {
    "serve": (serve.add_serve, serve.cmd_serve),
    "say": (files.add_say, files.cmd_say),
    "animate": (files.add_animate, files.cmd_animate),
    "eval": (network.add_eval, network.cmd_eval),
    "chat": (chat.add_chat, chat.cmd_chat),
    "voices": (files.add_voices, files.cmd_voices),
    "train": (network.add_train, network.cmd_train),
    "bench": (dev.add_bench, dev.cmd_bench),
    "live": (live.add_live, live.cmd_live),
    "loadtest": (dev.add_loadtest, dev.cmd_loadtest),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="talkbridge", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for add, _ in COMMANDS.values():
        add(sub)
    return parser


#: Exit status of a command whose reader went away (``talkbridge voices | head``): a shell's
#: 128 + SIGPIPE, quietly, as Unix tools do.
BROKEN_PIPE = 141


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # chat's replies share the terminal with the logs (stderr): only warnings, unless -v.
    quiet = logging.WARNING if args.command == "chat" else logging.INFO
    logging.basicConfig(level=logging.DEBUG if args.verbose else quiet,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return COMMANDS[args.command][1](args)
    except BrokenPipeError:
        # Python would flush stdout again at exit and print a second traceback: point the
        # descriptor at /dev/null first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE
    except (TalkbridgeError, LookupError, ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"talkbridge {args.command}: {exc}", file=sys.stderr)
        return 2
