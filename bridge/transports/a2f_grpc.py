"""Audio2Face-3D's gRPC service, ``A2FControllerService/ProcessAudioStream``, on our network.

Clients written for NVIDIA's service (the ACE Unreal plugin, Maya-ACE, NVIDIA's sample
apps) connect unchanged: the messages are NVIDIA's own stubs (``nvidia-audio2face-3d``,
``nvidia-ace``), the stream's rules live in :mod:`bridge.transports.a2f_mapping`, and this
servicer only reads, feeds the server's batched network and writes. Each stream's audio goes
to the batch in quarter-second slices, as an ``audio_in`` stream's does, so a 10-second
chunk can't stall the tick every other stream shares.

The token is the WebSocket's: ``authorization: Bearer <token>`` metadata, checked in
constant time before any work. TLS uses the server's certificate and key.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import grpc
import numpy as np
from nvidia_audio2face_3d import audio2face_pb2_grpc

from blendshape.layers.life import LifeConfig
from bridge.ops import metrics, security
from bridge.transports.a2f_mapping import A2FInputError, A2FStream, Audio, Started
from bridge.transports.a2f_setup import A2FBindError, grpc_target

log = logging.getLogger(__name__)

#: Audio2Face-3D cuts a stream that sends nothing for 30 s (``max_wait_time_idle_ms``).
IDLE_SECONDS = 30.0
#: Seconds of audio one stream gives one network batch.
MAX_SUBMIT = 0.25
#: gRPC's own limit on one request: 10 s at 144 kHz (2.9 MB) with room to spare, so an
#: oversized chunk below it gets our INVALID_ARGUMENT; past it gRPC answers RESOURCE_EXHAUSTED.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024

metrics.describe("talkbridge_a2f_streams_total", "counter",
                 "Audio2Face-3D gRPC streams, by outcome (done, invalid, unauthenticated, …)")


class FaceNetwork(Protocol):
    """The server's batched network, as this service uses it (typed by shape, not class)."""

    def new_stream(self, rate: int) -> Any: ...

    async def submit(self, stream: Any, pcm: np.ndarray, last: bool = False) -> np.ndarray: ...


def bearer_token(metadata: Any) -> str | None:
    """The token in ``authorization: Bearer T`` gRPC metadata (keys are lower case)."""
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


class A2FServicer(audio2face_pb2_grpc.A2FControllerServiceServicer):
    """``ProcessAudioStream``: each call is its own :class:`A2FStream`; a bad one is aborted
    with a status that says why, and the others go on."""

    def __init__(self, network: FaceNetwork, tokens: frozenset[str] | None = None,
                 life: LifeConfig | None = None, idle_seconds: float = IDLE_SECONDS) -> None:
        self.network, self.tokens = network, tokens
        self.life = life or LifeConfig()
        self.idle_seconds = idle_seconds

    async def ProcessAudioStream(self, request_iterator: Any,
                                 context: grpc.aio.ServicerContext) -> None:
        if self.tokens and not security.token_matches(
                bearer_token(context.invocation_metadata()), self.tokens):
            await self._abort(context, "unauthenticated", grpc.StatusCode.UNAUTHENTICATED,
                              "a valid token is required: send `authorization: Bearer <token>` "
                              "metadata (the ACE plugin's API Key)")
        core = A2FStream(self.life)
        stream = None
        try:
            while True:
                request = await self._read(context)
                step = core.close() if request is grpc.aio.EOF else core.receive(request)
                if isinstance(step, Started):
                    await context.write(step.reply)
                    stream = self.network.new_stream(step.rate)
                elif isinstance(step, Audio):
                    await self._animate(context, core, stream, step.pcm)
                else:
                    await self._animate(context, core, stream, np.zeros(0, np.float32), last=True)
                    for reply in core.finish():
                        await context.write(reply)
                    metrics.inc("talkbridge_a2f_streams_total", outcome="done")
                    return
        except A2FInputError as exc:
            await self._abort(context, "invalid", grpc.StatusCode.INVALID_ARGUMENT, str(exc))

    async def _read(self, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await asyncio.wait_for(context.read(), self.idle_seconds)
        except asyncio.TimeoutError:
            await self._abort(context, "idle", grpc.StatusCode.DEADLINE_EXCEEDED,
                              f"no message for {self.idle_seconds:g} s: send audio, or "
                              "end_of_audio when there is no more")

    async def _animate(self, context: grpc.aio.ServicerContext, core: A2FStream, stream: Any,
                       pcm: np.ndarray, last: bool = False) -> None:
        """Audio → the network, a slice per batch → ``animation_data`` as frames complete."""
        most = max(1, round(MAX_SUBMIT * core.rate))
        starts = range(0, len(pcm), most) if len(pcm) else [0]
        for start in starts:
            done = last and start + most >= len(pcm)
            try:
                weights = await self.network.submit(stream, pcm[start:start + most], last=done)
            except Exception as exc:  # noqa: BLE001 - this stream ends, the batch goes on
                log.warning("a2f stream: network failed: %s", exc)
                await self._abort(context, "error", grpc.StatusCode.INTERNAL,
                                  f"the network failed on this audio: {exc}")
            for reply in core.frames(weights, last=done):
                await context.write(reply)

    @staticmethod
    async def _abort(context: grpc.aio.ServicerContext, outcome: str, code: grpc.StatusCode,
                     message: str) -> None:
        metrics.inc("talkbridge_a2f_streams_total", outcome=outcome)
        await context.abort(code, message)


@dataclass
class A2FService:
    """The running gRPC server: where it listens, and how to stop it."""

    server: grpc.aio.Server
    host: str
    port: int
    secure: bool

    async def stop(self, grace: float | None = None) -> None:
        """Refuse new streams now; let those in flight finish for ``grace`` seconds."""
        await self.server.stop(grace)


def credentials(cert: str | Path, key: str | Path | None) -> grpc.ServerCredentials:
    """The server's TLS pair for gRPC (a key inside the certificate file works too)."""
    private_key, chain = security.pem_key_and_chain(cert, key)
    return grpc.ssl_server_credentials([(private_key, chain)])


async def start(network: FaceNetwork, host: str, port: int, *,
                tokens: frozenset[str] | None = None, life: LifeConfig | None = None,
                tls: tuple[str, str | None] | None = None) -> A2FService:
    """Listen on ``host:port`` (0: a free port); A2FBindError if the address is refused.

    ``SO_REUSEPORT`` is off: gRPC turns it on by default, and a second server on a taken
    port would then start quietly and take half the connections."""
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0),
                                      ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)])
    audio2face_pb2_grpc.add_A2FControllerServiceServicer_to_server(
        A2FServicer(network, tokens, life), server)
    target = grpc_target(host, port)
    try:
        bound = (server.add_secure_port(target, credentials(*tls)) if tls
                 else server.add_insecure_port(target))
    except RuntimeError:  # grpcio raises where older versions returned 0
        bound = 0
    if not bound:
        await server.stop(None)
        raise A2FBindError(f"can't listen on {host}:{port} for --a2f-grpc (taken, or not an "
                           "address of this machine): pick another port, or stop the server there")
    await server.start()
    return A2FService(server, host, bound, secure=tls is not None)
