"""The process that hosts many sessions: providers loaded once, one WebSocket port (and,
with ``[outputs] a2f_grpc``, Audio2Face-3D's gRPC service on the same network).

Providers (TTS models) are shared by all sessions and loaded before the port opens, so the
first ``say`` costs no model load. Shutdown stops accepting, lets the utterances in flight
finish for up to a drain deadline, interrupts the rest (``utterance end interrupted``) and
closes every connection with 1001 (going away).

Policy (tokens, TLS, browser origins, sessions per address) lives in :mod:`.security`;
the transport asks this object's ``tokens``, ``origins`` and ``addresses``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING

from websockets.asyncio.server import Server as WsServer
from websockets.asyncio.server import serve

from bridge.dialogue.config import DialogueConfig
from bridge.dialogue.runner import Dialogue
from bridge.dialogue.services import DialogueServices
from bridge.ops import gcpause, memtrim, metrics, security, workers
from bridge.protocol import errors as err
from bridge.protocol import messages as m
from bridge.protocol.codec import MAX_MESSAGE_BYTES
from bridge.session.config import SERVER_NAME, Send, SessionConfig
from bridge.session.session import Session
from bridge.speech.tts.base import TTSError
from bridge.speech.tts.registry import TTSRegistry
from bridge.transports import http_routes, websocket
from bridge.transports.pacing import OutputPump, OutputsConfig

if TYPE_CHECKING:
    from blendshape.net.engine import Engine

log = logging.getLogger(__name__)


def default_registry() -> TTSRegistry:
    """The embedded voices: Piper (default), espeak-ng, and Kokoro's where installed."""
    from bridge.speech.tts.config import make_registry

    return make_registry()


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8765
    max_message_bytes: int = MAX_MESSAGE_BYTES
    send_buffer_bytes: int = 128 * 1024  # kernel send buffer per connection (~1.3 s of 48 kHz PCM)
    session: SessionConfig = field(default_factory=SessionConfig)
    outputs: OutputsConfig = field(default_factory=OutputsConfig)
    warm_up: bool = True
    weights: str | None = None       # network checkpoint; None: the shipped one
    device: str | None = None        # torch device; None: CUDA when present, else CPU
    # The batch's engine: "auto" (default: a CPU runs every batch in ONNX Runtime's 8-bit
    # graph, a GPU in PyTorch), "int8", "onnxruntime" (the float graph: batches of up to 8,
    # PyTorch above) or "torch". Soaked on 2 cores, side by side with "torch" (2026-12-08):
    # 100 audio_in sessions for 60 s, twice each, 0.2-0.4 % of frames late against 1.4-22 %,
    # first curves p50 127 ms against 196-316; 60 say/audio_in/chat sessions for 120 s, no
    # frame late in either, first audio p50 439 against 430 ms, first curves 65 against 85.
    engine: str = "auto"
    tls_cert: str | None = None      # PEM certificate (chain): serve wss:// and https://
    tls_key: str | None = None       # PEM key; None: it is in tls_cert
    allowed_origins: tuple[str, ...] = ()  # browser pages that may open a stream ("*": any)
    max_sessions_per_ip: int = 8     # 0: no limit
    drain_seconds: float = 5.0       # on shutdown, how long utterances in flight may finish
    hello_seconds: float = 10.0      # a connection that sends no hello by then is closed (0: wait)
    fixed_mmap_threshold: bool = True  # big native buffers mmapped and freed: flat RSS (glibc)
    freeze_startup_objects: bool = False  # gc.freeze() at start (serve sets it): shorter full collections
    dialogue: DialogueConfig = field(default_factory=DialogueConfig)  # mic/chat; enabled=False refuses


class Server:
    """Owns the listening socket, the shared providers and the live sessions."""

    version = SERVER_NAME

    def __init__(self, config: ServerConfig | None = None, tts: TTSRegistry | None = None,
                 network_on: Callable[[Engine], Engine] | None = None,
                 asr: object | None = None) -> None:
        """``network_on`` moves the loaded network's streaming step elsewhere (a Ray Serve
        deployment, :func:`bridge.server.scale_network.remote_engine`); ``asr`` is a
        recognizer for the dialogue instead of its ``[asr]`` table's (one on the cluster,
        :class:`bridge.server.scale_asr.RemoteASR`); None: in-process."""
        self.config = config or ServerConfig()
        self._network_on = network_on
        self.ssl = self._tls()  # a bad certificate fails here, before any model loads
        self.tokens = self.config.session.token
        self.origins = security.OriginPolicy(tuple(self.config.allowed_origins))
        self.addresses = security.AddressLimiter(self.config.max_sessions_per_ip)
        self.metrics = metrics.REGISTRY
        self._dropped_closed = 0  # curve messages dropped by sessions already gone
        self._gc = gcpause.PauseWatch()
        self.tts = tts or default_registry()
        # Speech synthesis and recognition: playing utterances' sentences before new ones,
        # and all of it below the event loop and the network, whose frames are due sooner.
        # One worker is always free of first sentences: a playing utterance's next sentence
        # never waits behind new ones that are already running.
        threads = max(2, os.cpu_count() or 2)
        self.executor = workers.PriorityExecutor(threads, "tts", nice=10, start_limit=threads - 1)
        self._sessions: dict[str, Session] = {}
        self._ws: WsServer | None = None
        self._session_number = 0
        self.network = self._load_network()
        self.a2f = None  # the Audio2Face-3D gRPC service, once started
        self._a2f_address = self._a2f_setup()
        self.dialogue = DialogueServices(self.config.dialogue, self.executor, asr=asr) \
            if self.config.dialogue.enabled else None
        if self.config.outputs.enabled:
            for target in self.config.outputs.build(1):  # fail at start on a bad setting
                target.sender.close()

    def _a2f_setup(self) -> tuple[str, int] | None:
        """Where the Audio2Face-3D service will listen; a bad setting fails here, at start."""
        spec = self.config.outputs.a2f_grpc
        if not spec:
            return None
        from bridge.transports import a2f_setup

        address = a2f_setup.listen_address(spec, self.config.host)
        a2f_setup.require()
        if self.network is None:
            raise ValueError("--a2f-grpc animates with the network, and no weights loaded "
                             "(see the warning above)")
        return address

    @property
    def a2f_port(self) -> int | None:
        """The port the Audio2Face-3D service listens on (None: not running)."""
        return self.a2f.port if self.a2f is not None else None

    def _tls(self):
        if self.config.tls_cert is None:
            if self.config.tls_key is not None:
                raise ValueError("a TLS key needs its certificate (--tls-cert)")
            return None
        return security.tls_context(self.config.tls_cert, self.config.tls_key)

    @property
    def scheme(self) -> str:
        """``ws`` or ``wss``; the HTTP pages are http or https alike."""
        return "wss" if self.ssl is not None else "ws"

    def _load_network(self):
        """The batched network, or None (with a warning) when no weights load."""
        from blendshape.net.stream import WeightsNotFound, load_network, pick_device
        from bridge.server.network import AsyncBatcher

        try:
            device = pick_device(self.config.device)
            engine = load_network(self.config.weights, device, self.config.engine)
            if self._network_on is not None:
                engine = self._network_on(engine)
        except (WeightsNotFound, RuntimeError) as exc:
            log.warning("network unavailable: %s", exc)
            return None
        log.info("network on %s in %s (%d parameters)", device, engine.name,
                 engine.model.param_count())
        return AsyncBatcher(engine)

    @property
    def session_count(self) -> int:
        return len(self._sessions)

    @property
    def port(self) -> int:
        assert self._ws is not None, "server not started"
        return self._ws.sockets[0].getsockname()[1]

    def load(self) -> dict[str, float]:
        """What ``/healthz`` tells a load balancer: sessions speaking, the synthesis queue,
        how long a new utterance would wait to start and to its first audio (``busy`` past
        ``max_wait``)."""
        return {"speaking": sum(1 for s in self._sessions.values() if s.busy),
                "synthesis_queue": self.executor.pending(),
                "start_wait_s": round(workers.start_wait(self.executor), 3),
                "first_audio_s": round(workers.first_audio_wait(self.executor), 3),
                "max_wait_s": self.config.session.max_wait}

    def info(self) -> dict[str, object]:
        """What a client UI needs to offer choices: voices, emotions, the default voice."""
        from blendshape.layers.emotion import EMOTION_NAMES

        return {
            "server": self.version,
            "default_voice": self.tts.default_voice,
            "voices": [{"id": v.id, "provider": v.provider, "lang": v.lang, "name": v.name}
                       for v in self.tts.voices()],
            "emotions": sorted(EMOTION_NAMES),  # aliases (joy, anger, …) still work in say
        }

    def new_session(self, send: Send, authorized: bool = False) -> Session:
        """A session; ``authorized`` when the handshake already showed a valid token."""
        self._session_number += 1
        number = self._session_number
        outputs = self.config.outputs

        def make_pump(fps: int, t0: float) -> OutputPump | None:
            return OutputPump(outputs.build(number), fps, t0) if outputs.enabled else None

        config = replace(self.config.session, token=None) if authorized else self.config.session
        session = Session(id=secrets.token_hex(6), send=send, tts=self.tts,
                          config=config, executor=self.executor,
                          seed=secrets.randbits(32), make_pump=make_pump, network=self.network,
                          make_dialogue=self._make_dialogue if self.dialogue else None)
        self._sessions[session.id] = session
        self.metrics.inc("talkbridge_sessions_total")
        return session

    def forget_session(self, session: Session) -> None:
        if self._sessions.pop(session.id, None) is not None:
            self._dropped_closed += getattr(session.outbox, "dropped", 0)

    def render_metrics(self) -> str:
        """``GET /metrics``: the process's counters plus this server's live numbers."""
        live = sum(getattr(s.outbox, "dropped", 0) for s in self._sessions.values())
        for seconds, generation in self._gc.drain():
            self.metrics.observe("talkbridge_gc_pause_seconds", seconds, generation=generation)
        return self.metrics.render(extra=[
            ("talkbridge_sessions_open", "gauge", "sessions open now", self.session_count),
            ("talkbridge_curves_dropped_total", "counter",
             "curve messages dropped oldest-first for slow readers", self._dropped_closed + live),
        ])

    async def start(self) -> None:
        if self.config.warm_up:
            await asyncio.get_running_loop().run_in_executor(self.executor, self._warm_up)
        self._ws = await serve(
            partial(websocket.serve_connection, self), self.config.host, self.config.port,
            process_request=partial(http_routes.process_request, self),
            max_size=self.config.max_message_bytes, compression=None,
            server_header=SERVER_NAME, ssl=self.ssl,
        )
        log.info("talkbridge listening on %s://%s:%d%s", self.scheme, self.config.host, self.port,
                 http_routes.STREAM_PATH)
        warning = security.exposure_warning(self.config.host, self.tokens)
        if warning:
            log.warning(warning)
        if self._a2f_address is not None:
            await self._start_a2f(*self._a2f_address)
        if self.config.fixed_mmap_threshold:
            memtrim.fixed_mmap_threshold()
        if self.config.freeze_startup_objects:
            # Models, voices and modules live as long as the process: leave them out of
            # every later full collection, which then walks only the sessions' objects.
            gc.collect()
            gc.freeze()
        self._gc.start()

    async def _start_a2f(self, host: str, port: int) -> None:
        """Audio2Face-3D's gRPC service on the batched network, with the WebSocket's token,
        TLS pair and life settings."""
        from bridge.transports import a2f_grpc

        tls = (self.config.tls_cert, self.config.tls_key) if self.config.tls_cert else None
        self.a2f = await a2f_grpc.start(self.network, host, port, tokens=self.tokens,
                                        life=self.config.session.life, tls=tls)
        log.info("Audio2Face-3D gRPC listening on %s:%d%s", host, self.a2f.port,
                 " (TLS)" if tls else "")
        warning = security.exposure_warning(host, self.tokens)
        if warning and host != self.config.host:
            log.warning(warning)

    def _make_dialogue(self, session: Session) -> Dialogue:
        assert self.dialogue is not None
        return Dialogue(session, self.dialogue)

    def _warm_up(self) -> None:
        """Load the default voice and run it once; a failure is logged, not fatal. When the
        network will animate its sentences (no timings, or ``animator = "network"``), load
        the offline quality model now too, not at the first sentence."""
        from blendshape.animator import wants_network

        chunks = []
        try:
            provider, voice = self.tts.resolve()
            chunks = list(provider.synthesize("Hello.", voice))
        except (TTSError, LookupError) as exc:
            log.warning("warm-up failed: %s", exc)
        if self.network is not None and any(
                wants_network(self.config.session.animator, bool(c.phonemes)) for c in chunks):
            self.network.sentence_engine()
        if self.dialogue is not None and self.config.dialogue.warm_up:
            try:
                self.dialogue.warm_up()
            except Exception as exc:  # noqa: BLE001 - mic/chat will report it per session
                log.warning("dialogue warm-up failed: %s", exc)

    async def stop(self, drain: float = 0.0, hurry: asyncio.Event | None = None) -> None:
        """Stop accepting; give utterances in flight up to ``drain`` seconds (cut short when
        ``hurry`` is set), interrupt the rest, close every connection (1001), free the port."""
        if self._ws is not None:
            self._ws.server.close()  # no new connections; the open ones carry on
        # Audio2Face-3D streams in flight get the same drain, alongside the sessions'.
        a2f_stopped = asyncio.create_task(self.a2f.stop(drain)) if self.a2f is not None else None
        await self._drain(drain, hurry)
        await asyncio.gather(*(self._end(s) for s in list(self._sessions.values())))
        if a2f_stopped is not None:
            await a2f_stopped
        if self.network is not None:
            await self.network.close()
        if self.dialogue is not None:
            await asyncio.to_thread(self.dialogue.close)
        if self._ws is not None:
            self._ws.close()
            await self._ws.wait_closed()
        self.executor.shutdown(wait=False, cancel_futures=True)
        self._gc.stop()

    async def _drain(self, seconds: float, hurry: asyncio.Event | None) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        busy = [s for s in self._sessions.values() if s.busy]
        if busy:
            log.info("draining: %d sessions speaking, up to %.1f s", len(busy), seconds)
        while any(s.busy for s in self._sessions.values()) and loop.time() < deadline:
            if hurry is not None and hurry.is_set():
                break
            await asyncio.sleep(0.05)

    async def _end(self, session: Session) -> None:
        """Interrupt what it still says (the client hears ``utterance end interrupted``),
        let its writer send that, then stop its tasks."""
        if session.hello is not None and not session.closed and session.busy:
            try:
                await session.handle(m.Interrupt())
            except err.TalkbridgeError:
                log.exception("session %s: interrupt at shutdown failed", session.id)
            flush = getattr(session.outbox, "flush", None)
            if flush is not None:
                await flush()
        await session.close()

    async def __aenter__(self) -> Server:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
