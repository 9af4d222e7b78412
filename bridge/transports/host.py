"""What a transport needs from the process hosting the sessions, as structural types.

The server builds the transports and the transports hand it connections: typing that back
edge with these Protocols (not the server's class) keeps ``transports`` from importing
``server``, so the two never form an import circle and a transport can be tested against
any object with these few members.
"""

from __future__ import annotations

from typing import Awaitable, Callable, Protocol

from bridge.ops.security import AddressLimiter, OriginPolicy
from bridge.protocol import messages as m
from bridge.transports.outbox import Outbox

#: How a session sends a message: put it in the connection's outbox.
Send = Callable[[m.ServerMessage], Awaitable[None]]


class ClientSession(Protocol):
    """One connection's conversation, as the transport drives it."""

    id: str
    hello: m.Hello | None
    outbox: Outbox | None

    async def handle(self, msg: m.ClientMessage) -> None: ...

    async def close(self) -> None: ...


class ConnectionLimits(Protocol):
    """The per-connection settings of the server's config the transport applies."""

    @property
    def send_buffer_bytes(self) -> int: ...

    @property
    def hello_seconds(self) -> float: ...

    @property
    def max_message_bytes(self) -> int: ...


class SessionHost(Protocol):
    """The server, as a transport sees it: policy, counters, and sessions on demand."""

    version: str
    tokens: frozenset[str] | None
    origins: OriginPolicy
    addresses: AddressLimiter

    @property
    def config(self) -> ConnectionLimits: ...

    @property
    def session_count(self) -> int: ...

    def info(self) -> dict[str, object]: ...

    def load(self) -> dict[str, float]: ...

    def render_metrics(self) -> str: ...

    def new_session(self, send: Send, authorized: bool = False) -> ClientSession: ...

    def forget_session(self, session: ClientSession) -> None: ...
