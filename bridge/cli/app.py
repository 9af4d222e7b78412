"""talkbridge: a voice and a talking face for game characters. `talkbridge COMMAND --help`
says more; the README has a five-minute tour."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from blendshape.animator import ANIMATORS
from bridge.protocol.errors import TalkbridgeError

log = logging.getLogger("talkbridge")


def _port(text: str) -> int:
    """A TCP port, checked before anything loads: ``bind()`` would raise an OverflowError."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value}: a port is 0-65535 (0 picks a free one)")
    return value


def _check_port_free(host: str, port: int) -> None:
    """Fail in one line, before models load, if ``host:port`` can't be listened on."""
    import socket

    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise SystemExit(f"talkbridge serve: can't resolve host {host!r} ({exc.strerror}): "
                         "use an address of this machine, e.g. 127.0.0.1") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise SystemExit(f"talkbridge serve: can't listen on {host}:{port} ({exc.strerror}): "
                             "is another server there? Pick another --port, or stop it") from None


def _positive_fps(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 240:
        raise argparse.ArgumentTypeError("fps must be between 1 and 240")
    return value


def _emotion(text: str | None) -> str | dict[str, float] | None:
    """``happy`` or ``happy=0.7,surprised=0.3``."""
    if not text or "=" not in text:
        return text
    mix = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        mix[name.strip()] = float(weight)
    return mix


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="talkbridge", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server (WebSocket + msgpack)")
    serve.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=None, help="port (default 8765)")
    serve.add_argument("--config", type=Path, help="TOML config file")
    serve.add_argument("--token", help="require this token (in hello, or the handshake's "
                       "Authorization: Bearer / ?token=)")
    serve.add_argument("--tokens-file", type=Path,
                       help="accept any token in this file (one per line, # comments)")
    serve.add_argument("--tls-cert", type=Path, help="PEM certificate: serve wss:// and https://")
    serve.add_argument("--tls-key", type=Path, help="PEM private key (default: in --tls-cert)")
    serve.add_argument("--allow-origin", action="append", metavar="URL",
                       help="a browser origin that may connect, e.g. https://game.example "
                            "(repeatable; * for any; default: this server's own pages)")
    serve.add_argument("--max-sessions-per-ip", type=int, default=None,
                       help="open sessions per client address (default 8; 0: no limit)")
    serve.add_argument("--drain-seconds", type=float, default=None,
                       help="on SIGTERM, let utterances finish this long (default 5)")
    serve.add_argument("--hello-seconds", type=float, default=None,
                       help="close a connection that sends no hello by then (default 10; 0: wait)")
    serve.add_argument("--log-json", action="store_true", help="log JSON lines")
    serve.add_argument("--livelink", metavar="HOST:PORT",
                       help="also send Live Link Face UDP to Unreal (default port 11111)")
    serve.add_argument("--subject", help="Live Link subject name (default TalkBridge)")
    serve.add_argument("--vmc", metavar="HOST:PORT", help="also send VMC (default port 39539)")
    serve.add_argument("--vmc-mode", help="perfectsync (ARKit names) or vrm0 (A I U E O …)")
    serve.add_argument("--vrchat", metavar="HOST:PORT",
                       help="also send VRChat avatar parameters (default port 9000)")
    serve.add_argument("--vrchat-map", help="retarget map name or .json (default arkit-vrcft-v2)")
    serve.add_argument("--osc", metavar="HOST:PORT", help="also send plain OSC /talkbridge/<channel>")

    say = sub.add_parser("say", help="speak a text to files: .wav, .json, .csv, .a2f.json, .gltf, .glb")
    say.add_argument("text")
    say.add_argument("--voice", help="voice id (see `talkbridge voices`)")
    say.add_argument("--lang", help="language, e.g. en, de, cmn; picks a voice")
    say.add_argument("--fps", type=_positive_fps, default=60)
    say.add_argument("--emotion", help="e.g. happy, or happy=0.6,surprised=0.4")
    say.add_argument("--seed", type=int, default=0, help="seed of blinks and gaze")
    say.add_argument("--animator", choices=ANIMATORS, default="auto",
                     help="auto: the voice's exact phoneme timings (the network's teacher), the "
                          "network for a voice without them; network: the network hears the "
                          "audio; procedural: timings only")
    say.add_argument("--weights", type=Path, help="network weights (default: the shipped ones)")
    say.add_argument("-o", "--output", action="append", required=True, type=Path,
                     help="output file; repeat for several (.wav, .json, .csv, .a2f.json, .gltf, .glb)")

    animate = sub.add_parser("animate", help="any speech audio → face curves files (the network)")
    animate.add_argument("audio", type=Path, help="wav, flac, ogg or mp3")
    animate.add_argument("--fps", type=_positive_fps, default=60)
    animate.add_argument("--seed", type=int, default=0, help="seed of blinks and gaze")
    animate.add_argument("--quality", choices=("realtime", "offline"), default="offline",
                         help="offline (default): the model that hears the whole file through "
                              "Whisper's encoder, the best curves, most of all in noise; "
                              "realtime: the streaming network, as live audio gets it")
    animate.add_argument("--weights", type=Path, help="network checkpoint (default: the shipped "
                         "one of that quality)")
    animate.add_argument("-o", "--output", action="append", required=True, type=Path,
                         help="output file; repeat for several (.json, .csv, .a2f.json, .gltf, .glb)")

    evaluate = sub.add_parser("eval", help="measure the network on flite voices it never heard")
    evaluate.add_argument("--quality", choices=("realtime", "offline"), default="realtime")
    evaluate.add_argument("--weights", type=Path)
    evaluate.add_argument("--json", action="store_true",
                          help="metrics as JSON, by condition → animator → metric")
    evaluate.add_argument("--degrade", type=_degradations, default=(), metavar="NAMES",
                          help="also measure on degraded audio, comma-separated: noise10 (pink "
                               "noise at 10 dB SNR), phone8k (telephone band, μ-law); clean is "
                               "always measured")
    evaluate.add_argument("--voices", type=_flite_voices, default=None, metavar="NAMES",
                          help="flite voices, comma-separated (default kal,awb,rms,slt)")
    evaluate.add_argument("--sentences", type=_sentences, default=None,
                          help="only the first N of the 8 sentences")
    evaluate.add_argument("--against", type=Path, action="append", default=[], metavar="WEIGHTS",
                          help="other weights to measure in the same run, each a row named "
                               "by its file (e.g. a candidate beside the shipped weights)")

    chat = sub.add_parser("chat", help="a conversation in the terminal (speaks when there "
                          "are speakers)")
    chat.add_argument("--config", type=Path, help="TOML config file ([dialogue], [asr], [llm])")
    chat.add_argument("--voice", help="voice id of the replies (see `talkbridge voices`)")
    chat.add_argument("--user", default="terminal", help="whose memory to use")
    chat.add_argument("--memory", help="SQLite file of the conversation memory "
                      "(default ~/.local/share/talkbridge/memory.sqlite3; :memory: forgets)")
    chat.add_argument("--no-audio", action="store_true", help="text only")

    voices = sub.add_parser("voices", help="list the voices of each TTS provider")
    voices.add_argument("--json", action="store_true")

    train = sub.add_parser("train", help="build the corpus from the embedded voices and train the network")
    train.add_argument("--minutes", type=float, default=None,
                       help="minutes of speech to synthesize (default 180; offline 105)")
    train.add_argument("--steps", type=int, default=None, help="default 12000; offline 3000")
    train.add_argument("--batch", type=int, default=16)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--variants", type=int, default=None,
                       help="augmented copies of each clip (default 2)")
    train.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    train.add_argument("--warp", type=float, default=0.0,
                       help="warp each crop's spectrum by a random vocal-tract length within "
                            "±this (0.1: ±10 %%; 0: off)")
    train.add_argument("--viseme-weight", type=float, default=0.3,
                       help="share of the viseme cross-entropy in the loss")
    train.add_argument("--lookahead", type=_lookahead, default=None,
                       help="realtime model: frames of 10 ms it hears past the face it "
                            "animates, 0-8 (default 4: 40 ms)")
    train.add_argument("--hidden", type=_hidden, default=None,
                       help="width of the convolutions and GRU (default 192; offline: the "
                            "GRU's, 128): "
                            "wider fits better and runs slower, ~(width/192)² a stream")
    train.add_argument("--stack", type=_stack, default=None,
                       help="realtime model: 10 ms frames it hears and says per step (default "
                            "1; 2 runs the GRU at 50 steps a second: ~2× faster to train, "
                            "1.2-1.8× to run, worse on unseen voices, see the model card)")
    train.add_argument("--quality", choices=("realtime", "offline"), default="realtime",
                       help="realtime: the streaming model (40 ms look-ahead); offline: the "
                            "whole-file model on Whisper's encoder")
    train.add_argument("--workdir", type=Path, default=Path("talkbridge-train"),
                       help="where the corpus and resumable checkpoints go (default ./talkbridge-train)")
    train.add_argument("--resume", action="store_true", help="go on from the workdir's checkpoint")
    train.add_argument("--out", type=Path, default=None,
                       help="weights path (default: the shipped file of that quality)")
    train.add_argument("--init", type=Path, default=None,
                       help="fine-tune: start from these weights (their shape and input "
                            "normalization) instead of random ones")
    train.add_argument("--lr", type=float, default=2e-3,
                       help="peak learning rate of the cosine schedule (default 2e-3; a "
                            "fine-tune wants less, e.g. 5e-4)")

    bench = sub.add_parser("bench", help="performance benchmark")
    bench.add_argument("--json", action="store_true")
    bench.add_argument("--runs", type=int, default=10)
    _add_live_parser(sub)
    _add_loadtest_parser(sub)
    return parser


def _add_loadtest_parser(sub) -> None:
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


def _add_live_parser(sub) -> None:
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
    live.add_argument("--fps", type=_positive_fps, default=None, help="output frame rate (default 60)")
    live.add_argument("--emotion", help="e.g. happy, or happy=0.6,surprised=0.4")
    live.add_argument("--seed", type=int, default=None, help="seed of blinks and gaze")
    live.add_argument("--delay", type=float, default=None,
                      help="seconds from capture to output (default: the pipeline's latency)")
    live.add_argument("--config", type=Path, help="TOML config: [live], [life] and [outputs] tables")
    live.add_argument("--weights", type=Path, help="network checkpoint (default: the shipped one)")
    live.add_argument("--livelink", metavar="HOST:PORT", help="Live Link Face UDP (default port 11111)")
    live.add_argument("--subject", help="Live Link subject name (default TalkBridge)")
    live.add_argument("--vmc", metavar="HOST:PORT", help="VMC (default port 39539)")
    live.add_argument("--vmc-mode", help="perfectsync (ARKit names) or vrm0 (A I U E O …)")
    live.add_argument("--vrchat", metavar="HOST:PORT", help="VRChat avatar parameters (default port 9000)")
    live.add_argument("--vrchat-map", help="retarget map name or .json (default arkit-vrcft-v2)")
    live.add_argument("--osc", metavar="HOST:PORT", help="plain OSC /talkbridge/<channel>")


def cmd_say(args: argparse.Namespace) -> int:
    from blendshape.export import files as export
    from bridge.cli.render import render, write_wav
    from bridge.server.host import default_registry

    outputs: list[Path] = args.output
    for path in outputs:
        if path.suffix.lower() == ".wav":
            continue
        try:
            export.curves_format(path)
        except ValueError:
            supported = ", ".join((".wav",) + tuple(export.SUPPORTED_EXTENSIONS))
            raise SystemExit(f"talkbridge say: cannot write {path}: use one of {supported}") from None
    result = render(default_registry(), args.text, voice=args.voice, lang=args.lang,
                    fps=args.fps, emotion=_emotion(args.emotion), seed=args.seed,
                    animator=args.animator, network=_lazy_network(args.weights))
    # A2F-style JSON names its sound track; point it at the .wav written beside it, if any.
    wav = next((p for p in outputs if p.suffix.lower() == ".wav"), None)
    for path in outputs:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() == ".wav":
            write_wav(str(path), result.pcm, result.rate)
        else:
            export.write_curves(path, result.frames, result.fps, duration=result.duration,
                                track_path=str(wav.resolve()) if wav else "")
        print(f"wrote {path}")
    print(f"{result.duration:.2f} s of speech, {len(result.frames)} frames at {result.fps} fps, "
          f"voice {result.voice}")
    return 0


def _lazy_network(weights: Path | None):
    """``say``'s network, loaded at the first sentence that needs it: the offline quality
    model, since a file's sentences arrive whole (the realtime one where the ear is missing).
    Missing or corrupt weights: one warning, then None for every sentence (the timings
    animate them)."""
    loaded: list = []

    def animate(pcm, rate: int, fps: int):
        if not loaded:
            try:
                import torch

                from blendshape.net.stream import load_for_files

                loaded.append(load_for_files("offline", weights, torch.device("cpu")))
            except Exception as exc:  # noqa: BLE001 - any unloadable weights: the teacher speaks
                log.warning("no network (%s): the procedural animator animates this speech", exc)
                loaded.append(None)
        if loaded[0] is None:
            return None
        from blendshape.net.stream import animate_clip

        return animate_clip(loaded[0], pcm, rate, fps)
    return animate


def _read_audio(path: Path):
    """Mono float audio and its rate from wav, flac, ogg or mp3 (libsndfile, from the
    soundfile wheel); a file that isn't audio, or holds none, is a one-line ValueError."""
    import numpy as np
    import soundfile

    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except soundfile.LibsndfileError as exc:
        reason = str(exc).split(": ", 1)[-1].strip().rstrip(".")
        raise ValueError(f"{path}: not audio that can be read ({reason}): give a wav, flac, "
                         "ogg or mp3 file") from None
    if len(data) == 0:
        raise ValueError(f"{path}: holds no audio (0 samples)")
    return np.asarray(data.mean(axis=1), np.float32), rate


def cmd_animate(args: argparse.Namespace) -> int:
    from blendshape import procedural
    from blendshape.export import files as export
    from blendshape.layers.life import LifeLayer
    from blendshape.net.stream import animate_clip, load_for_files

    for path in args.output:
        export.curves_format(path)  # refuses an unknown extension before any work
    audio, rate = _read_audio(args.audio)
    frames = animate_clip(load_for_files(args.quality, args.weights), audio, rate, args.fps)
    times = np.arange(len(frames)) / args.fps
    LifeLayer(seed=args.seed).apply(frames, times, loudness=procedural.loudness(audio, rate, times))
    for path in args.output:
        path.parent.mkdir(parents=True, exist_ok=True)
        export.write_curves(path, frames, args.fps, duration=len(audio) / rate,
                            track_path=str(args.audio.resolve()))
        print(f"wrote {path}")
    print(f"{len(audio) / rate:.2f} s of audio, {len(frames)} frames at {args.fps} fps")
    return 0


def _degradations(text: str) -> tuple[str, ...]:
    """``noise10,phone8k`` → names; an unknown one is a usage error naming the valid ones."""
    from blendshape.train.degrade import UnknownDegradation, parse_names

    try:
        return parse_names(text)
    except UnknownDegradation as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _flite_voices(text: str) -> tuple[str, ...]:
    from bridge.tools.evaluation import FLITE_VOICES

    voices = tuple(v.strip() for v in text.split(",") if v.strip())
    unknown = [v for v in voices if v not in FLITE_VOICES]
    if unknown or not voices:
        raise argparse.ArgumentTypeError(f"{','.join(unknown) or text!r}: choose from "
                                         f"{', '.join(FLITE_VOICES)} (comma-separated)")
    return voices


def _sentences(text: str) -> int:
    from bridge.tools.evaluation import EVAL_TEXTS

    count = int(text)
    if not 1 <= count <= len(EVAL_TEXTS):
        raise argparse.ArgumentTypeError(f"{count}: 1-{len(EVAL_TEXTS)} sentences")
    return count


def cmd_eval(args: argparse.Namespace) -> int:
    from blendshape.net.stream import load_for_files
    from bridge.tools.evaluation import (
        CLEAN,
        EVAL_TEXTS,
        FLITE_VOICES,
        evaluate_conditions,
        format_table,
    )

    against = {f"network:{path.stem}": load_for_files(args.quality, path) for path in args.against}
    report = evaluate_conditions(load_for_files(args.quality, args.weights),
                                 (CLEAN, *args.degrade), voices=args.voices or FLITE_VOICES,
                                 texts=EVAL_TEXTS[:args.sentences], against=against)
    print(json.dumps(report.metrics, indent=1) if args.json else format_table(report.metrics))
    cost = ", ".join(f"{name} {s:.3f}" for name, s in report.seconds_per_clip.items())
    print(f"seconds a clip ({report.audio_seconds_per_clip:.2f} s of audio on average, per "
          f"condition): {cost}", file=sys.stderr)
    return 0


def cmd_voices(args: argparse.Namespace) -> int:
    from bridge.server.host import default_registry

    registry = default_registry()
    voices = registry.voices()
    if args.json:
        print(json.dumps([{"id": v.id, "provider": v.provider, "name": v.name, "lang": v.lang,
                           "aliases": list(v.aliases)} for v in voices], indent=1))
        return 0
    for provider in sorted({v.provider for v in voices}, key=lambda p: p != "piper"):
        mine = [v for v in voices if v.provider == provider]
        print(f"{provider} ({len(mine)} voices)")
        for v in mine:
            default = "  (default)" if v.id == registry.default_voice else ""
            alias = f"  aliases: {', '.join(v.aliases)}" if v.aliases else ""
            print(f"  {v.id:32s} {v.lang:10s}{alias}{default}")
    return 0


def _load_config(path: Path | None) -> dict:
    if path is None:
        return {}
    import tomllib

    with open(path, "rb") as fh:
        return tomllib.load(fh)


def _security_options(args: argparse.Namespace, server_conf: dict) -> dict:
    """ServerConfig fields for TLS, origins, limits and drain: flags over ``[server]`` keys.
    Paths in the config file are relative to it."""
    def path(flag: Path | None, key: str) -> str | None:
        if flag is not None:
            return str(flag)
        value = server_conf.get(key)
        return None if value is None else str((args.config.parent if args.config else Path()) / value)

    options = {"tls_cert": path(args.tls_cert, "tls_cert"), "tls_key": path(args.tls_key, "tls_key"),
               "allowed_origins": tuple(args.allow_origin or server_conf.get("allowed_origins", ()))}
    for key in ("max_sessions_per_ip", "drain_seconds", "hello_seconds"):
        value = getattr(args, key)
        if value is not None or key in server_conf:
            options[key] = value if value is not None else server_conf[key]
    return options


def cmd_serve(args: argparse.Namespace) -> int:
    from bridge.ops import logs, security
    from bridge.server.host import Server, ServerConfig
    from bridge.session.session import SessionConfig

    conf = _load_config(args.config)
    server_conf = conf.get("server", {})
    session_conf = conf.get("session", {})
    tokens_file = args.tokens_file or server_conf.get("tokens_file")
    if args.tokens_file is None and tokens_file is not None and args.config is not None:
        tokens_file = args.config.parent / tokens_file
    try:
        token = security.collect_tokens(args.token or server_conf.get("token"), tokens_file)
    except ValueError as exc:
        raise SystemExit(f"talkbridge serve: {exc}") from None
    logs.install(logging.DEBUG if args.verbose else logging.INFO,
                 json_lines=args.log_json or bool(server_conf.get("log_json")), secrets=token or ())
    from bridge.transports.pacing import OutputsConfig

    out_conf = {k: v for k, v in conf.get("outputs", {}).items()
                if k in OutputsConfig.__dataclass_fields__}
    for key in ("livelink", "subject", "vmc", "vmc_mode", "vrchat", "vrchat_map", "osc"):
        if getattr(args, key) is not None:
            out_conf[key] = getattr(args, key)
    config = ServerConfig(
        outputs=OutputsConfig(**out_conf),
        host=args.host or server_conf.get("host", "127.0.0.1"),
        port=args.port if args.port is not None else _config_port(server_conf.get("port", 8765)),
        **_security_options(args, server_conf),
        session=SessionConfig(token=token, life=_life_config(conf),
                              **{k: v for k, v in session_conf.items()
                                 if k in SessionConfig.__dataclass_fields__
                                 and k not in ("token", "life")}),
        dialogue=replace(dialogue_config(conf), warm_up=True),
        freeze_startup_objects=True,
        engine=str(server_conf.get("engine", "torch")),
    )
    _check_port_free(config.host, config.port)
    from bridge.speech.tts.config import make_registry
    from bridge.transports.udp_outputs import OutputError

    try:
        server = Server(config, tts=make_registry(conf.get("tts")))
    except (OutputError, ValueError) as exc:
        raise SystemExit(f"talkbridge serve: {exc}") from None
    return asyncio.run(_serve(server))


def _config_port(value: object) -> int:
    try:
        return _port(str(value))
    except argparse.ArgumentTypeError as exc:
        raise SystemExit(f"talkbridge serve: [server] port {exc}") from None


def _life_config(conf: dict):
    """The ``[life]`` table: blinks, gaze, head motion, breathing (each can be turned off)."""
    from blendshape.layers.life import LifeConfig, LifeConfigError

    try:
        return LifeConfig.from_dict(conf.get("life", {}))
    except LifeConfigError as exc:
        raise SystemExit(f"talkbridge: [life] {exc}") from None


async def _serve(server) -> int:
    """Serve until SIGTERM/SIGINT, then drain (a second signal cuts the drain short)."""
    signals = [asyncio.Event(), asyncio.Event()]  # the first signal, a second one
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: (signals[1] if signals[0].is_set() else signals[0]).set())
    try:
        await server.start()
    except OSError as exc:  # lost a race for the port since the check, or a bad address
        await server.stop()
        raise SystemExit(f"talkbridge serve: can't listen on {server.config.host}:"
                         f"{server.config.port} ({exc.strerror or exc})") from None
    where = f"{server.config.host}:{server.port}"
    http_scheme = "https" if server.scheme == "wss" else "http"
    print(f"talkbridge serving {server.scheme}://{where}/v1/stream "
          f"(health: {http_scheme}://{where}/healthz)", flush=True)
    await signals[0].wait()
    log.info("shutting down: draining for up to %.1f s", server.config.drain_seconds)
    await server.stop(drain=server.config.drain_seconds, hurry=signals[1])
    log.info("stopped")
    return 0


def dialogue_config(conf: dict, memory: str | None = None):
    """The dialogue tables of a config file; a persistent memory unless told otherwise."""
    from bridge.dialogue.config import DialogueConfig, DialogueConfigError, default_memory_path

    try:
        config = DialogueConfig.from_tables(conf)
    except DialogueConfigError as exc:
        raise SystemExit(f"talkbridge: {exc}") from None
    if memory is not None:
        return replace(config, memory=memory)
    if "memory" not in conf.get("dialogue", {}):
        return replace(config, memory=str(default_memory_path()))
    return config


def cmd_chat(args: argparse.Namespace) -> int:
    from bridge.cli.chat import run_chat
    from bridge.speech.tts.config import make_registry

    conf = _load_config(args.config)
    config = dialogue_config(conf, args.memory)
    return asyncio.run(run_chat(make_registry(conf.get("tts")), config, args.user, args.voice,
                                audio=not args.no_audio))


def cmd_live(args: argparse.Namespace) -> int:
    from bridge.live import pipeline as live

    return live.main(args, _load_config(args.config), _read_audio, _emotion(args.emotion))


def cmd_bench(args: argparse.Namespace) -> int:
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
    from bridge.tools.loadtest import LoadOptions, format_report, parse_mix, run

    options = LoadOptions(sessions=args.sessions, seconds=args.seconds, mix=parse_mix(args.mix),
                          buffer=args.buffer, seed=args.seed)
    report = run(options, url=args.url, allow_remote=args.allow_remote)
    print(json.dumps(report, indent=1) if args.json else format_report(report))
    return 0 if report["ok"] else 1


def cmd_train(args: argparse.Namespace) -> int:
    import hashlib
    import time

    import torch

    from blendshape.net.ear_model import EarConfig
    from blendshape.net.model import ModelConfig
    from blendshape.train.corpus import load_shard, save_shard
    from blendshape.train.train import TrainConfig, train
    from blendshape.weights import DEFAULT_CHECKPOINT, OFFLINE_CHECKPOINT
    from bridge.ops.progress import ProgressBar
    from bridge.tools.training import OFFLINE_SHARES, SHARES, build_corpus, training_registry

    started = time.time()
    offline = args.quality == "offline"
    if offline and (args.lookahead or (args.stack or 1) > 1 or args.warp):  # before the corpus
        raise SystemExit("talkbridge train: --lookahead, --stack and --warp are for the realtime "
                         "model; the offline model hears the whole file through Whisper")
    init_config = _init_config(args.init, offline) if args.init is not None else None
    work: Path = args.workdir
    args.minutes = args.minutes if args.minutes is not None else (105.0 if offline else 180.0)
    args.steps = args.steps if args.steps is not None else (3000 if offline else 12000)
    corpus, state = work / f"corpus-{args.minutes:g}min-seed{args.seed}.npz", work / f"{args.quality}.ckpt"
    if state.exists() and not args.resume:
        print(f"talkbridge train: {state} holds an earlier run's checkpoint: add --resume to go "
              "on from it, or delete it to start over", file=sys.stderr)
        return 2
    if corpus.exists():  # the same clips a resumed run started with (Piper's draws differ)
        clips = load_shard(str(corpus))
        print(f"corpus: {len(clips)} clips from {corpus}")
    else:
        clips = build_corpus(training_registry(), args.minutes, seed=args.seed,
                             progress=ProgressBar("corpus (min)"),
                             shares=OFFLINE_SHARES if offline else SHARES)
        work.mkdir(parents=True, exist_ok=True)
        save_shard(str(corpus), clips)
    variants = args.variants if args.variants is not None else 2
    config = TrainConfig(steps=args.steps, batch=args.batch, seed=args.seed, threads=args.threads,
                         variants=variants, warp=args.warp, viseme_weight=args.viseme_weight,
                         lr=args.lr, init=str(args.init) if args.init else "",
                         augment="noisy" if offline else "light")
    shape = {k: v for k, v in (("lookahead", args.lookahead), ("hidden", args.hidden),
                               ("stack", args.stack)) if v is not None}
    if offline:  # the ear model has a width; look-ahead and stacking are the realtime model's
        shape = {k: v for k, v in shape.items() if k == "hidden"}
    model_config = EarConfig(**shape) if offline else replace(ModelConfig(), **shape)
    if init_config is not None:  # the init's shape; shape options that differ are refused
        model_config = replace(init_config, **shape)
    model = train(clips, config, model_config, checkpoint=state,
                  resume=args.resume, progress=_loss_bar(ProgressBar("train")))
    out = args.out or (OFFLINE_CHECKPOINT if offline else DEFAULT_CHECKPOINT)
    out.parent.mkdir(parents=True, exist_ok=True)
    checkpoint = model.checkpoint()
    checkpoint["training"] = {
        "minutes": round(sum(c.duration for c in clips) / 60, 2), "clips": len(clips),
        "voices": sorted({c.voice for c in clips}), "steps": config.steps, "batch": config.batch,
        "variants": config.variants, "dropout": getattr(model.config, "dropout", 0.0), "warp": config.warp,
        "viseme_weight": config.viseme_weight, "lr": config.lr, "init": config.init,
        "augment": config.augment,
        "seed": config.seed, "quality": args.quality, "seconds": round(time.time() - started),
        "torch": torch.__version__,
    }
    torch.save(checkpoint, out)
    state.unlink(missing_ok=True)  # finished: the next run starts fresh (the corpus stays)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, {model.param_count()} parameters, "
          f"sha256 {digest}) in {time.time() - started:.0f} s")
    return 0


def _init_config(path: Path, offline: bool):
    """The model shape of the weights ``--init`` names, or a one-line exit (also when they
    are the other quality's: the run would write them over the wrong shipped file)."""
    import torch

    from blendshape.net.ear_model import EarConfig, model_from_checkpoint

    try:
        config = model_from_checkpoint(torch.load(path, map_location="cpu",
                                                  weights_only=False)).config
    except Exception as exc:  # noqa: BLE001 - missing, truncated, not weights
        raise SystemExit(f"talkbridge train: --init {path}: not network weights ({exc!r:.80})")
    if isinstance(config, EarConfig) != offline:
        theirs = "offline" if isinstance(config, EarConfig) else "realtime"
        raise SystemExit(f"talkbridge train: --init {path} holds the {theirs} model's weights: "
                         f"fine-tune them with --quality {theirs}")
    return config


def _hidden(text: str) -> int:
    width = int(text)
    if not 8 <= width <= 1024:
        raise argparse.ArgumentTypeError(f"{width}: the width is 8-1024 (the shipped model's is 192)")
    return width


def _stack(text: str) -> int:
    """A step of more than 4 frames would hold a frame back longer than the look-ahead."""
    frames = int(text)
    if not 1 <= frames <= 4:
        raise argparse.ArgumentTypeError(f"{frames}: 1-4 frames of 10 ms a step")
    return frames


def _lookahead(text: str) -> int:
    """At most 80 ms (DESIGN §5): a live face already lags its voice by the look-ahead."""
    frames = int(text)
    if not 0 <= frames <= 8:
        raise argparse.ArgumentTypeError(f"{frames} frames: the look-ahead is 0-8 frames of 10 ms")
    return frames


def _loss_bar(bar):
    """Training's (step, steps, loss) → the progress bar, with a smoothed loss as its note."""
    smoothed: float | None = None

    def report(done: int, total: int, loss: float) -> None:
        nonlocal smoothed
        smoothed = loss if smoothed is None else 0.98 * smoothed + 0.02 * loss
        bar(done, total, f"loss {smoothed:.4f}")
    return report


COMMANDS = {"animate": cmd_animate, "eval": cmd_eval, "train": cmd_train, "say": cmd_say,
            "voices": cmd_voices, "serve": cmd_serve, "bench": cmd_bench, "chat": cmd_chat,
            "live": cmd_live, "loadtest": cmd_loadtest}


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
        return COMMANDS[args.command](args)
    except BrokenPipeError:
        # Python would flush stdout again at exit and print a second traceback: point the
        # descriptor at /dev/null first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE
    except (TalkbridgeError, LookupError, ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"talkbridge {args.command}: {exc}", file=sys.stderr)
        return 2

