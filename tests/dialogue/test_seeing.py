"""Seeing: the camera's picture goes with the next language-model turns, never into memory.

Against a real server on loopback and a local OpenAI-compatible fake that records every
request: the picture arrives as an ``image_url`` content part with its media type and a
short text of its age, a picture sent with a prompt starts a turn about it, a new session
sees nothing, and the memory holds text only. The offline persona says it can't see, and bad
pictures get a one-line ``invalid_field`` while the session goes on.
"""

from __future__ import annotations

import asyncio
import base64
import re
from pathlib import Path
from typing import Any

import pytest

from bridge.dialogue.config import DialogueConfig, DialogueConfigError
from bridge.dialogue.seeing import SeenImage, Sight
from bridge.llm.base import ChatMessage, ImagePart
from bridge.llm.openai_compat import OpenAICompatLLM
from bridge.llm.persona import CANNOT_SEE, Persona, PersonaLLM
from bridge.llm.registry import VISION_INSTRUCTION, build_messages
from bridge.server.host import Server, ServerConfig
from bridge.session.config import SessionConfig
from bridge.tools.images import gray_jpeg, solid_png
from tests.llm.fake_openai import FakeOpenAI
from tests.support.wsclient import Client

JPEG = gray_jpeg(200)
PNG = solid_png(2, 2, (255, 0, 0))
AGE = re.compile(r"^\(camera image from (just now|\d+ s ago)\)$")


def kinds(msgs: list[dict[str, Any]]) -> list[str]:
    return [m["type"] for m in msgs]


def user_turn(request: dict[str, Any]) -> Any:
    """The content of the request's last message, the user's turn."""
    assert request["messages"][-1]["role"] == "user"
    return request["messages"][-1]["content"]


def image_parts(request: dict[str, Any]) -> list[dict[str, Any]]:
    return [part for msg in request["messages"] if isinstance(msg["content"], list)
            for part in msg["content"] if part["type"] == "image_url"]


# ---- the parts, on a virtual clock -----------------------------------------------------


def test_a_turn_sees_the_newest_picture_with_its_age_until_it_is_too_old() -> None:
    sight = Sight(max_age=60.0)
    assert sight.for_turn("hi", now=10.0) == ()
    sight.show(SeenImage(PNG, "image/png", taken=7.0))
    sight.show(SeenImage(JPEG, "image/jpeg", taken=9.5))
    assert len(sight) == 1  # only the newest is kept
    (part,) = sight.for_turn("what is this", now=12.5)
    assert (part.media_type, part.age, part.shown) == ("image/jpeg", 3.0, False)
    assert part.caption == "(camera image from 3 s ago)"
    assert part.data_url == "data:image/jpeg;base64," + base64.b64encode(JPEG).decode()
    assert sight.for_turn("later", now=69.6) == ()  # older than max_age: not shown any more


def test_a_picture_sent_with_words_is_shown_to_the_turn_of_those_words() -> None:
    sight = Sight()
    sight.show(SeenImage(JPEG, "image/jpeg", taken=0.0, prompt="What am I holding?"))
    assert sight.for_turn("What am I holding?", now=0.2)[0].shown
    assert sight.for_turn("and now?", now=0.4)[0].shown is False
    assert sight.for_turn("x", now=0.5)[0].caption == "(camera image from just now)"
    assert ImagePart(JPEG, "image/jpeg", 150.0).caption == "(camera image from 2 min ago)"


def test_the_model_is_told_about_the_camera_only_when_there_is_a_picture() -> None:
    image = ImagePart(JPEG, "image/jpeg", 3.0)
    history = [ChatMessage("user", "hi"), ChatMessage("assistant", "Hello!")]
    messages = build_messages(None, history, "what is this", llm_is_persona=False,
                              images=[image])
    assert VISION_INSTRUCTION in messages[0].content
    assert messages[-1] == ChatMessage("user", "what is this", (image,))
    assert all(not msg.images for msg in messages[:-1])
    plain = build_messages(None, history, "hi again", llm_is_persona=False)
    assert VISION_INSTRUCTION not in plain[0].content and plain[-1].images == ()


def test_image_max_age_is_checked() -> None:
    assert DialogueConfig.from_tables({"dialogue": {"image_max_age": 5}}).image_max_age == 5
    with pytest.raises(DialogueConfigError, match="image_max_age"):
        DialogueConfig.from_tables({"dialogue": {"image_max_age": -1}})


async def _answer(llm: PersonaLLM, message: ChatMessage) -> str:
    return "".join([delta async for delta in llm.stream([message])])


async def test_the_offline_persona_says_plainly_that_it_cannot_see() -> None:
    llm = PersonaLLM(Persona.default())
    shown = ImagePart(JPEG, "image/jpeg", 0.5, shown=True)
    assert await _answer(llm, ChatMessage("user", "What do you think?", (shown,))) == CANNOT_SEE
    for question in ("What do you see?", "Can you see me?", "look at this", "How do I look?"):
        assert await _answer(llm, ChatMessage("user", question)) == CANNOT_SEE, question
    # A shared camera while the user asks something else: the usual answer.
    passing = ImagePart(JPEG, "image/jpeg", 2.0)
    answer = await _answer(llm, ChatMessage("user", "what is your name", (passing,)))
    assert "Ada" in answer and "vision" not in answer


async def test_the_client_sends_the_picture_as_an_image_content_part() -> None:
    fake = await FakeOpenAI().start()
    try:
        image = ImagePart(PNG, "image/png", 4.2)
        turn = [ChatMessage("system", "Be brief."), ChatMessage("user", "What is this?", (image,))]
        for vision, expected in ((True, [
                {"type": "text", "text": "What is this?"},
                {"type": "text", "text": "(camera image from 4 s ago)"},
                {"type": "image_url", "image_url": {
                    "url": "data:image/png;base64," + base64.b64encode(PNG).decode()}}]),
                (False, "What is this?")):
            llm = OpenAICompatLLM("gpt-4o-mini", base_url=fake.base_url, api_key_env=None,
                                  vision=vision)
            assert "".join([d async for d in llm.stream(turn)]) == "Hello there!"
            assert user_turn(fake.requests[-1]) == expected
            assert fake.requests[-1]["messages"][0] == {"role": "system", "content": "Be brief."}
            await llm.aclose()
    finally:
        await fake.stop()


# ---- end to end ------------------------------------------------------------------------


@pytest.fixture
async def vision(registry, tmp_path: Path):
    """A server whose model is the recording fake; memory in a SQLite file we can read."""
    fake = await FakeOpenAI(reply=["Sure", "."]).start()
    config = DialogueConfig(memory=str(tmp_path / "memory.sqlite3"),
                            llm={"provider": "openai", "model": "llava",
                                 "base_url": fake.base_url, "api_key_env": None})
    server = Server(ServerConfig(port=0, session=SessionConfig(idle=False), dialogue=config),
                    tts=registry)
    await server.start()
    try:
        yield server, fake, tmp_path / "memory.sqlite3"
    finally:
        await server.stop()
        await fake.stop()


async def test_the_next_turn_carries_the_picture_and_a_new_session_does_not(vision) -> None:
    server, fake, memory_file = vision
    a, _ = await Client.open(server.port, user="ann")
    await asyncio.sleep(1.1)  # the picture below was taken at welcome: over a second ago
    await a.send({"type": "image", "data": JPEG, "t": 0.0})
    await a.send({"type": "chat", "text": "What colour is my wall?"})
    assert "audio" in kinds(await a.utterance("r1"))
    text, age, picture = user_turn(fake.requests[-1])
    assert text == {"type": "text", "text": "What colour is my wall?"}
    assert age["type"] == "text" and re.fullmatch(r"\(camera image from [12] s ago\)", age["text"])
    assert picture == {"type": "image_url", "image_url": {
        "url": "data:image/jpeg;base64," + base64.b64encode(JPEG).decode()}}
    assert VISION_INSTRUCTION in fake.requests[-1]["messages"][0]["content"]

    # The same user in a new session: the conversation is remembered, the picture is not.
    b, _ = await Client.open(server.port, user="ann")
    await b.send({"type": "chat", "text": "And now?"})
    assert "audio" in kinds(await b.utterance("r1"))
    request = fake.requests[-1]
    assert image_parts(request) == [] and user_turn(request) == "And now?"
    assert {"role": "user", "content": "What colour is my wall?"} in request["messages"]
    assert VISION_INSTRUCTION not in request["messages"][0]["content"]

    memory = server.dialogue.loaded_answering.memory
    assert [msg.content for msg in memory.history("ann")] == [
        "What colour is my wall?", "Sure.", "And now?", "Sure."]
    stored = b"".join(path.read_bytes() for path in memory_file.parent.glob("memory.sqlite3*"))
    assert b"What colour is my wall?" in stored  # the file is where the memory is
    for trace in (JPEG, base64.b64encode(JPEG), b"data:image", b"camera image"):
        assert trace not in stored
    await a.close()
    await b.close()


async def test_a_picture_with_a_prompt_starts_a_turn_about_it(vision) -> None:
    server, fake, _ = vision
    client, _ = await Client.open(server.port)
    await client.send({"type": "image", "data": PNG, "prompt": "  What am I holding? "})
    msgs = await client.utterance("r1")
    assert [m["text"] for m in msgs if m["type"] == "reply"][-1] == "Sure."
    text, age, picture = user_turn(fake.requests[-1])
    assert text["text"] == "What am I holding?" and AGE.match(age["text"])
    assert picture["image_url"]["url"].startswith("data:image/png;base64,")
    # Without a prompt a picture only waits for the next turn: no request, no reply.
    await client.send({"type": "image", "data": JPEG})
    await client.send({"type": "ping", "t": 1.0})
    assert (await client.until(lambda m: m["type"] == "pong"))[-1]["type"] == "pong"
    assert len(fake.requests) == 1
    await client.close()


@pytest.mark.parametrize("data,why", [
    (b"just some text, not a picture", "is not a JPEG or PNG image"),
    (b"GIF89a\x01\x00\x01\x00\x80\x00\x00", "is a GIF image; only JPEG and PNG are supported"),
    (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "is a WebP image"),
    (b"", "is empty"),
])
async def test_a_bad_picture_gets_one_line_and_the_session_goes_on(vision, data, why) -> None:
    server, fake, _ = vision
    client, _ = await Client.open(server.port)
    await client.send({"type": "image", "data": data, "prompt": "What is it?"})
    error = await client.recv()
    assert error["type"] == "error" and error["code"] == "invalid_field" and not error["fatal"]
    assert error["message"].startswith("image.data: ") and why in error["message"]
    assert "\n" not in error["message"]
    await client.send({"type": "chat", "text": "Still there?"})
    assert "audio" in kinds(await client.utterance("r1"))
    assert image_parts(fake.requests[-1]) == []  # nothing of the bad picture was kept
    await client.close()


async def test_the_offline_character_answers_that_it_cannot_see(dialogue_server) -> None:
    client, _ = await Client.open(dialogue_server.port)
    await client.send({"type": "image", "data": JPEG, "prompt": "Do you like my hat?"})
    replies = [m for m in await client.utterance("r1") if m["type"] == "reply"]
    assert replies[-1]["text"] == CANNOT_SEE
    await client.send({"type": "chat", "text": "what is your name"})  # the camera on, no matter
    replies = [m for m in await client.utterance("r2") if m["type"] == "reply"]
    assert "Ada" in replies[-1]["text"]
    await client.close()


async def test_pictures_need_the_dialogue_loop(registry) -> None:
    server = Server(ServerConfig(port=0, session=SessionConfig(idle=False),
                                 dialogue=DialogueConfig(enabled=False)), tts=registry)
    await server.start()
    try:
        client, _ = await Client.open(server.port)
        await client.send({"type": "image", "data": JPEG})
        error = await client.recv()
        assert error["code"] == "unsupported" and "dialogue" in error["message"]
        await client.close()
    finally:
        await server.stop()
