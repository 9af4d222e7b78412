"""Which language model answers, and the messages it gets."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from bridge.llm.base import ChatMessage, ImagePart, LLMProvider
from bridge.llm.persona import Persona, PersonaLLM

PROVIDERS = ("persona", "openai")

#: Asked of every real model: the face needs the emotion before the first sentence is
#: spoken, and the words are spoken, not read.
EMOTION_INSTRUCTION = (
    "Begin every reply with one emotion tag in square brackets, one of [neutral] [happy] "
    "[sad] [angry] [surprised] [fear] [disgust], then the reply. Your words are spoken "
    "aloud: no lists, no markdown, no emoji, short sentences.")

#: Told to a real model when the turn carries a camera image, so it speaks as one who sees.
VISION_INSTRUCTION = (
    "The user's message carries a camera image of what is in front of you, with its age: "
    "speak of it as what you see, and say so when it is too old or unclear to tell.")

#: History given to a real model, at most (the memory bounds it too).
MAX_HISTORY_MESSAGES = 40
MAX_HISTORY_CHARS = 12000


def make_llm(options: Mapping[str, Any], persona: Persona | None = None) -> LLMProvider:
    """The ``[llm]`` table → a provider. ``provider`` is "persona" (default) or "openai".

    The persona provider answers from ``persona`` (the shipped one when None); "openai"
    takes OpenAICompatLLM's options (model, base_url, api_key_env, temperature,
    max_tokens, timeout, total_timeout, extra_body, max_retries, strip_think, vision).
    """
    opts = dict(options)
    name = opts.pop("provider", "persona")
    if name == "persona":
        if opts:
            raise ValueError(f"[llm] provider = \"persona\" takes no options (got "
                             f"{', '.join(sorted(opts))}); the persona file is dialogue.persona")
        return PersonaLLM(persona if persona is not None else Persona.default())
    if name == "openai":
        from bridge.llm.openai_compat import OpenAICompatLLM

        if "api_key" in opts:  # never echo its value
            raise ValueError("[llm] api_key: keys do not belong in config files; put it in an "
                             "environment variable and name that with api_key_env = \"...\"")
        if "model" not in opts:
            raise ValueError("[llm] provider = \"openai\" needs model = \"...\" (e.g. "
                             "\"gpt-4o-mini\", or \"llama3.2\" on Ollama)")
        try:
            return OpenAICompatLLM(**opts)
        except TypeError as exc:
            raise ValueError(f"[llm]: {exc}") from None
    raise ValueError(f"unknown [llm] provider {name!r}; choose one of {', '.join(PROVIDERS)}")


def build_messages(persona: Persona | None, history: Sequence[ChatMessage], user_text: str,
                   *, llm_is_persona: bool, max_history: int = MAX_HISTORY_MESSAGES,
                   max_history_chars: int = MAX_HISTORY_CHARS,
                   images: Sequence[ImagePart] = ()) -> list[ChatMessage]:
    """System prompt (persona style, emotion tag, retrieved knowledge) + history + the turn.

    The persona provider gets the history and the turn, no prompt. A real model gets the
    system prompt first; both get the newest history that
    fits ``max_history`` messages and ``max_history_chars`` characters, opening with a
    user message (what chat templates of local models insist on); stored system messages
    are dropped, the system prompt is rebuilt for every turn. ``images`` (what the camera
    saw) go with the turn only: the history is text.
    """
    turn = ChatMessage("user", user_text, tuple(images))
    if llm_is_persona:  # no prompt: the persona reads the history for what was said
        return [*_bounded(history, max_history, max_history_chars), turn]
    system = persona.system_prompt(user_text) if persona else "You are a helpful character."
    instructions = f"{EMOTION_INSTRUCTION} {VISION_INSTRUCTION}" if images else EMOTION_INSTRUCTION
    return [ChatMessage("system", f"{system}\n\n{instructions}"),
            *_bounded(history, max_history, max_history_chars), turn]


def _bounded(history: Sequence[ChatMessage], max_messages: int,
             max_chars: int) -> list[ChatMessage]:
    recent = [m for m in history if m.role != "system"]
    recent = recent[-max_messages:] if max_messages > 0 else []
    kept: list[ChatMessage] = []
    budget = max_chars
    for msg in reversed(recent):
        if len(msg.content) > budget:
            break
        budget -= len(msg.content)
        kept.append(msg)
    kept.reverse()
    while kept and kept[0].role != "user":
        kept.pop(0)
    return kept
