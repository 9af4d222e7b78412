"""``talkbridge bench`` and ``loadtest``: speed, measured side by side in one run, and a crowd."""

from __future__ import annotations

import argparse
import json
import logging

log = logging.getLogger("talkbridge")


def add_bench(sub) -> None:
    """``talkbridge bench``."""
    bench = sub.add_parser("bench", help="performance benchmark")
    bench.add_argument("--json", action="store_true")
    bench.add_argument("--runs", type=int, default=10)
    bench.add_argument("--asr", action="store_true",
                       help="only the offline recognizers side by side (PocketSphinx, Whisper "
                            "tiny.en): word error rate and end of speech → final transcript on "
                            "flite's voices, clean and at 10 dB SNR")
    bench.add_argument("--ray", metavar="ADDRESS",
                       help="only the cost of the hop to Ray Serve replicas on the cluster at "
                            "ADDRESS, side by side with the same work in-process: first audio "
                            "and throughput of synthesis, the network's step for 1-256 streams")



def add_loadtest(sub) -> None:
    """``talkbridge loadtest``: N concurrent sessions on loopback; late frames, CPU, memory."""
    load = sub.add_parser("loadtest", help="N concurrent sessions against a server of its own "
                                           "(loopback): late frames, server CPU and RSS")
    load.add_argument("--sessions", type=int, default=10, help="concurrent sessions (1..500)")
    load.add_argument("--seconds", type=float, default=20.0, help="run length (1..3600)")
    load.add_argument("--mix", default="say,audio_in,chat",
                      help="session kinds, dealt round-robin (say, audio_in, chat)")
    load.add_argument("--buffer", type=float, default=0.3,
                      help="the clients' jitter buffer in seconds: a frame is late after it")
    load.add_argument("--seed", type=int, default=0)
    load.add_argument("--url", help="an already running server (default: start one on loopback)")
    load.add_argument("--allow-remote", action="store_true",
                      help="let --url point off loopback")
    load.add_argument("--json", action="store_true")


def cmd_bench(args: argparse.Namespace) -> int:
    if args.asr:
        from bridge.tools import asr_compare

        measured = asr_compare.run()
        print(json.dumps(measured, indent=1) if args.json else asr_compare.format_report(measured))
        return 0
    if args.ray:
        from bridge.tools import bench_ray

        report = bench_ray.run(args.ray, runs=args.runs)
        print(json.dumps(report, indent=1) if args.json else
              "\n".join(f"{key:48s} {value}" for key, value in report.items()))
        return 0
    from bridge.tools.bench import run_bench

    report = run_bench(runs=args.runs)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        for key, value in report.items():
            print(f"{key:40s} {value}")
    return 0


def cmd_loadtest(args: argparse.Namespace) -> int:
    """Exit 0 only when no frame was late, nothing failed and memory held (< 5 % growth)."""
    from bridge.tools.load_options import LoadOptions, parse_mix
    from bridge.tools.load_report import format_report
    from bridge.tools.loadtest import run

    options = LoadOptions(sessions=args.sessions, seconds=args.seconds, mix=parse_mix(args.mix),
                          buffer=args.buffer, seed=args.seed)
    report = run(options, url=args.url, allow_remote=args.allow_remote)
    print(json.dumps(report, indent=1) if args.json else format_report(report))
    return 0 if report["ok"] else 1
