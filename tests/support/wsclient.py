"""A test client that speaks protocol v1 with plain msgpack — not with our codec."""

from __future__ import annotations

import asyncio
from typing import Any

import msgpack
import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed


def pack(msg: dict[str, Any]) -> bytes:
    return msgpack.packb(msg, use_bin_type=True)


class Client:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, port: int, **hello: Any) -> tuple["Client", dict[str, Any]]:
        ws = await connect(f"ws://127.0.0.1:{port}/v1/stream", compression=None, max_size=None)
        client = cls(ws)
        await client.send({"type": "hello", "protocol": 1, "client": "pytest", **hello})
        welcome = await client.recv(skip_idle=True)
        return client, welcome

    async def send(self, msg: dict[str, Any]) -> None:
        await self.ws.send(pack(msg))

    async def recv(self, timeout: float = 10.0, skip_idle: bool = True) -> dict[str, Any]:
        while True:
            raw = await asyncio.wait_for(self.ws.recv(), timeout)
            assert isinstance(raw, bytes), "server sent a text frame"
            msg = msgpack.unpackb(raw, raw=False)
            if skip_idle and msg.get("type") == "curves" and msg.get("id") == "idle":
                continue
            return msg

    async def until(self, predicate, timeout: float = 30.0,
                    skip_idle: bool = True) -> list[dict[str, Any]]:
        """Messages up to and including the first one matching ``predicate``."""
        out = []
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            msg = await self.recv(timeout=max(0.1, deadline - asyncio.get_running_loop().time()),
                                  skip_idle=skip_idle)
            out.append(msg)
            if predicate(msg):
                return out

    async def utterance(self, utt_id: str, timeout: float = 30.0) -> list[dict[str, Any]]:
        return await self.until(lambda m: m.get("type") == "utterance" and m.get("id") == utt_id
                                and m.get("state") == "end", timeout)

    async def close(self) -> None:
        """Close, reading what the server still sends until its close frame arrives.

        A test that stopped reading leaves the queue full, so websockets stops reading the
        socket; the server's close frame then waits behind the idle curves and ``close()``
        gives up only after ``close_timeout`` (10 s: websockets issue 1555 says that is by
        design). It cost the slow-reader test 20 s in about half its runs."""
        closing = asyncio.ensure_future(self.ws.close())
        try:
            async for _ in self.ws:
                pass
        except ConnectionClosed:
            pass
        await closing


def curves_array(msg: dict[str, Any], n_channels: int, encoding: str = "f16") -> np.ndarray:
    dtype = "<f2" if encoding == "f16" else "<f4"
    return np.frombuffer(msg["data"], dtype=dtype).reshape(msg["n"], n_channels).astype(np.float32)


def pcm_array(msg: dict[str, Any]) -> np.ndarray:
    return np.frombuffer(msg["data"], dtype="<i2")
