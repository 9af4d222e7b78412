"""A newcomer's first hour with the offline persona: 20 ordinary questions, in one
conversation kept in the real memory, each with what a sensible answer must contain.

The persona answers about itself from its own file and about the conversation from memory
(what was asked first, what was just asked, the user's name), through the same path a
``chat`` turn takes: the memory's history → ``build_messages`` → the persona's stream.
"""

from __future__ import annotations

import pytest

from bridge.llm.base import ChatMessage
from bridge.llm.memory import ConversationMemory as Memory
from bridge.llm.persona import Persona, PersonaLLM
from bridge.llm.registry import build_messages

#: (what the user says, words the answer must all contain, case-insensitive).
FIRST_HOUR = [
    ("Hello!", ["hello"]),
    ("Who are you?", ["Ada"]),
    ("What is talkbridge?", ["voice", "face"]),
    ("What can you do?", ["questions", "talkbridge"]),
    ("Can you speak Chinese?", ["Chinese"]),
    ("Which languages can you speak?", ["English", "hundred"]),
    ("Are you a robot?", ["character"]),
    ("How do I install it?", ["pip", "serve"]),
    ("How do I connect Unreal?", ["Live Link"]),
    ("Does it work with Unity?", ["Unity"]),
    ("How does the lip sync work?", ["network"]),
    ("Do you need the internet?", ["offline"]),
    ("My name is Sam.", ["Sam"]),
    ("What is my name?", ["Sam"]),
    ("What did I ask you first?", ["Who are you?"]),
    ("What was my last question?", ["What did I ask you first?"]),
    ("Who made you?", ["talkbridge"]),
    ("Can you hear me?", ["yes"]),
    ("Can you see me?", ["camera"]),
    ("Thanks for your help!", ["welcome"]),
]


async def _ask(llm: PersonaLLM, memory: Memory, user: str, text: str) -> str:
    messages = build_messages(llm.persona, memory.history(user), text, llm_is_persona=True)
    memory.add(user, "user", text)
    answer = "".join([piece async for piece in llm.stream(messages)])
    answer = answer.split("] ", 1)[1] if answer.startswith("[") else answer  # the emotion tag
    memory.add(user, "assistant", answer)
    return answer


async def test_twenty_first_hour_questions_get_sensible_answers(tmp_path):
    assert len(FIRST_HOUR) == 20
    llm = PersonaLLM(Persona.default())
    memory = Memory(str(tmp_path / "memory.sqlite3"))
    wrong = []
    for question, words in FIRST_HOUR:
        answer = await _ask(llm, memory, "sam", question)
        missing = [w for w in words if w.lower() not in answer.lower()]
        if missing:
            wrong.append(f"{question!r} → {answer!r} lacks {missing}")
    assert not wrong, "\n".join(wrong)


async def test_recall_before_anything_was_said_is_honest(tmp_path):
    llm = PersonaLLM(Persona.default())
    memory = Memory(str(tmp_path / "memory.sqlite3"))
    assert "haven't told me your name" in await _ask(llm, memory, "new", "What's my name?")
    fresh = Memory(str(tmp_path / "other.sqlite3"))
    assert "first question" in await _ask(llm, fresh, "new", "What did I ask you first?")


async def test_the_memory_carries_recall_across_runs(tmp_path):
    """A second ``chat`` run (a new Memory on the same file) still knows the first question."""
    path = str(tmp_path / "memory.sqlite3")
    llm = PersonaLLM(Persona.default())
    await _ask(llm, Memory(path), "sam", "Who made you?")
    await _ask(llm, Memory(path), "sam", "Call me Sam please.")
    later = Memory(path)
    assert '"Who made you?"' in await _ask(llm, later, "sam", "What was my first question?")
    assert "Sam" in await _ask(llm, later, "sam", "Do you remember my name?")


@pytest.mark.parametrize("history, expected", [
    ([], {}),
    ([ChatMessage("user", "hi"), ChatMessage("assistant", "Hello!")],
     {"first_question": "hi", "last_question": "hi"}),
    ([ChatMessage("user", "hello"), ChatMessage("user", "is it free?"),
      ChatMessage("user", "call me later")],
     {"first_question": "is it free?", "last_question": "call me later"}),
])
def test_conversation_facts(history, expected):
    from bridge.llm.recall import conversation_facts

    assert conversation_facts(history) == expected
