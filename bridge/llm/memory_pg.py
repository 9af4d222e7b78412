"""Conversation memory in PostgreSQL, for many ``talkbridge serve`` fronts behind one load
balancer: a user who reconnects through another front finds what they said.

``[dialogue] memory = "postgresql://user:password@host/db"`` selects it (the driver is
``psycopg``, ``pip install 'talkbridge[postgres]'``); a file path stays SQLite.

A reply never waits for the database, and an outage never stops one:

- Writes go to an ordered queue that one thread drains. When PostgreSQL is down, the queue
  holds them (bounded, oldest dropped first with a warning) and retries with back-off, so
  nothing said during a short outage is lost.
- Each write is also applied at once to a small cache of the users this front serves, so
  ``history`` is exact on this front even while its writes are still queued.
- ``history`` reads the database (one indexed query) when the user has nothing queued and the
  database was reachable; else the cache. While the database is down, reads don't try it
  at all until the writer thread has reconnected.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bridge.llm.base import ChatMessage
from bridge.llm.memory import ROLES, MemoryStoreError, fit_history
from bridge.ops.logs import first_line

log = logging.getLogger(__name__)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS talkbridge_messages (id BIGSERIAL PRIMARY KEY, "
    "user_id TEXT NOT NULL, role TEXT NOT NULL, content TEXT NOT NULL, "
    "at DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX IF NOT EXISTS talkbridge_messages_by_user ON talkbridge_messages (user_id, id)",
)
_CONNECT_TIMEOUT_S = 2
_STATEMENT_TIMEOUT_MS = 2000
_BACKOFF = (0.2, 10.0)  # first retry, longest wait
_MAX_QUEUED = 10_000


@dataclass(frozen=True)
class _Op:
    """One queued write: the SQL for the database, and the same change for the cache."""

    user: str
    statements: tuple[tuple[str, tuple], ...]


def is_postgres(url: str) -> bool:
    """Whether a memory setting names a PostgreSQL database."""
    return url.startswith(("postgresql://", "postgres://"))


def _import_psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:
        raise MemoryStoreError("a postgresql:// memory needs the psycopg driver: "
                               "pip install 'talkbridge[postgres]'") from exc
    return psycopg


class PostgresMemory:
    """The :class:`~bridge.llm.memory.ConversationMemory` interface on PostgreSQL."""

    def __init__(self, url: str, max_messages: int = 40, max_chars: int = 12000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_messages < 1 or max_chars < 1:
            raise ValueError("max_messages and max_chars must be at least 1")
        self.path = _redacted(url)
        self.max_messages, self.max_chars = max_messages, max_chars
        self._url, self._clock = url, clock
        self._psycopg = _import_psycopg()
        self._read_lock = threading.Lock()
        self._queue: collections.deque[_Op] = collections.deque()
        self._cond = threading.Condition()
        self._cache: collections.OrderedDict[str, list[tuple[str, str]]] = collections.OrderedDict()
        self._down = False
        self._closed = False
        try:  # the start-up check: a wrong URL is one clear line, not an outage
            self._reader = self._connect()
            with self._reader.transaction():
                for statement in _SCHEMA:
                    self._reader.execute(statement)
        except self._psycopg.Error as exc:
            raise MemoryStoreError(f"cannot open the conversation memory {self.path}: "
                                   f"{_first_line(exc)} (is PostgreSQL running there, and "
                                   "the user allowed to create a table?)") from None
        self._writer = threading.Thread(target=self._drain, name="memory-writer", daemon=True)
        self._writer.start()

    # ---- the ConversationMemory interface -------------------------------------------------

    def history(self, user: str) -> list[ChatMessage]:
        if not self._down and not self._queued_for(user):
            rows = self._read(user)
            if rows is not None:
                self._remember(user, rows)
        return fit_history(self._cache.get(user, []), self.max_chars)

    def add(self, user: str, role: str, text: str) -> None:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        text = text[:self.max_chars]
        self._apply(user, lambda rows: [(role, text), *rows][:self.max_messages])
        self._enqueue(_Op(user, (
            ("INSERT INTO talkbridge_messages (user_id, role, content, at) VALUES (%s, %s, %s, %s)",
             (user, role, text, time.time())),
            ("DELETE FROM talkbridge_messages WHERE user_id = %s AND id NOT IN (SELECT id FROM "
             "talkbridge_messages WHERE user_id = %s ORDER BY id DESC LIMIT %s)",
             (user, user, self.max_messages)))))

    def replace_last_assistant(self, user: str, text: str) -> None:
        text = text[:self.max_chars]

        def change(rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
            for i, (role, _) in enumerate(rows):
                if role == "assistant":
                    return rows[:i] + ([("assistant", text)] if text else []) + rows[i + 1:]
            return rows

        self._apply(user, change)
        newest = ("(SELECT id FROM talkbridge_messages WHERE user_id = %s AND role = 'assistant' "
                  "ORDER BY id DESC LIMIT 1)")
        sql = (f"UPDATE talkbridge_messages SET content = %s WHERE id = {newest}", (text, user)) \
            if text else (f"DELETE FROM talkbridge_messages WHERE id = {newest}", (user,))
        self._enqueue(_Op(user, (sql,)))

    def drop_last(self, user: str, role: str) -> None:
        def change(rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
            for i, (r, _) in enumerate(rows):
                if r == role:
                    return rows[:i] + rows[i + 1:]
            return rows

        self._apply(user, change)
        self._enqueue(_Op(user, (("DELETE FROM talkbridge_messages WHERE id = (SELECT id FROM "
                                  "talkbridge_messages WHERE user_id = %s AND role = %s ORDER BY "
                                  "id DESC LIMIT 1)", (user, role)),)))

    def forget(self, user: str) -> None:
        self._apply(user, lambda rows: [])
        self._enqueue(_Op(user, (("DELETE FROM talkbridge_messages WHERE user_id = %s", (user,)),)))

    def users(self) -> list[str]:
        rows = self._query("SELECT DISTINCT user_id FROM talkbridge_messages ORDER BY user_id", ())
        return [row[0] for row in rows or []]

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued write is in the database (tests, shutdown)."""
        deadline = self._clock() + timeout
        with self._cond:
            while self._queue and self._clock() < deadline:
                self._cond.wait(0.05)
            return not self._queue

    def close(self) -> None:
        self.flush(2.0)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._writer.join(5.0)
        with self._read_lock:
            self._reader.close()

    def __enter__(self) -> PostgresMemory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the cache (newest first, as the rows come) ----------------------------------------

    def _apply(self, user: str, change: Callable[[list[tuple[str, str]]], list[tuple[str, str]]]) -> None:
        with self._cond:
            self._remember(user, change(self._cache.get(user, [])))

    def _remember(self, user: str, rows: list[tuple[str, str]]) -> None:
        self._cache[user] = list(rows)[:self.max_messages]
        self._cache.move_to_end(user)
        while len(self._cache) > 1000:  # the users this front served lately
            self._cache.popitem(last=False)

    def _queued_for(self, user: str) -> bool:
        with self._cond:
            return any(op.user == user for op in self._queue)

    # ---- the database -------------------------------------------------------------------

    def _connect(self) -> Any:
        return self._psycopg.connect(self._url, autocommit=True, connect_timeout=_CONNECT_TIMEOUT_S,
                                     options=f"-c statement_timeout={_STATEMENT_TIMEOUT_MS}")

    def _read(self, user: str) -> list[tuple[str, str]] | None:
        return self._query("SELECT role, content FROM talkbridge_messages WHERE user_id = %s "
                           "ORDER BY id DESC LIMIT %s", (user, self.max_messages))

    def _query(self, sql: str, args: tuple) -> list[tuple] | None:
        """Rows, or None when the database can't answer now (the writer reconnects)."""
        with self._read_lock:
            try:
                if self._reader.closed:
                    self._reader = self._connect()
                return self._reader.execute(sql, args).fetchall()
            except self._psycopg.Error as exc:
                self._went_down(exc)
                return None

    def _enqueue(self, op: _Op) -> None:
        with self._cond:
            if len(self._queue) >= _MAX_QUEUED:
                self._queue.popleft()
                log.warning("conversation memory %s: %d writes queued while it is down; the "
                            "oldest is dropped", self.path, _MAX_QUEUED)
            self._queue.append(op)
            self._cond.notify_all()

    def _drain(self) -> None:
        """The writer thread: the queue into the database, in order, retrying through outages
        (and, with nothing queued, probing until the database answers again)."""
        connection, wait = None, _BACKOFF[0]
        while True:
            with self._cond:
                while not self._queue and not self._closed and not self._down:
                    self._cond.wait()
                if self._closed and (not self._queue or self._down):
                    break
                op = self._queue[0] if self._queue else None
            try:
                if connection is None or connection.closed:
                    connection = self._connect()
                if op is None:
                    connection.execute("SELECT 1")
                else:
                    with connection.transaction():
                        for sql, args in op.statements:
                            connection.execute(sql, args)
            except self._psycopg.Error as exc:
                self._went_down(exc)
                connection = None
                with self._cond:
                    self._cond.wait(wait)
                wait = min(wait * 2, _BACKOFF[1])
                continue
            with self._cond:
                if op is not None:
                    self._queue.popleft()
                self._cond.notify_all()
            wait = _BACKOFF[0]
            if self._down:
                self._down = False
                log.warning("conversation memory %s is reachable again; queued writes are in",
                            self.path)
        if connection is not None:
            connection.close()

    def _went_down(self, exc: BaseException) -> None:
        if not self._down:
            log.warning("conversation memory %s is unreachable (%s): replies go on from this "
                        "front's cache, writes are queued and retried", self.path, _first_line(exc))
        self._down = True


def _first_line(exc: BaseException) -> str:
    return first_line(str(exc), type(exc).__name__)


def _redacted(url: str) -> str:
    """The URL without its password, for logs and errors."""
    head, sep, tail = url.partition("@")
    if not sep or ":" not in head.split("//", 1)[-1]:
        return url
    scheme, _, credentials = head.partition("//")
    return f"{scheme}//{credentials.split(':', 1)[0]}:***@{tail}"
