"""Per-user conversation memory in SQLite: it survives restarts and stays bounded.

A kiosk runs for a month and a game server hosts many players, so memory is keyed by user
and trimmed to the newest ``max_messages``; what the model is given is also capped at
``max_chars`` (a language model's context is finite and every character costs latency).
What the assistant "said" is what the user heard: the dialogue loop rewrites the last
assistant message after a barge-in.

The calls are short synchronous SQLite statements (well under a millisecond on a small
table), made from the event loop; one connection, a lock for the executor threads that may
share it, and WAL so a crash never corrupts the file.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from types import TracebackType

from bridge.llm.base import ChatMessage

ROLES = ("user", "assistant", "system")
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "user TEXT NOT NULL, role TEXT NOT NULL, content TEXT NOT NULL, at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS by_user ON messages (user, id)",
)


def fit_history(newest_first: list[tuple[str, str]], max_chars: int) -> list[ChatMessage]:
    """(role, content) rows, newest first → the messages a model is given, oldest first:
    as many of the newest as fit in ``max_chars``, never opening with the assistant."""
    kept: list[ChatMessage] = []
    budget = max_chars
    for role, content in newest_first:
        if len(content) > budget:
            break
        budget -= len(content)
        kept.append(ChatMessage(role, content))
    kept.reverse()
    while kept and kept[0].role == "assistant":
        kept.pop(0)
    return kept


class MemoryStoreError(RuntimeError):
    """The memory file cannot be opened or written; the message names the file."""


class ConversationMemory:
    """Each user's newest messages, oldest first, in one SQLite file (or ``":memory:"``)."""

    def __init__(self, path: str = ":memory:", max_messages: int = 40,
                 max_chars: int = 12000) -> None:
        if max_messages < 1 or max_chars < 1:
            raise ValueError("max_messages and max_chars must be at least 1")
        self.path = str(path)
        self.max_messages = max_messages
        self.max_chars = max_chars
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                       timeout=5.0)
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
            for statement in _SCHEMA:
                self._db.execute(statement)
        except sqlite3.Error as exc:
            raise MemoryStoreError(f"cannot open the conversation memory {self.path}: {exc} "
                                   "(is the folder writable? is it a SQLite file?)") from None

    def history(self, user: str) -> list[ChatMessage]:
        """The user's newest messages, oldest first, within ``max_messages`` and ``max_chars``.

        The history never opens with an assistant message: chat templates of many local
        models insist that a conversation begins with the user.
        """
        rows = self._query("SELECT role, content FROM messages WHERE user = ? "
                           "ORDER BY id DESC LIMIT ?", (user, self.max_messages))
        return fit_history(rows, self.max_chars)

    def add(self, user: str, role: str, text: str) -> None:
        """Append a message; the user's oldest beyond ``max_messages`` are deleted."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        self._write(("INSERT INTO messages (user, role, content, at) VALUES (?, ?, ?, ?)",
                     (user, role, text[:self.max_chars], time.time())),
                    ("DELETE FROM messages WHERE user = ? AND id NOT IN (SELECT id FROM "
                     "messages WHERE user = ? ORDER BY id DESC LIMIT ?)",
                     (user, user, self.max_messages)))

    def replace_last_assistant(self, user: str, text: str) -> None:
        """Rewrite the newest assistant message to what was heard; empty text deletes it."""
        rows = self._query("SELECT id FROM messages WHERE user = ? AND role = 'assistant' "
                           "ORDER BY id DESC LIMIT 1", (user,))
        if not rows:
            return
        if text:
            self._write(("UPDATE messages SET content = ? WHERE id = ?",
                         (text[:self.max_chars], rows[0][0])))
        else:
            self._write(("DELETE FROM messages WHERE id = ?", (rows[0][0],)))

    def drop_last(self, user: str, role: str) -> None:
        """Remove the newest message of ``role`` (a turn that is being continued)."""
        self._write(("DELETE FROM messages WHERE id = (SELECT id FROM messages WHERE user = ? "
                     "AND role = ? ORDER BY id DESC LIMIT 1)", (user, role)))

    def forget(self, user: str) -> None:
        """Delete everything remembered about ``user`` (a "forget me" request)."""
        self._write(("DELETE FROM messages WHERE user = ?", (user,)))

    def users(self) -> list[str]:
        """Everyone with a memory, for admin tools."""
        return [row[0] for row in self._query("SELECT DISTINCT user FROM messages ORDER BY user")]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> ConversationMemory:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # ---- SQLite --------------------------------------------------------------------------

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            try:
                return self._db.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise MemoryStoreError(f"conversation memory {self.path}: {exc}") from None

    def _write(self, *statements: tuple[str, tuple]) -> None:
        """Run ``statements`` in one transaction: a crash leaves all or none."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    for sql, args in statements:
                        self._db.execute(sql, args)
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise MemoryStoreError(f"cannot write the conversation memory {self.path}: "
                                       f"{exc} (disk full? read-only?)") from None

