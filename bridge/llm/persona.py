"""The offline persona: a character file answered by retrieval, so a kiosk needs no model.

A persona YAML names the character and gives canned intents (example phrasings → answer)
and a folder of Markdown knowledge. With no language model configured, questions go to the
closest intent, else the closest knowledge paragraph, else the fallback. With a model, the
same file supplies the system prompt and retrieved knowledge (RAG).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Literal, Sequence

import yaml

from blendshape.layers.gestures import GestureConfig, GestureConfigError
from bridge.llm.base import ChatMessage
from bridge.llm.recall import conversation_facts, fill
from bridge.llm.retrieval import Index

#: Cosine similarity to an intent example above which the intent answers.
INTENT_THRESHOLD = 0.45
#: Blended similarity (see ``Index.blended``) above which a knowledge paragraph answers.
KNOWLEDGE_THRESHOLD = 0.18
#: Knowledge given to a real model must at least touch the question.
CONTEXT_THRESHOLD = 0.08

#: The offline persona's answer when it is shown a picture or asked what it sees: without a
#: vision model there is nothing that could look, and saying so beats a made-up answer.
CANNOT_SEE = ("I can't see anything: no vision model is configured here, so camera images "
              "don't reach me. Tell me in words what you'd like me to know.")

#: Questions about sight ("what do you see?", "can you see me?", "look at this").
_ASKS_TO_SEE = re.compile(
    r"\b(?:can|do|did|could)\s+you\s+see\b|\bwhat\s+you\s+see\b|"
    r"\blook(?:ing)?\s+at\s+(?:me|this|that|these|my|it)\b|"
    r"\bwhat\s+am\s+i\s+(?:holding|wearing|showing|doing)\b|\bhow\s+do\s+i\s+look\b|"
    r"\bare\s+you\s+(?:looking|watching)\b|\bwhat(?:'s|\s+is)\s+in\s+front\s+of\s+you\b",
    re.IGNORECASE)

_KEYS = ("name", "greeting", "style", "fallback", "intents", "knowledge", "gestures")
_INTENT_KEYS = ("name", "examples", "answer", "emotion", "otherwise")


class PersonaError(ValueError):
    """The persona file is wrong; the message names the file and the key."""


@dataclass(frozen=True)
class Intent:
    name: str
    examples: tuple[str, ...]
    answers: tuple[str, ...]
    emotion: str | None = None
    #: Said instead when an answer names a fact of the conversation (``{user_name}``, see
    #: ``bridge.llm.recall``) that the conversation doesn't hold yet.
    otherwise: str = ""


@dataclass(frozen=True)
class Match:
    """Why the persona answered what it did: for logs, tests and tuning thresholds."""

    kind: Literal["intent", "knowledge", "fallback"]
    text: str
    emotion: str | None = None
    name: str = ""        # the intent's name or the knowledge paragraph's heading
    score: float = 0.0


@dataclass
class Persona:
    name: str
    greeting: str = ""
    style: str = ""
    fallback: str = "Sorry, I don't know about that."
    intents: list[Intent] = field(default_factory=list)
    knowledge: list[str] = field(default_factory=list)  # "heading: paragraph"
    source: str = "<memory>"
    #: The character's gesture style over the server's [gestures] (None: the server's alone).
    gestures: GestureConfig | None = None

    def __post_init__(self) -> None:
        self._examples = [(i, ex) for i, intent in enumerate(self.intents) for ex in intent.examples]
        self._intent_index = Index([ex for _, ex in self._examples])
        # The heading says what a paragraph is about: it counts twice.
        self._knowledge_index = Index([f"{_heading(p)} {_heading(p)} {p}" for p in self.knowledge],
                                      topical=True)
        self._turns: dict[str, int] = {}

    # ---- loading -----------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path | str) -> "Persona":
        """Read and validate a persona YAML file; PersonaError names the file and the key."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise PersonaError(f"cannot read persona file {path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise PersonaError(f"{path} is not UTF-8 text") from None
        except yaml.YAMLError as exc:
            raise PersonaError(f"{path} is not valid YAML: {exc}") from None
        return cls.from_dict(data, path)

    @classmethod
    def default(cls) -> "Persona":
        """The shipped guide character, Ada."""
        root = resources.files("bridge.llm") / "data"
        with resources.as_file(root) as folder:
            return cls.load(Path(folder) / "default_persona.yaml")

    @classmethod
    def from_dict(cls, data: Any, path: Path | None = None) -> "Persona":
        """Validate a parsed persona; ``path`` names it in errors and anchors ``knowledge``."""
        where = str(path) if path else "<persona>"

        def fail(key: str, why: str) -> PersonaError:
            return PersonaError(f"{where}: {key}: {why}")

        if not isinstance(data, dict):
            raise PersonaError(f"{where}: the file must hold a mapping (name:, intents:, ...)")
        unknown = sorted(map(str, set(data) - set(_KEYS)))
        if unknown:
            raise fail(", ".join(unknown), f"unknown key; valid: {', '.join(_KEYS)}")
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise fail("name", "required, a non-empty string")
        for key in ("greeting", "style", "fallback"):
            if key in data and not isinstance(data[key], str):
                raise fail(key, "must be a string")
        raw_intents = data.get("intents") or []
        if not isinstance(raw_intents, list):
            raise fail("intents", "must be a list of {name, examples, answer, emotion?}")
        intents = [_intent(raw, k, fail) for k, raw in enumerate(raw_intents)]
        knowledge = _knowledge(data.get("knowledge"), path, fail)
        gestures = None
        if data.get("gestures") is not None:
            try:
                gestures = GestureConfig.from_dict(data["gestures"], where="gestures")
            except GestureConfigError as exc:
                raise PersonaError(f"{where}: {exc}") from None
        return cls(name=name.strip(), greeting=data.get("greeting", ""),
                   style=data.get("style", ""), fallback=data.get("fallback", cls.fallback),
                   intents=intents, knowledge=knowledge, source=where, gestures=gestures)

    # ---- answering ---------------------------------------------------------------------

    def match(self, question: str, history: Sequence[ChatMessage] = ()) -> Match:
        """The closest intent, else the closest knowledge paragraph, else the fallback.

        ``history`` is the conversation before ``question``: an intent's answer may name its
        facts (``{first_question}``, ``{last_question}``, ``{user_name}``)."""
        if self._examples:
            i, score = self._intent_index.best(question)
            if score >= INTENT_THRESHOLD:
                intent = self.intents[self._examples[i][0]]
                text = fill(self._next_answer(intent), conversation_facts(history, question))
                if text is None:
                    text = intent.otherwise or self.fallback
                return Match("intent", text, intent.emotion, intent.name, score)
        if self.knowledge:
            scores = self._knowledge_index.blended(question)
            i = max(range(len(scores)), key=scores.__getitem__)
            if scores[i] >= KNOWLEDGE_THRESHOLD:
                paragraph = self.knowledge[i]
                return Match("knowledge", _plain(paragraph), None, _heading(paragraph), scores[i])
        return Match("fallback", self.fallback)

    def answer(self, question: str, history: Sequence[ChatMessage] = ()
               ) -> tuple[str, str | None]:
        """The reply to ``question`` and its emotion (None: let the classifier decide)."""
        found = self.match(question, history)
        return found.text, found.emotion

    def _next_answer(self, intent: Intent) -> str:
        """An intent's alternatives in turn, so a repeated question is not parroted."""
        turn = self._turns.get(intent.name, 0)
        self._turns[intent.name] = turn + 1
        return intent.answers[turn % len(intent.answers)]

    def context_for(self, question: str, k: int = 3) -> list[str]:
        """The ``k`` knowledge paragraphs closest to ``question``, for a real model's prompt."""
        if not self.knowledge or k <= 0:
            return []
        scores = self._knowledge_index.blended(question)
        ranked = sorted(range(len(scores)), key=scores.__getitem__, reverse=True)[:k]
        return [self.knowledge[i] for i in ranked if scores[i] >= CONTEXT_THRESHOLD]

    def system_prompt(self, question: str = "", k: int = 3) -> str:
        """Style, name and the knowledge closest to ``question``: a real model's brief."""
        style = self.style.strip() or f"You are {self.name}, a friendly character. Answer briefly."
        parts = [style if self.name in style else f"Your name is {self.name}. {style}"]
        context = self.context_for(question, k) if question else []
        if context:
            parts.append("Facts you may use (say you don't know rather than invent more):\n" +
                         "\n".join(f"- {_compact(c)}" for c in context))
        return "\n\n".join(parts)


class PersonaLLM:
    """The persona as a language model: same streaming interface, answers by retrieval."""

    name = "persona"

    def __init__(self, persona: Persona) -> None:
        self.persona = persona

    async def stream(self, messages: Sequence[ChatMessage]) -> AsyncIterator[str]:
        """The answer to the last user message, a word at a time, led by its emotion tag."""
        last = max((i for i, msg in enumerate(messages) if msg.role == "user"), default=-1)
        question = messages[last].content if last >= 0 else ""
        if last >= 0 and cannot_see(messages[last]):
            answer, emotion = CANNOT_SEE, None
        else:
            answer, emotion = self.persona.answer(question, messages[:max(last, 0)])
        if emotion:
            yield f"[{emotion}] "
        for word in re.findall(r"\S+\s*", answer):
            yield word


def cannot_see(msg: ChatMessage) -> bool:
    """Whether a turn needs eyes: the user showed a picture with it, or asks what is seen.

    A picture that merely came along (the camera is shared while the user asks something
    else) does not count, so a shared webcam leaves the persona's other answers alone.
    """
    return any(image.shown for image in msg.images) or bool(_ASKS_TO_SEE.search(msg.content))


# ---- validation helpers ------------------------------------------------------------------

def _intent(raw: Any, k: int, fail: Callable[[str, str], PersonaError]) -> Intent:
    key = f"intents[{k}]"
    if not isinstance(raw, dict):
        raise fail(key, "must be a mapping with name, examples and answer")
    bad = sorted(map(str, set(raw) - set(_INTENT_KEYS)))
    if bad:
        raise fail(f"{key}.{bad[0]}", f"unknown key; valid: {', '.join(_INTENT_KEYS)}")
    examples = raw.get("examples")
    if not isinstance(examples, list) or not examples or \
            not all(isinstance(e, (str, int, float)) and str(e).strip() for e in examples):
        raise fail(f"{key}.examples", "must be a non-empty list of phrases")
    answer = raw.get("answer")
    answers = [answer] if isinstance(answer, str) else answer
    if not isinstance(answers, list) or not answers or \
            not all(isinstance(a, str) and a.strip() for a in answers):
        raise fail(f"{key}.answer", "must be a string or a non-empty list of strings")
    emotion = raw.get("emotion")
    if emotion is not None:
        from blendshape.layers.emotion import EMOTIONS

        if emotion not in EMOTIONS:
            raise fail(f"{key}.emotion", f"unknown emotion {emotion!r}; valid: "
                       f"{', '.join(sorted(EMOTIONS))}")
    name = raw.get("name")
    if name is not None and not isinstance(name, str):
        raise fail(f"{key}.name", "must be a string")
    otherwise = raw.get("otherwise", "")
    if not isinstance(otherwise, str):
        raise fail(f"{key}.otherwise", "must be a string")
    return Intent(name or f"intent{k}", tuple(str(e) for e in examples),
                  tuple(a.strip() for a in answers), emotion, otherwise.strip())


def _knowledge(folder: Any, path: Path | None,
               fail: Callable[[str, str], PersonaError]) -> list[str]:
    if folder is None:
        return []
    if not isinstance(folder, str):
        raise fail("knowledge", "must be a folder path (relative to the persona file)")
    base = (path.parent if path else Path.cwd()) / folder
    if not base.is_dir():
        raise fail("knowledge", f"folder {base} does not exist")
    paragraphs: list[str] = []
    for md in sorted(base.rglob("*.md")):
        try:
            paragraphs.extend(markdown_paragraphs(md.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            raise fail("knowledge", f"cannot read {md}: {exc}") from None
    return paragraphs


# ---- Markdown --------------------------------------------------------------------------

def markdown_paragraphs(text: str) -> list[str]:
    """Paragraphs of a Markdown file, each prefixed with its heading for context."""
    out: list[str] = []
    heading = ""
    for block in re.split(r"\n\s*\n", text):
        block = block.strip()
        if not block:
            continue
        if block.startswith("#"):
            lines = block.splitlines()
            heading = lines[0].lstrip("#").strip()
            block = "\n".join(lines[1:]).strip()
            if not block:
                continue
        out.append(f"{heading}: {block}" if heading else block)
    return out


def _heading(paragraph: str) -> str:
    first = paragraph.split("\n", 1)[0]
    return first.split(": ", 1)[0] if ": " in first else ""


def _plain(paragraph: str) -> str:
    """A knowledge paragraph as speech: no heading prefix, no Markdown marks."""
    text = paragraph.split(": ", 1)[1] if _heading(paragraph) else paragraph
    text = re.sub(r"[`*_>#]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", text)
    return " ".join(text.split())


def _compact(paragraph: str, limit: int = 600) -> str:
    """One line of at most ``limit`` characters: the prompt stays small."""
    text = " ".join(paragraph.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"
