"""Who may connect, from where, and what a URL may read: the server's policy, without I/O.

Everything here is a pure function or a small value object, so the rules are tested
directly and the transport only asks questions (``tokens.accepts(t)``,
``origins.allows(origin, host)``, ``static_target(root, path)``):

* Tokens are compared in constant time against *every* configured token, with no early
  exit, so timing tells an attacker neither which token nor how much of one matched.
* Browsers can't set headers on a WebSocket, so a token may also come from the handshake
  (``Authorization: Bearer T`` or ``?token=T``) as well as from ``hello.token``.
* An ``Origin`` header means a browser; only listed origins, and the server's own pages on
  a loopback or IP-literal host, may open a stream (a DNS-rebound name can't pose as ours).
* Static files resolve inside their folder or not at all: ``..``, encoded ``%2e%2e``,
  absolute paths and symlinks that lead out are refused.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import ssl
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


# ---- tokens -----------------------------------------------------------------------------


def read_tokens_file(path: str | Path) -> frozenset[str]:
    """One token per line; blank lines and ``#`` comments are ignored. Never echoes a token."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read tokens file {path}: {type(exc).__name__}") from None
    tokens = frozenset(line.split("#", 1)[0].strip() for line in text.splitlines()) - {""}
    if not tokens:
        raise ValueError(f"tokens file {path} holds no token (one per line, # for comments)")
    return tokens


def collect_tokens(token: str | None, tokens_file: str | Path | None) -> frozenset[str] | None:
    """``--token`` and ``--tokens-file`` together; None when neither asks for auth."""
    tokens = set(read_tokens_file(tokens_file)) if tokens_file else set()
    if token:
        tokens.add(token)
    return frozenset(tokens) or None


def token_matches(given: str | None, expected: str | Iterable[str]) -> bool:
    """Whether ``given`` is one of ``expected``: every token is compared, in constant time."""
    candidate = (given or "").encode("utf-8", "surrogatepass")
    tokens = (expected,) if isinstance(expected, str) else tuple(expected)
    matched = False
    for token in tokens:  # no early exit: the time depends on the count, not on a match
        matched |= hmac.compare_digest(candidate, token.encode("utf-8", "surrogatepass"))
    return matched and bool(candidate)


def request_token(headers: object, path: str) -> str | None:
    """The token a handshake carries: ``Authorization: Bearer T``, else ``?token=T``."""
    auth = headers.get("Authorization")  # type: ignore[attr-defined]  # websockets Headers
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    query = urlsplit(path).query
    if query:
        values = parse_qs(query).get("token")
        if values:
            return values[0]
    return None


# ---- where clients may come from --------------------------------------------------------


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or a loopback name; a wildcard (0.0.0.0, ::) is not."""
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, tokens: object) -> str | None:
    """The warning to print when anyone on the network could use the server without a token."""
    if tokens or is_loopback(host):
        return None
    return (f"listening on {host} without a token: anyone who can reach this port can use the "
            "server; pass --token or --tokens-file")


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


def _normal_origin(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


@dataclass(frozen=True)
class OriginPolicy:
    """Which browser pages may open a stream; ``"*"`` in ``allowed`` lets every page in."""

    allowed: tuple[str, ...] = ()

    def allows(self, origin: str | None, host_header: str | None) -> bool:
        if origin is None:  # not a browser: engines and tools send no Origin
            return True
        if "*" in self.allowed or _normal_origin(origin) in {_normal_origin(a) for a in self.allowed}:
            return True
        return self._same_origin(origin, host_header)

    @staticmethod
    def _same_origin(origin: str, host_header: str | None) -> bool:
        """Our own viewer, served from this port. Only for loopback names and IP literals:
        after DNS rebinding ``evil.example`` resolves to us, and its Host matches too."""
        if not host_header:
            return False
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or parts.netloc.lower() != host_header.lower():
            return False
        hostname = parts.hostname or ""
        return hostname in LOOPBACK_NAMES or _is_ip_literal(hostname)


class AddressLimiter:
    """Open sessions per client address; ``limit`` 0 means no limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: Counter[str] = Counter()

    def acquire(self, address: str) -> bool:
        if self.limit > 0 and self._open[address] >= self.limit:
            return False
        self._open[address] += 1
        return True

    def release(self, address: str) -> None:
        self._open[address] -= 1
        if self._open[address] <= 0:
            del self._open[address]

    def count(self, address: str) -> int:
        return self._open[address]


# ---- files and TLS ----------------------------------------------------------------------


def static_target(root: Path, url_path: str) -> Path | None:
    """The file under ``root`` that ``url_path`` (relative, still URL-encoded) names, or None.

    Decoded first, so ``%2e%2e`` is ``..``; then any ``..`` segment, absolute path, NUL or
    backslash is refused outright, and the resolved file (symlinks followed) must still lie
    inside the resolved ``root``.
    """
    try:
        rel = unquote(url_path.split("?", 1)[0].split("#", 1)[0], errors="strict")
    except UnicodeDecodeError:
        return None
    if not rel or "\0" in rel or "\\" in rel or rel.startswith("/"):
        return None
    if any(part == ".." for part in rel.split("/")):
        return None
    base = root.resolve()
    try:
        target = (base / rel).resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return None
    if not target.is_relative_to(base) or target == base or not target.is_file():
        return None
    return target


_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----\s*", re.DOTALL)


def pem_key_and_chain(cert: str | Path, key: str | Path | None = None) -> tuple[bytes, bytes]:
    """(private key PEM, certificate chain PEM) from the files ``tls_context`` takes, for a
    server that wants them apart (gRPC); the key may sit in the certificate file."""
    blocks: list[tuple[bytes, bytes]] = []
    for path in (cert,) if key is None else (cert, key):
        try:
            text = Path(path).read_bytes()
        except OSError as exc:
            raise ValueError(f"cannot read TLS file {path}: {exc.strerror or exc}") from None
        blocks += [(m.group(1), m.group(0)) for m in _PEM_BLOCK.finditer(text)]
    keys = [pem for kind, pem in blocks if kind.endswith(b"PRIVATE KEY")]
    chain = b"".join(pem for kind, pem in blocks if kind == b"CERTIFICATE")
    if not keys or not chain:
        missing = "private key" if not keys else "certificate"
        raise ValueError(f"no PEM {missing} in {cert if key is None else f'{cert} or {key}'}")
    return keys[0], chain


def tls_context(cert: str | Path, key: str | Path | None = None) -> ssl.SSLContext:
    """A server context for ``wss://`` and ``https://``; a clear error for a bad file or pair."""
    for label, path in (("certificate", cert), ("key", key)):
        if path is not None and not Path(path).is_file():
            raise ValueError(f"TLS {label} file not found: {path}")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert), str(key) if key is not None else None)
    except ssl.SSLError as exc:
        raise ValueError(f"cannot load TLS certificate {cert} with key {key or cert}: "
                         f"{exc.reason or exc}") from None
    return context
