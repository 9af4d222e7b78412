"""The OpenAI-compatible client against a real local SSE server."""

from __future__ import annotations

import asyncio

import pytest

from bridge.llm.base import ChatMessage, LLMError, LLMProvider
from bridge.llm.openai_compat import (
    LLMAuthError,
    LLMConnectionError,
    LLMRateLimitError,
    LLMResponseError,
    LLMTimeoutError,
    OpenAICompatLLM,
    _ThinkFilter,
)
from tests.llm.fake_openai import FakeOpenAI

SECRET = "sk-test-0123456789abcdef"
MESSAGES = [ChatMessage("system", "be brief"), ChatMessage("user", "hi")]


@pytest.fixture
async def fake():
    server = await FakeOpenAI().start()
    yield server
    await server.stop()


@pytest.fixture
def llm(fake, monkeypatch):
    monkeypatch.setenv("TEST_LLM_KEY", SECRET)
    return OpenAICompatLLM(model="tiny", base_url=fake.base_url, api_key_env="TEST_LLM_KEY",
                           timeout=2.0)


async def collect(llm) -> list[str]:
    return [delta async for delta in llm.stream(MESSAGES)]


async def test_deltas_stream_in_order_and_the_request_is_what_openai_expects(fake, llm):
    assert isinstance(llm, LLMProvider)
    assert await collect(llm) == ["Hello", " there", "!"]
    request, headers = fake.requests[0], fake.headers[0]
    assert request["model"] == "tiny" and request["stream"] is True
    assert request["messages"] == [{"role": "system", "content": "be brief"},
                                   {"role": "user", "content": "hi"}]
    assert request["temperature"] == 0.7 and request["max_tokens"] == 300
    assert headers["authorization"] == f"Bearer {SECRET}"
    assert fake.completed == 1 and fake.disconnected_early == 0


async def test_options_reach_the_server(fake):
    llm = OpenAICompatLLM(model="qwen", base_url=fake.base_url, api_key_env=None,
                          temperature=None, max_tokens=None,
                          extra_body={"top_k": 20, "chat_template_kwargs": {"x": True}})
    await collect(llm)
    request = fake.requests[0]
    assert "temperature" not in request and "max_tokens" not in request
    assert request["top_k"] == 20 and request["chat_template_kwargs"] == {"x": True}


async def test_a_local_server_needs_no_key(fake):
    llm = OpenAICompatLLM(model="llama3", base_url=fake.base_url, api_key_env="NO_SUCH_VAR_X")
    assert "".join(await collect(llm)) == "Hello there!"
    assert SECRET not in repr(llm) and "NO_SUCH_VAR_X" not in fake.headers[0]["authorization"]


async def test_stopping_early_closes_the_connection(fake, llm):
    fake.reply = [f"w{i} " for i in range(200)]
    fake.delay = 0.01
    stream = llm.stream(MESSAGES)
    assert await anext(stream) == "w0 "
    await stream.aclose()
    assert await fake.wait_disconnects(1)
    assert fake.completed == 0


async def test_cancelling_the_consumer_closes_the_connection(fake, llm):
    fake.reply = [f"w{i} " for i in range(200)]
    fake.delay = 0.01
    got: list[str] = []

    async def consume() -> None:
        async for delta in llm.stream(MESSAGES):
            got.append(delta)

    task = asyncio.create_task(consume())
    while len(got) < 3:
        await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await fake.wait_disconnects(1)
    assert fake.completed == 0 and len(got) < 200


@pytest.mark.parametrize("fault, kind, words", [
    ("401", LLMAuthError, "refused the key in $TEST_LLM_KEY"),
    ("429", LLMRateLimitError, "rate-limiting"),
    ("500", LLMResponseError, "HTTP 500"),
    ("drop", LLMConnectionError, "cannot reach"),
    ("malformed", LLMResponseError, "malformed"),
    ("error_event", LLMResponseError, "CUDA out of memory"),
])
async def test_faults_become_typed_llm_errors_without_the_key(fake, llm, fault, kind, words):
    fake.fault = fault
    with pytest.raises(kind) as info:
        await collect(llm)
    message = str(info.value)
    assert words in message and "127.0.0.1" in message and "tiny" in message
    assert SECRET not in message and SECRET not in repr(info.value)


async def test_a_missing_key_is_named_when_the_server_wants_one(fake, monkeypatch):
    monkeypatch.delenv("MY_UNSET_KEY", raising=False)
    fake.fault = "401"
    llm = OpenAICompatLLM(model="tiny", base_url=fake.base_url, api_key_env="MY_UNSET_KEY")
    with pytest.raises(LLMAuthError, match="MY_UNSET_KEY is not set"):
        await collect(llm)


@pytest.mark.parametrize("fault", ["hang", "keepalive"])
async def test_no_first_token_in_time_is_a_timeout_and_the_connection_is_closed(fake, fault):
    fake.fault = fault
    llm = OpenAICompatLLM(model="tiny", base_url=fake.base_url, api_key_env=None, timeout=0.3)
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(LLMTimeoutError, match="no first token within 0.3 s"):
        await collect(llm)
    assert loop.time() - start < 1.5
    assert await fake.wait_disconnects(1)


async def test_a_reply_that_stalls_ends_at_the_total_timeout(fake):
    fake.fault = "stall"
    llm = OpenAICompatLLM(model="tiny", base_url=fake.base_url, api_key_env=None, timeout=5.0,
                          total_timeout=0.3)
    got: list[str] = []
    with pytest.raises(LLMTimeoutError, match="did not finish its reply within 0.3 s"):
        async for delta in llm.stream(MESSAGES):
            got.append(delta)
    assert got == ["Hello"]
    assert await fake.wait_disconnects(1)


async def test_an_unreachable_server_says_so():
    llm = OpenAICompatLLM(model="tiny", base_url="http://127.0.0.1:9/v1", api_key_env=None,
                          timeout=1.0)
    with pytest.raises(LLMConnectionError, match="is the server running"):
        await collect(llm)


async def test_credentials_in_base_url_stay_out_of_errors():
    llm = OpenAICompatLLM(model="tiny", base_url="http://user:hunter2@127.0.0.1:9/v1?key=abc",
                          api_key_env=None, timeout=1.0)
    with pytest.raises(LLMError) as info:
        await collect(llm)
    assert "hunter2" not in str(info.value) and "abc" not in str(info.value)


async def test_a_think_block_is_not_spoken(fake):
    fake.reply = ["<thi", "nk>The user greets", " me.</think>", "\n\nHi", " there"]
    llm = OpenAICompatLLM(model="qwen3", base_url=fake.base_url, api_key_env=None)
    assert "".join(await collect(llm)) == "Hi there"


@pytest.mark.parametrize("pieces, out", [
    (["Hello <think>x</think>"], "Hello <think>x</think>"),
    (["<", "b>bold"], "<b>bold"), (["  <think>a</think>b"], "b"),
])
def test_the_think_filter_only_drops_a_leading_block(pieces, out):
    think = _ThinkFilter()
    assert "".join(think.push(p) for p in pieces) == out


@pytest.mark.parametrize("options, words", [
    ({"model": ""}, "model"), ({"model": "m", "base_url": "localhost:11434"}, "base_url"),
    ({"model": "m", "timeout": 0}, "timeout"), ({"model": "m", "extra_body": "x"}, "extra_body"),
])
def test_bad_options_are_value_errors_naming_the_option(options, words):
    with pytest.raises(ValueError, match=words):
        OpenAICompatLLM(**options)
