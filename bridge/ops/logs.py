"""Log lines that name their session, as text or JSON lines, with secrets scrubbed.

The transport sets :data:`session_id` in each connection's task; every task the session
starts copies that context, so any log record made on its behalf carries
``session=<id>`` without a logger being passed around. :func:`install` puts the filters
and a formatter on the root handlers::

    2025-01-01 12:00:00,000 INFO bridge.transports.websocket session=3fa2c1d09e4b: opened

Tokens never belong in a log. The code does not log them, and as a second line of
defence :class:`Redact` scrubs the configured tokens, ``Bearer …`` and ``token=…`` from
every message before any handler writes it. The ``websockets`` logger is kept at INFO
or above: its debug output dumps request lines, headers and frame bytes.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
from collections.abc import Iterable

session_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("session_id", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(session_tag)s: %(message)s"
_PATTERNS = (re.compile(r"(?i)(bearer\s+)[^\s,;'\"]+"),
             re.compile(r"(?i)(token=)[^\s&,;'\"]+"))
REDACTED = "[redacted]"


class SessionTag(logging.Filter):
    """Adds ``record.session`` (the id or None) and ``record.session_tag`` for text lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        sid = getattr(record, "session", None) or session_id.get()
        record.session = sid
        record.session_tag = f" session={sid}" if sid else ""
        return True


class Redact(logging.Filter):
    """Rewrites each record's message with secrets replaced by ``[redacted]``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        return True

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
        return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, session, msg (and exc when there is one)."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "session": getattr(record, "session", None) or session_id.get(),
            "msg": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            doc["exc"] = record.exc_text
        return json.dumps(doc, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "session_tag"):
            SessionTag().filter(record)
        return super().format(record)


def first_line(text: str, default: str = "") -> str:
    """The first non-blank line of ``text`` (an exception's message, say), or ``default``:
    errors reach users and logs as one line, whatever a library put in its message."""
    return (text.strip().splitlines() or [default])[0]


def install(level: int = logging.INFO, json_lines: bool = False,
            secrets: Iterable[str] = ()) -> None:
    """Configure the root logger's handlers (one on stderr if there are none)."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    root.setLevel(level)
    for handler in root.handlers:
        for old in [f for f in handler.filters if isinstance(f, (SessionTag, Redact))]:
            handler.removeFilter(old)
        handler.addFilter(Redact(secrets))
        handler.addFilter(SessionTag())
        handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    logging.getLogger("websockets").setLevel(max(level, logging.INFO))
