"""Is a remote provider there at all? A TCP connect with a short time-out, at start.

A server whose language model or recognizer is unreachable would start, accept clients and
then fail every turn; a supervisor would see a healthy process. ``serve`` therefore probes
the endpoints the configuration makes it depend on before it opens its port, and a missing
one is a one-line exit that names the setting to fix (DESIGN: the server never hangs, or
limps, on a start-up error). Only reachability is checked: credentials and models are the
provider's first answer's business.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Endpoint:
    """A host and port the server depends on, and the setting that named it."""

    setting: str   # e.g. "[llm] base_url"
    host: str
    port: int


_DEFAULT_PORTS = {"http": 80, "https": 443, "postgresql": 5432, "postgres": 5432}


def from_url(setting: str, url: str) -> Endpoint:
    """``http(s)://host[:port]/…`` or ``postgresql://…`` → its endpoint (the scheme's port
    when the URL names none)."""
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        shown = url if parts.password is None else url.replace(parts.password, "***")
        raise ValueError(f"{setting} {shown!r} is not an http(s) or postgresql URL")
    return Endpoint(setting, parts.hostname, parts.port or _DEFAULT_PORTS[parts.scheme])


def from_address(setting: str, address: str) -> Endpoint:
    """``host:port`` (a gRPC target) → its endpoint."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"{setting} {address!r} is not host:port")
    return Endpoint(setting, host.strip("[]"), int(port))


def unreachable(endpoint: Endpoint, timeout: float = 2.0) -> str | None:
    """Why ``endpoint`` can't be reached (one phrase), or None when a TCP connect succeeds."""
    try:
        with socket.create_connection((endpoint.host, endpoint.port), timeout=timeout):
            return None
    except socket.gaierror as exc:
        return f"can't resolve {endpoint.host!r} ({exc.strerror})"
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except OSError as exc:
        return exc.strerror or type(exc).__name__
