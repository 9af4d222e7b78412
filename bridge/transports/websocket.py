"""WebSocket + msgpack transport: bytes in → session, session messages → bytes out.

Thin by design (like websockets' own asyncio layer over its sans-I/O core): it feeds each
frame to the connection rules of :mod:`bridge.protocol.connection`, hands the message they
decode to the session, and reports every refusal as an ``error`` message — closing the
connection only when the rules say it is fatal. One connection's faults never reach another:
each runs in its own handler task. Plain HTTP on the same port is :mod:`.http_routes`.

Before a session exists the policy of :mod:`bridge.ops.security` applies: a browser page from
an origin not allowed gets 403; a handshake token (``Authorization: Bearer`` or
``?token=``) that is wrong gets ``unauthorized`` and 1008, a valid one spares ``hello``
its token; an address over its session limit gets ``too_many_sessions`` and 1008. None of
these starts a session task.
"""

from __future__ import annotations

import asyncio
import logging
import socket

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from bridge.ops import logs, metrics, security
from bridge.protocol import errors as err
from bridge.protocol import messages as m
from bridge.protocol.connection import ConnectionRules, Refused
from bridge.transports.host import ClientSession, SessionHost
from bridge.transports.outbox import Outbox

log = logging.getLogger(__name__)

#: The framing rules every connection follows (sans-I/O; see bridge.protocol.connection).
_RULES = ConnectionRules()


async def serve_connection(server: SessionHost, connection: ServerConnection) -> None:
    """Refuse the connection before any work, or run its session."""
    authorized = _handshake_token(server, connection)
    if authorized is False:
        await _refuse(connection, err.Unauthorized("wrong token in the handshake"))
        return
    address = str(connection.remote_address[0]) if connection.remote_address else "?"
    if not server.addresses.acquire(address):
        await _refuse(connection, err.TooManySessions(
            f"this address has {server.addresses.limit} sessions open already; close one first"))
        return
    try:
        await _run_session(server, connection, authorized=bool(authorized))
    finally:
        server.addresses.release(address)


def _handshake_token(server: SessionHost, connection: ServerConnection) -> bool | None:
    """True/False for a valid/wrong token in the handshake; None when none was needed or given."""
    request = connection.request
    if server.tokens is None or request is None:
        return None
    given = security.request_token(request.headers, request.path)
    return None if given is None else security.token_matches(given, server.tokens)


async def _refuse(connection: ServerConnection, exc: err.TalkbridgeError) -> None:
    """The typed error, then close: no session, no task, nothing else costs anything."""
    log.info("refused %s: %s", connection.remote_address, exc.code)
    metrics.inc("talkbridge_connections_refused_total", reason=exc.code)
    try:
        refused = _RULES.refuse(exc)
        _count_sent(refused.reply)
        await connection.send(_RULES.send(refused.reply))
        await connection.close(refused.close_code or err.POLICY_VIOLATION, exc.code)
    except ConnectionClosed:
        pass


async def _run_session(server: SessionHost, connection: ServerConnection, authorized: bool) -> None:
    """Run one client's session until it leaves or commits a fatal fault."""
    _bound_kernel_buffer(connection, server.config.send_buffer_bytes)
    outbox = Outbox()
    session = server.new_session(outbox.put, authorized=authorized)
    session.outbox = outbox
    logs.session_id.set(session.id)  # this task's context: the session's tasks inherit it
    writer = asyncio.create_task(_write(outbox, connection), name=f"{session.id}-writer")
    watchdog = asyncio.create_task(_expect_hello(session, connection, outbox,
                                                 server.config.hello_seconds),
                                   name=f"{session.id}-hello")
    log.info("session %s opened from %s", session.id, connection.remote_address)
    rules = ConnectionRules(server.config.max_message_bytes)  # [server] max_message_bytes
    try:
        async for frame in connection:
            if not await _dispatch(session, connection, outbox, frame, rules):
                break
    except ConnectionClosed as exc:
        log.info("session %s: connection lost (%s)", session.id, exc.rcvd or "no close frame")
    finally:
        await session.close()
        watchdog.cancel()
        writer.cancel()
        await asyncio.gather(writer, watchdog, return_exceptions=True)
        server.forget_session(session)
        log.info("session %s closed (%d curve messages dropped)", session.id, outbox.dropped)


async def _expect_hello(session: ClientSession, connection: ServerConnection, outbox: Outbox,
                        seconds: float) -> None:
    """Close a connection that never says hello: an open socket must not hold a session slot
    (and one of its address's sessions) forever."""
    if seconds <= 0:
        return
    await asyncio.sleep(seconds)
    if session.hello is None:
        await _report(session, connection, outbox, err.HelloRequired(
            f"no hello within {seconds:g} s of connecting; send hello first"))


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
            await connection.send(_RULES.send(msg))
            _count_sent(msg)
    except ConnectionClosed:
        pass


def _count_sent(msg: m.ServerMessage) -> None:
    metrics.inc("talkbridge_messages_sent_total", type=msg.TYPE)
    if isinstance(msg, m.Curves):
        metrics.inc("talkbridge_curve_frames_sent_total", msg.n)
    elif isinstance(msg, m.Error):
        metrics.inc("talkbridge_errors_sent_total", code=msg.code)


async def _dispatch(session: ClientSession, connection: ServerConnection, outbox: Outbox,
                    frame: str | bytes, rules: ConnectionRules = _RULES) -> bool:
    """Handle one frame; False when the connection must close."""
    event = rules.receive(frame)
    if isinstance(event, Refused):
        metrics.inc("talkbridge_messages_received_total", type="invalid")
        return await _report(session, connection, outbox, event.error)
    metrics.inc("talkbridge_messages_received_total", type=event.msg.TYPE)
    try:
        await session.handle(event.msg)
        return True
    except err.TalkbridgeError as exc:
        return await _report(session, connection, outbox, exc)
    except ConnectionClosed:
        raise
    except Exception as exc:  # a bug of ours: report it, keep the session alive
        log.exception("session %s: internal error", session.id)
        await outbox.put(err.error_message(err.ServerError(f"internal error: {type(exc).__name__}")))
        return True


async def _report(session: ClientSession, connection: ServerConnection, outbox: Outbox,
                  exc: err.TalkbridgeError) -> bool:
    """Send ``exc`` as an ``error``; close after it when it is fatal (False: stop reading)."""
    log.info("session %s: %s: %s", session.id, exc.code, exc)
    refused = _RULES.refuse(exc)
    await outbox.put(refused.reply)
    if refused.close_code is not None:
        await outbox.flush()
        await connection.close(refused.close_code, exc.code)
        return False
    return True
