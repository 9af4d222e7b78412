"""WebSocket + msgpack transport: bytes in → session, session messages → bytes out.

Thin by design (like websockets' own asyncio layer over its sans-I/O core): it decodes each
frame with :mod:`bridge.protocol`, hands the message to the session, and turns every typed
error into an ``error`` message — closing the connection only when the error is fatal. One
connection's faults never reach another: each runs in its own handler task.
"""

from __future__ import annotations

import asyncio
import http
import json
import logging
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from ..outbox import Outbox
from ..protocol import codec
from ..protocol import errors as err

if TYPE_CHECKING:
    from ..server import Server

log = logging.getLogger(__name__)

STREAM_PATH = "/v1/stream"

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"
_CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                  ".css": "text/css; charset=utf-8", ".txt": "text/plain; charset=utf-8",
                  ".json": "application/json"}


def process_request(server: "Server", connection: ServerConnection,
                    request: Request) -> Response | None:
    """Plain HTTP on the same port: the viewer, its files, health and info; 404 otherwise."""
    path = request.path.split("?", 1)[0]
    if path == STREAM_PATH:
        return None
    if path == "/healthz":
        return _json(connection, {"status": "ok", "sessions": server.session_count,
                                  "version": server.version})
    if path == "/api/info":
        return _json(connection, server.info())
    if path == "/":
        return _static(connection, WEB_ROOT / "index.html")
    if path.startswith("/web/"):
        target = (WEB_ROOT / path[len("/web/"):]).resolve()
        if WEB_ROOT in target.parents and target.is_file():
            return _static(connection, target)
    return connection.respond(http.HTTPStatus.NOT_FOUND, f"no such path; WebSocket at {STREAM_PATH}\n")


def _json(connection: ServerConnection, body: object) -> Response:
    response = connection.respond(http.HTTPStatus.OK, json.dumps(body) + "\n")
    response.headers["Content-Type"] = "application/json"
    return response


def _static(connection: ServerConnection, path: Path) -> Response:
    response = connection.respond(http.HTTPStatus.OK, path.read_text(encoding="utf-8"))
    response.headers["Content-Type"] = _CONTENT_TYPES.get(path.suffix, "application/octet-stream")
    response.headers["Cache-Control"] = "no-cache"
    return response


async def serve_connection(server: "Server", connection: ServerConnection) -> None:
    """Run one client's session until it leaves or commits a fatal fault."""
    _bound_kernel_buffer(connection, server.config.send_buffer_bytes)
    outbox = Outbox()
    session = server.new_session(outbox.put)
    session.outbox = outbox
    writer = asyncio.create_task(_write(outbox, connection), name=f"{session.id}-writer")
    log.info("session %s opened from %s", session.id, connection.remote_address)
    try:
        async for frame in connection:
            if not await _dispatch(session, connection, outbox, frame):
                break
    except ConnectionClosed as exc:
        log.info("session %s: connection lost (%s)", session.id, exc.rcvd or "no close frame")
    finally:
        await session.close()
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
        server.forget_session(session)
        log.info("session %s closed (%d curve messages dropped)", session.id, outbox.dropped)


def _bound_kernel_buffer(connection: ServerConnection, size: int) -> None:
    """Cap the socket's send buffer: a slow client then shows up in the outbox, where the
    drop rules apply, instead of seconds of stale speech piling up in the kernel."""
    sock = connection.transport.get_extra_info("socket")
    if sock is not None and size > 0:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)


async def _write(outbox: Outbox, connection: ServerConnection) -> None:
    """The only writer of the socket: a slow reader stalls this task, not the session."""
    try:
        while True:
            msg = await outbox.get()
            await connection.send(codec.encode(msg))
    except ConnectionClosed:
        pass


async def _dispatch(session, connection: ServerConnection, outbox: Outbox,
                    frame: str | bytes) -> bool:
    """Handle one frame; False when the connection must close."""
    try:
        if isinstance(frame, str):
            raise err.TextFrameRefused("text frames are not part of protocol v1; send msgpack "
                                       "in binary frames")
        await session.handle(codec.decode_client(frame))
        return True
    except err.TalkbridgeError as exc:
        log.info("session %s: %s: %s", session.id, exc.code, exc)
        await outbox.put(err.error_message(exc))
        if exc.fatal:
            await outbox.flush()
            await connection.close(exc.close_code or 1008, exc.code)
            return False
        return True
    except ConnectionClosed:
        raise
    except Exception as exc:  # a bug of ours: report it, keep the session alive
        log.exception("session %s: internal error", session.id)
        await outbox.put(err.error_message(err.ServerError(f"internal error: {type(exc).__name__}")))
        return True
