"""The process that hosts many sessions: providers loaded once, one WebSocket port.

Providers (TTS models) are shared by all sessions and loaded before the port opens, so the
first ``say`` costs no model load. Shutdown closes every connection with 1001 (going away)
after stopping its utterances.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import secrets
from dataclasses import dataclass, field
from functools import partial

from websockets.asyncio.server import Server as WsServer
from websockets.asyncio.server import serve

from .outputs import OutputPump, OutputsConfig
from .protocol.codec import MAX_MESSAGE_BYTES
from .session import SERVER_NAME, Send, Session, SessionConfig
from .speech.tts.base import TTSError
from .speech.tts.registry import TTSRegistry
from .transports import websocket

log = logging.getLogger(__name__)


def default_registry() -> TTSRegistry:
    """The embedded voices: Piper (default) and espeak-ng."""
    from .speech.tts.espeak import EspeakTTS
    from .speech.tts.piper import PiperTTS

    return TTSRegistry([PiperTTS(), EspeakTTS()])


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


class Server:
    """Owns the listening socket, the shared providers and the live sessions."""

    version = SERVER_NAME

    def __init__(self, config: ServerConfig | None = None, tts: TTSRegistry | None = None) -> None:
        self.config = config or ServerConfig()
        self.tts = tts or default_registry()
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="tts")
        self._sessions: dict[str, Session] = {}
        self._ws: WsServer | None = None
        self._session_number = 0
        self.network = self._load_network()
        if self.config.outputs.enabled:
            for target in self.config.outputs.build(1):  # fail at start on a bad setting
                target.sender.close()

    def _load_network(self):
        """The batched network, or None (with a warning) when no weights load."""
        try:
            from blendshape.stream import WeightsNotFound, load_model, pick_device

            from .network import AsyncBatcher
        except ImportError as exc:  # torch missing
            log.warning("network unavailable (%s): audio_in is refused; pip install torch", exc)
            return None
        try:
            device = pick_device(self.config.device)
            model = load_model(self.config.weights, device)
        except (WeightsNotFound, RuntimeError) as exc:
            log.warning("network unavailable: %s", exc)
            return None
        log.info("network on %s (%d parameters)", device, model.param_count())
        return AsyncBatcher(model)

    @property
    def session_count(self) -> int:
        return len(self._sessions)

    @property
    def port(self) -> int:
        assert self._ws is not None, "server not started"
        return self._ws.sockets[0].getsockname()[1]

    def info(self) -> dict[str, object]:
        """What a client UI needs to offer choices: voices, emotions, the default voice."""
        from blendshape.layers import EMOTIONS

        return {
            "server": self.version,
            "default_voice": self.tts.default_voice,
            "voices": [{"id": v.id, "provider": v.provider, "lang": v.lang, "name": v.name}
                       for v in self.tts.voices()],
            "emotions": sorted(EMOTIONS),
        }

    def new_session(self, send: Send) -> Session:
        self._session_number += 1
        number = self._session_number
        outputs = self.config.outputs

        def make_pump(fps: int, t0: float) -> OutputPump | None:
            return OutputPump(outputs.build(number), fps, t0) if outputs.enabled else None

        session = Session(id=secrets.token_hex(6), send=send, tts=self.tts,
                          config=self.config.session, executor=self.executor,
                          seed=secrets.randbits(32), make_pump=make_pump, network=self.network)
        self._sessions[session.id] = session
        return session

    def forget_session(self, session: Session) -> None:
        self._sessions.pop(session.id, None)

    async def start(self) -> None:
        if self.config.warm_up:
            await asyncio.get_running_loop().run_in_executor(self.executor, self._warm_up)
        self._ws = await serve(
            partial(websocket.serve_connection, self), self.config.host, self.config.port,
            process_request=partial(websocket.process_request, self),
            max_size=self.config.max_message_bytes, compression=None,
            server_header=SERVER_NAME,
        )
        log.info("talkbridge listening on ws://%s:%d%s", self.config.host, self.port,
                 websocket.STREAM_PATH)

    def _warm_up(self) -> None:
        """Load the default voice and run it once; a failure is logged, not fatal."""
        try:
            provider, voice = self.tts.resolve()
            for _ in provider.synthesize("Hello.", voice):
                pass
        except (TTSError, LookupError) as exc:
            log.warning("warm-up failed: %s", exc)

    async def stop(self) -> None:
        """Stop utterances, close every connection (1001), release the port."""
        for session in list(self._sessions.values()):
            await session.close()
        if self.network is not None:
            await self.network.close()
        if self._ws is not None:
            self._ws.close()
            await self._ws.wait_closed()
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def __aenter__(self) -> "Server":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
