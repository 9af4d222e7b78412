"""The dialogue loop end to end: a real server on loopback, flite's voice as the user.

One spoken turn runs on real audio here; the timing of turns (barge-in, a cough, a pause
mid-question) is tested on scripted ears in virtual time (``test_scripted_turns.py``).

Mic audio is streamed in real time as ``mic`` messages; the character (the shipped
persona, PocketSphinx, silero, Piper) answers with transcripts, reply text, audio and
curves over the same socket.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from bridge.dialogue.config import DialogueConfig
from bridge.ops.workers import CONTINUE, START, PriorityExecutor
from bridge.server.host import Server, ServerConfig
from bridge.session.config import SessionConfig
from bridge.speech.sentences import SentenceStream
from tests.dialogue.conftest import flite_speech, silence, stream_mic
from tests.llm.fake_openai import FakeOpenAI
from tests.support.wsclient import Client


def kinds(msgs):
    return [m["type"] for m in msgs]


async def test_a_typed_turn_gets_spoken_reply_text_emotion_and_face(dialogue_server):
    client, _ = await Client.open(dialogue_server.port, channels=["arkit52", "visemes"])
    await client.send({"type": "chat", "text": "what is your name"})
    msgs = await client.utterance("r1")
    start = next(m for m in msgs if m["type"] == "utterance")
    assert start == {"type": "utterance", "id": "r1", "state": "start", "source": "dialogue"}
    replies = [m for m in msgs if m["type"] == "reply"]
    assert replies[-1]["final"] and "Ada" in replies[-1]["text"]
    assert all(not r["final"] for r in replies[:-1]) and len(replies) > 2  # streamed
    assert replies[-1]["emotion"] == "happy"
    assert kinds(msgs).count("audio") > 10 and kinds(msgs).count("curves") > 10
    assert msgs[-1]["reason"] == "done"
    await client.close()


async def test_a_typed_turns_first_audio_teaches_admission_control_as_a_says_does(
        dialogue_server):
    """A chat is admitted (or refused ``busy``) like a say; its reply's real first audio,
    the reply's writing included, is then one of the misses admission control learns from."""
    pool = dialogue_server.executor
    client, _ = await Client.open(dialogue_server.port)
    await client.send({"type": "say", "id": "s", "text": "Hello."})  # times a first sentence
    assert (await client.utterance("s"))[-1]["reason"] == "done"
    learnt = len(pool._misses)
    await client.send({"type": "chat", "text": "what is your name"})
    assert (await client.utterance("r1"))[-1]["reason"] == "done"
    assert len(pool._misses) == learnt + 1
    await client.close()


async def test_a_spoken_question_is_transcribed_and_answered(dialogue_server, tmp_path):
    client, _ = await Client.open(dialogue_server.port)
    question = flite_speech("What is your name?", tmp_path)
    got: list[dict] = []

    async def read():
        got.extend(await client.utterance("r1", timeout=30))

    reader = asyncio.create_task(read())
    await stream_mic(client, np.concatenate([silence(0.3), question, silence(1.2)]))
    await asyncio.wait_for(reader, 30)
    transcripts = [m for m in got if m["type"] == "transcript"]
    assert transcripts[-1]["final"] and "name" in transcripts[-1]["text"]
    assert any(not t["final"] for t in transcripts)  # partials while the user spoke
    final_at = got.index(transcripts[-1])
    assert kinds(got).index("reply") > final_at and kinds(got).index("audio") > final_at
    assert "Ada" in [m for m in got if m["type"] == "reply"][-1]["text"]
    await client.close()


async def test_wrong_mic_rate_and_odd_bytes_name_what_is_expected(dialogue_server):
    client, _ = await Client.open(dialogue_server.port)
    await client.send({"type": "mic", "rate": 12345, "data": b"\0\0" * 100})
    error = await client.recv()
    assert error["code"] == "invalid_field" and "16000" in error["message"]
    await client.send({"type": "mic", "rate": 16000, "data": b"\0" * 3})
    assert "16-bit" in (await client.recv())["message"]
    await client.send({"type": "ping", "t": 1.0})
    assert (await client.recv())["type"] == "pong"
    await client.close()


@pytest.fixture
async def failing_llm():
    fake = await FakeOpenAI(fault="500").start()
    yield fake
    await fake.stop()


async def test_a_failing_model_costs_one_turn_of_one_session(registry, failing_llm):
    config = DialogueConfig(llm={"provider": "openai", "model": "m", "base_url":
                                 failing_llm.base_url, "api_key_env": None})
    server = Server(ServerConfig(port=0, session=SessionConfig(idle=False), dialogue=config),
                    tts=registry)
    await server.start()
    try:
        a, _ = await Client.open(server.port)
        b, _ = await Client.open(server.port)
        await a.send({"type": "chat", "text": "hello"})
        msgs = await a.utterance("r1")
        error = next(m for m in msgs if m["type"] == "error")
        assert error["code"] == "provider_failed" and error["ref"] == "r1"
        assert "HTTP 500" in error["message"] and not error["fatal"]
        assert msgs[-1]["reason"] == "done" and "audio" not in kinds(msgs)
        for client in (a, b):  # both sessions carry on
            await client.send({"type": "say", "text": "Still here.", "id": "s"})
            assert (await client.utterance("s"))[-1]["reason"] == "done"
        failing_llm.fault = None  # the provider recovers: the next turn is answered
        await a.send({"type": "chat", "text": "hello again"})
        assert "audio" in kinds(await a.utterance("r2"))
        assert failing_llm.requests[-1]["messages"][-1] == {"role": "user",
                                                            "content": "hello again"}
    finally:
        await server.stop()


async def test_two_conversations_at_once_keep_their_own_turns(dialogue_server):
    a, _ = await Client.open(dialogue_server.port, user="a")
    b, _ = await Client.open(dialogue_server.port, user="b")
    await a.send({"type": "chat", "text": "what is your name"})
    await b.send({"type": "chat", "text": "tell me a joke"})
    ma, mb = await asyncio.gather(a.utterance("r1"), b.utterance("r1"))
    assert "Ada" in [m for m in ma if m["type"] == "reply"][-1]["text"]
    assert "Ada" not in [m for m in mb if m["type"] == "reply"][-1]["text"]
    memory = dialogue_server.dialogue.loaded_answering.memory
    assert [m.content for m in memory.history("a")][0] == "what is your name"
    assert [m.content for m in memory.history("b")][0] == "tell me a joke"
    await a.close()
    await b.close()


async def test_a_new_typed_turn_interrupts_the_reply_in_progress(dialogue_server):
    client, _ = await Client.open(dialogue_server.port)
    await client.send({"type": "chat", "text": "tell me a long story"})
    await client.until(lambda m: m["type"] == "audio")
    await client.send({"type": "chat", "text": "what is your name"})
    first = await client.utterance("r1")
    assert first[-1]["reason"] == "interrupted"
    second = await client.utterance("r2")
    assert second[-1]["reason"] == "done"
    await client.close()


async def test_a_model_that_hangs_times_out_and_the_next_turn_works(registry):
    fake = await FakeOpenAI(fault="hang").start()
    config = DialogueConfig(llm_timeout=0.5, llm={"provider": "openai", "model": "m",
                                                  "base_url": fake.base_url,
                                                  "api_key_env": None, "timeout": 30})
    server = Server(ServerConfig(port=0, session=SessionConfig(idle=False), dialogue=config),
                    tts=registry)
    await server.start()
    try:
        client, _ = await Client.open(server.port)
        await client.send({"type": "chat", "text": "hello"})
        msgs = await client.utterance("r1", timeout=10)
        error = next(m for m in msgs if m["type"] == "error")
        assert error["code"] == "provider_timeout" and "0.5 s" in error["message"]
        fake.fault = None
        await client.send({"type": "chat", "text": "hello again"})
        assert "audio" in kinds(await client.utterance("r2"))
    finally:
        await server.stop()
        await fake.stop()


def _count_synthesis(pool: PriorityExecutor) -> list[tuple[int, object]]:
    """Note every speech job the server's pool runs: its priority class and its result."""
    jobs: list[tuple[int, object]] = []
    submit_with = pool.submit_with

    def noting(priority, fn, /, *args, **kwargs):
        def run():
            result = fn(*args, **kwargs)
            if priority[0] in (START, CONTINUE):  # speech; URGENT is recognition, warm-up
                jobs.append((priority[0], result))
            return result
        return submit_with(priority, run)

    pool.submit_with = noting
    return jobs


async def test_each_reply_sentence_costs_one_wait_in_the_synthesis_queue(registry):
    """A busy pool's queue is where a playing reply's next sentence can come too late: each
    sentence of a reply is one job there, never a second one that only learns there is no
    more (measured in the soak: the only late frames of 1.35 M were at chat sentence
    boundaries, where that second wait was)."""
    server = Server(ServerConfig(port=0, session=SessionConfig(idle=False),
                                 dialogue=DialogueConfig(memory=":memory:")), tts=registry)
    jobs = _count_synthesis(server.executor)
    await server.start()
    try:
        client, _ = await Client.open(server.port)
        await client.send({"type": "chat", "text": "tell me a long story"})
        msgs = await client.utterance("r1", timeout=60)
        assert msgs[-1]["reason"] == "done"
        text = [m for m in msgs if m["type"] == "reply"][-1]["text"]
        sentences = SentenceStream()
        pieces = sentences.push(text) + sentences.flush()
        assert len(pieces) >= 3
        made = [result if isinstance(result, list) else [result] for _, result in jobs]
        assert [chunks for chunks in made if not chunks or None in chunks] == []
        assert len(jobs) == len(pieces)
        assert [cls for cls, _ in jobs] == [START] + [CONTINUE] * (len(pieces) - 1)
        await client.close()
    finally:
        await server.stop()
