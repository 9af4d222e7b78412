"""What the conversation so far says, for a persona answering without a language model.

A real model reads the history itself. The offline persona answers by retrieval, so the
facts a first-hour user asks back ("What did I ask you first?", "What's my name?") are read
from the history here and filled into the persona's answers (``{first_question}``,
``{last_question}``, ``{user_name}``). Pure: messages in, a mapping out.
"""

from __future__ import annotations

import re
import string
from typing import Mapping, Sequence

from bridge.llm.base import ChatMessage

#: "my name is Sam", "call me Sam", "I am called Sam", "I'm called Sam".
_NAME = re.compile(r"\b(?:my name is|my name's|call me|i am called|i'm called)\s+"
                   r"([A-Za-z][\w'-]*)", re.IGNORECASE)
#: Words that follow "call me" without being a name ("call me later").
_NOT_NAMES = frozenset({"later", "back", "tomorrow", "now", "again", "maybe", "please", "when"})


def conversation_facts(history: Sequence[ChatMessage], turn: str = "") -> dict[str, str]:
    """The facts the conversation holds; a fact it doesn't hold is absent.

    ``history`` is what came before (oldest first) and ``turn`` what the user says now: the
    questions asked are read from the history, a name the user gives from both."""
    said = [m.content.strip() for m in history if m.role == "user" and m.content.strip()]
    facts: dict[str, str] = {}
    if said:
        questions = [s for s in said if s.endswith("?")]
        facts["first_question"] = _quote(questions[0] if questions else said[0])
        facts["last_question"] = _quote(said[-1])
    for text in [*said, turn]:
        for found in _NAME.finditer(text):
            name = found.group(1)
            if name.lower() not in _NOT_NAMES:
                facts["user_name"] = name[:1].upper() + name[1:]
    return facts


def fill(template: str, facts: Mapping[str, str]) -> str | None:
    """``template`` with its ``{fields}`` filled from ``facts``; None if one is unknown."""
    fields = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    if not fields <= set(facts):
        return None
    return template.format(**{k: facts[k] for k in fields})


def _quote(text: str) -> str:
    return text.strip().strip('"“”')
