"""``talkbridge serve``: the server, its flags over the config file, until a signal drains it."""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import signal
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from bridge.cli.args import add_output_flags, config_port, load_config, port_arg

log = logging.getLogger("talkbridge")


def add_serve(sub) -> None:
    """``talkbridge serve``."""
    serve = sub.add_parser("serve", help="run the server (WebSocket + msgpack)")
    serve.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=port_arg, default=None, help="port (default 8765)")
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
    serve.add_argument("--a2f-grpc", metavar="[HOST:]PORT",
                       help="also serve NVIDIA Audio2Face-3D's gRPC API (e.g. 52000; a bare port "
                            "listens on --host), for the ACE Unreal plugin and NVIDIA's clients; "
                            "needs pip install 'talkbridge[a2f]'")
    serve.add_argument("--ray", metavar="ADDRESS",
                       help="synthesize speech, step the network and recognize speech "
                            "(Whisper) on a Ray cluster (its head's host:port, or auto) as Ray "
                            "Serve deployments; [scale] replicas, network_replicas and "
                            "asr_replicas set how many; needs "
                            "pip install 'talkbridge[ray]'")
    add_output_flags(serve)



def _check_port_free(host: str, port: int, flag: str = "--port") -> None:
    """Fail in one line, before models load, if ``host:port`` can't be listened on (port 0
    too: it checks the address, and any free port will do). ``flag`` is the setting to change."""
    import socket

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
            hint = _BIND_HINTS.get(exc.errno, _BIND_HINTS[errno.EADDRINUSE])
            raise SystemExit(f"talkbridge serve: can't listen on {host}:{port} ({exc.strerror}): "
                             f"{hint.format(flag=flag)}") from None


#: What to do when the listening address is refused, by errno.
_BIND_HINTS = {
    errno.EADDRINUSE: "is another server there? Pick another {flag}, or stop it",
    errno.EADDRNOTAVAIL: "it isn't an address of this machine: use one of its own, e.g. "
                         "127.0.0.1, or 0.0.0.0 for all of them",
    errno.EACCES: "ports below 1024 need privileges: pick {flag} 1024 or above",
}


def _check_a2f(spec: str, host: str, port: int) -> None:
    """``--a2f-grpc``: a good address, the ``a2f`` extra installed, a free port; one line
    and before any model loads when not."""
    from bridge.transports import a2f_setup

    try:
        a2f_host, a2f_port = a2f_setup.listen_address(spec, host)
        a2f_setup.require()
    except (ValueError, a2f_setup.A2FUnavailable) as exc:
        raise SystemExit(f"talkbridge serve: {exc}") from None
    if a2f_port and a2f_port == port and a2f_host == host:
        raise SystemExit(f"talkbridge serve: --a2f-grpc and --port both ask for {host}:{port}: "
                         "give the gRPC service a port of its own")
    _check_port_free(a2f_host, a2f_port, "--a2f-grpc port")


#: The config file's tables serve reads ([live] is `talkbridge live`'s, in a shared file).
_TABLES = ("server", "session", "life", "gestures", "outputs", "tts", "dialogue", "vad", "asr",
           "llm", "live", "scale")
#: The keys of [server]; the other tables check their own.
_SERVER_KEYS = ("host", "port", "token", "tokens_file", "tls_cert", "tls_key", "allowed_origins",
                "max_sessions_per_ip", "drain_seconds", "hello_seconds", "log_json", "engine")


def _check_tables(conf: dict) -> None:
    """A misspelt table or key is one line at start, not a setting silently not taken."""
    from bridge.transports.pacing import OutputsConfig

    def refuse(where: str, unknown: list[str], valid: Sequence[str]) -> None:
        raise SystemExit(f"talkbridge serve: unknown {where}: {', '.join(unknown)}; valid: "
                         f"{', '.join(sorted(valid))}")

    tables = sorted(k for k in conf if k not in _TABLES or not isinstance(conf[k], dict))
    if tables:
        refuse("table(s) in the config", [f"[{t}]" for t in tables], [f"[{t}]" for t in _TABLES])
    for table, valid in (("server", _SERVER_KEYS), ("scale", ("max_wait", "ray", "replicas",
                                                                  "network_replicas",
                                                                  "asr_replicas",
                                                                  "network_gpus", "asr_gpus")),
                         ("outputs", tuple(OutputsConfig.__dataclass_fields__))):
        unknown = sorted(set(conf.get(table, {})) - set(valid))
        if unknown:
            refuse(f"key(s) in [{table}]", unknown, valid)


def _check_providers(conf: dict, dialogue: bool) -> None:
    """Exit in one line, before models load, when a remote provider the server can't do
    without is unreachable: the default voice's Riva, and with the dialogue loop its
    OpenAI-compatible model, its Riva recognizer and a PostgreSQL memory."""
    from bridge.llm.memory_pg import is_postgres
    from bridge.ops import reach

    needed: list[reach.Endpoint] = []
    tts = conf.get("tts", {})
    riva_tts = tts.get("riva")
    try:
        if isinstance(riva_tts, dict) and str(tts.get("voice", "")).startswith("riva:"):
            needed.append(reach.from_address("[tts.riva] server",
                                             str(riva_tts.get("server", "localhost:50051"))))
        llm, asr = conf.get("llm", {}), conf.get("asr", {})
        if dialogue and llm.get("provider") == "openai":
            needed.append(reach.from_url("[llm] base_url",
                                         str(llm.get("base_url", "https://api.openai.com/v1"))))
        memory = str(conf.get("dialogue", {}).get("memory", ""))
        if dialogue and is_postgres(memory):
            needed.append(reach.from_url("[dialogue] memory", memory))
        if dialogue and asr.get("provider") == "riva":
            needed.append(reach.from_address("[asr] server",
                                             str(asr.get("server", "localhost:50051"))))
    except ValueError as exc:
        raise SystemExit(f"talkbridge serve: {exc}") from None
    for endpoint in needed:
        why = reach.unreachable(endpoint)
        if why is not None:
            raise SystemExit(f"talkbridge serve: {endpoint.setting} {endpoint.host}:{endpoint.port} "
                             f"is unreachable ({why}): start that server or fix the setting")


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
    from bridge.session.config import SessionConfig

    conf = load_config(args.config)
    _check_tables(conf)
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
    from bridge.transports.pacing import OUTPUT_FLAG_KEYS, OutputsConfig

    out_conf = dict(conf.get("outputs", {}))  # its keys are checked (_check_tables)
    for key in (*OUTPUT_FLAG_KEYS, "a2f_grpc"):
        if getattr(args, key) is not None:
            out_conf[key] = getattr(args, key)
    config = ServerConfig(
        outputs=OutputsConfig(**out_conf),
        host=args.host or server_conf.get("host", "127.0.0.1"),
        port=args.port if args.port is not None else config_port(server_conf.get("port", 8765)),
        **_security_options(args, server_conf),
        session=SessionConfig.from_table(session_conf, token=token, life=_life_config(conf),
                                         gestures=_gesture_config(conf),
                                         max_wait=conf.get("scale", {}).get("max_wait", 1.0)),
        dialogue=replace(dialogue_config(conf), warm_up=True),
        freeze_startup_objects=True,
        engine=str(server_conf.get("engine", "auto")),
    )
    _check_port_free(config.host, config.port)
    if config.outputs.a2f_grpc:
        _check_a2f(config.outputs.a2f_grpc, config.host, config.port)
    _check_providers(conf, dialogue=config.dialogue.enabled)
    from bridge.speech.tts.config import make_registry
    from bridge.transports.a2f_setup import A2FUnavailable
    from bridge.transports.udp_outputs import OutputError

    try:
        registry = make_registry(conf.get("tts"))
        ray_address = args.ray or conf.get("scale", {}).get("ray")
        remote: dict = {}
        if ray_address:
            registry, remote = _on_ray(str(ray_address), conf, registry, config)
        server = Server(config, tts=registry, **remote)
    except (OutputError, ValueError, A2FUnavailable) as exc:
        raise SystemExit(f"talkbridge serve: {exc}") from None
    return asyncio.run(_serve(server))


def _replicas(conf: dict, key: str, least: int = 1) -> int:
    replicas = conf.get("scale", {}).get(key, 1)
    if not isinstance(replicas, int) or isinstance(replicas, bool) \
            or not least <= replicas <= 1024:
        raise SystemExit(f"talkbridge serve: [scale] {key} {replicas!r}: a whole number "
                         f"{least}-1024" + (" (0: in this process)" if least == 0 else ""))
    return replicas


def _gpus(conf: dict, key: str) -> float:
    """``[scale] network_gpus`` / ``asr_gpus``: the share of a GPU each replica asks for."""
    gpus = conf.get("scale", {}).get(key, 0)
    if not isinstance(gpus, (int, float)) or isinstance(gpus, bool) or not 0 <= gpus <= 8:
        raise SystemExit(f"talkbridge serve: [scale] {key} {gpus!r}: a number 0-8, the share "
                         "of a GPU each replica asks for (0: CPUs only)")
    return float(gpus)


def _on_ray(address: str, conf: dict, local, config):
    """Speech synthesis, the network's streaming step (unless ``network_replicas = 0``) and
    (for Whisper) recognition as Ray Serve deployments on the cluster at ``address``: the
    registry to use, and the server's ``network_on`` and ``asr``. One line and a non-zero
    exit when the head is unreachable or Ray is missing, before the port opens."""
    from functools import partial

    from bridge.ops import reach
    from bridge.server import scale, scale_asr, scale_network

    replicas = _replicas(conf, "replicas")
    # 0 keeps the network's step here: a Serve call costs a tick 4-7 ms of routing whatever
    # it carries (docs/scaling.md), which a front with a few streams on a CPU can do without.
    network_replicas = _replicas(conf, "network_replicas", least=0)
    asr_replicas = _replicas(conf, "asr_replicas")
    network_gpus, asr_gpus = _gpus(conf, "network_gpus"), _gpus(conf, "asr_gpus")
    if address != "auto":
        try:
            endpoint = reach.from_address("[scale] ray", address)
        except ValueError as exc:
            raise SystemExit(f"talkbridge serve: {exc}") from None
        why = reach.unreachable(endpoint)
        if why is not None:
            raise SystemExit(f"talkbridge serve: [scale] ray {address} is unreachable ({why}): "
                             "start a head with `ray start --head` or fix the address")
    try:
        scale.connect(address)
        asr_conf = config.dialogue.asr
        hear = config.dialogue.enabled and scale_asr.remote_provider(asr_conf)
        scale.check_gpus("network_gpus", network_gpus, network_replicas)
        scale.check_gpus("asr_gpus", asr_gpus if hear else 0.0, asr_replicas)
        handle = scale.deploy(conf.get("tts"), replicas=replicas)
        remote: dict = {}
        if network_replicas:
            network = scale_network.deploy(config.weights, config.engine, network_replicas,
                                           gpus_per_replica=network_gpus)
            remote["network_on"] = partial(scale_network.remote_engine, network)
        if hear:
            heard = scale_asr.deploy(asr_conf, replicas=asr_replicas, gpus_per_replica=asr_gpus)
            cadence = {k: float(asr_conf[k]) for k in ("partial_interval", "min_partial_audio")
                       if k in (asr_conf or {})}
            remote["asr"] = scale_asr.RemoteASR("whisper", heard, **cadence)
    except scale.RayUnavailable as exc:
        raise SystemExit(f"talkbridge serve: {exc}") from None
    log.info("speech synthesis (%d replicas), the network's step (%s)%s on the Ray cluster at "
             "%s", replicas, network_replicas or "no: in this process",
             " and recognition" if "asr" in remote else "", address)
    return scale.remote_registry(local, handle), remote


def _gesture_config(conf: dict):
    """The ``[gestures]`` table: nods, shakes, tilts, brow raises, shrugs (and their strength)."""
    from blendshape.layers.gestures import GestureConfig, GestureConfigError

    try:
        return GestureConfig.from_dict(conf.get("gestures", {}))
    except GestureConfigError as exc:
        raise SystemExit(f"talkbridge serve: {exc}") from None


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
    from bridge.transports.a2f_setup import A2FBindError

    try:
        await server.start()
    except A2FBindError as exc:  # the gRPC port, taken since the check
        await server.stop()
        raise SystemExit(f"talkbridge serve: {exc}") from None
    except OSError as exc:  # lost a race for the port since the check, or a bad address
        await server.stop()
        raise SystemExit(f"talkbridge serve: can't listen on {server.config.host}:"
                         f"{server.config.port} ({exc.strerror or exc})") from None
    where = f"{server.config.host}:{server.port}"
    http_scheme = "https" if server.scheme == "wss" else "http"
    print(f"talkbridge serving {server.scheme}://{where}/v1/stream "
          f"(health: {http_scheme}://{where}/healthz)", flush=True)
    if server.a2f is not None:
        scheme = "https" if server.a2f.secure else "http"
        print(f"talkbridge serving Audio2Face-3D gRPC at {scheme}://{server.a2f.host}:"
              f"{server.a2f.port} (A2FControllerService/ProcessAudioStream)", flush=True)
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
