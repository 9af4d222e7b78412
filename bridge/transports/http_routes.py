"""Plain HTTP on the WebSocket's port: the viewer's files, health, info and metrics.

The WebSocket handshake is an HTTP request too: this decides, before any upgrade, whether a
browser page's origin may open the stream. ``/api/info`` and ``/metrics`` need the token
when the server has one; ``/healthz`` and the viewer's files don't.
"""

from __future__ import annotations

import http
import json
import logging
from pathlib import Path

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from bridge.ops import metrics, security
from bridge.transports.host import SessionHost

log = logging.getLogger(__name__)

STREAM_PATH = "/v1/stream"

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"
_CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                  ".css": "text/css; charset=utf-8", ".txt": "text/plain; charset=utf-8",
                  ".json": "application/json"}


#: HTTP paths that need the token when the server has one.
PROTECTED_PATHS = frozenset({"/api/info", "/metrics"})


def process_request(server: SessionHost, connection: ServerConnection,
                    request: Request) -> Response | None:
    """Plain HTTP on the same port: the viewer, its files, health, info and metrics; 404
    otherwise. For the stream, only the browser-origin check: None lets the upgrade go on."""
    path = request.path.split("?", 1)[0]
    if path == STREAM_PATH:
        return _check_origin(server, connection, request)
    if path == "/healthz":
        return _json(connection, {"status": "ok", "sessions": server.session_count,
                                  "version": server.version, "load": server.load()})
    if path in PROTECTED_PATHS and not _http_authorized(server, request):
        response = connection.respond(http.HTTPStatus.UNAUTHORIZED, "token required\n")
        response.headers["WWW-Authenticate"] = 'Bearer realm="talkbridge"'
        return response
    if path == "/api/info":
        return _json(connection, server.info())
    if path == "/metrics":
        response = connection.respond(http.HTTPStatus.OK, server.render_metrics())
        return _typed(response, metrics.CONTENT_TYPE)
    if path == "/":
        return _static(connection, WEB_ROOT / "index.html")
    if path.startswith("/web/"):
        target = security.static_target(WEB_ROOT, request.path[len("/web/"):])
        if target is not None:
            return _static(connection, target)
    return connection.respond(http.HTTPStatus.NOT_FOUND, f"no such path; WebSocket at {STREAM_PATH}\n")


def _check_origin(server: SessionHost, connection: ServerConnection,
                  request: Request) -> Response | None:
    origin = request.headers.get("Origin")
    if server.origins.allows(origin, request.headers.get("Host")):
        return None
    log.info("refused a stream from origin %.100r (see --allow-origin)", origin)
    metrics.inc("talkbridge_connections_refused_total", reason="origin")
    return connection.respond(http.HTTPStatus.FORBIDDEN, "origin not allowed\n")


def _http_authorized(server: SessionHost, request: Request) -> bool:
    if server.tokens is None:
        return True
    return security.token_matches(security.request_token(request.headers, request.path),
                                  server.tokens)


def _json(connection: ServerConnection, body: object) -> Response:
    response = connection.respond(http.HTTPStatus.OK, json.dumps(body) + "\n")
    return _typed(response, "application/json")


def _typed(response: Response, content_type: str) -> Response:
    """Replace the text/plain that ``respond`` set: Headers keeps repeats, so delete first."""
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = content_type
    return response


def _static(connection: ServerConnection, path: Path) -> Response:
    response = connection.respond(http.HTTPStatus.OK, path.read_text(encoding="utf-8"))
    _typed(response, _CONTENT_TYPES.get(path.suffix, "application/octet-stream"))
    response.headers["Cache-Control"] = "no-cache"
    return response
