"""Conversation memory in SQLite and PostgreSQL: survives a restart, bounded, one history
per user; the behaviour tests run on both stores."""

import asyncio

import pytest

from bridge.llm.base import ChatMessage
from bridge.llm.memory import ConversationMemory, MemoryStoreError
from bridge.llm.memory_store import open_memory
from tests.support.postgres import postgres_url


@pytest.fixture(params=["sqlite", "postgresql"])
def open_store(request):
    """Opens a fresh store of each kind (PostgreSQL's table emptied), closed after the test."""
    location = ":memory:" if request.param == "sqlite" else postgres_url()
    opened = []

    def make(**kwargs):
        opened.append(open_memory(location, **kwargs))
        return opened[-1]

    yield make
    for store in opened:
        store.close()


def test_memory_survives_reopening_the_file(tmp_path):
    path = str(tmp_path / "m.sqlite3")
    memory = ConversationMemory(path)
    memory.add("ann", "user", "my name is Ann")
    memory.add("ann", "assistant", "Hello Ann!")
    memory.close()
    with ConversationMemory(path) as again:
        assert again.history("ann") == [ChatMessage("user", "my name is Ann"),
                                         ChatMessage("assistant", "Hello Ann!")]
        assert again.users() == ["ann"]


def test_memory_is_bounded_and_keeps_the_newest(open_store):
    memory = open_store(max_messages=5)
    for i in range(12):
        memory.add("u", "user", f"m{i}")
    assert [m.content for m in memory.history("u")] == [f"m{i}" for i in range(7, 12)]
    if isinstance(memory, ConversationMemory):
        rows = memory._query("SELECT COUNT(*) FROM messages")
    else:
        assert memory.flush()
        rows = memory._query("SELECT COUNT(*) FROM talkbridge_messages", ())
    assert rows[0][0] == 5  # trimmed on disk too, not only in what is returned


def test_history_fits_the_character_budget_and_opens_with_the_user(open_store):
    memory = open_store(max_messages=40, max_chars=25)
    for role, text in [("user", "a" * 10), ("assistant", "b" * 10), ("user", "c" * 10),
                       ("assistant", "d" * 10)]:
        memory.add("u", role, text)
    # the newest 20 characters fit: "c…" and "d…"; "b…" would not; it never opens with "d"
    assert [m.content[0] for m in memory.history("u")] == ["c", "d"]
    memory.add("u", "user", "x" * 100)  # one message longer than the budget is cut to it
    assert memory.history("u") == [ChatMessage("user", "x" * 25)]


def test_users_are_isolated_and_forgettable(open_store):
    memory = open_store()
    memory.add("a", "user", "secret of a")
    memory.add("b", "user", "hello from b")
    assert [m.content for m in memory.history("b")] == ["hello from b"]
    memory.forget("a")
    assert memory.history("a") == [] and memory.history("b") != []


def test_the_last_assistant_message_can_be_rewritten_to_what_was_heard(open_store):
    memory = open_store()
    memory.add("u", "user", "tell me a story")
    memory.add("u", "assistant", "Once upon a time there was a robot. It sang.")
    memory.replace_last_assistant("u", "Once upon a time…")
    assert memory.history("u")[-1] == ChatMessage("assistant", "Once upon a time…")
    memory.replace_last_assistant("u", "")
    assert memory.history("u") == [ChatMessage("user", "tell me a story")]
    memory.replace_last_assistant("nobody", "x")  # nothing to rewrite: no error


def test_a_continued_turn_drops_the_last_user_message(open_store):
    memory = open_store()
    memory.add("u", "user", "tell me")
    memory.drop_last("u", "user")
    assert memory.history("u") == []


def test_bad_roles_and_unopenable_files_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="role"):
        ConversationMemory().add("u", "robot", "x")
    with pytest.raises(MemoryStoreError, match="cannot open the conversation memory"):
        ConversationMemory(str(tmp_path / "no" / "such" / "dir" / "m.sqlite3"))
    (tmp_path / "junk.sqlite3").write_bytes(b"not a database" * 100)
    with pytest.raises(MemoryStoreError, match="junk.sqlite3"):
        ConversationMemory(str(tmp_path / "junk.sqlite3"))


async def test_many_sessions_can_share_one_memory_from_threads(tmp_path):
    memory = ConversationMemory(str(tmp_path / "m.sqlite3"), max_messages=100)

    def talk(user: str) -> None:
        for i in range(20):
            memory.add(user, "user", f"{user}{i}")
            memory.history(user)

    await asyncio.gather(*(asyncio.to_thread(talk, f"u{k}") for k in range(4)))
    for k in range(4):
        assert [m.content for m in memory.history(f"u{k}")] == [f"u{k}{i}" for i in range(20)]
