"""Any OpenAI-compatible chat endpoint, streamed: OpenAI, Ollama, vLLM, llama.cpp, Qwen, …

The key is read from the environment variable the config names, never from the config and
never into a log or error message. Closing the stream (barge-in) closes the HTTP response,
so the server stops generating. Every failure is an LLMError that says what to do:

    LLMError (bridge.llm.base)
     ├── LLMConnectionError   the server cannot be reached (not running, wrong base_url)
     │    └── LLMTimeoutError no first token, or no complete reply, in time
     ├── LLMAuthError         the key is missing or refused (401, 403)
     ├── LLMRateLimitError    429: too many requests or no quota left
     └── LLMResponseError     any other HTTP error, or a stream that is not valid SSE JSON
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any, AsyncIterator, Awaitable, Sequence, TypeVar
from urllib.parse import urlsplit, urlunsplit

from bridge.llm.base import ChatMessage, LLMError

log = logging.getLogger(__name__)
T = TypeVar("T")

_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "0.0.0.0", "host.docker.internal")


class LLMConnectionError(LLMError):
    """The server cannot be reached or dropped the connection."""


class LLMTimeoutError(LLMConnectionError):
    """No first token, or no complete reply, within the configured time."""


class LLMAuthError(LLMError):
    """The key is missing, wrong or not allowed to use this model."""


class LLMRateLimitError(LLMError):
    """The provider is throttling us or the account has no quota left."""


class LLMResponseError(LLMError):
    """The server answered, but with an HTTP error or a stream we cannot read."""


class OpenAICompatLLM:
    """A streaming chat-completions client for any OpenAI-compatible server.

    ``timeout`` bounds the wait for the first token (and any silence between tokens);
    ``total_timeout`` bounds the whole reply, so a server that trickles forever still ends.
    """

    name = "openai"

    def __init__(self, model: str, base_url: str = "https://api.openai.com/v1",
                 api_key_env: str | None = "OPENAI_API_KEY", temperature: float | None = 0.7,
                 max_tokens: int | None = 300, timeout: float = 15.0,
                 total_timeout: float | None = 120.0, extra_body: dict[str, Any] | None = None,
                 max_retries: int = 0, strip_think: bool = True, vision: bool = True) -> None:
        try:
            import openai
        except ImportError:  # pragma: no cover - a core dependency
            raise LLMError("the openai package is missing: pip install openai") from None
        _check_options(model, base_url, timeout, total_timeout, extra_body)
        self._openai = openai
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.where = f"{_safe_url(self.base_url)} (model {model!r})"
        self.api_key_env = api_key_env or None
        self._key = os.environ.get(self.api_key_env, "").strip() if self.api_key_env else ""
        if not self._key and self.api_key_env and not _is_local(self.base_url):
            log.warning("llm: %s is not set; %s will probably refuse requests",
                        self.api_key_env, _safe_url(self.base_url))
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.timeout = float(timeout)
        self.total_timeout = float(total_timeout) if total_timeout else None
        self.extra_body = dict(extra_body) if extra_body else None
        self.strip_think = strip_think
        if not isinstance(vision, bool):
            raise TypeError("vision must be true (send camera images) or false")
        self.vision = vision
        # A local server (Ollama, llama.cpp) needs no key; the SDK insists on a string.
        self._client = openai.AsyncOpenAI(base_url=self.base_url, api_key=self._key or "no-key",
                                          timeout=self.timeout, max_retries=max_retries)

    def __repr__(self) -> str:  # no key, ever
        return f"OpenAICompatLLM({self.where})"

    async def aclose(self) -> None:
        """Close the connection pool (at server shutdown)."""
        await self._client.close()

    async def stream(self, messages: Sequence[ChatMessage]) -> AsyncIterator[str]:
        """The reply's text deltas; LLMError (a subclass) on any failure.

        Closing this generator (``aclose()``, or cancelling the task iterating it) closes
        the HTTP response at once.
        """
        loop = asyncio.get_running_loop()
        start = loop.time()
        first_by = start + self.timeout
        end_by = start + self.total_timeout if self.total_timeout else float("inf")
        response = None
        think = _ThinkFilter() if self.strip_think else None
        try:
            response = await self._within(self._create(messages), min(first_by, end_by), True)
            chunks = response.__aiter__()
            got_text = False
            while True:
                try:
                    chunk = await self._within(anext(chunks), end_by if got_text else
                                               min(first_by, end_by), not got_text)
                except StopAsyncIteration:
                    break
                for text in _texts(chunk):
                    text = think.push(text) if think else text
                    if text:
                        got_text = True
                        yield text
        except LLMError:
            raise
        except self._openai.OpenAIError as exc:
            raise self._explain(exc) from None
        except (ValueError, TypeError, KeyError, AttributeError) as exc:  # a malformed event
            raise LLMResponseError(self._scrub(
                f"{self.where} sent a malformed stream event ({type(exc).__name__}: "
                f"{str(exc)[:120]}): is base_url an OpenAI-compatible /v1 endpoint?")) from None
        except Exception as exc:  # noqa: BLE001 - transport errors the SDK did not wrap
            raise LLMConnectionError(self._scrub(
                f"{self.where} failed mid-stream ({type(exc).__name__}: {str(exc)[:160]})")) \
                from None
        finally:
            if response is not None:
                await response.close()

    def _create(self, messages: Sequence[ChatMessage]) -> Awaitable[Any]:
        kwargs: dict[str, Any] = {
            "model": self.model, "stream": True,
            "messages": [{"role": msg.role, "content": self._content(msg)} for msg in messages]}
        if self.temperature is not None:
            kwargs["temperature"] = self.temperature
        if self.max_tokens is not None:
            kwargs["max_tokens"] = self.max_tokens
        if self.extra_body:
            kwargs["extra_body"] = self.extra_body
        return self._client.chat.completions.create(**kwargs)

    def _content(self, msg: ChatMessage) -> str | list[dict[str, Any]]:
        """The message's text, or with its images the content parts vision models read:
        the text, then per image its age and the picture inline (a data URL). A model
        configured with ``vision = false`` gets the text alone."""
        if not msg.images or not self.vision:
            return msg.content
        parts: list[dict[str, Any]] = [{"type": "text", "text": msg.content}] if msg.content \
            else []
        for image in msg.images:
            parts.append({"type": "text", "text": image.caption})
            parts.append({"type": "image_url", "image_url": {"url": image.data_url}})
        return parts

    async def _within(self, step: Awaitable[T], deadline: float, first: bool) -> T:
        """``step``, or LLMTimeoutError once the loop's clock passes ``deadline``."""
        remaining = deadline - asyncio.get_running_loop().time()
        try:
            if remaining <= 0:
                raise asyncio.TimeoutError
            if remaining == float("inf"):
                return await step
            if hasattr(asyncio, "timeout"):  # 3.11+: no extra task around the SDK's stream
                async with asyncio.timeout(remaining):
                    return await step
            return await asyncio.wait_for(step, remaining)  # pragma: no cover - 3.10
        except asyncio.TimeoutError:
            _discard(step)
            if first:
                raise LLMTimeoutError(
                    f"{self.where} sent no first token within {self.timeout:g} s: is the model "
                    "still loading, or the server overloaded? Raise [llm] timeout if the model "
                    "is just slow to start") from None
            raise LLMTimeoutError(
                f"{self.where} did not finish its reply within {self.total_timeout:g} s: lower "
                "max_tokens or raise [llm] total_timeout") from None

    def _explain(self, exc: Exception) -> LLMError:
        openai = self._openai
        detail = _detail(exc)
        if isinstance(exc, openai.APITimeoutError):
            error: LLMError = LLMTimeoutError(
                f"{self.where} did not answer within {self.timeout:g} s: is the server "
                "overloaded? Raise [llm] timeout if the model is just slow")
        elif isinstance(exc, openai.APIConnectionError):
            error = LLMConnectionError(
                f"cannot reach {self.where}: is the server running (ollama serve, "
                "llama-server, vllm serve) and is base_url right, with its /v1?")
        elif isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
            error = LLMAuthError(self._auth_hint(exc.status_code, detail))
        elif isinstance(exc, openai.RateLimitError):
            error = LLMRateLimitError(
                f"{self.where} is rate-limiting us (429: {detail}): wait, slow down, or check "
                "the account's quota and billing")
        elif isinstance(exc, openai.NotFoundError):
            error = LLMResponseError(
                f"{self.where} answered 404 ({detail}): is the model name right (ollama pull "
                "it first) and does base_url end in /v1?")
        elif isinstance(exc, openai.APIStatusError):
            error = LLMResponseError(
                f"{self.where} answered HTTP {exc.status_code} ({detail})"
                + ("; a server error: retry later or read the server's log"
                   if exc.status_code >= 500 else ": check model, extra_body and max_tokens"))
        else:
            error = LLMResponseError(f"{self.where} failed: {detail}")
        return type(error)(self._scrub(str(error)))

    def _auth_hint(self, status: int, detail: str) -> str:
        if not self.api_key_env:
            return (f"{self.where} wants a key ({status}: {detail}): set [llm] api_key_env to "
                    "the name of an environment variable that holds it")
        if not self._key:
            return (f"{self.where} wants a key ({status}): the environment variable "
                    f"{self.api_key_env} is not set")
        return (f"{self.where} refused the key in ${self.api_key_env} ({status}: {detail}): "
                "check the key and that it may use this model")

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text


class _ThinkFilter:
    """Drops a leading ``<think>…</think>`` block (Qwen3, DeepSeek-R1 on Ollama): it must
    not be spoken. Holds back text only while the reply could still open with one."""

    _OPEN, _CLOSE = "<think>", "</think>"

    def __init__(self) -> None:
        self._buf = ""
        self._state = "start"   # start → thinking → trim → done

    def push(self, text: str) -> str:
        if self._state == "trim":  # the blank lines after the block
            text = text.lstrip()
            if text:
                self._state = "done"
            return text
        if self._state == "done":
            return text
        self._buf += text
        if self._state == "start":
            head = self._buf.lstrip()
            if self._OPEN.startswith(head):
                return ""
            if not head.startswith(self._OPEN):
                self._state = "done"
                out, self._buf = self._buf, ""
                return out
            self._state = "thinking"
        end = self._buf.find(self._CLOSE)
        if end < 0:
            return ""
        out = self._buf[end + len(self._CLOSE):].lstrip()
        self._state, self._buf = ("done" if out else "trim"), ""
        return out


def _texts(chunk: Any) -> list[str]:
    """The content deltas of one ``chat.completion.chunk`` (reasoning is not spoken)."""
    out = []
    for choice in getattr(chunk, "choices", None) or []:
        delta = getattr(choice, "delta", None)
        text = getattr(delta, "content", None) if delta is not None else None
        if isinstance(text, str) and text:
            out.append(text)
    return out


def _detail(exc: Exception) -> str:
    """The server's own error message, short."""
    body = getattr(exc, "body", None)
    message = None
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else inner
    if not isinstance(message, str) or not message:
        message = getattr(exc, "message", None) or str(exc)
    message = " ".join(str(message).split())
    return message[:200] + ("…" if len(message) > 200 else "")


def _discard(step: Awaitable[Any]) -> None:
    """A step that never ran must not warn 'coroutine was never awaited'."""
    close = getattr(step, "close", None)
    if close is not None and asyncio.iscoroutine(step):
        close()


def _safe_url(url: str) -> str:
    """The URL without credentials or query (either may hold a secret)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _is_local(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in _LOCAL_HOSTS or host.endswith(".local") or host.startswith(("10.", "192.168."))


def _check_options(model: Any, base_url: Any, timeout: Any, total_timeout: Any,
                   extra_body: Any) -> None:
    if not isinstance(model, str) or not model:
        raise ValueError("[llm] model must be a model name, e.g. \"gpt-4o-mini\" or \"llama3.2\"")
    if not isinstance(base_url, str) or urlsplit(base_url).scheme not in ("http", "https"):
        raise ValueError(f"[llm] base_url must be an http(s) URL, not {base_url!r}")
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError("[llm] timeout must be a positive number of seconds")
    if total_timeout is not None and (not isinstance(total_timeout, (int, float))
                                      or total_timeout <= 0):
        raise ValueError("[llm] total_timeout must be a positive number of seconds")
    if extra_body is not None and not isinstance(extra_body, dict):
        raise ValueError("[llm] extra_body must be a table of extra request fields")
