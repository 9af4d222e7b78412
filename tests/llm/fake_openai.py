"""A local OpenAI-compatible chat server: real HTTP/1.1 and Server-Sent Events on loopback.

It streams ``chat.completion.chunk`` events the way OpenAI, Ollama and vLLM do, records
every request, notices when a client hangs up before the reply is complete, and can
misbehave on demand. Faults (``fault=`` for every request, or ``script`` per request):

    "401"          Unauthorized, with OpenAI's JSON error body (echoing the key's tail)
    "429"          Too Many Requests, with retry-after
    "500"          Internal Server Error
    "hang"         headers never come: waits for the client to give up
    "keepalive"    200 and SSE comments forever, never a token
    "stall"        the first token, then silence until the client gives up
    "malformed"    the second event is not JSON
    "error_event"  the second event is ``{"error": {...}}`` (what vLLM sends on a crash)
    "drop"         the connection is cut after the first token
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

Reply = list[str]


@dataclass
class FakeOpenAI:
    reply: Reply = field(default_factory=lambda: ["Hello", " there", "!"])
    delay: float = 0.0             # seconds before each token
    fault: str | None = None
    script: list[Reply | str] = field(default_factory=list)  # per request, consumed in order
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    disconnected_early: int = 0    # streams the client closed before [DONE]
    completed: int = 0             # streams sent to the end
    port: int = 0
    _server: asyncio.AbstractServer | None = None
    _tasks: set[asyncio.Task] = field(default_factory=set)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> "FakeOpenAI":
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):  # handlers see EOF and return
            writer.transport.abort()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2.0)
        if self._server is not None:
            await self._server.wait_closed()

    async def wait_disconnects(self, n: int = 1, within: float = 2.0) -> bool:
        """Whether ``n`` clients hung up early within ``within`` seconds."""
        for _ in range(int(within / 0.01)):
            if self.disconnected_early >= n:
                return True
            await asyncio.sleep(0.01)
        return self.disconnected_early >= n

    # ---- HTTP ------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            writer.close()

    async def _one_request(self, reader: asyncio.StreamReader,
                           writer: asyncio.StreamWriter) -> bool:
        """Serve one request; False closes the connection."""
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, v in
                   (line.split(":", 1) for line in lines[1:] if ":" in line)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.headers.append(headers)
        request = json.loads(body) if body else {}
        self.requests.append(request)
        if method != "POST" or not path.endswith("/chat/completions"):
            await self._plain(writer, 404, {"error": {"message": f"no route {path}"}})
            return True
        action = self.script.pop(0) if self.script else (self.fault or self.reply)
        if isinstance(action, list):
            return await self._stream(reader, writer, request, action, None)
        if action in ("401", "429", "500"):
            await self._status(writer, int(action), headers)
            return True
        if action == "hang":
            await self._until_client_leaves(reader)
            return False
        return await self._stream(reader, writer, request, self.reply, action)

    async def _status(self, writer: asyncio.StreamWriter, status: int,
                      headers: dict[str, str]) -> None:
        key_tail = headers.get("authorization", "")[-4:]
        body = {
            401: {"error": {"message": f"Incorrect API key provided: sk-...{key_tail}.",
                            "type": "invalid_request_error", "code": "invalid_api_key"}},
            429: {"error": {"message": "Rate limit reached for requests",
                            "type": "requests", "code": "rate_limit_exceeded"}},
            500: {"error": {"message": "the model crashed", "type": "server_error"}},
        }[status]
        await self._plain(writer, status, body, extra="retry-after: 1\r\n" if status == 429 else "")

    async def _stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      request: dict[str, Any], tokens: Reply, fault: str | None) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                     b"cache-control: no-cache\r\nconnection: close\r\n"
                     b"transfer-encoding: chunked\r\n\r\n")
        model = request.get("model", "fake")
        gone = asyncio.ensure_future(reader.read(1))  # b"": the client hung up
        try:
            if fault == "keepalive":
                while not gone.done():
                    await self._write(writer, ": keep-alive\n\n")
                    await asyncio.wait({gone}, timeout=0.02)
                self.disconnected_early += 1
                return False
            for i, token in enumerate(tokens):
                if self.delay:
                    await asyncio.wait({gone}, timeout=self.delay)
                if gone.done():
                    self.disconnected_early += 1
                    return False
                if i == 1 and fault == "drop":
                    writer.transport.abort()
                    return False
                if i == 1 and fault == "stall":
                    await gone
                    self.disconnected_early += 1
                    return False
                if i == 1 and fault == "malformed":
                    await self._write(writer, "data: {not json\n\n")
                if i == 1 and fault == "error_event":
                    await self._write(writer, 'data: {"error": {"message": "CUDA out of memory"}}\n\n')
                await self._write(writer, _event(_chunk(model, {"content": token})))
            await self._write(writer, _event(_chunk(model, {}, finish="stop")))
            await self._write(writer, "data: [DONE]\n\n")
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            self.completed += 1
        except ConnectionError:
            self.disconnected_early += 1
        finally:
            gone.cancel()
        return False

    async def _until_client_leaves(self, reader: asyncio.StreamReader) -> None:
        while await reader.read(1024):
            pass
        self.disconnected_early += 1

    @staticmethod
    async def _write(writer: asyncio.StreamWriter, text: str) -> None:
        payload = text.encode()
        writer.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
        await writer.drain()

    @staticmethod
    async def _plain(writer: asyncio.StreamWriter, status: int, body: dict,
                     extra: str = "") -> None:
        data = json.dumps(body).encode()
        writer.write(f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n{extra}"
                     f"content-length: {len(data)}\r\n\r\n".encode() + data)
        await writer.drain()


def _event(payload: dict) -> str:
    return f"data: {json.dumps(payload)}\n\n"


def _chunk(model: str, delta: dict, finish: str | None = None) -> dict:
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
