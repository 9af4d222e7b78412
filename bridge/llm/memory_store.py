"""Which conversation memory a setting names: a SQLite file, ``":memory:"``, or a
``postgresql://`` URL that many fronts share."""

from __future__ import annotations

from bridge.llm.memory import ConversationMemory
from bridge.llm.memory_pg import PostgresMemory, is_postgres


def open_memory(location: str, max_messages: int = 40,
                max_chars: int = 12000) -> ConversationMemory | PostgresMemory:
    """The conversation memory at ``location`` (both kinds have the same methods)."""
    if is_postgres(location):
        return PostgresMemory(location, max_messages=max_messages, max_chars=max_chars)
    return ConversationMemory(location, max_messages=max_messages, max_chars=max_chars)
