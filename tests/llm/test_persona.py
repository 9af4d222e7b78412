"""The offline persona: retrieval answers, knowledge, fallback, and clear file errors."""

from __future__ import annotations

import time

import pytest

from bridge.llm.base import ChatMessage, LLMProvider
from bridge.llm.persona import Persona, PersonaError, PersonaLLM, markdown_paragraphs
from bridge.llm.registry import EMOTION_INSTRUCTION, build_messages, make_llm


@pytest.fixture(scope="module")
def ada() -> Persona:
    return Persona.default()


@pytest.mark.parametrize("question, intent", [
    ("whats ur name", "name"), ("who am I talking to", "name"), ("may I know your name", "name"),
    ("hey there ada", "greeting"), ("good afternoon", "greeting"),
    ("how's it going", "how_are_you"), ("how are you today", "how_are_you"),
    ("what can I ask you", "abilities"), ("thanks so much", "thanks"), ("thx", "thanks"),
    ("see ya", "goodbye"), ("I have to go now", "goodbye"),
    ("can you tell me a joke", "joke"), ("know any jokes", "joke"),
    ("will it rain tomorrow", "weather"), ("what's the temperature", "weather"),
    ("are you a robot", "human"),
])
def test_paraphrases_find_the_intent(ada, question, intent):
    found = ada.match(question)
    assert (found.kind, found.name) == ("intent", intent), found


@pytest.mark.parametrize("question, heading, words", [
    ("what is talkbridge", "What talkbridge is", "talking face"),
    ("how do I connect unreal engine", "Unreal", "Live Link"),
    ("does it work with metahuman", "Unreal", "MetaHuman"),
    ("how do I set it up in unity", "Unity", "skinned mesh"),
    ("can I use it with vseeface", "VTubers", "VMC"),
    ("does it support vrchat", "VRChat", "OSC"),
    ("how does the lip sync work", "How the lip sync", "network"),
    ("does it need the internet", "Running offline", "offline"),
    ("which game engines are supported", "Engines", "Unreal"),
])
def test_questions_about_talkbridge_find_the_knowledge(ada, question, heading, words):
    found = ada.match(question)
    assert found.kind == "knowledge" and found.name.startswith(heading), found
    assert words in found.text and "#" not in found.text and not found.text.startswith(found.name + ":")


@pytest.mark.parametrize("question", ["what is the capital of france", "please order me a pizza",
                                      "who won the football match", "how much does a car cost",
                                      "can you recommend a restaurant", ""])
def test_off_topic_questions_get_the_fallback(ada, question):
    assert ada.match(question).kind == "fallback"
    assert ada.answer(question) == (ada.fallback, None)


def test_alternative_answers_are_taken_in_turn():
    persona = Persona.from_dict({"name": "X", "intents": [
        {"name": "hi", "examples": ["hello"], "answer": ["one", "two"]},
        {"name": "bye", "examples": ["goodbye"], "answer": ["ciao"]}]})
    assert [persona.answer("hello")[0] for _ in range(3)] == ["one", "two", "one"]
    assert persona.answer("goodbye")[0] == "ciao"


async def test_the_persona_streams_words_with_its_emotion_tag(ada):
    llm = PersonaLLM(ada)
    assert isinstance(llm, LLMProvider)
    history = [ChatMessage("user", "tell me a joke"), ChatMessage("assistant", "…")]
    deltas = [d async for d in llm.stream([*history, ChatMessage("user", "hello")])]
    assert deltas[0] == "[happy] "
    assert "".join(deltas[1:]) in ("Hello! Nice to meet you.",
                                   "Hi there! What would you like to know?")
    assert all(len(d.split()) == 1 for d in deltas[1:])


async def test_a_persona_answer_takes_well_under_a_millisecond(ada):
    questions = ["hello", "how do I connect unreal", "what is the meaning of it all"] * 30
    start = time.perf_counter()
    for q in questions:
        [d async for d in PersonaLLM(ada).stream([ChatMessage("user", q)])]
    assert (time.perf_counter() - start) / len(questions) < 0.005  # generous for CI


def test_context_for_a_real_model_is_the_closest_knowledge(ada):
    context = ada.context_for("how do I use unity", k=2)
    assert 1 <= len(context) <= 2 and context[0].startswith("Unity: ")
    assert ada.context_for("what is the capital of france") == []
    assert ada.context_for("unity", k=0) == []


def test_a_real_model_gets_the_persona_knowledge_and_the_tag_instruction(ada):
    history = [ChatMessage("user", "hi"), ChatMessage("assistant", "Hello!")]
    messages = build_messages(ada, history, "how do I use unity", llm_is_persona=False)
    system = messages[0]
    assert system.role == "system" and "Ada" in system.content
    assert "Unity package" in system.content and EMOTION_INSTRUCTION in system.content
    assert messages[1:] == [*history, ChatMessage("user", "how do I use unity")]
    # The persona gets no prompt, but the history: it answers what was said from it.
    assert build_messages(ada, history, "x", llm_is_persona=True) == \
        [*history, ChatMessage("user", "x")]


def test_the_history_a_model_gets_is_bounded_and_opens_with_the_user(ada):
    history = [ChatMessage("user" if i % 2 == 0 else "assistant", f"m{i} " + "x" * 100)
               for i in range(50)]
    messages = build_messages(ada, history, "hi", llm_is_persona=False, max_history=7)
    assert messages[1].role == "user" and len(messages) - 2 <= 7
    assert messages[-2] == history[-1] and messages[-1] == ChatMessage("user", "hi")
    short = build_messages(ada, history, "hi", llm_is_persona=False, max_history_chars=350)
    assert sum(len(m.content) for m in short[1:-1]) <= 350 and short[1].role == "user"


def test_the_system_prompt_names_the_character_even_if_the_style_does_not():
    persona = Persona.from_dict({"name": "Bob", "style": "Be terse."})
    assert persona.system_prompt() == "Your name is Bob. Be terse."


def test_markdown_becomes_paragraphs_under_their_headings():
    text = "# Title\n\nFirst para\nstill first.\n\n## Sub\nSecond `code`.\n\n\nThird."
    assert markdown_paragraphs(text) == ["Title: First para\nstill first.", "Sub: Second `code`.",
                                         "Sub: Third."]


@pytest.mark.parametrize("text, key", [
    ("- just a list", "mapping"), ("", "mapping"), ("greeting: hi", "name"),
    ("name: X\ngreeting: [a]", "greeting"),
    ("name: X\nintents: {a: 1}", "intents"),
    ("name: X\nintents: [hello]", "intents[0]"),
    ("name: X\nintents: [{examples: [hi]}]", "intents[0].answer"),
    ("name: X\nintents: [{examples: [], answer: a}]", "intents[0].examples"),
    ("name: X\nintents: [{examples: [hi], answer: a, emotion: smug}]", "intents[0].emotion"),
    ("name: X\nintents: [{examples: [hi], answer: a, mood: b}]", "intents[0].mood"),
    ("name: X\nmood: calm", "mood"), ("name: X\nknowledge: nowhere", "knowledge"),
    ("name: X\nknowledge: [a]", "knowledge"),
    ("name: [unclosed", "not valid YAML"),
    ("name: X\ngestures: {nods: false}", "gestures"), ("name: X\ngestures: calm", "gestures"),
    ("name: X\ngestures: {strength: 9}", "gestures.strength"),
])
def test_bad_persona_files_name_the_file_and_the_key(tmp_path, text, key):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(PersonaError) as info:
        Persona.load(path)
    assert key in str(info.value) and str(path) in str(info.value)


def test_a_persona_sets_its_gesture_style():
    calm = Persona.from_dict({"name": "Cal", "gestures": {"strength": 0.5, "shrug": False}})
    assert calm.gestures is not None and calm.gestures.strength == 0.5 and not calm.gestures.shrug
    assert Persona.from_dict({"name": "Ann"}).gestures is None  # the server's style alone


def test_a_missing_persona_file_is_named(tmp_path):
    with pytest.raises(PersonaError, match="cannot read persona file .*nope.yaml"):
        Persona.load(tmp_path / "nope.yaml")


def test_a_custom_persona_reads_its_knowledge_relative_to_its_file(tmp_path):
    (tmp_path / "kb").mkdir()
    (tmp_path / "kb" / "shop.md").write_text("# Opening hours\n\nThe shop opens at nine.\n")
    (tmp_path / "me.yaml").write_text("name: Tom\nknowledge: kb\nfallback: No idea.\n")
    tom = Persona.load(tmp_path / "me.yaml")
    assert tom.answer("when does the shop open") == ("The shop opens at nine.", None)
    assert tom.answer("sing a song") == ("No idea.", None)


def test_the_llm_registry_refuses_unknown_providers_and_missing_models(ada):
    with pytest.raises(ValueError, match="persona, openai"):
        make_llm({"provider": "gpt5"}, ada)
    with pytest.raises(ValueError, match="model"):
        make_llm({"provider": "openai"}, ada)
    with pytest.raises(ValueError, match="no_such_option"):
        make_llm({"provider": "openai", "model": "m", "no_such_option": 1}, ada)
    with pytest.raises(ValueError, match="api_key_env") as info:
        make_llm({"provider": "openai", "model": "m", "api_key": "sk-secret"}, ada)
    assert "sk-secret" not in str(info.value)
    with pytest.raises(ValueError, match="takes no options"):
        make_llm({"provider": "persona", "model": "m"}, ada)
    assert make_llm({}, ada).name == "persona"
    assert make_llm({"provider": "persona"}, None).persona.name == "Ada"
